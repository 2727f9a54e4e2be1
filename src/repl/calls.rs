//! The session's BT calls as `:calls` lists them, `:last N` shows one, and `:curl N` copies one
//! as a curl command line with every secret a `$BTW_…` placeholder.

use crate::api::recorder::CallRecord;

/// `:calls`: one line per call (token calls and interrupted ones included), oldest first.
pub fn list(calls: &[(usize, CallRecord)]) -> String {
    if calls.is_empty() {
        return "no BT call yet in this session".into();
    }
    calls
        .iter()
        .map(|(n, c)| c.list_line(*n))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Call `n` of the session (the last when `None`), or why there is none.
pub fn pick(calls: &[(usize, CallRecord)], n: Option<usize>) -> Result<&CallRecord, String> {
    let Some((last, _)) = calls.last() else {
        return Err("no BT call yet in this session".into());
    };
    match n {
        None => Ok(&calls[calls.len() - 1].1),
        Some(n) => calls
            .iter()
            .find(|(i, _)| *i == n)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                let first = calls[0].0;
                format!("no call {n}: the session's calls kept are {first} to {last} (see :calls)")
            }),
    }
}

/// Whether a call was the OAuth token exchange (its request carries the client secret).
pub fn is_token_call(c: &CallRecord) -> bool {
    c.url.contains("/oauth/")
}

/// A single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The call as a curl command line. Secrets are never in it: the bearer token is `$BTW_TOKEN`,
/// the token call's credentials `$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET`, and masked body fields
/// `$BTW_SECRET`, each left for the shell to fill in.
pub fn curl(c: &CallRecord) -> String {
    let method = if c.method == "GET" {
        String::new()
    } else {
        format!("-X {} ", c.method)
    };
    let mut parts = vec![format!("curl {method}{}", quote(&c.url))];
    let masked = crate::secrets::MASK;
    for (name, value) in &c.request_headers {
        let lower = name.to_ascii_lowercase();
        if lower == "content-length" {
            continue;
        }
        if lower == "authorization" {
            if is_token_call(c) {
                parts.push("-u \"$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET\"".into());
            } else {
                parts.push(format!("-H \"{name}: Bearer $BTW_TOKEN\""));
            }
            continue;
        }
        if value == masked {
            let var = format!(
                "BTW_{}",
                lower
                    .chars()
                    .map(|ch| if ch.is_ascii_alphanumeric() {
                        ch.to_ascii_uppercase()
                    } else {
                        '_'
                    })
                    .collect::<String>()
            );
            parts.push(format!("-H \"{name}: ${var}\""));
            continue;
        }
        parts.push(format!("-H {}", quote(&format!("{name}: {value}"))));
    }
    if let Some(body) = &c.request_body {
        let text = serde_json::to_string(body).unwrap_or_default();
        // A masked field closes the quote, lets the shell put `$BTW_SECRET` in, and reopens it.
        let secret = format!("\"{masked}\"");
        let data = quote(&text).replace(&secret, "\"'\"$BTW_SECRET\"'\"");
        parts.push(format!("--data {data}"));
    }
    parts.join(" \\\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(url: &str, auth: &str) -> CallRecord {
        CallRecord {
            at: "2026-01-01T10:11:12.000Z".into(),
            operation: "x".into(),
            method: "POST".into(),
            url: url.into(),
            request_headers: vec![
                ("authorization".into(), auth.into()),
                ("apigw-tracking-header".into(), "T1".into()),
            ],
            request_body: Some(json!({"name": "it's", "password": "***"})),
            status: Some(201),
            response_headers: vec![],
            response_body: None,
            duration_ms: 12,
            tracking_id: "T1".into(),
            error: None,
        }
    }

    #[test]
    fn curl_has_placeholders_not_secrets() {
        let text = curl(&call("http://h/bt-wholesale/v1/x", "***"));
        assert!(text.contains("Bearer $BTW_TOKEN"), "{text}");
        assert!(text.contains("\"'\"$BTW_SECRET\"'\""), "{text}");
        assert!(text.contains("'apigw-tracking-header: T1'"), "{text}");
        assert!(text.contains(r#"it'\''s"#), "{text}");
        assert!(!text.contains("***"), "{text}");
        let token = curl(&call("http://h/oauth/accesstoken?grant_type=x", "***"));
        assert!(
            token.contains("$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET"),
            "{token}"
        );
    }

    #[test]
    fn calls_are_listed_and_picked_by_number() {
        let calls = vec![
            (7, call("http://h/a/b", "***")),
            (8, call("http://h/c", "***")),
        ];
        let text = list(&calls);
        assert!(
            text.contains("  7  10:11:12  POST   /a/b  201  12 ms  T1"),
            "{text}"
        );
        assert_eq!(pick(&calls, Some(8)).unwrap().url, "http://h/c");
        assert!(pick(&calls, Some(3)).unwrap_err().contains("7 to 8"));
        assert_eq!(pick(&calls, None).unwrap().url, "http://h/c");
    }
}
