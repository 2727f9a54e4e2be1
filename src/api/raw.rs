//! Requests by path (`bt::get`, `bt::post`, … and the REPL's `:resend`): any BT endpoint the
//! typed functions do not cover, with the same token, tracking header, clock and record.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Kind, Page, Request};
use reqwest::Method;
use serde_json::Value;

/// The methods a raw request may use, as scripts name them.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Whether a method changes something at BT: such a raw call is never retried (nothing can
/// look up whether it took effect), so an interrupted one has an unknown outcome.
pub fn is_mutating(method: &str) -> bool {
    !matches!(
        method.to_ascii_uppercase().as_str(),
        "GET" | "HEAD" | "OPTIONS"
    )
}

/// Checks a raw request's path: relative to the profile's base URL, so a script cannot send
/// the bearer token to another host.
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!(
            "the path must start with one `/` and be relative to the profile's base URL (e.g. \"/tmf-api/productOrderingManagement/v4/productOrder\"), got {path:?}"
        ));
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(format!(
            "the path may not hold spaces, control characters or `#` (encode them), got {path:?}"
        ));
    }
    Ok(())
}

impl BtClient {
    /// Sends `method path` (with `body` as JSON) as BT's gateway expects every call. A GET may be
    /// retried on transient failures; any other method is sent once (again only when the
    /// connection was refused, so nothing reached BT). A non-2xx answer is BT's error.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Page, ApiError> {
        let refused = |detail: String| ApiError::Refused {
            operation: Operation::Raw.into(),
            detail,
        };
        check_path(path).map_err(refused)?;
        let upper = method.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            return Err(refused(format!(
                "unknown method {method:?} (one of {})",
                METHODS.join(", ")
            )));
        }
        let method = Method::from_bytes(upper.as_bytes()).map_err(|e| refused(e.to_string()))?;
        let request = Request {
            operation: Operation::Raw,
            method,
            path: path.to_string(),
            query: Vec::new(),
            body,
            kind: if is_mutating(&upper) {
                Kind::Mutating
            } else {
                Kind::Safe
            },
        };
        self.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_on_the_base_url() {
        assert!(check_path("/a/b?x=1").is_ok());
        assert!(check_path("https://evil.example/x").is_err());
        assert!(check_path("//evil.example/x").is_err());
        assert!(check_path("/a b").is_err());
        assert!(is_mutating("post") && !is_mutating("GET"));
    }
}
