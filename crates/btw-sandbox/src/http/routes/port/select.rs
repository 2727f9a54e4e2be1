//! Reading which numbers a porting request names (a number, a list or a range), its port date
//! and optional fields, and checking a port against the rules.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::QueryParams;
use crate::wire::require_str;
use crate::world::calendar::{is_working_day, parse_date};
use crate::world::port::{
    self as porting, earliest_port_date, lead_time_days, line_info, normalise_number, today,
    ImportOrder, ImportState, ImportType, LcpStatus, PortState,
};
use crate::world::whc::expand_range;
use crate::world::World;
use chrono::NaiveDate;
use serde_json::Value;

pub(super) const CHECK_PATH: &str = "/bt-wholesale/v1/whc/numberPortability";
pub(super) const BASE: &str = "/bt-wholesale/v1/order/numberImportOrder";
pub(super) const ACTIVATE_PATH: &str = "/bt-wholesale/v1/order/activatePort";
/// Most numbers one order (or query) may name.
pub(super) const MAX_NUMBERS: usize = 1000;

/// Numbers named by a request: a list, or an expanded range with its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selection {
    pub(super) numbers: Vec<String>,
    pub(super) range: Option<(String, String)>,
}

/// A same-length ascending range of at most 1000 numbers starting with 0, expanded.
pub(super) fn range(start: &str, end: &str) -> Option<Selection> {
    let numbers = expand_range(start, end)?;
    let first = normalise_number(numbers.first()?)?;
    let last = normalise_number(numbers.last()?)?;
    Some(Selection {
        numbers,
        range: Some((first, last)),
    })
}

/// `single` (one number, or comma-separated when `list`) or `rangeStart`+`rangeEnd` from a query.
pub(super) fn query_selection(
    q: &QueryParams,
    single: &str,
    list: bool,
) -> Result<Selection, ApiError> {
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

pub(super) fn range_not_supported(what: &str) -> ApiError {
    ApiError::business(
        "RangeNotSupported",
        format!("{what} takes single numbers only, not a range"),
    )
}

/// WHC Express ports one particular number at a time: the product page says "for WHC Express you
/// can only port a particular number not number range", so a MultiLine import (or any
/// `numberRange`) that lands on a WHC Express company is refused, on order and on allocation.
pub(super) fn refuse_express_range(
    w: &World,
    company: Option<&str>,
    import_type: ImportType,
    has_range: bool,
) -> Result<(), ApiError> {
    let express = company
        .and_then(|c| w.companies.get(c))
        .is_some_and(|c| c.express);
    if express && (import_type == ImportType::MultiLine || has_range) {
        return Err(ApiError::business(
            "RangeNotSupported",
            format!(
                "WHC Express ports a particular number, not a number range: {} is a WHC Express company; use a SingleLine import per number",
                company.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Applies due LCP decisions, so an answer never shows a decision the clock has passed.
pub(super) fn catch_up(w: &mut World) {
    let nows = w.nows();
    porting::advance(&mut w.ports, &mut w.numbers, &mut w.outbox, &nows);
}

/// `numbers` or `numberRange` from a create or amend body; `None` when neither is there.
pub(super) fn body_selection(body: &Value, errs: &mut SchemaErrors) -> Option<Selection> {
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
pub(super) fn check_port(
    w: &World,
    import_type: ImportType,
    sel: &Selection,
    losing_provider: Option<&str>,
    port_date: NaiveDate,
    own: Option<&ImportOrder>,
) -> Result<(bool, u32), ApiError> {
    // An amend keeps its order's clock; a new order is on the request's.
    let now = w.now_on(own.map_or(w.active_clock.as_deref(), |o| o.clock.as_deref()));
    let own = own.map(|o| o.id.as_str());
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
    let earliest = earliest_port_date(today(now), days);
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

pub(super) fn port_date_field(
    body: &Value,
    errs: &mut SchemaErrors,
    required: bool,
) -> Option<NaiveDate> {
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

pub(super) fn optional_string(body: &Value, name: &str, errs: &mut SchemaErrors) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(_) => {
            errs.push(name, "must be a string");
            None
        }
    }
}

/// 400/22 unless the port has LCP acceptance and is not yet active.
pub(super) fn require_accepted(o: &ImportOrder) -> Result<(), ApiError> {
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
