//! Admin endpoints under `/__sandbox/`: health, shutdown, reset, journal, token expiry and the
//! clock.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{object_body, RawBody};
use crate::state::SandboxState;
use crate::world::clock::{secs_f64, MAX_SPEED};
use crate::world::World;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// Largest single clock advance: ten years.
const MAX_ADVANCE_SECS: f64 = 10.0 * 366.0 * 86_400.0;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route("/__sandbox/health", get(health))
        .route("/__sandbox/shutdown", post(shutdown))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/journal", get(journal))
        .route("/__sandbox/expire-tokens", post(expire_tokens))
        .route("/__sandbox/clock", get(clock).post(set_clock))
}

/// Who it is, and what another btw needs to judge whether it is in use: live subscribers (those
/// whose deliveries are not failing) and the idle timeout it runs under (`null`: none).
async fn health(State(state): State<SandboxState>) -> Json<Value> {
    let subscribers = state.with_world(|w| {
        w.notify
            .subscriptions
            .values()
            .filter(|s| s.failures == 0)
            .count()
    });
    Json(json!({
        "service": "btw-sandbox",
        "version": crate::VERSION,
        "build": crate::build_id(),
        "pid": std::process::id(),
        "idleSecs": state.idle_for().as_secs(),
        "idleTimeoutSecs": state.config().idle_timeout.map(|d| d.as_secs()),
        "subscribers": subscribers,
    }))
}

/// Asks the process that runs the sandbox to stop it (it saves its state first).
async fn shutdown(State(state): State<SandboxState>) -> (axum::http::StatusCode, Json<Value>) {
    state.request_stop();
    (
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"stopping": true})),
    )
}

async fn reset(State(state): State<SandboxState>) -> Json<Value> {
    let speed = state.config().clock_speed;
    state.with_world(|w| {
        // Listeners are not part of the world: they stay subscribed, with nothing queued.
        let mut subs = std::mem::take(&mut w.notify.subscriptions);
        for s in subs.values_mut() {
            s.queue.clear();
            s.delivered();
        }
        *w = World::seed(speed);
        w.notify.subscriptions = subs;
    });
    Json(json!({"reset": true}))
}

async fn journal(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| {
        Json(json!({
            "requests": w.journal.requests,
            "created": w.journal.created,
        }))
    })
}

async fn expire_tokens(State(state): State<SandboxState>) -> Json<Value> {
    let n = state.with_world(|w| {
        let now = w.now();
        for t in w.tokens.values_mut() {
            if t.expires_at > now {
                t.expires_at = now;
            }
        }
        w.tokens.len()
    });
    Json(json!({"expired": n}))
}

fn clock_body(state: &SandboxState) -> Json<Value> {
    state.with_world(|w| {
        let s = w.clock.snapshot();
        Json(json!({"now": crate::wire::rfc3339(s.now), "speed": s.speed}))
    })
}

async fn clock(State(state): State<SandboxState>) -> Json<Value> {
    clock_body(&state)
}

fn number(body: &Value, name: &str, max: f64, errs: &mut SchemaErrors) -> Option<f64> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(v) => match v
            .as_f64()
            .filter(|x| x.is_finite() && (0.0..=max).contains(x))
        {
            Some(x) => Some(x),
            None => {
                errs.push(name, format!("must be a number from 0 to {max}"));
                None
            }
        },
    }
}

async fn set_clock(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let advance = number(&body, "advance_secs", MAX_ADVANCE_SECS, &mut errs);
    let speed = number(&body, "speed", MAX_SPEED, &mut errs);
    errs.into_result()?;
    state.with_world(|w| {
        if let Some(s) = speed {
            w.clock.set_speed(s);
        }
        if let Some(a) = advance {
            w.clock.advance(secs_f64(a));
        }
    });
    state.tick();
    Ok(clock_body(&state))
}
