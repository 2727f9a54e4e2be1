//! WHC number porting endpoints: portability check, import orders (create, get, list, amend,
//! cancel), earliest port date, port activation, and ringfencing ported numbers ahead of the port.
//!
//! The rules themselves live in `world/port.rs`; this file parses requests and renders answers.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    check_cug, created, find, find_mut, json_body, newest_first, object_body, paginated,
    related_party_cug, PathParams, QueryParams, RawBody,
};
use crate::state::SandboxState;
use crate::wire::{require_str, str_at};
use crate::world::calendar::{is_working_day, parse_date};
use crate::world::clock::secs_f64;
use crate::world::port::{
    self as porting, earliest_port_date, lead_time_days, line_info, normalise_number, range_info,
    today, ImportOrder, ImportState, ImportType, LcpStatus, PortState,
};
use crate::world::whc::expand_range;
use crate::world::{NumberRecord, NumberStatus, World};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde_json::{json, Value};

pub const CHECK_PATH: &str = "/bt-wholesale/v1/whc/numberPortability";
pub const BASE: &str = "/bt-wholesale/v1/order/numberImportOrder";
pub const ACTIVATE_PATH: &str = "/bt-wholesale/v1/order/activatePort";
/// Most numbers one order (or query) may name.
const MAX_NUMBERS: usize = 1000;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(CHECK_PATH, get(check))
        .route(BASE, post(create).get(list))
        .route(&format!("{BASE}/earliestPortDate"), get(earliest))
        .route(&format!("{BASE}/{{id}}"), get(one).patch(amend))
        .route(&format!("{BASE}/{{id}}/cancel"), post(cancel))
        .route(ACTIVATE_PATH, post(activate))
}

/// Numbers named by a request: a list, or an expanded range with its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selection {
    numbers: Vec<String>,
    range: Option<(String, String)>,
}

/// A same-length ascending range of at most 1000 numbers starting with 0, expanded.
fn range(start: &str, end: &str) -> Option<Selection> {
    let numbers = expand_range(start, end)?;
    let first = normalise_number(numbers.first()?)?;
    let last = normalise_number(numbers.last()?)?;
    Some(Selection {
        numbers,
        range: Some((first, last)),
    })
}

/// `single` (one number, or comma-separated when `list`) or `rangeStart`+`rangeEnd` from a query.
fn query_selection(q: &QueryParams, single: &str, list: bool) -> Result<Selection, ApiError> {
    match (q.get(single), q.get("rangeStart"), q.get("rangeEnd")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::invalid_query(
            single,
            "give a number or a range, not both",
        )),
        (Some(v), None, None) => {
            let parts: Vec<&str> = if list {
                v.split(',').collect()
            } else {
                vec![v]
            };
            let mut numbers: Vec<String> = Vec::new();
            for p in parts {
                let n = normalise_number(p).ok_or_else(|| {
                    ApiError::invalid_query(single, "must be 10-11 digits starting with 0")
                })?;
                if !numbers.contains(&n) {
                    numbers.push(n);
                }
            }
            if numbers.len() > MAX_NUMBERS {
                return Err(ApiError::invalid_query(single, "at most 1000 numbers"));
            }
            Ok(Selection {
                numbers,
                range: None,
            })
        }
        (None, Some(s), Some(e)) => range(s, e).ok_or_else(|| {
            ApiError::invalid_query(
                "rangeStart",
                "the range must be same-length numbers starting with 0, ascending, at most 1000",
            )
        }),
        (None, Some(_), None) => Err(ApiError::missing_query("rangeEnd")),
        (None, None, Some(_)) => Err(ApiError::missing_query("rangeStart")),
        (None, None, None) => Err(ApiError::missing_query(single)),
    }
}

fn range_not_supported(what: &str) -> ApiError {
    ApiError::business(
        "RangeNotSupported",
        format!("{what} takes single numbers only, not a range"),
    )
}

/// Applies due LCP decisions, so an answer never shows a decision the clock has passed.
fn catch_up(w: &mut World) {
    let now = w.now();
    porting::advance(&mut w.ports, &mut w.numbers, &mut w.outbox, now);
}

