//! Ethernet endpoints: quotes (TMF648), product qualification (TMF679), engineer appointments
//! (TMF646, GEA only), product orders (TMF622: place, modify, amend, cease, cancel, track) and the
//! product inventory of live services. Rules and records live in `world/ethernet.rs`;
//! the wire contract is CONTRACT.md's `## Ethernet` section.

use super::address::normalise_postcode;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    created, find, find_mut, newest_first, object_body, paginated, PathParams, QueryParams, RawBody,
};
use crate::state::SandboxState;
use crate::wire::{characteristics, require_str, rfc3339, str_at};
use crate::world::ethernet::{
    distance_band, first_bookable_day, format_bandwidth, parse_bandwidth, price, slots_from,
    unavailability, with_vat, Appointment, AppointmentStatus, EthOrder, EthOrderState, OpenAction,
    OrderAction, Place, Product, Quote, QuoteItem, ServiceStatus, Slot, CONFIRM_SITE_CONTACT,
    TERMS,
};
use crate::world::World;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Months, Utc};
use serde_json::{json, Value};

const QUOTE: &str = "/tmf-api/quoteManagement/v4/quote";
const POQ: &str =
    "/tmf-api/productOfferingQualificationManagement/v4/checkProductOfferingQualification";
const APPOINTMENTS: &str = "/common/appointmentManagement/v4";
const ORDERING: &str = "/tmf-api/productOrderingManagement/v4";
const INVENTORY: &str = "/tmf-api/productInventory/v4/product";

/// Most quote items in one quote (a bound on work per request).
const MAX_QUOTE_ITEMS: usize = 10;
/// Most slots one search answers with.
const MAX_SLOTS: usize = 60;
/// Working days a search covers when no window (or no window end) is given.
const SEARCH_DAYS: usize = 10;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(QUOTE, post(quote_create).get(quote_list))
        .route(&format!("{QUOTE}/{{id}}"), get(quote_get))
        .route(POQ, post(qualify))
        .route(&format!("{POQ}/{{id}}"), get(qualification_get))
        .route(
            &format!("{APPOINTMENTS}/searchTimeSlot"),
            post(search_slots),
        )
        .route(&format!("{APPOINTMENTS}/appointment"), post(book))
        .route(
            &format!("{APPOINTMENTS}/appointment/{{id}}"),
            get(appointment_get).patch(appointment_patch),
        )
        .route(
            &format!("{ORDERING}/productOrder"),
            post(order_create).get(order_list),
        )
        .route(
            &format!("{ORDERING}/productOrder/{{id}}"),
            get(order_get).patch(order_amend),
        )
        .route(
            &format!("{ORDERING}/cancelProductOrder"),
            post(order_cancel),
        )
        .route(INVENTORY, get(product_list))
        .route(&format!("{INVENTORY}/{{id}}"), get(product_get))
}

// ---------------------------------------------------------------------------------------------
// Shared parsing
// ---------------------------------------------------------------------------------------------

/// A place as requested, before its NAD key is looked up.
struct PlaceReq {
    role: Option<String>,
    id: Option<String>,
    postcode: Option<String>,
}

fn place_req(v: Option<&Value>, field: &str, errs: &mut SchemaErrors) -> Option<PlaceReq> {
    let Some(v) = v.filter(|v| v.is_object()) else {
        errs.push(
            field,
            "must be an object with an id (NAD key) or a postcode",
        );
        return None;
    };
    let postcode = match str_at(v, "/postcode") {
        None => None,
        Some(p) => match normalise_postcode(p) {
            Some(p) => Some(p),
            None => {
                errs.push(format!("{field}.postcode"), "is not a UK postcode");
                return None;
            }
        },
    };
    let id = str_at(v, "/id").map(str::to_string);
    if id.is_none() && postcode.is_none() {
        errs.push(field, "needs an id (NAD key) or a postcode");
        return None;
    }
    Some(PlaceReq {
        role: str_at(v, "/role").map(str::to_string),
        id,
        postcode,
    })
}

/// Looks the NAD key up (it wins over a postcode given alongside).
fn resolve(w: &World, p: &PlaceReq) -> Result<Place, ApiError> {
    match &p.id {
        Some(id) => {
            let a = w.address(id).ok_or_else(|| {
                ApiError::business("UnknownNadKey", format!("No address with NAD key {id}"))
            })?;
            Ok(Place {
                role: p.role.clone(),
                id: Some(a.id.clone()),
                postcode: normalise_postcode(&a.postcode).unwrap_or_else(|| a.postcode.clone()),
            })
        }
        None => Ok(Place {
            role: p.role.clone(),
            id: None,
            postcode: p.postcode.clone().unwrap_or_default(),
        }),
    }
}

