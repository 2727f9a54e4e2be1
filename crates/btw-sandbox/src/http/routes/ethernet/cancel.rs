//! Ethernet order cancellation (TMF622 `cancelProductOrder`): the request and reading it again.
//! The rules (state, point of no return) live in `world/ethernet/cancel.rs`.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{created, find, object_body, PathParams, RawBody};
use crate::state::SandboxState;
use crate::wire::require_str;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::Value;

pub(super) async fn order_cancel(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let id = require_str(&body, "/productOrder/id", "productOrder.id", &mut errs)
        .unwrap_or_default()
        .trim()
        .to_string();
    let reason = match body.get("cancellationReason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => {
            errs.push("cancellationReason", "must be a string");
            None
        }
    };
    errs.into_result()?;
    let rendered = state.with_world(|w| {
        let clock = w.ethernet.orders.get(&id).and_then(|o| o.clock.clone());
        let now = w.now_on(clock.as_deref());
        w.ethernet.cancel(&mut w.outbox, now, &id, reason)
    })?;
    Ok(created(rendered))
}

pub(super) async fn cancel_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.cancels, "cancel request", &id).map(|c| Json(c.clone())))
}
