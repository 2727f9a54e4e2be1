//! Conversions between script values (`Dynamic`) and JSON (`serde_json::Value`), both ways.
//!
//! Written out rather than left to serde so that every case is explicit and tested: integers stay
//! integers, `()` is `null`, and a value JSON cannot hold (a function pointer, a custom type) is a
//! clear error naming its type rather than a silent `null`.

use rhai::{Array, Dynamic, Map, INT};
use serde_json::{Number, Value};

/// JSON to a script value. Never fails: every JSON value has a script form.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Dynamic::from_int(i as INT)
            } else if let Some(f) = n.as_f64() {
                // u64 beyond i64::MAX and true floats both land here.
                Dynamic::from_float(f)
            } else {
                Dynamic::from(n.to_string())
            }
        }
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => {
            let arr: Array = items.iter().map(to_dynamic).collect();
            Dynamic::from_array(arr)
        }
        Value::Object(obj) => {
            let mut map = Map::new();
            for (k, v) in obj {
                map.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from_map(map)
        }
    }
}

/// A script value to JSON, or the reason it has no JSON form.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(Number::from(i)));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} has no JSON form (JSON has no NaN or infinity)"));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_string() {
        return Ok(Value::String(
            value.clone().into_string().unwrap_or_default(),
        ));
    }
    if value.is_array() {
        let arr = value.read_lock::<Array>().ok_or("array is locked")?;
        return arr
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().ok_or("map is locked")?;
        let mut obj = serde_json::Map::with_capacity(map.len());
        for (k, v) in map.iter() {
            obj.insert(k.to_string(), to_json(v).map_err(|e| format!("{k}: {e}"))?);
        }
        return Ok(Value::Object(obj));
    }
    if value.is_blob() {
        let blob = value.read_lock::<rhai::Blob>().ok_or("blob is locked")?;
        return Ok(Value::Array(blob.iter().map(|b| Value::from(*b)).collect()));
    }
    if value.is_timestamp() {
        return Err("a timestamp has no JSON form; use time::now() for a date-time string".into());
    }
    Err(format!(
        "a value of type {} has no JSON form",
        value.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips() {
        let v = json!({"a": 1, "b": [true, null, 2.5, "x"], "c": {"d": -7}, "e": ""});
        assert_eq!(to_json(&to_dynamic(&v)).unwrap(), v);
    }

    #[test]
    fn big_unsigned_becomes_float() {
        let v = json!(u64::MAX);
        assert!(to_dynamic(&v).is_float());
    }

    #[test]
    fn non_json_values_are_refused_by_name() {
        let f = Dynamic::from(rhai::FnPtr::new("f").unwrap());
        assert!(to_json(&f).unwrap_err().contains("Fn"));
        assert!(to_json(&Dynamic::from_float(f64::NAN)).is_err());
    }

    /// A tiny deterministic generator: arbitrary nested JSON must round-trip and never panic.
    #[test]
    fn arbitrary_json_round_trips() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn gen(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 3 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => json!(next() as i64),
                3 => json!((next() % 1_000_000) as f64 / 7.0),
                4 => {
                    let n = next() % 12;
                    Value::String(
                        (0..n)
                            .map(|i| {
                                char::from_u32(((next() + i) % 0x2FF) as u32 + 32).unwrap_or('?')
                            })
                            .collect(),
                    )
                }
                5 => Value::Array((0..next() % 5).map(|_| gen(next, depth + 1)).collect()),
                _ => {
                    let mut m = serde_json::Map::new();
                    for i in 0..next() % 5 {
                        m.insert(format!("k{i}_{}", next() % 100), gen(next, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        for _ in 0..2000 {
            let v = gen(&mut next, 0);
            let back = to_json(&to_dynamic(&v)).unwrap();
            assert_eq!(to_dynamic(&back).to_string(), to_dynamic(&v).to_string());
        }
    }
}
