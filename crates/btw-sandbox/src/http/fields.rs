//! `fields` on list endpoints (BT_API.md: "List endpoints (TMF style): `offset`, `limit`,
//! `fields`"): a middleware that keeps only the named attributes of each listed resource.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

/// Largest list body the selection rewrites; a longer one is passed through whole.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The attribute names of a `fields` query (comma-separated; `a.b` selects `a`), if any.
fn wanted(req: &Request) -> Option<Vec<String>> {
    if req.method() != Method::GET {
        return None;
    }
    let query = req.uri().query()?;
    let value = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v.into_owned())?;
    let names: Vec<String> = value
        .split(',')
        .map(|f| f.trim().split('.').next().unwrap_or("").to_string())
        .filter(|f| !f.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// `item` with only `fields`, plus `id` (TMF keeps the identifier of every selected resource).
fn select(item: Value, fields: &[String]) -> Value {
    let Value::Object(map) = item else {
        return item;
    };
    let kept: Map<String, Value> = map
        .into_iter()
        .filter(|(k, _)| k == "id" || fields.iter().any(|f| f == k))
        .collect();
    Value::Object(kept)
}

/// Applies `fields` to a successful list answer (one with `X-Total-Count`).
pub async fn layer(req: Request, next: Next) -> Response {
    let fields = wanted(&req);
    let response = next.run(req).await;
    let Some(fields) = fields else {
        return response;
    };
    if response.status() != StatusCode::OK || !response.headers().contains_key("X-Total-Count") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let items: Vec<Value> = items.into_iter().map(|i| select(i, &fields)).collect();
    let body = serde_json::to_vec(&items).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selection_keeps_the_id() {
        let v = select(
            json!({"id": "1", "state": "completed", "externalId": "x"}),
            &["state".to_string()],
        );
        assert_eq!(v, json!({"id": "1", "state": "completed"}));
    }
}