fn unknown_product(code: &str) -> ApiError {
    ApiError::business(
        "UnknownProduct",
        format!(
            "{code} is not an Ethernet product (one of {})",
            Product::ALL.map(Product::code).join(", ")
        ),
    )
}

/// The bandwidth in kbit/s, if `product` offers it.
fn bandwidth_for(product: Product, value: &str) -> Result<u32, ApiError> {
    parse_bandwidth(value)
        .filter(|k| product.allows(*k))
        .ok_or_else(|| {
            let offered: Vec<String> = product
                .bandwidths()
                .into_iter()
                .map(format_bandwidth)
                .collect();
            ApiError::business(
                "InvalidBandwidth",
                format!(
                    "{} offers {} Mbit/s, not {value}",
                    product.code(),
                    offered.join(", ")
                ),
            )
        })
}

fn timestamp(
    v: &Value,
    pointer: &str,
    field: &str,
    errs: &mut SchemaErrors,
) -> Option<DateTime<Utc>> {
    let s = str_at(v, pointer)?;
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errs.push(field, "must be an RFC 3339 date-time");
            None
        }
    }
}

/// An optional top-level `externalId` string (other types are schema errors).
fn external_id(body: &Value, errs: &mut SchemaErrors) -> Option<String> {
    match body.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.chars().count() <= 100 => Some(s.trim().to_string()),
        Some(_) => {
            errs.push("externalId", "must be a string of at most 100 characters");
            None
        }
    }
}

fn step_secs(state: &SandboxState) -> f64 {
    state.config().order_step_secs
}

// ---------------------------------------------------------------------------------------------
// Quotes
// ---------------------------------------------------------------------------------------------

fn money(pence: u64) -> Value {
    json!({"unit": "GBP", "value": pence as f64 / 100.0})
}

fn price_entry(kind: &str, name: &str, pence: u64) -> Value {
    let mut v = json!({"priceType": kind});
    if kind == "recurring" {
        v["recurringChargePeriod"] = json!("month");
    }
    v["name"] = json!(name);
    v["price"] = json!({
        "dutyFreeAmount": money(pence),
        "taxIncludedAmount": money(with_vat(pence)),
        "taxRate": 20,
    });
    v
}

fn prices(install: u64, rental: u64) -> Value {
    json!([
        price_entry("nonRecurring", "Installation", install),
        price_entry("recurring", "Rental", rental),
    ])
}

fn render_quote(q: &Quote, now: DateTime<Utc>) -> Value {
    let state = q.state(now);
    let items: Vec<Value> = q
        .items
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "action": "add",
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
            })
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

struct QuoteItemReq {
    id: String,
    product: String,
    places: Vec<PlaceReq>,
    bandwidth: String,
    term: String,
}

fn parse_quote(body: &Value) -> Result<(Option<String>, Vec<QuoteItemReq>), ApiError> {
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
        if str_at(item, "/action").is_some_and(|a| a != "add") {
            errs.push(format!("{f}.action"), "must be add");
        }
        let product = item.get("product");
        let code = require_str(
            item,
            "/product/@type",
            &format!("{f}.product.@type"),
            &mut errs,
        );
        let chars = characteristics(product, &format!("{f}.product"), &mut errs);
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
                    if let Some(p) =
                        place_req(Some(p), &format!("{f}.product.place[{i}]"), &mut errs)
                    {
                        places.push(p);
                    }
                }
            }
        }
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
        });
    }
    errs.into_result()?;
    Ok((external, out))
}

