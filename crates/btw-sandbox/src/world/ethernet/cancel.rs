//! Cancelling an Ethernet order: a TMF622 `cancelProductOrder` is a resource of its own (its
//! id, a task state, the `cancellationReason`), and a provide has a point of no return once its
//! installation is close (CONTRACT.md: cancel).

use super::records::{EthOrder, EthOrderState, EthernetWorld, OrderAction};
use crate::error::ApiError;
use crate::wire::rfc3339;
use crate::world::calendar::add_working_days;
use crate::world::outbox::Notification;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::London;
use serde_json::{json, Value};

pub const CANCEL_PATH: &str = "/tmf-api/productOrderingManagement/v4/cancelProductOrder";
/// Working days before an engineer visit within which a provide can no longer be cancelled.
pub const NO_RETURN_WORKING_DAYS: u32 = 2;

/// The UK calendar day of `t`.
fn london_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&London).date_naive()
}

/// Why `o` is past its point of no return at `now`, if it is: a provide whose engineer visit is
/// within two working days, or (without a visit) whose installation has been scheduled.
pub fn past_point_of_no_return(
    w: &EthernetWorld,
    o: &EthOrder,
    now: DateTime<Utc>,
) -> Option<String> {
    if o.action != OrderAction::Add {
        return None;
    }
    let visit = o
        .appointment_id
        .as_ref()
        .and_then(|a| w.appointments.get(a));
    match visit {
        Some(v) => {
            let limit = add_working_days(london_date(now), NO_RETURN_WORKING_DAYS);
            (london_date(v.start) <= limit).then(|| {
                format!(
                    "Order {} cannot be cancelled: its engineer visit on {} is within {NO_RETURN_WORKING_DAYS} working days",
                    o.id,
                    london_date(v.start)
                )
            })
        }
        None => o.reached("installationScheduled").then(|| {
            format!(
                "Order {} cannot be cancelled: its installation is scheduled",
                o.id
            )
        }),
    }
}

impl EthernetWorld {
    /// Cancels open order `id` for `reason`, freeing its quote item and visit; returns the
    /// cancel request as answered (and kept for `GET`).
    pub fn cancel(
        &mut self,
        outbox: &mut Vec<Notification>,
        now: DateTime<Utc>,
        id: &str,
        reason: Option<String>,
    ) -> Result<Value, ApiError> {
        let o = self
            .orders
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("No order {id}")))?;
        if !o.state.is_open() {
            return Err(ApiError::business(
                "OrderNotCancellable",
                format!("Order {id} is {}", o.state.as_str()),
            ));
        }
        if let Some(why) = past_point_of_no_return(self, o, now) {
            return Err(ApiError::business("PointOfNoReturn", why));
        }
        if let Some(o) = self.orders.get_mut(id) {
            o.state = EthOrderState::Cancelled;
            o.next_due = None;
            o.completion_date = Some(now);
            o.cancellation_reason = reason.clone();
        }
        self.release_appointment(id);
        self.release_quote(id);
        self.notify(outbox, now, "orderCancelled", id);
        self.counters.cancel += 1;
        let cancel_id = format!("CPO{:06}", self.counters.cancel);
        let rendered = json!({
            "id": cancel_id,
            "href": format!("{CANCEL_PATH}/{cancel_id}"),
            "@type": "CancelProductOrder",
            "state": "done",
            "cancellationReason": reason,
            "requestedCancellationDate": rfc3339(now),
            "effectiveCancellationDate": rfc3339(now),
            "productOrder": {
                "id": id,
                "href": format!("/tmf-api/productOrderingManagement/v4/productOrder/{id}"),
                "@referredType": "ProductOrder",
            },
        });
        self.cancels.insert(cancel_id, rendered.clone());
        Ok(rendered)
    }
}
