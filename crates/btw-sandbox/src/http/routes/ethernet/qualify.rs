//! Ethernet product qualification (TMF679): is a product available at a place, and at what speeds.

use super::common::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{created, find, object_body, PathParams, RawBody};
use crate::state::SandboxState;
use crate::wire::{require_str, rfc3339, str_at};
use crate::world::ethernet::{unavailability, Place, Product};
use crate::world::{Address, World};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn qualify(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let external = external_id(&body, &mut errs);
    let place = place_req(body.get("place"), "place", &mut errs);
    let wanted = wanted_products(&body, &mut errs);
    errs.into_result()?;
    let Some(place) = place else {
        return Err(ApiError::schema(vec![]));
    };
    let products = wanted
        .iter()
        .map(|(id, code)| {
            Product::parse(code)
                .map(|p| (id.clone(), p))
                .ok_or_else(|| unknown_product(code))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rendered = state.with_world(|w| record(w, external, &place, &products))?;
    Ok(created(rendered))
}

/// The (item id, product code) pairs asked about; every product when no items are given.
fn wanted_products(body: &Value, errs: &mut SchemaErrors) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    match body.get("productOfferingQualificationItem") {
        None | Some(Value::Null) => {
            for (n, p) in Product::ALL.iter().enumerate() {
                wanted.push(((n + 1).to_string(), p.code().to_string()));
            }
        }
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= 10 => {
            for (n, item) in list.iter().enumerate() {
                let f = format!("productOfferingQualificationItem[{n}]");
                let id = str_at(item, "/id")
                    .map(str::to_string)
                    .unwrap_or_else(|| (n + 1).to_string());
                if let Some(code) = require_str(
                    item,
                    "/productOffering/id",
                    &format!("{f}.productOffering.id"),
                    errs,
                ) {
                    wanted.push((id, code.to_string()));
                }
            }
        }
        Some(_) => errs.push(
            "productOfferingQualificationItem",
            "must be an array of 1 to 10 items",
        ),
    }
    wanted
}

/// Qualifies the products at the place and records the answer; answers it rendered.
fn record(
    w: &mut World,
    external: Option<String>,
    place: &PlaceReq,
    products: &[(String, Product)],
) -> Result<Value, ApiError> {
    let now = w.now();
    let place = resolve(w, place)?;
    let address = place.id.as_deref().and_then(|id| w.address(id));
    let (items, qualified) = qualification_items(products, &place, address);
    let result = if qualified == items.len() {
        "qualified"
    } else if qualified == 0 {
        "unqualified"
    } else {
        "partial"
    };
    let id = w.ethernet.next_qualification_id();
    let rendered = json!({
        "id": id,
        "href": format!("{POQ}/{id}"),
        "externalId": external,
        "@type": "ProductOfferingQualification",
        "state": "done",
        "creationDate": rfc3339(now),
        "qualificationResult": result,
        "place": place.render(),
        "productOfferingQualificationItem": items,
    });
    w.ethernet.qualifications.insert(id, rendered.clone());
    Ok(rendered)
}

/// One result per product, and how many qualified.
fn qualification_items(
    products: &[(String, Product)],
    place: &Place,
    address: Option<&Address>,
) -> (Vec<Value>, usize) {
    let mut qualified = 0;
    let items: Vec<Value> = products
        .iter()
        .map(|(id, p)| {
            let mut v = json!({
                "id": id,
                "productOffering": {"id": p.code(), "name": p.name()},
            });
            match unavailability(*p, &place.postcode, address) {
                None => {
                    qualified += 1;
                    v["qualificationItemResult"] = json!("qualified");
                }
                Some((code, label)) => {
                    v["qualificationItemResult"] = json!("unqualified");
                    v["eligibilityUnavailabilityReason"] = json!([{"code": code, "label": label}]);
                }
            }
            v
        })
        .collect();
    (items, qualified)
}

pub(super) async fn qualification_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        find(&w.ethernet.qualifications, "qualification", &id)
            .cloned()
            .map(Json)
    })
}