async fn quote_create(
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
            let product = Product::parse(&r.product).ok_or_else(|| unknown_product(&r.product))?;
            let kbps = bandwidth_for(product, &r.bandwidth)?;
            let term = r
                .term
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|t| TERMS.contains(t))
                .ok_or_else(|| {
                    ApiError::business(
                        "InvalidTerm",
                        format!("term must be 12, 36 or 60 months, not {}", r.term),
                    )
                })?;
            let places = r
                .places
                .iter()
                .map(|p| resolve(w, p))
                .collect::<Result<Vec<_>, _>>()?;
            let postcodes: Vec<&str> = places.iter().map(|p| p.postcode.as_str()).collect();
            let band = distance_band(&postcodes);
            let p = price(product, kbps, band, term).ok_or_else(ApiError::internal)?;
            items.push(QuoteItem {
                id: r.id.clone(),
                product,
                places,
                kbps,
                term,
                band,
                price: (p.install, p.rental),
                ordered_by: None,
            });
        }
        let id = w.ethernet.next_quote_id();
        let quote = Quote {
            id: id.clone(),
            seq: w.ethernet.next_seq(),
            external_id: external.clone(),
            created: now,
            // A month on the sandbox clock; the last day of a short month when needed.
            valid_until: now
                .checked_add_months(Months::new(1))
                .unwrap_or(now + chrono::Duration::days(30)),
            items,
        };
        let rendered = render_quote(&quote, now);
        w.ethernet.quotes.insert(id.clone(), quote);
        w.record_created("ethernetQuote", &id, external);
        Ok::<_, ApiError>(rendered)
    })?;
    Ok(created(rendered))
}

async fn quote_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        let now = w.now();
        find(&w.ethernet.quotes, "quote", &id).map(|q| Json(render_quote(q, now)))
    })
}

async fn quote_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let wanted = query.parsed(
        "state",
        |s| {
            ["approved", "expired", "accepted"]
                .into_iter()
                .find(|x| *x == s)
        },
        "must be approved, expired or accepted",
    )?;
    let external = query.get("externalId");
    let all = state.with_world(|w| {
        let now = w.now();
        let quotes = w
            .ethernet
            .quotes
            .values()
            .filter(|q| wanted.is_none_or(|s| q.state(now) == s))
            .filter(|q| external.is_none_or(|x| q.external_id.as_deref() == Some(x)));
        newest_first(quotes, |q| q.seq, |q| render_quote(q, now))
    });
    Ok(paginated(all, offset, limit))
}

// ---------------------------------------------------------------------------------------------
// Product qualification
// ---------------------------------------------------------------------------------------------

async fn qualify(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let external = external_id(&body, &mut errs);
    let place = place_req(body.get("place"), "place", &mut errs);
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
                    &mut errs,
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
    let rendered = state.with_world(|w| {
        let now = w.now();
        let place = resolve(w, &place)?;
        let address = place.id.as_deref().and_then(|id| w.address(id));
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
                        v["eligibilityUnavailabilityReason"] =
                            json!([{"code": code, "label": label}]);
                    }
                }
                v
            })
            .collect();
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
            "@type": "CheckProductOfferingQualification",
            "state": "done",
            "creationDate": rfc3339(now),
            "qualificationResult": result,
            "place": place.render(),
            "productOfferingQualificationItem": items,
        });
        w.ethernet.qualifications.insert(id, rendered.clone());
        Ok::<_, ApiError>(rendered)
    })?;
    Ok(created(rendered))
}

async fn qualification_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        find(&w.ethernet.qualifications, "qualification", &id)
            .cloned()
            .map(Json)
    })
}

// ---------------------------------------------------------------------------------------------
// Appointments
// ---------------------------------------------------------------------------------------------

async fn search_slots(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let place = place_req(body.get("relatedPlace"), "relatedPlace", &mut errs);
    let window = body
        .get("requestedTimeSlot")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let (from, until) = match window {
        None => (None, None),
        Some(w) => {
            let f = "requestedTimeSlot[0].validFor";
            let from = timestamp(
                w,
                "/validFor/startDateTime",
                &format!("{f}.startDateTime"),
                &mut errs,
            );
            if from.is_none() && str_at(w, "/validFor/startDateTime").is_none() {
                errs.missing(format!("{f}.startDateTime"));
            }
            let until = timestamp(
                w,
                "/validFor/endDateTime",
                &format!("{f}.endDateTime"),
                &mut errs,
            );
            (from, until)
        }
    };
    errs.into_result()?;
    let Some(place) = place else {
        return Err(ApiError::schema(vec![]));
    };
    let rendered = state.with_world(|w| {
        let now = w.now();
        let place = resolve(w, &place)?;
        let first = first_bookable_day(now);
        let start_day = from
            .map(|f| f.with_timezone(&chrono_tz::Europe::London).date_naive())
            .filter(|d| *d > first)
            .unwrap_or(first);
        // Without an end, a window covers the usual ten working days.
        let days = if until.is_some() {
            usize::MAX
        } else {
            SEARCH_DAYS
        };
        let slots: Vec<Value> = slots_from(start_day, days, MAX_SLOTS * 2, until)
            .into_iter()
            .filter(|s| from.is_none_or(|f| s.start() >= f))
            .filter(|s| !w.ethernet.slot_taken(&place.postcode, *s))
            .take(MAX_SLOTS)
            .map(Slot::render)
            .collect();
        let id = w.ethernet.next_search_id();
        Ok::<_, ApiError>(json!({
            "id": id,
            "@type": "SearchTimeSlot",
            "status": "created",
            "relatedPlace": place.render(),
            "availableTimeSlot": slots,
        }))
    })?;
    Ok(created(rendered))
}

