//! The HTTP listener for BT's order notifications: authenticated, size-limited, replay-protected,
//! stored once per event id, and announced to waiting scripts. Its connections are limited
//! (`guard`): so many at once, a header-read and an idle timeout.

mod guard;
mod on_demand;

pub use on_demand::{OnDemand, Registered, Registration};

use crate::api::Secret;
use crate::store::{EventHub, Notification};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The path BT posts to, below the listener's address.
pub const PATH: &str = "/btw/notifications";

/// How the listener accepts notifications.
#[derive(Clone, Debug)]
pub struct CallbackConfig {
    /// Where to listen, e.g. `127.0.0.1:0`.
    pub bind: String,
    /// The credentials BT (or the sandbox) authenticates with, as given to BT at onboarding.
    pub username: String,
    pub password: Secret,
    /// Larger bodies are refused (413) unread.
    pub max_body_bytes: usize,
    /// Events whose `eventTime` is further than this from now are refused as replays; `None`
    /// turns the check off (the sandbox's clock may run far from real time).
    pub replay_window: Option<Duration>,
}

impl CallbackConfig {
    /// Loopback, random credentials, no replay window: for the embedded sandbox. Credentials
    /// and address given in `BTW_CALLBACK_USERNAME`, `BTW_CALLBACK_PASSWORD` and
    /// `BTW_CALLBACK_BIND` are used instead, so another sender can be pointed at it too.
    pub fn for_sandbox() -> Self {
        let env = crate::config::process_env;
        let (username, password) =
            match (env("BTW_CALLBACK_USERNAME"), env("BTW_CALLBACK_PASSWORD")) {
                (Some(u), Some(p)) => (u, p),
                _ => ("btw".into(), uuid::Uuid::new_v4().simple().to_string()),
            };
        CallbackConfig {
            bind: env("BTW_CALLBACK_BIND").unwrap_or_else(|| "127.0.0.1:0".into()),
            username,
            password: Secret::new(password),
            max_body_bytes: 64 * 1024,
            replay_window: None,
        }
    }
}

struct Shared {
    config: CallbackConfig,
    hub: EventHub,
}

/// A running listener.
pub struct CallbackListener {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl CallbackListener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to register with BT.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        format!("http://{host}:{}{PATH}", self.addr.port())
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

/// Starts the listener on the current tokio runtime.
pub async fn start(config: CallbackConfig, hub: EventHub) -> std::io::Result<CallbackListener> {
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
    let addr = listener.local_addr()?;
    let limit = config.max_body_bytes;
    let shared = Arc::new(Shared { config, hub });
    let app = Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = axum::serve(guard::GuardedListener::new(listener), app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(CallbackListener {
        addr,
        shutdown: Some(tx),
        task,
    })
}

fn refuse(status: StatusCode, reason: &str, message: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"code": status.as_u16().to_string(), "reason": reason, "message": message})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"btw\"".parse().expect("static header"),
        );
    }
    r
}

/// Compares in constant time, so timing tells nothing of the secret.
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn authorised(headers: &HeaderMap, config: &CallbackConfig) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", config.username, config.password.expose());
    same(&decoded, expected.as_bytes())
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&headers, &shared.config) {
        tracing::warn!("notification refused: bad or missing credentials");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Unauthorised",
            "Valid Basic credentials are required",
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidBody",
                &format!("Body is not JSON: {e}"),
            )
        }
    };
    let n = match Notification::from_envelope(value) {
        Ok(n) => n,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "InvalidBody", &e),
    };
    if let Some(window) = shared.config.replay_window {
        let fresh = chrono::DateTime::parse_from_rfc3339(&n.event_time)
            .map(|t| {
                let age = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .num_seconds()
                    .unsigned_abs();
                age <= window.as_secs()
            })
            .unwrap_or(false);
        if !fresh {
            tracing::warn!(event = %n.event_id, "notification refused: eventTime outside the replay window");
            return refuse(
                StatusCode::BAD_REQUEST,
                "StaleEvent",
                "eventTime is missing or outside the accepted window",
            );
        }
    }
    let hub = shared.hub.clone();
    let id = n.event_id.clone();
    match tokio::task::spawn_blocking(move || hub.record(n)).await {
        Ok(Ok(new)) => {
            tracing::debug!(event = %id, new, "notification received");
            (
                StatusCode::OK,
                Json(json!({"received": true, "duplicate": !new})),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::error!("cannot store notification {id}: {e}");
            // 503 so BT retries later: nothing is lost.
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "StoreUnavailable",
                "The notification could not be stored; retry later",
            )
        }
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "Internal error",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare_is_still_a_compare() {
        assert!(same(b"btw:secret", b"btw:secret"));
        assert!(!same(b"btw:secret", b"btw:secreT"));
        assert!(!same(b"btw:secret", b"btw:secret2"));
        assert!(!same(b"", b"x"));
    }
}
