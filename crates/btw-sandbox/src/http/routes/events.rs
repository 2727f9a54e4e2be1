//! Admin endpoints for outbound notifications: the reseller's callback registration and the
//! delivery settings and log (`/__sandbox/callback`, `/__sandbox/notifications`).

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{json_body, object_body, RawBody};
use crate::state::SandboxState;
use crate::world::outbox::Callback;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/__sandbox/callback",
            get(callback).post(register).delete(unregister),
        )
        .route("/__sandbox/notifications", get(deliveries).post(settings))
}

/// The registration without its password.
fn callback_body(cb: Option<&Callback>) -> Json<Value> {
    Json(match cb {
        Some(cb) => json!({"registered": true, "url": cb.url, "username": cb.username}),
        None => json!({"registered": false}),
    })
}

/// An absolute http(s) URL.
fn valid_url(s: &str) -> bool {
    reqwest::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

async fn callback(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| callback_body(w.notify.callback.as_ref()))
}

async fn register(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let cb = callback_from(&body, &mut errs);
    errs.into_result()?;
    let cb = cb.ok_or_else(|| ApiError::schema(vec![]))?;
    let answer = callback_body(Some(&cb));
    state.with_world(|w| w.notify.callback = Some(cb));
    Ok(answer)
}

/// `url`, `username` and `password` of a registration body; what is wrong goes to `errs`.
pub(super) fn callback_from(body: &Value, errs: &mut SchemaErrors) -> Option<Callback> {
    let url = body.get("url").and_then(Value::as_str).map(str::trim);
    match url {
        None => errs.missing("url"),
        Some(u) if !valid_url(u) => errs.push("url", "must be an absolute http or https URL"),
        Some(_) => {}
    }
    let username = body
        .get("username")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if username.is_none() {
        errs.missing("username");
    }
    // The password is kept as given: it is the reseller's secret, not ours to trim.
    let password = body.get("password").and_then(Value::as_str);
    if password.is_none() {
        errs.push("password", "is required (a string)");
    }
    match (url.filter(|u| valid_url(u)), username, password) {
        (Some(url), Some(username), Some(password)) => Some(Callback {
            url: url.to_string(),
            username: username.to_string(),
            password: password.to_string(),
        }),
        _ => None,
    }
}

async fn unregister(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| w.notify.callback = None);
    callback_body(None)
}

fn settings_body(state: &SandboxState) -> Json<Value> {
    state
        .with_world(|w| Json(json!({"duplicate": w.notify.duplicate, "reorder": w.notify.reorder})))
}

async fn settings(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let mut flag = |name: &str| match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errs.push(name, "must be true or false");
            None
        }
    };
    let duplicate = flag("duplicate");
    let reorder = flag("reorder");
    errs.into_result()?;
    state.with_world(|w| {
        if let Some(d) = duplicate {
            w.notify.duplicate = d;
        }
        if let Some(r) = reorder {
            w.notify.reorder = r;
        }
    });
    Ok(settings_body(&state))
}

async fn deliveries(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| {
        let list: Vec<Value> = w.notify.deliveries.iter().map(|d| d.render()).collect();
        Json(json!({
            "duplicate": w.notify.duplicate,
            "reorder": w.notify.reorder,
            "deliveries": list,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(valid_url("http://127.0.0.1:8080/bt/events"));
        assert!(valid_url("https://example.com"));
        assert!(!valid_url("ftp://example.com"));
        assert!(!valid_url("/relative"));
        assert!(!valid_url("http://"));
    }

    #[test]
    fn registration_hides_the_password() {
        let cb = Callback {
            url: "http://x".into(),
            username: "u".into(),
            password: "pw-secret".into(),
        };
        let Json(v) = callback_body(Some(&cb));
        assert!(!v.to_string().contains("pw-secret"));
        assert_eq!(v["username"], "u");
    }
}