async fn check(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let express = q
        .parsed(
            "product",
            |p| match p.replace(' ', "").to_ascii_lowercase().as_str() {
                "whc" => Some(false),
                "whcexpress" => Some(true),
                _ => None,
            },
            "must be WHC or WHCExpress",
        )?
        .unwrap_or(false);
    let sel = query_selection(&q, "number", false)?;
    if express && sel.range.is_some() {
        return Err(range_not_supported("WHC Express"));
    }
    let body = state.with_world(|w| {
        catch_up(w);
        let info = if sel.range.is_some() {
            range_info(&w.ports, &w.numbers, &sel.numbers, None)
        } else {
            line_info(&w.ports, &w.numbers, &sel.numbers[0], None, None)
        };
        let mut v = match &sel.range {
            Some((s, e)) => {
                json!({"rangeStart": s, "rangeEnd": e, "quantity": sel.numbers.len()})
            }
            None => json!({"number": sel.numbers[0]}),
        };
        v["product"] = json!(if express { "WHCExpress" } else { "WHC" });
        v["portState"] = json!(info.port_state.as_str());
        v["portable"] = json!(info.port_state == PortState::Portable);
        v["rangeHolder"] = json!(info.holder);
        v["losingProvider"] = json!(info.lcp);
        v["lcpIsRangeHolder"] = json!(info.lcp_is_holder);
        v["lineType"] = json!(info.line_type);
        if let Some(r) = info.port_state.reason() {
            v["reason"] = json!(r);
        }
        if info.port_state == PortState::Portable {
            let (t, is_range) = match sel.range {
                Some(_) => (ImportType::MultiLine, true),
                None => (ImportType::SingleLine, false),
            };
            let days = lead_time_days(t, sel.numbers.len(), is_range, info.lcp_is_holder);
            v["earliestPortDate"] = json!(earliest_port_date(today(w.now()), days).to_string());
        }
        v
    });
    Ok(Json(body))
}

async fn earliest(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let import_type = ImportType::parse(q.required("importType")?)
        .ok_or_else(|| ApiError::invalid_query("importType", "must be SingleLine or MultiLine"))?;
    let sel = query_selection(&q, "numbers", true)?;
    if import_type == ImportType::SingleLine && sel.range.is_some() {
        return Err(range_not_supported("A SingleLine import"));
    }
    let lp = q.get("losingProvider");
    Ok(Json(state.with_world(|w| {
        let holder = sel
            .numbers
            .iter()
            .all(|n| line_info(&w.ports, &w.numbers, n, lp, None).lcp_is_holder);
        let days = lead_time_days(import_type, sel.numbers.len(), sel.range.is_some(), holder);
        let today = today(w.now());
        json!({
            "importType": import_type.as_str(),
            "quantity": sel.numbers.len(),
            "lcpIsRangeHolder": holder,
            "leadTimeWorkingDays": days,
            "today": today.to_string(),
            "earliestPortDate": earliest_port_date(today, days).to_string(),
        })
    })))
}

/// `numbers` or `numberRange` from a create or amend body; `None` when neither is there.
fn body_selection(body: &Value, errs: &mut SchemaErrors) -> Option<Selection> {
    match (body.get("numbers"), body.get("numberRange")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => None,
        (Some(list), None | Some(Value::Null)) => {
            let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
                errs.push("numbers", "must be a non-empty array of numbers");
                return None;
            };
            if list.len() > MAX_NUMBERS {
                errs.push("numbers", "at most 1000 numbers");
                return None;
            }
            let mut numbers: Vec<String> = Vec::new();
            for (i, v) in list.iter().enumerate() {
                match v.as_str().and_then(normalise_number) {
                    None => errs.push(
                        format!("numbers[{i}]"),
                        "must be 10-11 digits starting with 0",
                    ),
                    Some(n) if numbers.contains(&n) => {
                        errs.push(format!("numbers[{i}]"), "is repeated")
                    }
                    Some(n) => numbers.push(n),
                }
            }
            Some(Selection {
                numbers,
                range: None,
            })
        }
        (None | Some(Value::Null), Some(r)) => {
            let start = require_str(r, "/startNumber", "numberRange.startNumber", errs);
            let end = require_str(r, "/endNumber", "numberRange.endNumber", errs);
            let sel = range(start?, end?);
            if sel.is_none() {
                errs.push(
                    "numberRange",
                    "must be same-length numbers starting with 0, ascending, at most 1000",
                );
            }
            sel
        }
        (Some(_), Some(_)) => {
            errs.push("numbers", "give numbers or numberRange, not both");
            None
        }
    }
}

