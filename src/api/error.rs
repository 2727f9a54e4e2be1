//! Errors from BT calls: BT's own FailureResponse bodies, and everything that can go wrong around them.

use serde_json::Value;
use std::fmt;

/// A FailureResponse from BT: HTTP status plus BT's `code`, `reason` and `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct BtError {
    /// The operation being attempted, e.g. `"create order"`.
    pub operation: String,
    pub status: u16,
    pub code: String,
    pub reason: String,
    pub message: String,
    /// Schema validation details (`errors`), when BT sent them.
    pub errors: Vec<Value>,
    /// The `APIGW-Tracking-Header` of the failing call: what BT support asks for.
    pub tracking_id: Option<String>,
}

impl BtError {
    /// Builds the error from a response body, tolerating bodies that are not FailureResponses.
    pub fn from_body(operation: &str, status: u16, body: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let field = |name: &str| -> String {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        let mut message = field("message");
        if message.is_empty() && parsed.is_none() {
            // Not JSON: keep a short, printable excerpt so the user sees what came back.
            message = body
                .chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string();
        }
        let errors = parsed
            .as_ref()
            .and_then(|v| v.get("errors"))
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        BtError {
            operation: operation.to_string(),
            status,
            code: field("code"),
            reason: field("reason"),
            message,
            errors,
            tracking_id: None,
        }
    }
}

impl BtError {
    /// Adds to each validation error the script's `key` for its wire `field` (kept as it was),
    /// read from the request BT refused.
    pub(crate) fn name_script_keys(&mut self, request: Option<&Value>) {
        for e in self.errors.iter_mut() {
            let Some(obj) = e.as_object_mut() else {
                continue;
            };
            let wire = obj.get("field").and_then(Value::as_str).unwrap_or("");
            if let Some(key) = super::wire_path::script_key(request, wire) {
                obj.insert("key".into(), Value::String(key));
            }
        }
    }
}

impl fmt::Display for BtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: BT answered {}", self.operation, self.status)?;
        match (self.code.is_empty(), self.reason.is_empty()) {
            (false, false) => write!(f, " (code {}, {})", self.code, self.reason)?,
            (false, true) => write!(f, " (code {})", self.code)?,
            (true, false) => write!(f, " ({})", self.reason)?,
            (true, true) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        for e in &self.errors {
            // The script's own key when known; the wire path stays in the error map.
            let field = e
                .get("key")
                .or_else(|| e.get("field"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
            if !field.is_empty() || !msg.is_empty() {
                write!(f, "; {field}: {msg}")?;
            }
        }
        Ok(())
    }
}

/// Everything a BT call can end in, other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// BT (or the sandbox) answered with an error status.
    #[error("{0}")]
    Bt(Box<BtError>),
    /// The request never got an answer: connection refused, reset, DNS, TLS.
    #[error("{operation}: could not reach BT at {url}: {detail}")]
    Transport {
        operation: String,
        url: String,
        detail: String,
        /// True when the request may have reached BT (sent, then the connection dropped).
        maybe_sent: bool,
    },
    /// No answer within the per-call timeout.
    #[error("{operation}: no answer from BT within {secs:.1} s")]
    Timeout { operation: String, secs: f64 },
    /// BT answered 2xx but the body is not what the API documents.
    #[error("{operation}: unexpected response from BT: {detail}")]
    Decode { operation: String, detail: String },
    /// The call was not sent because of a local rule (bad input, live profile without confirmation).
    #[error("{operation}: {detail}")]
    Refused { operation: String, detail: String },
    /// The call was cancelled (Ctrl-C, run timeout).
    #[error("{operation}: cancelled")]
    Cancelled { operation: String },
}

impl ApiError {
    /// The BT error, if this is one.
    pub fn bt(&self) -> Option<&BtError> {
        match self {
            ApiError::Bt(e) => Some(e),
            _ => None,
        }
    }

    /// True when the call's outcome is unknown: it may have been processed by BT.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ApiError::Timeout { .. } => true,
            ApiError::Transport { maybe_sent, .. } => *maybe_sent,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_response_is_read_and_shown() {
        let e = BtError::from_body(
            "create order",
            400,
            r#"{"code":"22","reason":"TooManyUsers","message":"At most three users"}"#,
        );
        assert_eq!(e.code, "22");
        assert_eq!(e.reason, "TooManyUsers");
        assert_eq!(
            e.to_string(),
            "create order: BT answered 400 (code 22, TooManyUsers): At most three users"
        );
    }

    #[test]
    fn non_json_body_is_kept_short() {
        let body = "x".repeat(1000);
        let e = BtError::from_body("get order", 502, &body);
        assert_eq!(e.code, "");
        assert_eq!(e.message.len(), 200);
    }

    #[test]
    fn schema_errors_are_listed() {
        let e = BtError::from_body(
            "create address",
            400,
            r#"{"code":"29","reason":"Schema validation","message":"Invalid body","errors":[{"field":"city","message":"required"}]}"#,
        );
        assert!(e.to_string().ends_with("; city: required"), "{e}");
    }
}
