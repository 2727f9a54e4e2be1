//! `GET /oauth/accesstoken`: OAuth 2 client credentials, answering BT's token shape.

use crate::error::ApiError;
use crate::http::extract::QueryParams;
use crate::state::SandboxState;
use crate::world::Token;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};

pub fn router() -> Router<SandboxState> {
    Router::new().route(crate::http::gateway::TOKEN_PATH, get(token))
}

/// `key:secret` from a Basic authorization header; `None` when missing or garbled.
pub fn parse_basic(value: Option<&str>) -> Option<(String, String)> {
    let (scheme, encoded) = value?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_string(), secret.to_string()))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// 28 random alphanumerics.
pub fn new_token() -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(28)
        .map(char::from)
        .collect()
}

async fn token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (key, secret) = parse_basic(auth).ok_or_else(ApiError::missing_credentials)?;
    if key.is_empty() || secret.is_empty() {
        return Err(ApiError::invalid_credentials());
    }
    if let Some((k, s)) = &state.config().credentials {
        // Evaluate both so timing does not tell which half was wrong.
        let ok = same(k, &key) & same(s, &secret);
        if !ok {
            return Err(ApiError::invalid_credentials());
        }
    }
    let query = QueryParams::parse(raw.as_deref());
    let grant = query.required("grant_type")?;
    if grant != "client_credentials" {
        return Err(ApiError::invalid_query(
            "grant_type",
            "only client_credentials is supported",
        ));
    }
    let ttl = state.config().token_ttl_secs;
    let token = new_token();
    let issued = token.clone();
    state.with_world(move |w| {
        // Forget tokens that expired over a day ago, each by its own clock (a run that moved its
        // clock must not purge another run's tokens); keep recent ones for 401/42.
        let nows = w.nows();
        w.tokens
            .retain(|_, t| t.expires_at + chrono::Duration::days(1) > nows.of(t.clock.as_deref()));
        let now = w.now();
        let ttl =
            chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 4).min(1 << 40));
        w.tokens.insert(
            issued,
            Token {
                expires_at: now + ttl,
                clock: w.clock_id(),
            },
        );
    });
    Ok(Json(json!({
        "accessToken": token,
        "tokenType": "BearerToken",
        "expiresIn": ttl,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_parsing() {
        let enc = base64::engine::general_purpose::STANDARD.encode("key:sec:ret");
        assert_eq!(
            parse_basic(Some(&format!("Basic {enc}"))),
            Some(("key".into(), "sec:ret".into()))
        );
        assert_eq!(parse_basic(Some("Basic !!!")), None);
        assert_eq!(parse_basic(Some("Bearer abc")), None);
        assert_eq!(parse_basic(None), None);
        let t = new_token();
        assert_eq!(t.len(), 28);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("a", "ab"));
    }
}