async fn book(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let external = external_id(&body, &mut errs);
    let place = place_req(body.get("relatedPlace"), "relatedPlace", &mut errs);
    let start = timestamp(
        &body,
        "/validFor/startDateTime",
        "validFor.startDateTime",
        &mut errs,
    );
    let end = timestamp(
        &body,
        "/validFor/endDateTime",
        "validFor.endDateTime",
        &mut errs,
    );
    let slot_id = str_at(&body, "/timeSlot/id").map(str::to_string);
    if start.is_none() && slot_id.is_none() && errs.is_empty() {
        errs.push("validFor.startDateTime", "is required (or timeSlot.id)");
    }
    errs.into_result()?;
    let Some(place) = place else {
        return Err(ApiError::schema(vec![]));
    };
    let unavailable = |why: String| ApiError::business("SlotUnavailable", why);
    let slot = match (start, &slot_id) {
        (Some(s), _) => Slot::at(s, end),
        (None, Some(id)) => Slot::parse_id(id),
        (None, None) => None,
    }
    .ok_or_else(|| {
        unavailable(
            "Not an appointment slot: working days 08:00-13:00 or 13:00-18:00 Europe/London"
                .to_string(),
        )
    })?;
    let rendered = state.with_world(|w| {
        let now = w.now();
        let place = resolve(w, &place)?;
        let first = first_bookable_day(now);
        if slot.date < first {
            return Err(unavailable(format!(
                "Slot {} is before the first bookable day {first}",
                slot.id()
            )));
        }
        if w.ethernet.slot_taken(&place.postcode, slot) {
            return Err(unavailable(format!(
                "Slot {} is already booked at {}",
                slot.id(),
                place.postcode
            )));
        }
        let id = w.ethernet.next_appointment_id();
        let a = Appointment {
            id: id.clone(),
            external_id: external.clone(),
            // Booking a free slot confirms at once, so `initialized` is never seen.
            status: AppointmentStatus::Confirmed,
            start: slot.start(),
            end: slot.end(),
            slot_id: slot.id(),
            place,
            created: now,
            order_id: None,
        };
        let rendered = a.render();
        w.ethernet.appointments.insert(id.clone(), a);
        w.record_created("appointment", &id, external);
        Ok(rendered)
    })?;
    Ok(created(rendered))
}

async fn appointment_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        find(&w.ethernet.appointments, "appointment", &id).map(|a| Json(a.render()))
    })
}

async fn appointment_patch(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    match str_at(&body, "/status") {
        Some("cancelled") => {}
        Some(_) => errs.push("status", "only cancelled can be set"),
        None => errs.missing("status"),
    }
    errs.into_result()?;
    state.with_world(|w| {
        let id = id.trim();
        let a = find(&w.ethernet.appointments, "appointment", id)?;
        let held_by = a
            .order_id
            .as_ref()
            .filter(|o| w.ethernet.orders.get(*o).is_some_and(|o| o.state.is_open()));
        if let Some(o) = held_by {
            return Err(ApiError::business(
                "AppointmentInUse",
                format!("Appointment {id} is held by open order {o}; cancel the order instead"),
            ));
        }
        if !matches!(
            a.status,
            AppointmentStatus::Initialized | AppointmentStatus::Confirmed
        ) {
            return Err(ApiError::business(
                "AppointmentNotCancellable",
                format!("Appointment {id} is {}", a.status.as_str()),
            ));
        }
        let a = w
            .ethernet
            .appointments
            .get_mut(id)
            .ok_or_else(ApiError::internal)?;
        a.status = AppointmentStatus::Cancelled;
        Ok(Json(a.render()))
    })
}

// ---------------------------------------------------------------------------------------------
// Product orders
// ---------------------------------------------------------------------------------------------

fn has_site_contact(related_party: &Value) -> bool {
    related_party.as_array().is_some_and(|list| {
        list.iter()
            .any(|p| str_at(p, "/role").is_some_and(|r| r.eq_ignore_ascii_case("siteContact")))
    })
}

