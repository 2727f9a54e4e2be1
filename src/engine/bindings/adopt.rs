//! Adopting an order found by its `externalId` after an interrupted create: only when it is
//! the order this request made, never one another execution (or a reused id) made.

use serde_json::Value;

/// Whether `order` (as BT shows it) is what `request` (a create body) asked for: the same
/// items in order, each with the same offering, action and characteristics. What BT adds
/// (ids, states, dates) is ignored.
pub(crate) fn order_matches_request(request: &Value, order: &Value) -> bool {
    let (want, have) = (items(request), items(order));
    want.len() == have.len() && want.iter().zip(have).all(|(w, h)| item_matches(w, h))
}

fn items(v: &Value) -> &[Value] {
    v.get("productOrderItem")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn item_matches(want: &Value, have: &Value) -> bool {
    let chars = |v: &Value| {
        v.pointer("/product/productCharacteristic")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let have_chars = chars(have);
    want.pointer("/productOffering/id") == have.pointer("/productOffering/id")
        && want.get("action") == have.get("action")
        && chars(want).iter().all(|c| have_chars.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(block: &str) -> Value {
        json!({"productOrderItem": [{
            "id": "1", "action": "add", "state": "pending",
            "productOffering": {"id": "WHCNumberBlock"},
            "product": {"productCharacteristic": [{"name": "startNumber", "value": block}]},
        }]})
    }

    #[test]
    fn only_the_same_content_is_adopted() {
        let mut request = order("01211234000");
        request["externalId"] = json!("btw-r-6");
        assert!(order_matches_request(&request, &order("01211234000")));
        assert!(!order_matches_request(&request, &order("01211234100")));
        assert!(!order_matches_request(&request, &json!({})));
    }
}
