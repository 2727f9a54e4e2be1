//! Portability check and earliest port date: answers about numbers, no order.

use super::select::*;
use crate::error::ApiError;
use crate::http::extract::QueryParams;
use crate::state::SandboxState;
use crate::world::port::{
    earliest_port_date, lead_time_days, line_info, range_info, today, ImportType, PortState,
};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn check(
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

pub(super) async fn earliest(
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
