//! Ringfencing an accepted port's numbers ahead of the port date (`numbers::` ringfence with
//! `ported` numbers).

use super::select::*;
use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{check_cug, created, find};
use crate::state::SandboxState;
use crate::wire::{require_str, str_at};
use crate::world::{NumberRecord, NumberStatus};
use axum::response::Response;
use serde_json::{json, Value};

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
        let o = find(&w.ports.orders, "import order", &port_id)?;
        require_accepted(o)?;
        check_company(w, &company)?;
        refuse_express_range(w, Some(&company), o.import_type, o.range.is_some())?;
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
        let clock = o.clock.clone();
        for n in &numbers {
            w.numbers.get_or_insert_with(n.clone(), || NumberRecord {
                company_service_id: company.clone(),
                kind: "ported".into(),
                status: NumberStatus::Ringfenced,
                order_id: None,
                site_service_id: None,
                reserved_site: None,
                reserved_user: None,
                clock: clock.clone(),
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

/// Ported numbers go only to a company an order has provided (CONTRACT.md: allocating ported
/// numbers): a qualification alone may expire and leave the port on a company that never exists.
fn check_company(w: &crate::world::World, company: &str) -> Result<(), ApiError> {
    if w.companies.contains_key(company) {
        return Ok(());
    }
    let qualified_only = w
        .qualifications
        .values()
        .any(|q| q.service_id.as_deref() == Some(company));
    let message = if qualified_only {
        format!("{company} is qualified but no order has provided it; order the company first")
    } else {
        format!("No company has service id {company}")
    };
    Err(ApiError::business("UnknownCompany", message))
}
