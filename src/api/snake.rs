//! BT speaks camelCase (and TMF's `@type`); scripts see snake_case. One recursive conversion.

use serde_json::{Map, Value};

/// `customerGroup` → `customer_group`, `@referredType` → `referred_type`, `bestAddressLine1` → `best_address_line1`.
pub fn snake_key(key: &str) -> String {
    let key = key.trim_start_matches('@');
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// Converts every object key in `value` to snake_case.
pub fn snake_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(snake_key(&k), snake_keys(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_become_snake_case() {
        assert_eq!(snake_key("customerGroup"), "customer_group");
        assert_eq!(snake_key("@referredType"), "referred_type");
        assert_eq!(snake_key("bestAddressLine1"), "best_address_line1");
        assert_eq!(snake_key("uprn"), "uprn");
        assert_eq!(
            snake_key("productOfferingQualificationItem"),
            "product_offering_qualification_item"
        );
        assert_eq!(snake_key("already_snake"), "already_snake");
    }

    #[test]
    fn conversion_is_recursive() {
        let v = snake_keys(json!({"numberRange": {"startNumber": "1"}, "items": [{"itemId": 1}]}));
        assert_eq!(
            v,
            json!({"number_range": {"start_number": "1"}, "items": [{"item_id": 1}]})
        );
    }
}
