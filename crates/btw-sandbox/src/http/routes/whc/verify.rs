//! WHC verify data: the reseller's own data, and whether a company or other unique name is taken.

use crate::error::ApiError;
use crate::http::extract::{check_cug, PathParams, QueryParams};
use crate::state::SandboxState;
use crate::wire::rfc3339;
use crate::world::{
    whc, Kind, World, BILLING_ACCOUNT, CUSTOMER_GROUPS, PRODUCTS, RESELLER_ID, SALES_TAG,
};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const BASE: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers";

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/{{cug_id}}"), get(reseller))
        .route(&format!("{BASE}/{{cug_id}}/company"), get(company))
        .route(&format!("{BASE}/{{cug_id}}/{{kind}}"), get(kind))
}

async fn reseller(PathParams(cug_id): PathParams<String>) -> Result<Json<Value>, ApiError> {
    check_cug(&cug_id)?;
    Ok(Json(json!({
        "cugId": cug_id.trim(),
        "resellerId": RESELLER_ID,
        "salesTag": SALES_TAG,
        "billingAccounts": [BILLING_ACCOUNT],
        "products": PRODUCTS,
        "customerGroups": CUSTOMER_GROUPS,
    })))
}

async fn company(
    State(state): State<SandboxState>,
    PathParams(cug_id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_cug(&cug_id)?;
    let query = QueryParams::parse(raw.as_deref());
    let name = query.required("companyName")?;
    state.with_world(|w| {
        let Some(c) = w.company_by_name(name) else {
            return reservation(w, name, false).ok_or_else(ApiError::no_data_found);
        };
        Ok(Json(json!({
            "id": c.service_id,
            "companyName": c.name,
            "companyDomain": c.domain,
            "customerGroup": c.group,
            "status": c.status.as_str(),
            "orderId": c.order_id,
        })))
    })
}

async fn kind(
    State(state): State<SandboxState>,
    PathParams((cug_id, kind)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_cug(&cug_id)?;
    let k = Kind::parse(&kind).ok_or_else(|| ApiError::not_found("No such resource"))?;
    let query = QueryParams::parse(raw.as_deref());
    let value = query.required("value")?;
    let scope = query.get("companyServiceId");
    state.with_world(|w| {
        let Some(c) = w.in_use_in(k, value, scope) else {
            if k == Kind::CompanyDomain {
                return reservation(w, value, true).ok_or_else(ApiError::no_data_found);
            }
            return Err(ApiError::no_data_found());
        };
        Ok(Json(json!({
            "kind": kind,
            "value": value,
            "inUse": true,
            "companyServiceId": c.service_id,
        })))
    })
}

/// A name or domain held by a live qualification (not yet a company): taken, and until when.
fn reservation(w: &World, value: &str, domain: bool) -> Option<Json<Value>> {
    let q = whc::reservation(w, value, domain)?;
    Some(Json(json!({
        "id": q.service_id,
        "companyName": q.customer_name,
        "companyDomain": q.customer_domain,
        "customerGroup": q.customer_group,
        "status": "reserved",
        "qualifierId": q.id,
        "reservedUntil": rfc3339(q.expires_at),
        "inUse": true,
    })))
}
