//! Request maps read into typed requests, with errors a script writer can act on: the key path,
//! what was expected and what was given, in the script's words (`()`, not `null`):
//! `numbers::ringfence: service_id: expected a string, got ()`.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Keys that come from `whc::qualify_company`'s answer, which has no ids when it is Unqualified.
const QUALIFY_KEYS: &[&str] = &["service_id", "qualification_id"];

/// `json` (a script map) as `T`, or the message naming `func`, the key path and the problem.
pub(crate) fn decode<T: DeserializeOwned>(func: &str, json: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        format!("{func}: {}", describe(&path, &e.into_inner().to_string()))
    })
}

/// serde's message, said in the script's terms, after the key path.
fn describe(path: &str, serde_msg: &str) -> String {
    let at = |p: &str| {
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}: ")
        }
    };
    if let Some(field) = between(serde_msg, "missing field `", "`") {
        let key = join(path, field);
        return format!("{key}: required, but not given");
    }
    if let Some(field) = between(serde_msg, "unknown field `", "`") {
        let parent = path
            .strip_suffix(field)
            .map(|p| p.trim_end_matches('.'))
            .unwrap_or(path);
        let known = serde_msg
            .split_once("expected one of ")
            .map(|(_, k)| k.replace('`', ""))
            .or_else(|| {
                serde_msg
                    .split_once("expected ")
                    .map(|(_, k)| k.replace('`', ""))
            })
            .unwrap_or_default()
            .replace(" or ", ", ");
        // serde's own words are kept (`unknown field `x``): scripts and tests match on them.
        return if known.is_empty() {
            format!("{}unknown field `{field}`", at(parent))
        } else {
            format!(
                "{}unknown field `{field}` (known here: {known})",
                at(parent)
            )
        };
    }
    let typed = serde_msg
        .strip_prefix("invalid type: ")
        .or_else(|| serde_msg.strip_prefix("invalid value: "));
    if let Some(rest) = typed {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            let got = given(got);
            let mut out = format!(
                "{}expected {}, got {got}",
                at(path),
                expected_text(expected)
            );
            if got == "()" {
                out.push_str(&unit_hint(path));
            }
            return out;
        }
    }
    format!("{}{serde_msg}", at(path))
}

/// Why a key may hold `()`, and for a qualification's ids, the usual cause.
fn unit_hint(path: &str) -> String {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    if QUALIFY_KEYS.contains(&leaf) {
        format!(
            " ({leaf} is () when whc::qualify_company answered Unqualified: check the answer's result and reasons first)"
        )
    } else {
        " (a key the map does not have reads as ())".into()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.split_once(start)?.1;
    Some(rest.split_once(end)?.0)
}

/// serde's description of a JSON value, as the script wrote it.
fn given(serde_unexpected: &str) -> String {
    let s = serde_unexpected.trim();
    let inner = |prefix: &str| {
        s.strip_prefix(prefix)
            .map(|r| r.trim().trim_matches('`').to_string())
    };
    if s == "null" || s == "unit value" {
        return "()".into();
    }
    if let Some(v) = inner("integer") {
        return format!("{v} (a number)");
    }
    if let Some(v) = inner("floating point") {
        return format!("{v} (a number)");
    }
    if let Some(v) = inner("boolean") {
        return v;
    }
    if let Some(v) = inner("string") {
        return format!("the string {v}");
    }
    match s {
        "map" => "a map".into(),
        "sequence" => "an array".into(),
        other => other.to_string(),
    }
}

/// serde's expectation, as a script writer would say it.
fn expected_text(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "an array".into(),
        "a boolean" => "true or false".into(),
        _ if e.starts_with("struct ") => "a map".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Site {
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        service_id: String,
        #[serde(default)]
        sites: Vec<Site>,
    }

    fn err(v: Value) -> String {
        decode::<Req>("m::f", v).unwrap_err()
    }

    #[test]
    fn names_the_key_and_what_was_given() {
        assert_eq!(
            err(json!({"service_id": null})),
            "m::f: service_id: expected a string, got () (service_id is () when whc::qualify_company answered Unqualified: check the answer's result and reasons first)"
        );
        assert_eq!(
            err(json!({"service_id": 1})),
            "m::f: service_id: expected a string, got 1 (a number)"
        );
        assert_eq!(
            err(json!({"service_id": "S", "sites": [{"name": "a"}, {"name": true}]})),
            "m::f: sites[1].name: expected a string, got true"
        );
        assert_eq!(
            err(json!({"service_id": "S", "sites": [{"name": "a", "count": "x"}]})),
            "m::f: sites[0].count: expected a whole number, 0 or more, got the string \"x\""
        );
    }

    #[test]
    fn missing_and_unknown_keys_are_named() {
        assert_eq!(err(json!({})), "m::f: service_id: required, but not given");
        assert_eq!(
            err(json!({"service_id": "S", "sites": [{}]})),
            "m::f: sites[0].name: required, but not given"
        );
        let e = err(json!({"service_id": "S", "sites": [{"name": "a", "nmae": 1}]}));
        assert!(
            e.starts_with("m::f: sites[0]: unknown field `nmae` (known here: name, count)"),
            "{e}"
        );
    }
}
