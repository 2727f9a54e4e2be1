//! Ethernet quotes (TMF648): create, read and list, with the price table's answers.

use super::common::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    created, find, newest_first, object_body, paginated, PathParams, QueryParams, RawBody,
};
use crate::state::SandboxState;
use crate::wire::{characteristics, require_str, rfc3339, str_at};
use crate::world::ethernet::{
    distance_band, format_bandwidth, price, Place, Product, Quote, QuoteItem, Service,
    ServiceStatus, TERMS,
};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::Months;
use serde_json::{json, Value};

use crate::world::ethernet::prices;
use crate::world::World;

pub(super) fn render_quote(q: &Quote) -> Value {
    let state = q.state();
    let items: Vec<Value> = q
        .items
        .iter()
        .map(|i| {
            let mut v = json!({
                "id": i.id,
                "action": if i.service_id.is_some() { "modify" } else { "add" },
                "state": if i.ordered_by.is_some() { "accepted" } else { state },
                "product": {
                    "@type": i.product.code(),
                    "name": i.product.name(),
                    "place": i.places.iter().map(Place::render).collect::<Vec<_>>(),
                    "productCharacteristic": [
                        {"name": "bandwidth", "value": format_bandwidth(i.kbps)},
                        {"name": "term", "value": i.term.to_string()},
                        {"name": "distanceBand", "value": i.band.to_string()},
                    ],
                },
                "quoteItemPrice": prices(i.price.0, i.price.1),
                "productOrder": i.ordered_by.as_ref().map(|o| json!({"id": o})),
            });
            if let Some(svc) = &i.service_id {
                v["product"]["id"] = json!(svc);
            }
            v
        })
        .collect();
    let install = q.items.iter().map(|i| i.price.0).sum();
    let rental = q.items.iter().map(|i| i.price.1).sum();
    json!({
        "id": q.id,
        "href": format!("{QUOTE}/{}", q.id),
        "externalId": q.external_id,
        "@type": "Quote",
        "state": state,
        "quoteDate": rfc3339(q.created),
        "validFor": {
            "startDateTime": rfc3339(q.created),
            "endDateTime": rfc3339(q.valid_until),
        },
        "quoteItem": items,
        "quoteTotalPrice": prices(install, rental),
    })
}

pub(super) struct QuoteItemReq {
    pub(super) id: String,
    pub(super) product: String,
    pub(super) places: Vec<PlaceReq>,
    pub(super) bandwidth: String,
    pub(super) term: String,
    /// The service a `modify` item re-prices (its product, places and term are the service's).
    pub(super) service: Option<String>,
}

/// The places of an `add` item, `k` of them for its product.
fn parse_places(
    product: Option<&Value>,
    code: Option<&str>,
    f: &str,
    errs: &mut SchemaErrors,
) -> Vec<PlaceReq> {
    let mut places = Vec::new();
    match product
        .and_then(|p| p.get("place"))
        .and_then(Value::as_array)
    {
        None => errs.missing(format!("{f}.product.place")),
        Some(list) => {
            let wanted = code.and_then(Product::parse).map(Product::ends);
            if let Some(k) = wanted.filter(|k| *k != list.len()) {
                errs.push(
                    format!("{f}.product.place"),
                    format!("this product needs exactly {k} place(s)"),
                );
            }
            for (i, p) in list.iter().take(2).enumerate() {
                if let Some(p) = place_req(Some(p), &format!("{f}.product.place[{i}]"), errs) {
                    places.push(p);
                }
            }
        }
    }
    places
}

/// A `modify` item ("Pricing/Quoting for all Ethernet & DIA products"): the service and its new
/// bandwidth.
fn parse_modify(item: &Value, id: String, f: &str, errs: &mut SchemaErrors) -> QuoteItemReq {
    let service = require_str(item, "/product/id", &format!("{f}.product.id"), errs);
    let chars = characteristics(item.get("product"), &format!("{f}.product"), errs);
    let bandwidth = chars.get("bandwidth").cloned();
    if bandwidth.is_none() {
        errs.missing(format!("{f}.product.productCharacteristic.bandwidth"));
    }
    QuoteItemReq {
        id,
        product: String::new(),
        places: Vec::new(),
        bandwidth: bandwidth.unwrap_or_default(),
        term: String::new(),
        service: Some(service.unwrap_or_default().to_string()),
    }
}

