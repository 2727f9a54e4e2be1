//! Engineer appointments (TMF646, GEA only): search slots, book, read and reschedule or cancel.

use super::common::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{created, find, object_body, PathParams, RawBody};
use crate::state::SandboxState;
use crate::wire::str_at;
use crate::world::ethernet::{
    first_bookable_day, slots_from, Appointment, AppointmentStatus, Slot,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn search_slots(
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
        let rendered = json!({
            "id": id,
            "href": format!("{APPOINTMENTS}/searchTimeSlot/{id}"),
            "@type": "SearchTimeSlot",
            // Answered at once with every slot: the search is over (CONTRACT.md).
            "status": "done",
            "relatedPlace": place.render(),
            "availableTimeSlot": slots,
        });
        w.ethernet.searches.insert(id, rendered.clone());
        Ok::<_, ApiError>(rendered)
    })?;
    Ok(created(rendered))
}

pub(super) async fn book(
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
            clock: w.clock_id(),
        };
        let rendered = a.render();
        w.ethernet.appointments.insert(id.clone(), a);
        w.record_created("appointment", &id, external);
        Ok(rendered)
    })?;
    Ok(created(rendered))
}

pub(super) async fn appointment_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| {
        find(&w.ethernet.appointments, "appointment", &id).map(|a| Json(a.render()))
    })
}

pub(super) async fn appointment_patch(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body = object_body(&headers, &body)?;
    if body.get("status").is_none()
        && (body.get("timeSlot").is_some() || body.get("validFor").is_some())
    {
        return reschedule(&state, id.trim(), &body);
    }
    let mut errs = SchemaErrors::default();
    match str_at(&body, "/status") {
        Some("cancelled") => {}
        Some(_) => errs.push(
            "status",
            "only cancelled can be set (send timeSlot or validFor to reschedule)",
        ),
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

/// PATCH with a new `timeSlot.id` or `validFor`: moves the visit (CONTRACT.md: rescheduling).
fn reschedule(state: &SandboxState, id: &str, body: &Value) -> Result<Json<Value>, ApiError> {
    let mut errs = SchemaErrors::default();
    let start = timestamp(
        body,
        "/validFor/startDateTime",
        "validFor.startDateTime",
        &mut errs,
    );
    let end = timestamp(
        body,
        "/validFor/endDateTime",
        "validFor.endDateTime",
        &mut errs,
    );
    let slot_id = str_at(body, "/timeSlot/id");
    if start.is_none() && slot_id.is_none() && errs.is_empty() {
        errs.push("timeSlot.id", "is required (or validFor.startDateTime)");
    }
    errs.into_result()?;
    let slot = match (start, slot_id) {
        (Some(s), _) => Slot::at(s, end),
        (None, Some(id)) => Slot::parse_id(id),
        (None, None) => None,
    }
    .ok_or_else(|| {
        ApiError::business(
            "SlotUnavailable",
            "Not an appointment slot: working days 08:00-13:00 or 13:00-18:00 Europe/London",
        )
    })?;
    state.with_world(|w| {
        let clock = w
            .ethernet
            .appointments
            .get(id)
            .and_then(|a| a.clock.clone());
        let now = w.now_on(clock.as_deref());
        w.ethernet.reschedule(&mut w.outbox, now, id, slot)?;
        find(&w.ethernet.appointments, "appointment", id).map(|a| Json(a.render()))
    })
}

/// `GET` on the appointment collection (TMF646): newest first, by `status` and `externalId`.
pub(super) async fn appointment_list(
    State(state): State<SandboxState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<axum::response::Response, ApiError> {
    let query = crate::http::extract::QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let statuses = [
        "initialized",
        "confirmed",
        "cancelled",
        "completed",
        "failed",
    ];
    let wanted = query.parsed(
        "status",
        |v| statuses.into_iter().find(|s| *s == v),
        "must be initialized, confirmed, cancelled, completed or failed",
    )?;
    let external = query.get("externalId");
    let all = state.with_world(|w| {
        let list = w
            .ethernet
            .appointments
            .values()
            .filter(|a| wanted.is_none_or(|s| a.status.as_str() == s))
            .filter(|a| external.is_none_or(|x| a.external_id.as_deref() == Some(x)));
        // Ids count up (APT000001, …): their digits order them.
        let seq = |a: &Appointment| a.id.trim_start_matches("APT").parse::<u64>().unwrap_or(0);
        crate::http::extract::newest_first(list, seq, Appointment::render)
    });
    Ok(crate::http::extract::paginated(all, offset, limit))
}

/// `GET` on a slot search's `href`: the search as it was answered.
pub(super) async fn search_get(
    State(state): State<SandboxState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    state.with_world(|w| find(&w.ethernet.searches, "slot search", &id).map(|v| Json(v.clone())))
}
