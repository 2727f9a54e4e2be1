//! Admin endpoints for fault injection: list, add and clear the rules of `sandbox::faults`.

use super::{json_body, RawBody};
use crate::error::ApiError;
use crate::faults::{rules_from_json, LiveRule};
use crate::state::SandboxState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<SandboxState> {
    Router::new().route("/__sandbox/faults", get(list).post(add).delete(clear))
}

fn body(rules: Vec<LiveRule>) -> Json<Value> {
    Json(json!({ "faults": rules }))
}

async fn list(State(state): State<SandboxState>) -> Json<Value> {
    body(state.faults().list())
}

/// One rule or an array; all are checked before any is added.
async fn add(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, ApiError> {
    let value = json_body(&headers, &raw)?;
    let rules = rules_from_json(&value)?;
    Ok(body(state.faults().add(rules)))
}

async fn clear(State(state): State<SandboxState>) -> Json<Value> {
    state.faults().clear();
    body(Vec::new())
}