pub(super) fn parse_quote(body: &Value) -> Result<(Option<String>, Vec<QuoteItemReq>), ApiError> {
    let mut errs = SchemaErrors::default();
    let external = external_id(body, &mut errs);
    let items = body.get("quoteItem").and_then(Value::as_array);
    match items {
        None => errs.push("quoteItem", "is required (an array of 1 to 10 items)"),
        Some(a) if a.is_empty() || a.len() > MAX_QUOTE_ITEMS => {
            errs.push("quoteItem", "must have 1 to 10 items")
        }
        Some(_) => {}
    }
    let mut out = Vec::new();
    for (n, item) in items
        .into_iter()
        .flatten()
        .take(MAX_QUOTE_ITEMS)
        .enumerate()
    {
        let f = format!("quoteItem[{n}]");
        let id = str_at(item, "/id")
            .map(str::to_string)
            .unwrap_or_else(|| (n + 1).to_string());
        if out.iter().any(|i: &QuoteItemReq| i.id == id) {
            errs.push(format!("{f}.id"), "repeats another item's id");
        }
        match str_at(item, "/action") {
            Some("modify") => {
                out.push(parse_modify(item, id, &f, &mut errs));
                continue;
            }
            Some(a) if a != "add" => errs.push(format!("{f}.action"), "must be add or modify"),
            _ => {}
        }
        let product = item.get("product");
        let code = require_str(
            item,
            "/product/@type",
            &format!("{f}.product.@type"),
            &mut errs,
        );
        let chars = characteristics(product, &format!("{f}.product"), &mut errs);
        let places = parse_places(product, code, &f, &mut errs);
        let mut get = |name: &str| {
            let v = chars.get(name).cloned();
            if v.is_none() {
                errs.missing(format!("{f}.product.productCharacteristic.{name}"));
            }
            v.unwrap_or_default()
        };
        let (bandwidth, term) = (get("bandwidth"), get("term"));
        out.push(QuoteItemReq {
            id,
            product: code.unwrap_or_default().to_string(),
            places,
            bandwidth,
            term,
            service: None,
        });
    }
    errs.into_result()?;
    Ok((external, out))
}

/// Prices one requested item: an `add` from its product, places and term; a `modify` from the
/// service it changes, at the new bandwidth.
fn price_item(w: &World, r: &QuoteItemReq) -> Result<QuoteItem, ApiError> {
    let (product, places, term) = match &r.service {
        Some(id) => {
            let s = live_service(w, id)?;
            refuse_provide_only(s.product, "a modify")?;
            (s.product, s.places.clone(), s.term)
        }
        None => {
            let product = Product::parse(&r.product).ok_or_else(|| unknown_product(&r.product))?;
            let places = r
                .places
                .iter()
                .map(|p| resolve(w, p))
                .collect::<Result<Vec<_>, _>>()?;
            (product, places, parse_term(&r.term)?)
        }
    };
    let kbps = bandwidth_for(product, &r.bandwidth)?;
    let postcodes: Vec<&str> = places.iter().map(|p| p.postcode.as_str()).collect();
    let band = distance_band(&postcodes);
    let p = price(product, kbps, band, term).ok_or_else(|| {
        ApiError::business(
            "BandwidthNotPriced",
            format!(
                "{} has no price for {} Mbit/s over {term} months",
                product.code(),
                format_bandwidth(kbps)
            ),
        )
    })?;
    Ok(QuoteItem {
        id: r.id.clone(),
        product,
        places,
        kbps,
        term,
        band,
        price: (p.install, p.rental),
        ordered_by: None,
        service_id: r.service.clone(),
    })
}

fn parse_term(term: &str) -> Result<u32, ApiError> {
    term.trim()
        .parse::<u32>()
        .ok()
        .filter(|t| TERMS.contains(t))
        .ok_or_else(|| {
            ApiError::business(
                "InvalidTerm",
                format!("term must be 12, 36 or 60 months, not {term}"),
            )
        })
}

/// The active service a modify quote re-prices.
fn live_service<'a>(w: &'a World, id: &str) -> Result<&'a Service, ApiError> {
    let s = w.ethernet.services.get(id.trim()).ok_or_else(|| {
        ApiError::business("ServiceNotFound", format!("No Ethernet service {id}"))
    })?;
    if s.status == ServiceStatus::Ceased {
        return Err(ApiError::business(
            "ServiceCeased",
            format!("Service {id} has been ceased"),
        ));
    }
    Ok(s)
}

pub(super) async fn quote_create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let (external, reqs) = parse_quote(&body)?;
    let rendered = state.with_world(|w| {
        let now = w.now();
        let mut items = Vec::new();
        for r in &reqs {
            items.push(price_item(w, r)?);
        }
        let id = w.ethernet.next_quote_id();
        let quote = Quote {
            id: id.clone(),
            seq: w.ethernet.next_seq(),
            external_id: external.clone(),
            created: now,
            // A month on the request's clock (the quote's own); the last day of a short month when needed.
            valid_until: now
                .checked_add_months(Months::new(1))
                .unwrap_or(now + chrono::Duration::days(30)),
            items,
            clock: w.clock_id(),
        };
        let rendered = render_quote(&quote);
        w.ethernet.quotes.insert(id.clone(), quote);
        w.record_created("ethernetQuote", &id, external);
        Ok::<_, ApiError>(rendered)
    })?;
    Ok(created(rendered))
}

pub(super) async fn quote_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.quotes, "quote", &id).map(|q| Json(render_quote(q))))
}

pub(super) async fn quote_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    // Every TMF648 v4 quote state is a filter; the sandbox's quotes are approved or accepted.
    let wanted = query.parsed(
        "state",
        |s| {
            [
                "inProgress",
                "pending",
                "approved",
                "accepted",
                "cancelled",
                "rejected",
            ]
            .into_iter()
            .find(|x| *x == s)
        },
        "must be a TMF648 quote state: inProgress, pending, approved, accepted, cancelled or rejected",
    )?;
    let external = query.get("externalId");
    let all = state.with_world(|w| {
        let quotes = w
            .ethernet
            .quotes
            .values()
            .filter(|q| wanted.is_none_or(|s| q.state() == s))
            .filter(|q| external.is_none_or(|x| q.external_id.as_deref() == Some(x)));
        newest_first(quotes, |q| q.seq, render_quote)
    });
    Ok(paginated(all, offset, limit))
}
