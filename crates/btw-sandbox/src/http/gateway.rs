//! The API gateway in front of every route: tracking header rules, forced errors, bearer auth,
//! order progress, the request journal and state saving; plus the 404/405 fallbacks.
//!
//! A request that changed the world is answered only once its change is committed to the state
//! file (when there is one): an answer the sandbox gave survives the sandbox being killed.

use crate::error::ApiError;
use crate::state::SandboxState;
use crate::world::RequestEntry;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const TRACKING_HEADER: &str = "APIGW-Tracking-Header";
pub const TOKEN_PATH: &str = "/oauth/accesstoken";
pub use crate::wire::ADMIN_PREFIX;

/// `^[\w.~:@-]{1,255}$` with ASCII `\w`.
pub fn valid_tracking_header(v: &str) -> bool {
    (1..=255).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '~' | ':' | '@' | '-'))
}

/// The error a tracking-header value forces, if any.
pub fn forced_error(v: &str) -> Option<ApiError> {
    Some(match v {
        "E02901" => ApiError::schema(vec![crate::error::FieldError::new(
            "APIGW-Tracking-Header",
            "forced error E02901",
        )]),
        "E06001" => ApiError::not_found("Resource not found"),
        "E00101" => ApiError::internal(),
        "E00501" => ApiError::unavailable(),
        "E08001" => ApiError::too_many_requests(),
        _ => return None,
    })
}

fn is_admin(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/__sandbox/")
}

fn mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Tracking header (when present and valid) plus the checks of the gateway.
fn check(
    state: &SandboxState,
    headers: &HeaderMap,
    is_token_call: bool,
) -> (Option<String>, Result<(), ApiError>) {
    let tracking = match headers.get(TRACKING_HEADER) {
        None if is_token_call => None,
        None => return (None, Err(ApiError::missing_header(TRACKING_HEADER))),
        Some(v) => match v.to_str() {
            Ok(s) if valid_tracking_header(s) => Some(s.to_string()),
            _ => return (None, Err(ApiError::invalid_header(TRACKING_HEADER))),
        },
    };
    if let Some(e) = tracking.as_deref().and_then(forced_error) {
        return (tracking, Err(e));
    }
    if is_token_call {
        return (tracking, Ok(()));
    }
    (tracking, check_bearer(state, headers))
}

fn check_bearer(state: &SandboxState, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::missing_credentials)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(ApiError::missing_credentials)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::missing_credentials());
    }
    state.with_world(|w| {
        // A token expires by the clock it was issued on, whatever clock the request names.
        match w.tokens.get(token) {
            None => Err(ApiError::invalid_credentials()),
            Some(t) if w.now_on(t.clock.as_deref()) >= t.expires_at => {
                Err(ApiError::expired_credentials())
            }
            Some(_) => Ok(()),
        }
    })
}

/// The gateway middleware (`axum::middleware::from_fn_with_state`).
pub async fn gateway(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path != "/__sandbox/health" {
        state.touch();
    }
    if is_admin(&path) {
        let response = next.run(req).await;
        if mutating(&method) {
            return saved(&state, response).await;
        }
        return response;
    }
    let moved = !state.tick().is_empty();
    let (tracking, verdict) = check(&state, req.headers(), path == TOKEN_PATH);
    let response = match verdict {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let status = response.status().as_u16();
    state.with_world(|w| {
        let at = w.now();
        w.record_request(RequestEntry {
            at,
            method: method.to_string(),
            path: path.chars().take(1024).collect(),
            status,
            tracking_header: tracking,
        })
    });
    if mutating(&method) || moved {
        return saved(&state, response).await;
    }
    response
}

/// `response`, once the changes made so far are committed; a 500 when they could not be.
async fn saved(state: &SandboxState, response: Response) -> Response {
    match state.save().await {
        Ok(()) => response,
        Err(_) => ApiError::internal().into_response(),
    }
}

/// Unknown path → 404/60.
pub async fn not_found() -> ApiError {
    ApiError::not_found("No such resource")
}

/// Known path, wrong method → 405/61.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_header_rule() {
        assert!(valid_tracking_header(
            "3dd57ffe-f884-4f85-ae5c-7f2b4f596ee0"
        ));
        assert!(valid_tracking_header("a.b~c:d@e_f"));
        assert!(!valid_tracking_header(""));
        assert!(!valid_tracking_header("has space"));
        assert!(!valid_tracking_header(&"x".repeat(256)));
        assert!(valid_tracking_header(&"x".repeat(255)));
    }

    #[test]
    fn forced_errors() {
        assert_eq!(forced_error("E02901").unwrap().code, "29");
        assert_eq!(forced_error("E06001").unwrap().code, "60");
        assert_eq!(forced_error("E00101").unwrap().code, "01");
        assert_eq!(forced_error("E00501").unwrap().code, "05");
        assert_eq!(forced_error("E08001").unwrap().retry_after, Some(1));
        assert!(forced_error("E99999").is_none());
    }
}
