//! TMF wire helpers: timestamps as BT writes them, and reading strings and characteristics out of
//! TMF JSON bodies.

use crate::error::SchemaErrors;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where the sandbox's own (unauthenticated, never faulted) endpoints live.
pub const ADMIN_PREFIX: &str = "/__sandbox";

/// RFC 3339 in UTC with a `Z` and whole seconds, as BT writes dates.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A non-blank string at a JSON pointer (trimmed).
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Requires a non-blank string at `pointer`; records `field` as missing otherwise.
pub fn require_str<'a>(
    v: &'a Value,
    pointer: &str,
    field: &str,
    errs: &mut SchemaErrors,
) -> Option<&'a str> {
    let s = str_at(v, pointer);
    if s.is_none() {
        errs.missing(field);
    }
    s
}

/// Reads `product.productCharacteristic` as name → value (strings only; other value types are
/// schema errors named under `field`).
pub fn characteristics(
    product: Option<&Value>,
    field: &str,
    errs: &mut SchemaErrors,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(list) = product.and_then(|p| p.get("productCharacteristic")) else {
        return out;
    };
    let Some(list) = list.as_array() else {
        errs.push(format!("{field}.productCharacteristic"), "must be an array");
        return out;
    };
    for (i, c) in list.iter().enumerate() {
        let Some(name) = str_at(c, "/name") else {
            errs.push(
                format!("{field}.productCharacteristic[{i}].name"),
                "is required",
            );
            continue;
        };
        match c.get("value") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                if !s.trim().is_empty() {
                    out.insert(name.to_string(), s.trim().to_string());
                }
            }
            Some(_) => errs.push(
                format!("{field}.productCharacteristic[{i}].value"),
                "must be a string",
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn characteristic_reading() {
        let mut errs = SchemaErrors::default();
        let p = json!({"productCharacteristic":[{"name":"a","value":" x "},{"name":"b","value":3},{"value":"y"}]});
        let c = characteristics(Some(&p), "item", &mut errs);
        assert_eq!(c.get("a").map(String::as_str), Some("x"));
        assert_eq!(errs.0.len(), 2);
    }
}