/// The checks shared by create and amend; returns (LCP is range holder, lead time in days).
fn check_port(
    w: &World,
    import_type: ImportType,
    sel: &Selection,
    losing_provider: Option<&str>,
    port_date: NaiveDate,
    own: Option<&str>,
) -> Result<(bool, u32), ApiError> {
    if import_type == ImportType::SingleLine && sel.range.is_some() {
        return Err(range_not_supported("A SingleLine import"));
    }
    let mut holder = true;
    for n in &sel.numbers {
        let info = line_info(&w.ports, &w.numbers, n, losing_provider, own);
        match info.port_state {
            PortState::Portable => {}
            PortState::NotPortable(r) => {
                return Err(ApiError::business(
                    "NumberNotPortable",
                    format!("Number {n} is not portable ({r})"),
                ))
            }
            PortState::AlreadyPortedIn => {
                return Err(ApiError::business(
                    "NumberAlreadyPortedIn",
                    format!("Number {n} is already ported in"),
                ))
            }
            PortState::PortInProgress => {
                return Err(ApiError::business(
                    "PortInProgress",
                    format!("Number {n} already has a port in progress"),
                ))
            }
        }
        holder &= info.lcp_is_holder;
    }
    let days = lead_time_days(import_type, sel.numbers.len(), sel.range.is_some(), holder);
    if !is_working_day(port_date) {
        return Err(ApiError::business(
            "PortDateNotWorkingDay",
            format!("Port date {port_date} is a weekend or bank holiday"),
        ));
    }
    let earliest = earliest_port_date(today(w.now()), days);
    if port_date < earliest {
        return Err(ApiError::business(
            "LeadTimeNotMet",
            format!(
                "Port date {port_date} is too early: the earliest is {earliest} ({days} working days)"
            ),
        ));
    }
    Ok((holder, days))
}

fn port_date_field(body: &Value, errs: &mut SchemaErrors, required: bool) -> Option<NaiveDate> {
    match body.get("portDate") {
        None | Some(Value::Null) => {
            if required {
                errs.missing("portDate");
            }
            None
        }
        Some(v) => {
            let d = v.as_str().and_then(parse_date);
            if d.is_none() {
                errs.push("portDate", "must be a date YYYY-MM-DD");
            }
            d
        }
    }
}

fn optional_string(body: &Value, name: &str, errs: &mut SchemaErrors) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(_) => {
            errs.push(name, "must be a string");
            None
        }
    }
}

async fn create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    related_party_cug(&body, &mut errs)?;
    let import_type = match str_at(&body, "/importType") {
        None => {
            errs.missing("importType");
            None
        }
        Some(t) => {
            let t = ImportType::parse(t);
            if t.is_none() {
                errs.push("importType", "must be SingleLine or MultiLine");
            }
            t
        }
    };
    let sel = body_selection(&body, &mut errs);
    if sel.is_none() && errs.is_empty() {
        errs.missing("numbers");
    }
    let port_date = port_date_field(&body, &mut errs, true);
    let postcode = require_str(
        &body,
        "/installationPostcode",
        "installationPostcode",
        &mut errs,
    )
    .map(str::to_string);
    let external_id = optional_string(&body, "externalId", &mut errs);
    let losing_provider = optional_string(&body, "losingProvider", &mut errs);
    let company = optional_string(&body, "companyServiceId", &mut errs);
    errs.into_result()?;
    let (Some(import_type), Some(sel), Some(port_date), Some(postcode)) =
        (import_type, sel, port_date, postcode)
    else {
        return Err(ApiError::schema(vec![]));
    };
    let related_party = body.get("relatedParty").cloned().unwrap_or(Value::Null);
    let delay = secs_f64(state.config().lcp_decision_secs);
    let order = state.with_world(|w| {
        catch_up(w);
        if let Some(x) = &external_id {
            if w.ports
                .orders
                .values()
                .any(|o| o.external_id.as_ref() == Some(x))
            {
                return Err(ApiError::business(
                    "DuplicateExternalId",
                    format!("An import order with externalId {x} exists"),
                ));
            }
        }
        if let Some(c) = &company {
            if !w.companies.contains_key(c) {
                return Err(ApiError::business(
                    "UnknownCompany",
                    format!("No company {c}"),
                ));
            }
        }
        let (holder, days) = check_port(
            w,
            import_type,
            &sel,
            losing_provider.as_deref(),
            port_date,
            None,
        )?;
        let now = w.now();
        let (id, seq) = w.ports.next_id();
        w.ports.orders.insert(
            id.clone(),
            ImportOrder {
                id: id.clone(),
                seq,
                external_id: external_id.clone(),
                import_type,
                state: ImportState::Acknowledged,
                lcp_status: LcpStatus::Pending,
                rejection_reason: None,
                port_date,
                confirmed_port_date: None,
                numbers: sel.numbers,
                range: sel.range,
                installation_postcode: postcode,
                losing_provider,
                lcp_is_range_holder: holder,
                lead_time_days: days,
                company_service_id: company,
                allocated_to: None,
                order_date: now,
                lcp_decision_at: now + delay,
                activation_date: None,
                completion_date: None,
                related_party,
            },
        );
        w.record_created("importOrder", &id, external_id);
        porting::notify(&w.ports, &mut w.outbox, &id, "orderAcknowledged", now);
        // A zero delay decides at once.
        porting::advance(&mut w.ports, &mut w.numbers, &mut w.outbox, now);
        Ok(w.ports.orders.get(&id).map(porting::render))
    })?;
    Ok(created(order.unwrap_or(Value::Null)))
}