fn site_contact_action() -> OpenAction {
    OpenAction {
        id: "1".into(),
        action: CONFIRM_SITE_CONTACT.into(),
        description: "Confirm the site contact for the site survey".into(),
    }
}

enum OrderReq {
    Add {
        quote_id: String,
        quote_item: String,
        appointment: Option<String>,
    },
    Modify {
        service: String,
        bandwidth: String,
    },
    Delete {
        service: String,
    },
}

struct PlaceOrder {
    external: Option<String>,
    related_party: Value,
    item_id: String,
    req: OrderReq,
}

fn related_party(body: &Value, errs: &mut SchemaErrors) -> Option<Value> {
    match body.get("relatedParty") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Array(_)) => Some(v.clone()),
        Some(_) => {
            errs.push("relatedParty", "must be an array");
            None
        }
    }
}

/// The single `productOrderItem`.
fn only_item<'a>(body: &'a Value, errs: &mut SchemaErrors) -> Option<&'a Value> {
    match body.get("productOrderItem").and_then(Value::as_array) {
        Some(list) if list.len() == 1 => list.first(),
        Some(_) => {
            errs.push("productOrderItem", "must have exactly one item");
            None
        }
        None => {
            errs.missing("productOrderItem");
            None
        }
    }
}

fn parse_order(body: &Value) -> Result<PlaceOrder, ApiError> {
    let mut errs = SchemaErrors::default();
    let external = external_id(body, &mut errs);
    let party = related_party(body, &mut errs).unwrap_or_else(|| json!([]));
    let item = only_item(body, &mut errs);
    let f = "productOrderItem[0]";
    let mut req = None;
    if let Some(item) = item {
        let action = require_str(item, "/action", &format!("{f}.action"), &mut errs);
        let service = |errs: &mut SchemaErrors| {
            require_str(item, "/product/id", &format!("{f}.product.id"), errs)
                .unwrap_or_default()
                .to_string()
        };
        match action {
            Some("add") => {
                let q = require_str(
                    item,
                    "/quoteItem/quoteId",
                    &format!("{f}.quoteItem.quoteId"),
                    &mut errs,
                );
                let i = require_str(
                    item,
                    "/quoteItem/id",
                    &format!("{f}.quoteItem.id"),
                    &mut errs,
                );
                req = Some(OrderReq::Add {
                    quote_id: q.unwrap_or_default().to_string(),
                    quote_item: i.unwrap_or_default().to_string(),
                    appointment: str_at(item, "/appointment/id").map(str::to_string),
                });
            }
            Some("modify") => {
                let service = service(&mut errs);
                let chars =
                    characteristics(item.get("product"), &format!("{f}.product"), &mut errs);
                let bandwidth = chars.get("bandwidth").cloned();
                if bandwidth.is_none() {
                    errs.missing(format!("{f}.product.productCharacteristic.bandwidth"));
                }
                req = Some(OrderReq::Modify {
                    service,
                    bandwidth: bandwidth.unwrap_or_default(),
                });
            }
            Some("delete") => {
                req = Some(OrderReq::Delete {
                    service: service(&mut errs),
                })
            }
            Some(_) => errs.push(format!("{f}.action"), "must be add, modify or delete"),
            None => {}
        }
    }
    errs.into_result()?;
    let (Some(item), Some(req)) = (item, req) else {
        return Err(ApiError::schema(vec![]));
    };
    Ok(PlaceOrder {
        external,
        related_party: party,
        item_id: str_at(item, "/id").unwrap_or("1").to_string(),
        req,
    })
}

/// The parts of a new order that depend on what it acts on.
struct Target {
    product: Product,
    places: Vec<Place>,
    kbps: u32,
    term: u32,
    quote: Option<(String, String)>,
    appointment_id: Option<String>,
    service_id: Option<String>,
}

