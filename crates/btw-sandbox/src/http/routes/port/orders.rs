//! Import orders: create, read, list, amend, cancel, and port activation.

use super::select::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{
    created, find, find_mut, json_body, newest_first, object_body, paginated, related_party_cug,
    PathParams, QueryParams, RawBody,
};
use crate::state::SandboxState;
use crate::wire::{require_str, str_at};
use crate::world::clock::secs_f64;
use crate::world::port::{self as porting, today, ImportOrder, ImportState, ImportType, LcpStatus};
use crate::world::World;
use crate::world::{NumberRecord, NumberStatus};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::NaiveDate;
use serde_json::Value;

pub(super) async fn create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let req = read_new_import(&body)?;
    let delay = secs_f64(state.config().lcp_decision_secs);
    let order = state.with_world(|w| place_import(w, req, delay))?;
    Ok(created(order.unwrap_or(Value::Null)))
}

/// A schema-valid import order request.
struct NewImport {
    import_type: ImportType,
    sel: Selection,
    port_date: NaiveDate,
    postcode: String,
    external_id: Option<String>,
    losing_provider: Option<String>,
    company: Option<String>,
    related_party: Value,
}

/// The schema checks of an import order (400/29, or 403/50 for a foreign CUG).
fn read_new_import(body: &Value) -> Result<NewImport, ApiError> {
    let mut errs = SchemaErrors::default();
    related_party_cug(body, &mut errs)?;
    let import_type = match str_at(body, "/importType") {
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
    let sel = body_selection(body, &mut errs);
    if sel.is_none() && errs.is_empty() {
        errs.missing("numbers");
    }
    let port_date = port_date_field(body, &mut errs, true);
    let postcode = require_str(
        body,
        "/installationPostcode",
        "installationPostcode",
        &mut errs,
    )
    .map(str::to_string);
    let external_id = optional_string(body, "externalId", &mut errs);
    let losing_provider = optional_string(body, "losingProvider", &mut errs);
    let company = optional_string(body, "companyServiceId", &mut errs);
    errs.into_result()?;
    let (Some(import_type), Some(sel), Some(port_date), Some(postcode)) =
        (import_type, sel, port_date, postcode)
    else {
        return Err(ApiError::schema(vec![]));
    };
    Ok(NewImport {
        import_type,
        sel,
        port_date,
        postcode,
        external_id,
        losing_provider,
        company,
        related_party: body.get("relatedParty").cloned().unwrap_or(Value::Null),
    })
}

/// Applies the rules to a new import order and records it; answers it rendered.
fn place_import(
    w: &mut World,
    req: NewImport,
    delay: chrono::Duration,
) -> Result<Option<Value>, ApiError> {
    let NewImport {
        import_type,
        sel,
        port_date,
        postcode,
        external_id,
        losing_provider,
        company,
        related_party,
    } = req;
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
    refuse_express_range(w, company.as_deref(), import_type, sel.range.is_some())?;
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
            clock: w.clock_id(),
        },
    );
    w.record_created("importOrder", &id, external_id);
    porting::notify(&w.ports, &mut w.outbox, &id, "orderAcknowledged", now);
    // A zero delay decides at once.
    catch_up(w);
    Ok(w.ports.orders.get(&id).map(porting::render))
}

pub(super) async fn one(
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

pub(super) async fn list(
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

pub(super) async fn amend(
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
                Some(o),
            )?;
            let mut old = o.numbers.clone();
            let mut new = sel.numbers.clone();
            old.sort();
            new.sort();
            let numbers_changed = old != new;
            let now = w.now_on(o.clock.as_deref());
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
            catch_up(w);
            find(&w.ports.orders, "import order", &id).map(porting::render)
        })
        .map(Json)
}

pub(super) async fn cancel(
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
        let now = w.now_on(o.clock.as_deref());
        porting::release_allocation(&mut w.ports, &mut w.numbers, &id);
        if let Some(o) = w.ports.orders.get_mut(&id) {
            o.state = ImportState::Cancelled;
        }
        porting::notify(&w.ports, &mut w.outbox, &id, "orderCancelled", now);
        find(&w.ports.orders, "import order", &id).map(porting::render)
    })?;
    Ok(created(order))
}

pub(super) async fn activate(
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
        // The port date is reached by the order's own clock.
        let clock = o.clock.clone();
        let today = today(w.now_on(clock.as_deref()));
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
            let mut rec = w.numbers.get_or_insert_with(n, || NumberRecord {
                company_service_id: company.clone(),
                kind: "ported".into(),
                status: NumberStatus::Assigned,
                order_id: None,
                site_service_id: None,
                reserved_site: None,
                reserved_user: None,
                clock: clock.clone(),
            });
            rec.kind = "ported".into();
            rec.status = NumberStatus::Assigned;
        }
        let now = w.now_on(clock.as_deref());
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
