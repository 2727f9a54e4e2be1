//! Import orders on the wire and over time: rendering, notifications, LCP decisions on the
//! order's clock, and releasing numbers ringfenced for a port.

use super::lines::*;
use super::orders::*;
use crate::wire::rfc3339;
use crate::world::clock::Nows;
use crate::world::model::NumberStatus;
use crate::world::outbox::{queue_event_at, Notification};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

pub(super) fn date(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| json!(d.to_string()))
}

pub(super) fn items(o: &ImportOrder) -> Vec<Value> {
    let state = o.state.as_str();
    match &o.range {
        Some((start, end)) => vec![json!({
            "id": "1", "action": "add", "state": state,
            "numberRange": {"startNumber": start, "endNumber": end},
        })],
        None => o
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": (i + 1).to_string(), "action": "add", "state": state, "number": n}))
            .collect(),
    }
}

/// An import order's wire shape (CONTRACT.md "Import orders").
pub fn render(o: &ImportOrder) -> Value {
    json!({
        "id": o.id,
        "externalId": o.external_id,
        "@type": "NumberImportOrder",
        "importType": o.import_type.as_str(),
        "state": o.state.as_str(),
        "lcpStatus": o.lcp_status.as_str(),
        "rejectionReason": o.rejection_reason,
        "portDate": o.port_date.to_string(),
        "confirmedPortDate": date(o.confirmed_port_date),
        "numbers": o.numbers,
        "numberRange": o.range.as_ref().map(|(s, e)| json!({"startNumber": s, "endNumber": e})),
        "installationPostcode": o.installation_postcode,
        "losingProvider": o.losing_provider,
        "lcpIsRangeHolder": o.lcp_is_range_holder,
        "leadTimeWorkingDays": o.lead_time_days,
        "companyServiceId": o.company_service_id,
        "allocatedTo": o.allocated_to,
        "orderDate": rfc3339(o.order_date),
        "lcpDecisionDate": rfc3339(o.lcp_decision_at),
        "activationDate": o.activation_date.map(rfc3339),
        "completionDate": o.completion_date.map(rfc3339),
        "relatedParty": o.related_party,
        "productOrderItem": items(o),
    })
}

/// The `productOrder` of a notification about `o`.
pub fn event_order(o: &ImportOrder) -> Value {
    let items: Vec<Value> = items(o)
        .into_iter()
        .map(|i| json!({"id": i["id"], "action": i["action"], "state": i["state"]}))
        .collect();
    json!({
        "id": o.id,
        "externalId": o.external_id,
        "@type": "NumberImportOrder",
        "state": o.state.as_str(),
        "importType": o.import_type.as_str(),
        "portDate": o.port_date.to_string(),
        "confirmedPortDate": date(o.confirmed_port_date),
        "lcpStatus": o.lcp_status.as_str(),
        "rejectionReason": o.rejection_reason,
        "productOrderItem": items,
    })
}

/// Queues `event_type` about import order `id` (nothing if it is gone).
pub fn notify(
    ports: &Ports,
    outbox: &mut Vec<Notification>,
    id: &str,
    event_type: &str,
    at: DateTime<Utc>,
) {
    if let Some(o) = ports.orders.get(id) {
        let order = event_order(o);
        queue_event_at(outbox, at, event_type, order);
    }
}

/// Applies due LCP decisions, each order by its own clock's now (called from the clock tick and
/// before porting requests). Returns whether anything changed.
pub fn advance(
    ports: &mut Ports,
    numbers: &mut Numbers,
    outbox: &mut Vec<Notification>,
    nows: &Nows,
) -> bool {
    let due: Vec<String> = ports
        .orders
        .values()
        .filter(|o| {
            o.state.is_open()
                && o.lcp_status == LcpStatus::Pending
                && o.lcp_decision_at <= nows.of(o.clock.as_deref())
        })
        .map(|o| o.id.clone())
        .collect();
    for id in &due {
        let Some(o) = ports.orders.get(id) else {
            continue;
        };
        let decision = lcp_decision(ports, numbers, o);
        let at = o.lcp_decision_at;
        let Some(o) = ports.orders.get_mut(id) else {
            continue;
        };
        match decision {
            Ok(()) => {
                o.lcp_status = LcpStatus::Accepted;
                o.confirmed_port_date = Some(o.port_date);
                // Never backwards: an amended order that was already inProgress stays there.
                o.state = o.state.max(ImportState::InProgress);
                notify(ports, outbox, id, "portLcpAccepted", at);
                notify(ports, outbox, id, "portDateConfirmed", at);
            }
            Err(reason) => {
                o.lcp_status = LcpStatus::Rejected;
                o.rejection_reason = Some(reason.to_string());
                o.state = ImportState::Rejected;
                release_allocation(ports, numbers, id);
                notify(ports, outbox, id, "portLcpRejected", at);
            }
        }
    }
    !due.is_empty()
}

/// Drops the ringfenced (not yet used, not yet active) ported numbers of import order `id`.
pub fn release_allocation(ports: &mut Ports, inventory: &mut Numbers, id: &str) {
    let Some(o) = ports.orders.get_mut(id) else {
        return;
    };
    let Some(company) = o.allocated_to.take() else {
        return;
    };
    let numbers = o.numbers.clone();
    for n in numbers {
        let free = inventory.get(&n).is_some_and(|r| {
            r.kind == "ported"
                && r.status == NumberStatus::Ringfenced
                && r.order_id.is_none()
                && r.company_service_id == company
        });
        if free {
            inventory.remove(&n);
        }
    }
}