async fn one(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .with_world(|w| {
            catch_up(w);
            find(&w.ports.orders, "import order", &id).map(porting::render)
        })
        .map(Json)
}

async fn list(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let (offset, limit) = q.page()?;
    let wanted = q.parsed("state", ImportState::parse, "not an import order state")?;
    let external = q.get("externalId");
    let all = state.with_world(|w| {
        catch_up(w);
        let orders = w
            .ports
            .orders
            .values()
            .filter(|o| wanted.is_none_or(|s| o.state == s))
            .filter(|o| external.is_none_or(|x| o.external_id.as_deref() == Some(x)));
        newest_first(orders, |o| o.seq, porting::render)
    });
    Ok(paginated(all, offset, limit))
}

async fn amend(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let new_sel = body_selection(&body, &mut errs);
    let new_date = port_date_field(&body, &mut errs, false);
    if errs.is_empty() && new_sel.is_none() && new_date.is_none() {
        errs.push("", "give portDate, numbers or numberRange");
    }
    errs.into_result()?;
    let delay = secs_f64(state.config().lcp_decision_secs);
    let id = id.trim().to_string();
    state
        .with_world(|w| {
            catch_up(w);
            let o = find(&w.ports.orders, "import order", &id)?;
            if !o.state.is_open() {
                return Err(ApiError::business(
                    "OrderNotAmendable",
                    format!("Import order {id} is {}", o.state.as_str()),
                ));
            }
            let sel = new_sel.clone().unwrap_or_else(|| Selection {
                numbers: o.numbers.clone(),
                range: o.range.clone(),
            });
            let port_date = new_date.unwrap_or(o.port_date);
            let (holder, days) = check_port(
                w,
                o.import_type,
                &sel,
                o.losing_provider.as_deref(),
                port_date,
                Some(&id),
            )?;
            let mut old = o.numbers.clone();
            let mut new = sel.numbers.clone();
            old.sort();
            new.sort();
            let numbers_changed = old != new;
            let now = w.now();
            if numbers_changed {
                porting::release_allocation(&mut w.ports, &mut w.numbers, &id);
            }
            let o = find_mut(&mut w.ports.orders, "import order", &id)?;
            let date_changed = port_date != o.port_date;
            o.port_date = port_date;
            o.lcp_is_range_holder = holder;
            o.lead_time_days = days;
            if numbers_changed {
                // A new set of lines goes back to the LCP; the state is not moved back.
                o.numbers = sel.numbers;
                o.range = sel.range;
                o.lcp_status = LcpStatus::Pending;
                o.confirmed_port_date = None;
                o.lcp_decision_at = now + delay;
            } else {
                // Same lines written differently (e.g. a range as a list) keep their decision.
                o.range = sel.range;
                if date_changed && o.lcp_status == LcpStatus::Accepted {
                    o.confirmed_port_date = Some(port_date);
                    porting::notify(&w.ports, &mut w.outbox, &id, "portDateConfirmed", now);
                }
            }
            porting::advance(&mut w.ports, &mut w.numbers, &mut w.outbox, now);
            find(&w.ports.orders, "import order", &id).map(porting::render)
        })
        .map(Json)
}

