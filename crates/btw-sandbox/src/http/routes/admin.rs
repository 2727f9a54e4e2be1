//! Admin endpoints under `/__sandbox/`: health, shutdown, reset, journal, token expiry, the
//! shared clock and run clocks.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{object_body, PathParams, RawBody};
use crate::state::SandboxState;
use crate::wire::rfc3339;
use crate::world::clock::valid_clock_id;
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
        .route("/__sandbox/clocks", get(clocks))
        .route(
            "/__sandbox/clocks/{id}",
            get(run_clock)
                .post(advance_run_clock)
                .delete(drop_run_clock),
        )
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
        let nows = w.nows();
        for t in w.tokens.values_mut() {
            let now = nows.of(t.clock.as_deref());
            if t.expires_at > now {
                t.expires_at = now;
            }
        }
        w.tokens.len()
    });
    Json(json!({"expired": n}))
}

fn clock_body(state: &SandboxState) -> Json<Value> {
    // The shared clock, whatever clock the request names.
    state.with_world(|w| {
        let s = w.clock.snapshot();
        Json(json!({"now": rfc3339(s.now), "speed": s.speed}))
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

/// `GET /__sandbox/clocks`: the shared clock and every run clock.
async fn clocks(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| {
        let shared = w.clock.snapshot();
        let open = w.open_objects();
        let clocks: Vec<Value> = w
            .clocks
            .iter()
            .map(|(id, c)| {
                json!({
                    "id": id,
                    "now": rfc3339(c.now(shared.now)),
                    "aheadSecs": c.offset_micros as f64 / 1_000_000.0,
                    "openObjects": open.get(id).copied().unwrap_or(0),
                    "lastUsed": rfc3339(c.last_used),
                })
            })
            .collect();
        Json(json!({
            "shared": {"now": rfc3339(shared.now), "speed": shared.speed},
            "clocks": clocks,
        }))
    })
}

/// A clock id from the path, or the 400/29 that refuses it.
fn clock_id(id: &str) -> Result<String, ApiError> {
    let id = id.trim();
    if valid_clock_id(id) {
        return Ok(id.to_string());
    }
    let mut errs = SchemaErrors::default();
    errs.push(
        "id",
        "must name a clock: 1 to 64 characters, each a letter, digit, '.', '_', ':' or '-'",
    );
    errs.into_result()?;
    Err(ApiError::schema(vec![]))
}

/// A run clock as the clock endpoints answer it (an unknown one reads the shared now).
fn run_clock_body(w: &World, id: &str) -> Json<Value> {
    Json(json!({
        "id": id,
        "now": rfc3339(w.now_on(Some(id))),
        "speed": w.clock.speed(),
    }))
}

/// `GET /__sandbox/clocks/{id}`: one run clock (not created by reading it).
async fn run_clock(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let id = clock_id(&id)?;
    Ok(state.with_world(|w| {
        // Asking after a clock is a use of it (retention), but does not create one.
        if let Some(c) = w.clocks.get_mut(&id) {
            c.last_used = chrono::Utc::now();
        }
        run_clock_body(w, &id)
    }))
}

/// `POST /__sandbox/clocks/{id}` with `{"advance_secs"?, "to"?}`: moves that clock only (never
/// back), creating it if unknown, then moves what is due on it.
async fn advance_run_clock(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let id = clock_id(&id)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        object_body(&headers, &body)?
    };
    let mut errs = SchemaErrors::default();
    let advance = number(&body, "advance_secs", MAX_ADVANCE_SECS, &mut errs);
    let to = match body.get("to") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = v
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s.trim()).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            if t.is_none() {
                errs.push("to", "must be an RFC 3339 date-time");
            }
            t
        }
    };
    errs.into_result()?;
    state.with_world(|w| {
        let shared = w.clock.now();
        let clock = w.use_clock(&id, chrono::Utc::now());
        if let Some(a) = advance {
            clock.advance(secs_f64(a));
        }
        if let Some(to) = to {
            // Earlier than the clock's now moves nothing: a clock never goes back.
            clock.advance(to - clock.now(shared));
        }
    });
    state.tick();
    Ok(state.with_world(|w| run_clock_body(w, &id)))
}

/// `DELETE /__sandbox/clocks/{id}`: drops a run clock; what was made on it reads the shared clock.
async fn drop_run_clock(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let id = clock_id(&id)?;
    let dropped = state.with_world(|w| w.drop_clock(&id));
    Ok(Json(json!({"dropped": dropped})))
}
