//! WHC product orders (TMF622 style): create, submit, get, list and cancel.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    created, find, json_body, newest_first, paginated, PathParams, QueryParams, RawBody,
};
use crate::http::order_body::parse;
use crate::http::states::StateFilter;
use crate::state::SandboxState;
use crate::wire::{require_str, rfc3339};
use crate::world::whc::{create_order, roll_back};
use crate::world::{Order, OrderState};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

const BASE: &str = "/bt-wholesale/v1/order";

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/productOrder"), post(create).get(list))
        .route(&format!("{BASE}/productOrder/{{id}}"), get(one))
        .route(&format!("{BASE}/submit-product-order"), post(submit))
        .route(&format!("{BASE}/cancelProductOrder"), post(cancel))
}

/// An order's wire shape; items carry the order's state.
pub fn render(o: &Order) -> Value {
    let state = o.state.as_str();
    let items: Vec<Value> = o
        .items
        .iter()
        .map(|i| {
            let mut v = json!({
                "id": i.id,
                "action": i.action,
                "state": state,
                "productOffering": i.product_offering,
                "product": i.product,
            });
            if let Some(p) = &i.related_place {
                v["relatedPlace"] = p.clone();
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": o.id,
        "externalId": o.external_id,
        "@type": "ProductOrder",
        "state": state,
        "orderDate": rfc3339(o.order_date),
    });
    if let Some(c) = o.completion_date {
        v["completionDate"] = json!(rfc3339(c));
    }
    v["relatedParty"] = o.related_party.clone();
    v["billingAccount"] = o.billing_account.clone();
    v["productOrderItem"] = Value::Array(items);
    v
}

async fn create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let parsed = parse(&body)?;
    let id = state.with_world(|w| create_order(w, parsed))?;
    Ok(created(json!({"id": id, "@referredType": "ProductOrder"})))
}

/// `productOrder.id` from a submit or cancel body.
fn order_ref(headers: &HeaderMap, body: &axum::body::Bytes) -> Result<String, ApiError> {
    let body = json_body(headers, body)?;
    let mut errs = SchemaErrors::default();
    let id = require_str(&body, "/productOrder/id", "productOrder.id", &mut errs);
    errs.into_result()?;
    Ok(id.unwrap_or_default().to_string())
}

async fn submit(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let id = order_ref(&headers, &body)?;
    state.with_world(|w| {
        // The order runs on the clock it was created on, whichever clock submits it.
        let clock = w.orders.get(id.trim()).and_then(|o| o.clock.clone());
        let now = w.now_on(clock.as_deref());
        {
            let mut order = w
                .orders
                .get_mut(id.trim())
                .ok_or_else(|| ApiError::not_found(format!("No order {id}")))?;
            if order.state != OrderState::Pending {
                return Err(ApiError::business(
                    "OrderAlreadySubmitted",
                    format!("Order {id} is {}", order.state.as_str()),
                ));
            }
            order.submitted_at = Some(now);
        }
        w.transition(&id, OrderState::Acknowledged, now);
        Ok(())
    })?;
    // A zero step completes at once.
    state.tick();
    Ok(created(json!({
        "id": id,
        "productOrder": {"id": id, "@referredType": "ProductOrder"},
    })))
}

async fn cancel(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let id = order_ref(&headers, &body)?;
    state.with_world(|w| {
        let order = find(&w.orders, "order", &id)?;
        let now = w.now_on(order.clock.as_deref());
        if !matches!(order.state, OrderState::Pending | OrderState::Acknowledged) {
            return Err(ApiError::business(
                "OrderNotCancellable",
                format!("Order {id} is {}", order.state.as_str()),
            ));
        }
        roll_back(w, &id);
        w.transition(&id, OrderState::Cancelled, now);
        Ok(())
    })?;
    Ok(created(json!({"id": id, "state": "cancelled"})))
}

async fn one(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .with_world(|w| find(&w.orders, "order", &id).map(render))
        .map(Json)
}

async fn list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let wanted = StateFilter::read(&query, OrderState::parse)?;
    let external = query.get("externalId");
    let all = state.with_world(|w| {
        let orders = w
            .orders
            .values()
            .filter(|o| wanted.admits(o.state))
            .filter(|o| external.is_none_or(|x| o.external_id.as_deref() == Some(x)));
        newest_first(orders, |o| o.seq, render)
    });
    Ok(paginated(all, offset, limit))
}