async fn cancel(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = id.trim().to_string();
    let order = state.with_world(|w| {
        catch_up(w);
        let o = find(&w.ports.orders, "import order", &id)?;
        if !o.state.is_open() {
            return Err(ApiError::business(
                "OrderNotCancellable",
                format!("Import order {id} is {}", o.state.as_str()),
            ));
        }
        porting::release_allocation(&mut w.ports, &mut w.numbers, &id);
        let now = w.now();
        if let Some(o) = w.ports.orders.get_mut(&id) {
            o.state = ImportState::Cancelled;
        }
        porting::notify(&w.ports, &mut w.outbox, &id, "orderCancelled", now);
        find(&w.ports.orders, "import order", &id).map(porting::render)
    })?;
    Ok(created(order))
}

/// 400/22 unless the port has LCP acceptance and is not yet active.
fn require_accepted(o: &ImportOrder) -> Result<(), ApiError> {
    if o.state == ImportState::Completed {
        return Err(ApiError::business(
            "PortAlreadyActivated",
            format!("Import order {} was activated already", o.id),
        ));
    }
    if o.state != ImportState::InProgress || o.lcp_status != LcpStatus::Accepted {
        let why = match (o.state, &o.rejection_reason) {
            (ImportState::Rejected, Some(r)) => format!("was rejected by the LCP ({r})"),
            (ImportState::Cancelled, _) => "is cancelled".to_string(),
            _ => "has no LCP acceptance yet".to_string(),
        };
        return Err(ApiError::business(
            "PortNotAccepted",
            format!("Import order {} {why}", o.id),
        ));
    }
    Ok(())
}

async fn activate(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let id = require_str(&body, "/importOrderId", "importOrderId", &mut errs).map(str::to_string);
    errs.into_result()?;
    let id = id.unwrap_or_default();
    let order = state.with_world(|w| {
        catch_up(w);
        let o = find(&w.ports.orders, "import order", &id)?;
        require_accepted(o)?;
        let today = today(w.now());
        let port_date = o.confirmed_port_date.unwrap_or(o.port_date);
        if today < port_date {
            return Err(ApiError::business(
                "PortDateNotReached",
                format!("Port date is {port_date}; today is {today}"),
            ));
        }
        let company = o
            .allocated_to
            .clone()
            .or_else(|| o.company_service_id.clone())
            .ok_or_else(|| {
                ApiError::business(
                    "PortNotAllocated",
                    format!(
                        "Import order {id} has no company: ringfence its numbers or give companyServiceId"
                    ),
                )
            })?;
        for n in o.numbers.clone() {
            let rec = w.numbers.entry(n).or_insert_with(|| NumberRecord {
                company_service_id: company.clone(),
                kind: "ported".into(),
                status: NumberStatus::Assigned,
                order_id: None,
                site_service_id: None,
            });
            rec.kind = "ported".into();
            rec.status = NumberStatus::Assigned;
        }
        let now = w.now();
        if let Some(o) = w.ports.orders.get_mut(&id) {
            o.state = ImportState::Completed;
            o.allocated_to = Some(company);
            o.activation_date = Some(now);
            o.completion_date = Some(now);
        }
        porting::notify(&w.ports, &mut w.outbox, &id, "portActivated", now);
        porting::notify(&w.ports, &mut w.outbox, &id, "orderComplete", now);
        find(&w.ports.orders, "import order", &id).map(porting::render)
    })?;
    Ok(created(order))
}

