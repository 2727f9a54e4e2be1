//! Admin endpoints for notification subscriptions (`/__sandbox/subscriptions`): the sandbox's own
//! way for several listeners to receive every order event (see `world/subscriptions.rs`).

use super::events::callback_from;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{json_body, PathParams, RawBody};
use crate::state::SandboxState;
use crate::world::subscriptions::{valid_id, Kind, Subscription};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Subscriptions one sandbox holds at most.
pub const SUBSCRIPTION_LIMIT: usize = 1000;
/// Order ids one subscription may filter on.
const ORDER_ID_LIMIT: usize = 1000;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route("/__sandbox/subscriptions", get(list).post(subscribe))
        .route(
            "/__sandbox/subscriptions/{id}",
            get(one).delete(unsubscribe).patch(filter),
        )
}

async fn list(State(state): State<SandboxState>) -> Json<Value> {
    state.with_world(|w| {
        let list: Vec<Value> = w
            .notify
            .subscriptions
            .values()
            .map(|s| s.render())
            .collect();
        Json(json!({ "subscriptions": list }))
    })
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("No subscription {id}"))
}

async fn one(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        w.notify
            .subscriptions
            .get(&id)
            .map(|s| Json(s.render()))
            .ok_or_else(|| unknown(&id))
    })
}

/// `orderIds`: absent or null (every order) or an array of order id strings.
fn order_ids(body: &Value, errs: &mut SchemaErrors) -> Option<BTreeSet<String>> {
    match body.get("orderIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) if ids.len() <= ORDER_ID_LIMIT => {
            let set: Option<BTreeSet<String>> = ids
                .iter()
                .map(|v| v.as_str().map(|s| s.trim().to_string()))
                .collect();
            if set.is_none() {
                errs.push("orderIds", "must be an array of strings");
            }
            set
        }
        Some(_) => {
            errs.push(
                "orderIds",
                format!("must be an array of at most {ORDER_ID_LIMIT} strings"),
            );
            None
        }
    }
}

fn kind(body: &Value, errs: &mut SchemaErrors) -> Kind {
    match body.get("kind").and_then(|k| k.as_str().map(str::trim)) {
        None if body.get("kind").is_none_or(Value::is_null) => Kind::Ephemeral,
        Some("ephemeral") => Kind::Ephemeral,
        Some("durable") => Kind::Durable,
        _ => {
            errs.push("kind", "must be \"ephemeral\" or \"durable\"");
            Kind::Ephemeral
        }
    }
}

fn chosen_id(body: &Value, errs: &mut SchemaErrors) -> Option<String> {
    match body.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if valid_id(id) => Some(id.clone()),
        Some(_) => {
            errs.push("id", "must be 1 to 64 of A-Z a-z 0-9 - _ .");
            None
        }
    }
}

/// Creates a subscription, or with the `id` of an existing one, takes it over (new URL and
/// credentials, its queue kept): how a durable subscriber that restarted gets what it missed.
async fn subscribe(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = json_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let cb = callback_from(&body, &mut errs);
    let kind = kind(&body, &mut errs);
    let ids = order_ids(&body, &mut errs);
    let id = chosen_id(&body, &mut errs);
    errs.into_result()?;
    let cb = cb.ok_or_else(|| ApiError::schema(vec![]))?;
    state.with_world(|w| {
        let subs = &mut w.notify.subscriptions;
        if let Some(s) = id.as_ref().and_then(|id| subs.get_mut(id)) {
            s.callback = cb;
            s.kind = kind;
            s.order_ids = ids;
            s.delivered();
            return Ok((StatusCode::OK, Json(s.render())));
        }
        if subs.len() >= SUBSCRIPTION_LIMIT {
            return Err(ApiError::business(
                "TooManySubscriptions",
                format!("At most {SUBSCRIPTION_LIMIT} subscriptions"),
            ));
        }
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let s = Subscription {
            id: id.clone(),
            kind,
            callback: cb,
            order_ids: ids,
            queue: Default::default(),
            failures: 0,
            failing_since: None,
        };
        let answer = Json(s.render());
        subs.insert(id, s);
        Ok((StatusCode::CREATED, answer))
    })
}

/// Changes the order filter: `{"orderIds": [...] | null}`, or `{"addOrderIds": [...]}`.
async fn filter(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let replace = body.get("orderIds").is_some();
    let ids = order_ids(&body, &mut errs);
    let added = order_ids(
        &json!({"orderIds": body.get("addOrderIds").cloned().unwrap_or(Value::Null)}),
        &mut errs,
    );
    errs.into_result()?;
    state.with_world(|w| {
        let s = w
            .notify
            .subscriptions
            .get_mut(&id)
            .ok_or_else(|| unknown(&id))?;
        if replace {
            s.order_ids = ids;
        }
        if let (Some(set), Some(added)) = (s.order_ids.as_mut(), added) {
            set.extend(added);
            if set.len() > ORDER_ID_LIMIT {
                let excess: Vec<String> = set
                    .iter()
                    .take(set.len() - ORDER_ID_LIMIT)
                    .cloned()
                    .collect();
                for e in excess {
                    set.remove(&e);
                }
            }
        }
        Ok(Json(s.render()))
    })
}

async fn unsubscribe(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state.with_world(|w| {
        w.notify
            .subscriptions
            .remove(&id)
            .map(|_| StatusCode::NO_CONTENT)
            .ok_or_else(|| unknown(&id))
    })
}
