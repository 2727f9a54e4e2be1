//! The session's BT calls as the REPL shows them: `:calls` (one line each), `:last N` (one in
//! full) and `:curl N` (a command line to send it again from a shell, with every secret as a
//! `$BTW_…` variable the shell fills in).

use crate::api::recorder::CallRecord;
use crate::api::Operation;
use serde_json::Value;

/// Header names never copied into a curl command: curl sets them itself.
const LEFT_TO_CURL: &[&str] = &["content-length", "host", "accept-encoding", "user-agent"];

/// How `:curl` shows the token call's Basic credentials: made by the shell from the variables
/// btw itself reads, so no secret is printed.
const BASIC_FROM_ENV: &str = "$(printf %s \"$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET\" | base64)";

/// `:calls N`: a header, then one line per call, oldest first.
pub fn list(calls: &[CallRecord]) -> String {
    if calls.is_empty() {
        return "no BT call yet in this session".into();
    }
    let mut out = String::from("  #  time      method path  status  time taken  tracking id\n");
    for c in calls {
        out.push_str(&c.list_line());
        out.push('\n');
    }
    out.push_str(
        "(:last N shows one in full, :curl N as a curl command, :resend N sends it again)",
    );
    out
}

/// Whether this call is the OAuth token exchange.
pub fn is_token_call(c: &CallRecord) -> bool {
    c.operation == Operation::AccessToken.as_str()
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `$BTW_PASSWORD` for a field named `password` (or `X-Callback-Credentials`).
fn env_name(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BTW_{}", upper.trim_matches('_'))
}

/// Replaces every masked value in a body with a marker naming its variable (the key it is under).
fn mark_secrets(v: &Value, key: &str, found: &mut Vec<String>) -> Value {
    match v {
        Value::String(s) if s == crate::secrets::MASK => {
            let name = env_name(key);
            if !found.contains(&name) {
                found.push(name.clone());
            }
            Value::String(format!("\u{E000}{name}\u{E000}"))
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), mark_secrets(v, k, found)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| mark_secrets(v, key, found)).collect()),
        other => other.clone(),
    }
}

/// `:curl N`: the call as a curl command. The bearer token is `$BTW_TOKEN` (with a first line
/// saying how to get one), other secrets `$BTW_<NAME>`; nothing secret is ever printed.
pub fn curl(c: &CallRecord) -> String {
    let base = c.url.strip_suffix(c.path()).unwrap_or("");
    let mut lines = Vec::new();
    let mut needs_token = false;
    let mut vars: Vec<String> = Vec::new();
    let mut cmd = if c.method == "GET" {
        format!("curl -sS {}", sh_quote(&c.url))
    } else {
        format!("curl -sS -X {} {}", c.method, sh_quote(&c.url))
    };
    for (name, value) in &c.request_headers {
        let lower = name.to_ascii_lowercase();
        if LEFT_TO_CURL.contains(&lower.as_str()) {
            continue;
        }
        let header = if lower == "authorization" {
            if is_token_call(c) {
                format!("\"Authorization: Basic {BASIC_FROM_ENV}\"")
            } else {
                needs_token = true;
                "\"Authorization: Bearer $BTW_TOKEN\"".to_string()
            }
        } else if value == crate::secrets::MASK {
            let var = env_name(name);
            let h = format!("\"{name}: ${var}\"");
            vars.push(var);
            h
        } else {
            sh_quote(&format!("{name}: {value}"))
        };
        cmd.push_str(&format!(" \\\n  -H {header}"));
    }
    if let Some(body) = &c.request_body {
        let marked = mark_secrets(body, "", &mut vars);
        let text = serde_json::to_string(&marked).unwrap_or_default();
        let mut quoted = sh_quote(&text);
        // Each marker leaves the single quotes for a double-quoted variable, then goes back in.
        for var in &vars {
            quoted = quoted.replace(&format!("\u{E000}{var}\u{E000}"), &format!("'\"${var}\"'"));
        }
        cmd.push_str(&format!(" \\\n  --data-raw {quoted}"));
    }
    if needs_token {
        lines.push(format!(
            "# BTW_TOKEN=$(curl -sS {} -H \"Authorization: Basic {BASIC_FROM_ENV}\" | sed 's/.*\"accessToken\": *\"\\([^\"]*\\)\".*/\\1/')",
            sh_quote(&format!(
                "{base}/oauth/accesstoken?grant_type=client_credentials"
            ))
        ));
    }
    if !vars.is_empty() {
        lines.push(format!(
            "# set {} first: their values are secrets, never shown",
            vars.iter()
                .map(|v| format!("${v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines.push(cmd);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(method: &str, op: &str, body: Option<Value>) -> CallRecord {
        CallRecord {
            at: "2026-01-01T10:00:00Z".into(),
            operation: op.into(),
            method: method.into(),
            url: "http://127.0.0.1:8099/bt-wholesale/v1/order/productOrder?limit=5".into(),
            request_headers: vec![
                ("apigw-tracking-header".into(), "T-1".into()),
                ("authorization".into(), "***".into()),
                ("content-length".into(), "12".into()),
                ("x-sandbox-clock".into(), "repl-1".into()),
            ],
            request_body: body,
            status: Some(200),
            response_headers: vec![],
            response_body: None,
            duration_ms: 4,
            tracking_id: "T-1".into(),
            error: None,
            seq: 3,
        }
    }

    #[test]
    fn curl_has_placeholders_for_every_secret() {
        let c = call(
            "POST",
            "create order",
            Some(json!({"name": "O'Brien", "users": [{"password": "***"}]})),
        );
        let text = curl(&c);
        assert!(
            text.contains(
                "-X POST 'http://127.0.0.1:8099/bt-wholesale/v1/order/productOrder?limit=5'"
            ),
            "{text}"
        );
        assert!(
            text.contains("\"Authorization: Bearer $BTW_TOKEN\""),
            "{text}"
        );
        assert!(text.contains("# BTW_TOKEN=$(curl -sS 'http://127.0.0.1:8099/oauth/accesstoken?grant_type=client_credentials'"), "{text}");
        assert!(
            text.contains("'X-Sandbox-Clock: repl-1'")
                || text.contains("'x-sandbox-clock: repl-1'"),
            "{text}"
        );
        assert!(
            !text.contains("content-length") && !text.contains("***"),
            "{text}"
        );
        assert!(
            text.contains(r#"'{"name":"O'\''Brien","users":[{"password":"'"$BTW_PASSWORD"'"}]}'"#),
            "{text}"
        );
        assert!(text.contains("$BTW_PASSWORD"), "{text}");
    }

    #[test]
    fn the_token_call_builds_its_credentials_from_the_environment() {
        let mut c = call("GET", Operation::AccessToken.as_str(), None);
        c.url = "http://h/oauth/accesstoken?grant_type=client_credentials".into();
        let text = curl(&c);
        assert!(
            text.contains("Basic $(printf %s \"$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET\" | base64)"),
            "{text}"
        );
        assert!(!text.contains("BTW_TOKEN"), "{text}");
        assert!(!text.contains("-X GET"), "{text}");
    }

    #[test]
    fn the_list_has_one_line_per_call() {
        let text = list(&[call("GET", "get order", None)]);
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("  3  "), "{line}");
        assert!(
            line.contains("GET    /bt-wholesale/v1/order/productOrder?limit=5  200  4 ms  T-1"),
            "{line}"
        );
        assert_eq!(list(&[]), "no BT call yet in this session");
    }
}