/// The ringfence call with `numbers.characteristics.portOrderId`: allocates an LCP-accepted
/// port's numbers to a company ahead of the port date (called from `numbers.rs`).
pub fn ringfence_ported(state: &SandboxState, body: &Value) -> Result<Response, ApiError> {
    let mut errs = SchemaErrors::default();
    if let Some(cug) = require_str(body, "/customer/id", "customer.id", &mut errs) {
        check_cug(cug)?;
    }
    let company = require_str(body, "/ringFenceId", "ringFenceId", &mut errs).map(str::to_string);
    let port_id = str_at(body, "/numbers/characteristics/portOrderId").map(str::to_string);
    errs.into_result()?;
    let (Some(company), Some(port_id)) = (company, port_id) else {
        return Err(ApiError::schema(vec![]));
    };
    let numbers = state.with_world(|w| {
        catch_up(w);
        let now = w.now();
        let o = find(&w.ports.orders, "import order", &port_id)?;
        require_accepted(o)?;
        let known = w.companies.contains_key(&company)
            || w.qualifications.values().any(|q| {
                q.qualified
                    && q.service_id.as_deref() == Some(company.as_str())
                    && now < q.expires_at
            });
        if !known {
            return Err(ApiError::business(
                "UnknownCompany",
                format!("{company} is neither a company nor a qualified service id"),
            ));
        }
        if o.company_service_id.as_ref().is_some_and(|c| *c != company) {
            return Err(ApiError::business(
                "PortCompanyMismatch",
                format!("Import order {port_id} is for another company"),
            ));
        }
        let taken = o.allocated_to.as_ref().is_some_and(|a| *a != company)
            || o.numbers.iter().any(|n| {
                w.numbers
                    .get(n)
                    .is_some_and(|r| r.company_service_id != company)
            });
        if taken {
            return Err(ApiError::business(
                "PortAlreadyAllocated",
                format!("The numbers of {port_id} are ringfenced to another company"),
            ));
        }
        let first_time = o.allocated_to.is_none();
        let numbers = o.numbers.clone();
        for n in &numbers {
            w.numbers.entry(n.clone()).or_insert_with(|| NumberRecord {
                company_service_id: company.clone(),
                kind: "ported".into(),
                status: NumberStatus::Ringfenced,
                order_id: None,
                site_service_id: None,
            });
        }
        if let Some(o) = w.ports.orders.get_mut(&port_id) {
            o.allocated_to = Some(company.clone());
        }
        if first_time {
            let first = numbers.first().cloned().unwrap_or_default();
            let last = numbers.last().cloned().unwrap_or_default();
            w.record_created("ringfence", &format!("{first}-{last}"), None);
        }
        Ok(numbers)
    })?;
    Ok(created(json!({
        "action": "Ringfence",
        "numberRange": {
            "startNumber": numbers.first(),
            "endNumber": numbers.last(),
        },
        "numbers": numbers,
        "ringFenceId": company,
        "status": "RINGFENCED",
        "portOrderId": port_id,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_selections() {
        let q = |s: &str| QueryParams::parse(Some(s));
        let one = query_selection(&q("number=0191%20498%200100"), "number", false).unwrap();
        assert_eq!(one.numbers, ["01914980100"]);
        let many = query_selection(
            &q("numbers=01914980100,01914980101,01914980100"),
            "numbers",
            true,
        )
        .unwrap();
        assert_eq!(many.numbers.len(), 2);
        let r = query_selection(
            &q("rangeStart=01914980200&rangeEnd=01914980299"),
            "number",
            false,
        )
        .unwrap();
        assert_eq!(r.numbers.len(), 100);
        assert_eq!(
            r.range,
            Some(("01914980200".to_string(), "01914980299".to_string()))
        );
        let code = |s: &str| query_selection(&q(s), "number", false).unwrap_err().code;
        assert_eq!(code(""), "27");
        assert_eq!(code("rangeStart=01914980200"), "27");
        assert_eq!(code("number=01914980200&rangeStart=01914980200"), "28");
        assert_eq!(code("number=12345"), "28");
        assert_eq!(code("rangeStart=01914980299&rangeEnd=01914980200"), "28");
        assert_eq!(code("rangeStart=1914980200&rangeEnd=1914980201"), "28");
    }

    #[test]
    fn body_selections() {
        let mut errs = SchemaErrors::default();
        let s = body_selection(&json!({"numbers": ["0191 498 0100"]}), &mut errs).unwrap();
        assert_eq!(s.numbers, ["01914980100"]);
        assert!(errs.is_empty());
        assert!(body_selection(&json!({}), &mut errs).is_none());
        assert!(errs.is_empty());
        body_selection(
            &json!({"numbers": ["01914980100", "01914980100", 5]}),
            &mut errs,
        );
        assert_eq!(errs.0.len(), 2);
        let mut errs = SchemaErrors::default();
        body_selection(
            &json!({"numbers": ["01914980100"], "numberRange": {}}),
            &mut errs,
        );
        assert_eq!(errs.0.len(), 1);
    }
}
