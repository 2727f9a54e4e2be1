//! Requests by path (`bt::get`, `bt::post`, … and the REPL's `:resend`): any BT endpoint, with
//! the client's token, tracking header, sandbox clock and record, for what the typed functions
//! do not cover. A read may be retried like any read; a change never is once it may have reached
//! BT (the ledger cannot make it exactly-once), so its failure can leave the outcome unknown.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Kind, Request};
use reqwest::Method;
use serde_json::Value;

/// BT's answer to a raw request.
#[derive(Clone, Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// JSON, `Null` for an empty body.
    pub body: Value,
}

/// The methods a raw request may use.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Whether a request with `method` may change something at BT (all but GET).
pub fn is_mutating(method: &str) -> bool {
    !method.eq_ignore_ascii_case("GET")
}

/// Checks a raw path: it starts with `/`, names no host, and holds no spaces or control
/// characters (a URL is refused, so the token only ever goes to the configured BT host).
pub fn check_path(path: &str) -> Result<(), String> {
    if path.contains("://") || !path.starts_with('/') || path.starts_with("//") {
        return Err(format!(
            "{path:?} is not a path: give the part after the host, starting with /, e.g. \"/bt-wholesale/v1/order/productOrder?limit=5\""
        ));
    }
    if let Some(c) = path.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{path:?}: a path cannot hold {c:?} (percent-encode it, e.g. %20 for a space)"
        ));
    }
    Ok(())
}

impl BtClient {
    /// Sends `method path` (the path may carry a query string) with `body` as JSON.
    /// A non-2xx answer is BT's error, as for the typed calls.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<RawAnswer, ApiError> {
        let refused = |detail: String| ApiError::Refused {
            operation: Operation::Raw.into(),
            detail,
        };
        let upper = method.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            return Err(refused(format!(
                "method {method:?} is not one of {}",
                METHODS.join(", ")
            )));
        }
        check_path(path).map_err(refused)?;
        let method = Method::from_bytes(upper.as_bytes()).map_err(|e| refused(e.to_string()))?;
        let kind = if is_mutating(&upper) {
            Kind::Mutating
        } else {
            Kind::Safe
        };
        let req = Request {
            operation: Operation::Raw,
            method,
            path: path.to_string(),
            query: Vec::new(),
            body,
            kind,
        };
        let page = self.send(req).await?;
        Ok(RawAnswer {
            status: page.status,
            headers: page.headers,
            body: page.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_the_configured_host() {
        assert!(check_path("/bt-wholesale/v1/order/productOrder?limit=5").is_ok());
        for bad in [
            "https://evil.example/x",
            "bt-wholesale/v1",
            "//evil.example/x",
            "/a b",
            "/a\n",
            "",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(is_mutating("post") && is_mutating("DELETE") && !is_mutating("get"));
    }
}
