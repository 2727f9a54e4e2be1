//! WHC product inventory (TMF637 style): what a company holds, with service ids and statuses.

use crate::error::ApiError;
use crate::http::extract::{paginated, QueryParams};
use crate::state::SandboxState;
use crate::world::whc_inventory::{held, Held};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub const PATH: &str = "/bt-wholesale/v1/whc/productInventory/product";

pub fn router() -> Router<SandboxState> {
    Router::new().route(PATH, get(list))
}

/// One held product's wire shape.
pub fn render(h: &Held, svc: &str) -> Value {
    let chars: Vec<Value> = h
        .characteristics
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({
        "id": h.id,
        "@type": "Product",
        "name": h.name,
        "status": h.status,
        "productOffering": {"id": h.offering},
        "productCharacteristic": chars,
        "relatedParty": [{"id": svc, "role": "company", "@referredType": "WHCCompany"}],
    })
}

async fn list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let svc = query.required("companyServiceId")?.to_string();
    let offering = query.get("productOffering");
    let status = query.get("status");
    let all = state.with_world(|w| held(w, &svc));
    let Some(all) = all else {
        return Err(ApiError::not_found(format!(
            "No company has service id {svc}"
        )));
    };
    let all: Vec<Value> = all
        .iter()
        .filter(|h| offering.is_none_or(|o| h.offering.eq_ignore_ascii_case(o)))
        .filter(|h| status.is_none_or(|s| h.status.eq_ignore_ascii_case(s)))
        .map(|h| render(h, &svc))
        .collect();
    Ok(paginated(all, offset, limit))
}
