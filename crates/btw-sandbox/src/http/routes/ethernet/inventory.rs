//! The product inventory of live Ethernet services.

use crate::error::ApiError;
use crate::http::extract::{find, paginated, PathParams, QueryParams};
use crate::state::SandboxState;
use crate::world::ethernet::ServiceStatus;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

pub(super) async fn product_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.services, "product", &id).map(|s| Json(s.render())))
}

pub(super) async fn product_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    // Every TMF637 product status is a filter; the sandbox's services are active or terminated.
    let wanted = query.parsed(
        "status",
        |v| match v {
            "active" => Some(Some(ServiceStatus::Active)),
            "terminated" => Some(Some(ServiceStatus::Ceased)),
            "created" | "pendingActive" | "pendingTerminate" | "suspended" | "cancelled"
            | "aborted" => Some(None),
            _ => None,
        },
        "must be a TMF637 status: created, pendingActive, active, pendingTerminate, suspended, terminated, cancelled or aborted",
    )?;
    let all = state.with_world(|w| {
        w.ethernet
            .services
            .values()
            .filter(|s| wanted.is_none_or(|x| x == Some(s.status)))
            .map(|s| s.render())
            .collect::<Vec<_>>()
    });
    Ok(paginated(all, offset, limit))
}