fn check_add(
    w: &World,
    quote_id: &str,
    item_id: &str,
    appointment: Option<&str>,
) -> Result<Target, ApiError> {
    let now = w.now();
    let not_found = || {
        ApiError::business(
            "QuoteNotFound",
            format!("No quote {quote_id} with an item {item_id}"),
        )
    };
    let quote = w.ethernet.quotes.get(quote_id).ok_or_else(not_found)?;
    let item = quote
        .items
        .iter()
        .find(|i| i.id == item_id)
        .ok_or_else(not_found)?;
    if now >= quote.valid_until {
        return Err(ApiError::business(
            "QuoteExpired",
            format!(
                "Quote {quote_id} expired at {}; ask for a new quote",
                rfc3339(quote.valid_until)
            ),
        ));
    }
    if let Some(o) = &item.ordered_by {
        return Err(ApiError::business(
            "QuoteAlreadyOrdered",
            format!("Quote {quote_id} item {item_id} was ordered by {o}"),
        ));
    }
    for place in &item.places {
        let address = place.id.as_deref().and_then(|id| w.address(id));
        if let Some((code, label)) = unavailability(item.product, &place.postcode, address) {
            return Err(ApiError::business(
                "ProductUnavailable",
                format!("{} is not available: {code}: {label}", item.product.code()),
            ));
        }
    }
    let mut appointment_id = None;
    if item.product.is_gea() {
        let Some(a_id) = appointment else {
            return Err(ApiError::business(
                "AppointmentRequired",
                format!(
                    "{} needs a confirmed engineer appointment (appointment.id)",
                    item.product.code()
                ),
            ));
        };
        let a = w.ethernet.appointments.get(a_id).ok_or_else(|| {
            ApiError::business("AppointmentNotFound", format!("No appointment {a_id}"))
        })?;
        if a.status != AppointmentStatus::Confirmed {
            return Err(ApiError::business(
                "AppointmentRequired",
                format!("Appointment {a_id} is {}, not confirmed", a.status.as_str()),
            ));
        }
        if item.places.iter().all(|p| p.postcode != a.place.postcode) {
            return Err(ApiError::business(
                "AppointmentMismatch",
                format!(
                    "Appointment {a_id} is at {}, not at the quoted place",
                    a.place.postcode
                ),
            ));
        }
        if let Some(o) = &a.order_id {
            return Err(ApiError::business(
                "AppointmentInUse",
                format!("Appointment {a_id} is held by order {o}"),
            ));
        }
        appointment_id = Some(a.id.clone());
    }
    Ok(Target {
        product: item.product,
        places: item.places.clone(),
        kbps: item.kbps,
        term: item.term,
        quote: Some((quote.id.clone(), item.id.clone())),
        appointment_id,
        service_id: None,
    })
}

fn check_change(w: &World, service_id: &str, bandwidth: Option<&str>) -> Result<Target, ApiError> {
    let s = w.ethernet.services.get(service_id).ok_or_else(|| {
        ApiError::business(
            "ServiceNotFound",
            format!("No Ethernet service {service_id}"),
        )
    })?;
    if s.status == ServiceStatus::Ceased {
        return Err(ApiError::business(
            "ServiceCeased",
            format!("Service {service_id} has been ceased"),
        ));
    }
    if let Some(o) = w.ethernet.orders.values().find(|o| {
        o.action != OrderAction::Add
            && o.state.is_open()
            && o.service_id.as_deref() == Some(service_id)
    }) {
        return Err(ApiError::business(
            "ServiceHasOpenOrder",
            format!("Service {service_id} has open order {}", o.id),
        ));
    }
    let kbps = match bandwidth {
        Some(b) => bandwidth_for(s.product, b)?,
        None => s.kbps,
    };
    Ok(Target {
        product: s.product,
        places: s.places.clone(),
        kbps,
        term: s.term,
        quote: None,
        appointment_id: None,
        service_id: Some(s.id.clone()),
    })
}

