//! Admin endpoints for fault injection: list, add and clear the rules of `crate::faults`.
//! Their state is the rules alone.

use crate::error::ApiError;
use crate::faults::{rules_from_json, Faults, LiveRule};
use crate::http::extract::{json_body, RawBody};
use crate::state::SandboxState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) fn router(faults: Arc<Faults>) -> Router<SandboxState> {
    Router::new()
        .route("/__sandbox/faults", get(list).post(add).delete(clear))
        .with_state(faults)
}

fn body(rules: Vec<LiveRule>) -> Json<Value> {
    Json(json!({ "faults": rules }))
}

async fn list(State(faults): State<Arc<Faults>>) -> Json<Value> {
    body(faults.list())
}

/// One rule or an array; all are checked before any is added.
async fn add(
    State(faults): State<Arc<Faults>>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<Json<Value>, ApiError> {
    let value = json_body(&headers, &raw)?;
    let rules = rules_from_json(&value)?;
    Ok(body(faults.add(rules)))
}

async fn clear(State(faults): State<Arc<Faults>>) -> Json<Value> {
    faults.clear();
    body(Vec::new())
}
