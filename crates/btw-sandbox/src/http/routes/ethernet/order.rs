//! Ethernet product orders (TMF622): place, modify, amend, cease, cancel and track.

use super::common::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    created, find, newest_first, object_body, paginated, PathParams, QueryParams, RawBody,
};
use crate::state::SandboxState;
use crate::wire::{characteristics, require_str, rfc3339, str_at};
use crate::world::ethernet::{
    price_for, unavailability, AppointmentStatus, EthOrder, EthOrderState, OpenAction, OrderAction,
    Place, Product, ServiceStatus, CONFIRM_SITE_CONTACT,
};
use crate::world::World;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

pub(super) fn has_site_contact(related_party: &Value) -> bool {
    related_party.as_array().is_some_and(|list| {
        list.iter()
            .any(|p| str_at(p, "/role").is_some_and(|r| r.eq_ignore_ascii_case("siteContact")))
    })
}

pub(super) fn site_contact_action() -> OpenAction {
    OpenAction {
        id: "1".into(),
        action: CONFIRM_SITE_CONTACT.into(),
        description: "Confirm the site contact for the site survey".into(),
    }
}

pub(super) enum OrderReq {
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

pub(super) struct PlaceOrder {
    pub(super) external: Option<String>,
    pub(super) related_party: Value,
    pub(super) item_id: String,
    pub(super) req: OrderReq,
}

pub(super) fn related_party(body: &Value, errs: &mut SchemaErrors) -> Option<Value> {
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
pub(super) fn only_item<'a>(body: &'a Value, errs: &mut SchemaErrors) -> Option<&'a Value> {
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

pub(super) fn parse_order(body: &Value) -> Result<PlaceOrder, ApiError> {
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
pub(super) struct Target {
    pub(super) product: Product,
    pub(super) places: Vec<Place>,
    pub(super) kbps: u32,
    pub(super) term: u32,
    pub(super) quote: Option<(String, String)>,
    pub(super) appointment_id: Option<String>,
    pub(super) service_id: Option<String>,
    /// `(install, rental)` in pence: the quote's for a provide, the table's for a modify.
    pub(super) price: Option<(u64, u64)>,
}

pub(super) fn check_add(
    w: &World,
    quote_id: &str,
    item_id: &str,
    appointment: Option<&str>,
) -> Result<Target, ApiError> {
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
    if let Some(svc) = &item.service_id {
        return Err(ApiError::business(
            "QuoteItemNotAProvide",
            format!(
                "Quote {quote_id} item {item_id} prices a change to {svc}; order a modify of {svc}"
            ),
        ));
    }
    // Valid by the quote's own clock, whichever clock orders it.
    if w.now_on(quote.clock.as_deref()) >= quote.valid_until {
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
    let appointment_id = check_appointment(w, item.product, &item.places, appointment)?;
    Ok(Target {
        product: item.product,
        places: item.places.clone(),
        kbps: item.kbps,
        term: item.term,
        quote: Some((quote.id.clone(), item.id.clone())),
        appointment_id,
        service_id: None,
        price: Some(item.price),
    })
}

/// A GEA product needs a confirmed appointment of its own at the quoted place; others none.
fn check_appointment(
    w: &World,
    product: Product,
    places: &[Place],
    appointment: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if !product.is_gea() {
        return Ok(None);
    }
    let Some(a_id) = appointment else {
        return Err(ApiError::business(
            "AppointmentRequired",
            format!(
                "{} needs a confirmed engineer appointment (appointment.id)",
                product.code()
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
    if places.iter().all(|p| p.postcode != a.place.postcode) {
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
    Ok(Some(a.id.clone()))
}

pub(super) fn check_change(
    w: &World,
    service_id: &str,
    bandwidth: Option<&str>,
) -> Result<Target, ApiError> {
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
    let what = if bandwidth.is_some() {
        "a modify"
    } else {
        "a cease"
    };
    refuse_provide_only(s.product, what)?;
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
    let price = match bandwidth {
        Some(_) => Some(modify_price(s.product, &s.places, kbps, s.term)?),
        None => None,
    };
    Ok(Target {
        product: s.product,
        places: s.places.clone(),
        kbps,
        term: s.term,
        quote: None,
        appointment_id: None,
        service_id: Some(s.id.clone()),
        price,
    })
}

/// The table's price for a changed bandwidth (CONTRACT.md: prices follow changes).
fn modify_price(
    product: Product,
    places: &[Place],
    kbps: u32,
    term: u32,
) -> Result<(u64, u64), ApiError> {
    price_for(product, places, kbps, term).ok_or_else(|| {
        ApiError::business(
            "BandwidthNotPriced",
            format!(
                "{} has no price for {} Mbit/s over {term} months",
                product.code(),
                crate::world::ethernet::format_bandwidth(kbps)
            ),
        )
    })
}

pub(super) async fn order_create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let req = parse_order(&body)?;
    let step = crate::world::clock::secs_f64(step_secs(&state));
    let rendered = state.with_world(|w| place_order(w, &req, step))?;
    // A zero step moves the order on at once.
    state.tick();
    let body = state.with_world(|w| w.ethernet.orders.get(&rendered).map(EthOrder::render));
    Ok(created(body.unwrap_or_else(|| json!({"id": rendered}))))
}

/// Places a parsed order: checks what it acts on, holds its quote item and appointment, and
/// records it acknowledged. Returns its id.
fn place_order(
    w: &mut World,
    req: &PlaceOrder,
    step: chrono::Duration,
) -> Result<String, ApiError> {
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
    let (action, target) = target_for(w, &req.req)?;
    let id = w.ethernet.next_order_id();
    let open_actions = if action == OrderAction::Add
        && target.product.needs_site_contact()
        && !has_site_contact(&req.related_party)
    {
        vec![site_contact_action()]
    } else {
        Vec::new()
    };
    hold(w, &target, &id);
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
        price: target.price,
        cancellation_reason: None,
        clock: w.clock_id(),
    };
    w.ethernet.orders.insert(id.clone(), order);
    w.record_created("ethernetOrder", &id, req.external.clone());
    w.notify_ethernet("orderAcknowledged", &id);
    Ok(id)
}

/// The action and what it acts on, checked against the world.
fn target_for(w: &World, req: &OrderReq) -> Result<(OrderAction, Target), ApiError> {
    Ok(match req {
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
    })
}

/// Marks the quote item and the appointment as taken by order `id`.
fn hold(w: &mut World, target: &Target, id: &str) {
    if let Some((q, i)) = &target.quote {
        if let Some(item) = w
            .ethernet
            .quotes
            .get_mut(q)
            .and_then(|q| q.items.iter_mut().find(|it| &it.id == i))
        {
            item.ordered_by = Some(id.to_string());
        }
    }
    if let Some(a) = target
        .appointment_id
        .as_ref()
        .and_then(|a| w.ethernet.appointments.get_mut(a))
    {
        a.order_id = Some(id.to_string());
    }
}

pub(super) async fn order_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.orders, "order", &id).map(|o| Json(o.render())))
}

pub(super) async fn order_list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let wanted = crate::http::states::StateFilter::read(&query, EthOrderState::parse)?;
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
            .filter(|o| wanted.admits(o.state))
            .filter(|o| id.is_none_or(|x| o.id == x))
            .filter(|o| external.is_none_or(|x| o.external_id.as_deref() == Some(x)))
            .filter(|o| milestone.is_none_or(|m| o.reached(m)))
            .filter(|o| open.is_none_or(|b| o.open_actions.is_empty() != b));
        newest_first(orders, |o| o.seq, EthOrder::render)
    });
    Ok(paginated(all, offset, limit))
}

pub(super) async fn order_amend(
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
        let id = id.trim();
        let o = find(&w.ethernet.orders, "order", id)?;
        let now = w.now_on(o.clock.as_deref());
        if !o.state.is_open() {
            return Err(ApiError::business(
                "OrderNotAmendable",
                format!("Order {id} is {}", o.state.as_str()),
            ));
        }
        refuse_provide_only(o.product, "an amend")?;
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
        let price = match kbps {
            Some(k) => Some(modify_price(o.product, &o.places, k, o.term)?),
            None => o.price,
        };
        let o = w
            .ethernet
            .orders
            .get_mut(id)
            .ok_or_else(ApiError::internal)?;
        if let Some(k) = kbps {
            o.kbps = k;
            o.price = price;
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