async fn order_create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let req = parse_order(&body)?;
    let step = crate::world::clock::secs_f64(step_secs(&state));
    let rendered = state.with_world(|w| {
        let now = w.now();
        if let Some(x) = &req.external {
            if let Some(o) = w
                .ethernet
                .orders
                .values()
                .find(|o| o.external_id.as_deref() == Some(x))
            {
                return Err(ApiError::business(
                    "DuplicateExternalId",
                    format!("Order {} already has externalId {x}", o.id),
                ));
            }
        }
        let (action, target) = match &req.req {
            OrderReq::Add {
                quote_id,
                quote_item,
                appointment,
            } => (
                OrderAction::Add,
                check_add(w, quote_id, quote_item, appointment.as_deref())?,
            ),
            OrderReq::Modify { service, bandwidth } => (
                OrderAction::Modify,
                check_change(w, service, Some(bandwidth))?,
            ),
            OrderReq::Delete { service } => (OrderAction::Delete, check_change(w, service, None)?),
        };
        let id = w.ethernet.next_order_id();
        let open_actions = if action == OrderAction::Add
            && target.product.needs_site_contact()
            && !has_site_contact(&req.related_party)
        {
            vec![site_contact_action()]
        } else {
            Vec::new()
        };
        if let Some((q, i)) = &target.quote {
            if let Some(item) = w
                .ethernet
                .quotes
                .get_mut(q)
                .and_then(|q| q.items.iter_mut().find(|it| &it.id == i))
            {
                item.ordered_by = Some(id.clone());
            }
        }
        if let Some(a) = target
            .appointment_id
            .as_ref()
            .and_then(|a| w.ethernet.appointments.get_mut(a))
        {
            a.order_id = Some(id.clone());
        }
        let order = EthOrder {
            id: id.clone(),
            seq: w.ethernet.next_seq(),
            external_id: req.external.clone(),
            action,
            item_id: req.item_id.clone(),
            state: EthOrderState::Acknowledged,
            order_date: now,
            completion_date: None,
            related_party: req.related_party.clone(),
            product: target.product,
            places: target.places,
            kbps: target.kbps,
            term: target.term,
            quote: target.quote,
            appointment_id: target.appointment_id,
            service_id: target.service_id,
            milestones: Vec::new(),
            open_actions,
            stage: 0,
            next_due: Some(now + step),
        };
        w.ethernet.orders.insert(id.clone(), order);
        w.record_created("ethernetOrder", &id, req.external.clone());
        w.notify_ethernet("orderAcknowledged", &id);
        Ok(id)
    })?;
    // A zero step moves the order on at once.
    state.tick();
    let body = state.with_world(|w| w.ethernet.orders.get(&rendered).map(EthOrder::render));
    Ok(created(body.unwrap_or_else(|| json!({"id": rendered}))))
}

async fn order_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.orders, "order", &id).map(|o| Json(o.render())))
}

async fn order_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let wanted = query.parsed("state", EthOrderState::parse, "not an order state")?;
    let open = query.parsed(
        "hasOpenActions",
        |v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        "must be true or false",
    )?;
    let (id, external, milestone) = (
        query.get("id"),
        query.get("externalId"),
        query.get("milestone"),
    );
    let all = state.with_world(|w| {
        let orders = w
            .ethernet
            .orders
            .values()
            .filter(|o| wanted.is_none_or(|s| o.state == s))
            .filter(|o| id.is_none_or(|x| o.id == x))
            .filter(|o| external.is_none_or(|x| o.external_id.as_deref() == Some(x)))
            .filter(|o| milestone.is_none_or(|m| o.reached(m)))
            .filter(|o| open.is_none_or(|b| o.open_actions.is_empty() != b));
        newest_first(orders, |o| o.seq, EthOrder::render)
    });
    Ok(paginated(all, offset, limit))
}

async fn order_amend(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let party = related_party(&body, &mut errs);
    let mut bandwidth = None;
    if body.get("productOrderItem").is_some() {
        if let Some(item) = only_item(&body, &mut errs) {
            let chars = characteristics(
                item.get("product"),
                "productOrderItem[0].product",
                &mut errs,
            );
            bandwidth = chars.get("bandwidth").cloned();
        }
    }
    if party.is_none() && bandwidth.is_none() && errs.is_empty() {
        errs.push(
            "",
            "nothing to amend: give relatedParty or a bandwidth characteristic",
        );
    }
    errs.into_result()?;
    let step = crate::world::clock::secs_f64(step_secs(&state));
    let rendered = state.with_world(|w| {
        let now = w.now();
        let id = id.trim();
        let o = find(&w.ethernet.orders, "order", id)?;
        if !o.state.is_open() {
            return Err(ApiError::business(
                "OrderNotAmendable",
                format!("Order {id} is {}", o.state.as_str()),
            ));
        }
        let kbps = match &bandwidth {
            None => None,
            Some(_) if o.action == OrderAction::Delete => {
                return Err(ApiError::business(
                    "OrderNotAmendable",
                    format!("Order {id} is a cease; its bandwidth cannot change"),
                ))
            }
            Some(b) => Some(bandwidth_for(o.product, b)?),
        };
        let o = w
            .ethernet
            .orders
            .get_mut(id)
            .ok_or_else(ApiError::internal)?;
        if let Some(k) = kbps {
            o.kbps = k;
        }
        if let Some(p) = party {
            if has_site_contact(&p) {
                o.open_actions.retain(|a| a.action != CONFIRM_SITE_CONTACT);
            }
            o.related_party = p;
        }
        if o.next_due.is_none() && o.open_actions.is_empty() {
            // Released from its hold: the next step follows one step after the amend.
            o.next_due = Some(now + step);
        }
        w.notify_ethernet("orderAmended", id);
        Ok(id.to_string())
    })?;
    state.tick();
    state.with_world(|w| find(&w.ethernet.orders, "order", &rendered).map(|o| Json(o.render())))
}

