//! How `ethernet::` arguments and answers map to BT's wire shapes: places, bandwidths, prices and
//! site contacts.

use serde_json::{json, Value};

/// A place from a script: a NAD key (`R00000010001`) or a postcode (`IP5 3RE`).
pub(super) fn place(s: &str) -> Value {
    let t = s.trim();
    let nad = t.len() == 12
        && t.starts_with(['R', 'A', 'X', 'S'])
        && t[1..].chars().all(|c| c.is_ascii_digit());
    if nad {
        json!({"id": t})
    } else {
        json!({"postcode": t})
    }
}

/// A bandwidth from a script: `1000`, `0.2` or `"1000"`, as BT writes it (`"0.2"`, `"1000"`).
pub(super) fn bandwidth(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().map(|f| f.to_string())),
        _ => None,
    }
}

pub(super) fn money(v: &Value, price_type: &str) -> Value {
    v.get("quoteTotalPrice")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|p| p.get("priceType").and_then(Value::as_str) == Some(price_type))
        })
        .and_then(|p| p.pointer("/price/dutyFreeAmount/value"))
        .cloned()
        .unwrap_or(Value::Null)
}

pub(super) fn site_contact(c: &Value) -> Value {
    json!([{"role": "siteContact", "name": c.get("name").cloned().unwrap_or(Value::Null),
            "phone": c.get("phone").cloned().unwrap_or(Value::Null)}])
}
