//! The parameter contract's own tests: declarations, typing by the declaration, the edges.

use super::*;
use serde_json::json;

fn decl(lines: &[(&str, &str)]) -> Declared {
    Declared::Typed(
        lines
            .iter()
            .map(|(n, t)| ParamSpec::parse(n, t).unwrap())
            .collect(),
    )
}

fn given(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn declarations_read_type_need_default_and_description() {
    let s = ParamSpec::parse("number", "phone? — the number to port in").unwrap();
    assert_eq!(
        (s.kind.clone(), s.required, s.default.clone()),
        (ParamType::Phone, false, None)
    );
    assert_eq!(s.description, "the number to port in");
    let s = ParamSpec::parse("wait_secs", "integer = 120 -- how long").unwrap();
    assert_eq!((s.required, s.default), (false, Some(json!(120))));
    let s = ParamSpec::parse("postcode", "postcode = \"ne1 4st\"").unwrap();
    assert_eq!(s.default, Some(json!("NE1 4ST")));
    let s = ParamSpec::parse("kind", "[single|multi] = single").unwrap();
    assert_eq!(
        s.kind,
        ParamType::OneOf(vec!["single".into(), "multi".into()])
    );
    let s = ParamSpec::parse("company_name", "text").unwrap();
    assert!(s.required);
    assert!(ParamSpec::parse("x", "colour")
        .unwrap_err()
        .contains("unknown type"));
    assert!(ParamSpec::parse("x", "integer = ten")
        .unwrap_err()
        .contains("does not fit"));
    assert!(ParamSpec::parse("bad name", "text").is_err());
}

#[test]
fn values_are_typed_by_the_declaration_not_guessed() {
    let d = decl(&[
        ("company_name", "text"),
        ("users", "integer = 1"),
        ("port_date", "date?"),
        ("number", "phone?"),
        ("postcode", "postcode?"),
        ("live", "bool = false"),
    ]);
    let out = d
        .check(
            "r.rhai",
            &given(
                json!({"company_name": "1999", "users": "3", "port_date": "24/12/2026",
                           "number": "+44 1632 960005", "postcode": "ne14st"}),
            ),
            &[],
        )
        .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"company_name": "1999", "users": 3, "port_date": "2026-12-24",
               "number": "01632960005", "postcode": "NE1 4ST", "live": false})
    );
}

#[test]
fn a_typo_a_wrong_type_and_a_missing_name_are_refused_together() {
    let d = decl(&[
        ("number", "phone?"),
        ("company_name", "text"),
        ("area_code", "[0121|0161]?"),
    ]);
    let e = d
        .check(
            "scripts/whc_port.rhai",
            &given(json!({"numbr": "01632960005", "area_code": "9999"})),
            &[],
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("unknown parameter \"numbr\"; did you mean \"number\"?"),
        "{text}"
    );
    assert!(text.contains("parameter \"area_code\""), "{text}");
    assert!(
        text.contains("missing required parameter \"company_name\""),
        "{text}"
    );
    assert!(text.starts_with("recipe scripts/whc_port.rhai: "), "{text}");
    // A JSON number is not text: nothing is guessed either way.
    let e = d
        .check("r", &given(json!({"company_name": 1999})), &[])
        .unwrap_err();
    assert!(
        e.to_string().contains("expected text, got the number 1999"),
        "{e}"
    );
}

#[test]
fn trigger_keys_count_as_declared_for_triggered_runs() {
    let d = decl(&[("wait_secs", "integer = 60")]);
    let out = d
        .check("r", &given(json!({"order_id": "BTWKN1"})), TRIGGER_KEYS)
        .unwrap();
    assert_eq!(out["order_id"], json!("BTWKN1"));
    assert!(d
        .check("r", &given(json!({"order_id": "BTWKN1"})), &[])
        .is_err());
}

#[test]
fn recipes_without_typed_declarations_take_what_is_given() {
    let g = given(json!({"anything": 1}));
    assert_eq!(
        Declared::Names(vec!["x".into()])
            .check("r", &g, &[])
            .unwrap(),
        g
    );
    assert_eq!(Declared::Nothing.check("r", &g, &[]).unwrap(), g);
}

#[test]
fn choices_of_types_and_of_numbers() {
    let users = ParamSpec::parse("users", "integer|list = 1").unwrap();
    assert_eq!(users.kind.read(&json!("3")).unwrap(), json!(3));
    assert_eq!(
        users
            .kind
            .read(&json!("[{\"first_name\": \"Ada\"}]"))
            .unwrap(),
        json!([{"first_name": "Ada"}])
    );
    assert!(users.kind.read(&json!("many")).is_err());
    let bw = ParamSpec::parse("bandwidth", "[100|1000|10000] = 1000").unwrap();
    assert_eq!(bw.default, Some(json!(1000)));
    assert_eq!(bw.kind.read(&json!(100)).unwrap(), json!(100));
    assert!(bw.kind.read(&json!("999")).is_err());
    let ac = ParamType::AreaCode;
    assert_eq!(ac.read(&json!("0121")).unwrap(), json!("0121"));
    assert!(ac.read(&json!("9999")).is_err());
}

#[test]
fn edges_an_operator_would_hit() {
    let s = ParamSpec::parse("u", "text = \"a — b\" — the description").unwrap();
    assert_eq!(
        (s.default, s.description.as_str()),
        (Some(json!("a — b")), "the description")
    );
    let d = decl(&[("id", "text"), ("n", "integer = 3")]);
    let e = d.check("r", &given(json!({"id": "  "})), &[]).unwrap_err();
    assert!(e.to_string().contains("required and empty"), "{e}");
    let out = d
        .check("r", &given(json!({"id": "x", "n": null})), &[])
        .unwrap();
    assert_eq!(out["n"], json!(3), "null is not given: the default applies");
    assert_eq!(read_phone("00000000000"), None);
    assert!(ParamType::AreaCode.read(&json!("00000")).is_err());
}

#[test]
fn uk_shapes() {
    assert_eq!(read_phone("01632 960005").as_deref(), Some("01632960005"));
    assert_eq!(read_phone("020 7946 0000").as_deref(), Some("02079460000"));
    assert_eq!(read_phone("12345"), None);
    assert_eq!(read_phone("0163296000a"), None);
    assert_eq!(read_postcode("sw1a1aa").as_deref(), Some("SW1A 1AA"));
    assert_eq!(read_postcode("IP5 3RE").as_deref(), Some("IP5 3RE"));
    assert_eq!(read_postcode("12345"), None);
    assert_eq!(read_date("2026-02-30"), None);
    assert_eq!(read_date("01/12/2026").as_deref(), Some("2026-12-01"));
}

#[test]
fn a_secret_is_never_shown_in_an_error_or_help() {
    let s = ParamSpec::parse("api_password", "secret = hunter2").unwrap();
    assert!(!s.describe().contains("hunter2"));
    let d = decl(&[("api_password", "secret")]);
    let e = d
        .check("r", &given(json!({"api_pasword": "hunter2"})), &[])
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