async fn order_cancel(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let id = require_str(&body, "/productOrder/id", "productOrder.id", &mut errs)
        .unwrap_or_default()
        .to_string();
    errs.into_result()?;
    state.with_world(|w| {
        let now = w.now();
        let o = find_mut(&mut w.ethernet.orders, "order", &id)?;
        if !o.state.is_open() {
            return Err(ApiError::business(
                "OrderNotCancellable",
                format!("Order {id} is {}", o.state.as_str()),
            ));
        }
        o.state = EthOrderState::Cancelled;
        o.next_due = None;
        o.completion_date = Some(now);
        w.ethernet.release_appointment(&id);
        w.ethernet.release_quote(&id);
        w.notify_ethernet("orderCancelled", &id);
        Ok(())
    })?;
    Ok(created(json!({
        "id": id,
        "state": "cancelled",
        "productOrder": {"id": id, "@referredType": "ProductOrder"},
    })))
}

// ---------------------------------------------------------------------------------------------
// Product inventory
// ---------------------------------------------------------------------------------------------

async fn product_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.services, "product", &id).map(|s| Json(s.render())))
}

async fn product_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let wanted = query.parsed(
        "status",
        |v| match v {
            "active" => Some(ServiceStatus::Active),
            "ceased" => Some(ServiceStatus::Ceased),
            _ => None,
        },
        "must be active or ceased",
    )?;
    let all = state.with_world(|w| {
        w.ethernet
            .services
            .values()
            .filter(|s| wanted.is_none_or(|x| s.status == x))
            .map(|s| s.render())
            .collect::<Vec<_>>()
    });
    Ok(paginated(all, offset, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_prices() {
        let p = price_entry("recurring", "Rental", 50_625);
        assert_eq!(p["recurringChargePeriod"], "month");
        assert_eq!(
            p["price"]["dutyFreeAmount"],
            json!({"unit": "GBP", "value": 506.25})
        );
        assert_eq!(p["price"]["taxIncludedAmount"]["value"], 607.5);
        assert!(price_entry("nonRecurring", "Installation", 0)
            .get("recurringChargePeriod")
            .is_none());
    }

    #[test]
    fn site_contacts() {
        assert!(has_site_contact(
            &json!([{"role": "SiteContact", "name": "A"}])
        ));
        assert!(!has_site_contact(&json!([{"role": "customer"}])));
        assert!(!has_site_contact(&json!({"role": "siteContact"})));
    }

    #[test]
    fn order_bodies() {
        let e = parse_order(&json!({"productOrderItem": []})).err().unwrap();
        assert_eq!(e.code, "29");
        let e = parse_order(
            &json!({"productOrderItem": [{"action": "modify", "product": {"id": "ETH000001"}}]}),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.errors[0].field,
            "productOrderItem[0].product.productCharacteristic.bandwidth"
        );
        let ok = parse_order(&json!({"externalId": "x", "productOrderItem": [
            {"id": "7", "action": "delete", "product": {"id": "ETH000001"}}]}))
        .unwrap();
        assert_eq!(ok.item_id, "7");
        assert!(matches!(ok.req, OrderReq::Delete { ref service } if service == "ETH000001"));
        let e = parse_order(&json!({"externalId": 5, "productOrderItem": [
            {"action": "add", "quoteItem": {"quoteId": "EQT000001", "id": "1"}}]}))
        .err()
        .unwrap();
        assert_eq!(e.errors[0].field, "externalId");
    }

    #[test]
    fn places() {
        let mut errs = SchemaErrors::default();
        let p = place_req(
            Some(&json!({"postcode": "ip53re", "role": "aEnd"})),
            "p",
            &mut errs,
        )
        .unwrap();
        assert_eq!(p.postcode.as_deref(), Some("IP5 3RE"));
        assert!(place_req(Some(&json!({"role": "aEnd"})), "p", &mut errs).is_none());
        assert!(place_req(Some(&json!("IP5 3RE")), "p", &mut errs).is_none());
        assert_eq!(errs.0.len(), 2);
    }
}
