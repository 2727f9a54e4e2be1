//! Rescheduling a GEA engineer visit (TMF646: a searched slot is used "to create or reschedule
//! an appointment"): the appointment moves to another free slot, and the order holding it
//! follows the new visit.

use super::availability::{first_bookable_day, Slot};
use super::records::{AppointmentStatus, EthernetWorld};
use crate::error::ApiError;
use crate::world::outbox::Notification;
use chrono::{DateTime, Utc};

/// Event sent to the callback for the order whose visit moved.
pub const RESCHEDULED_EVENT: &str = "appointmentRescheduled";

impl EthernetWorld {
    /// Moves confirmed appointment `id` to `slot`, if its visit has not started and the slot is
    /// bookable and free at its place; notifies the order holding it.
    pub fn reschedule(
        &mut self,
        outbox: &mut Vec<Notification>,
        now: DateTime<Utc>,
        id: &str,
        slot: Slot,
    ) -> Result<(), ApiError> {
        let refuse = |reason: &str, why: String| Err(ApiError::business(reason, why));
        let Some(a) = self.appointments.get(id) else {
            return Err(ApiError::not_found(format!("No appointment {id}")));
        };
        if a.status == AppointmentStatus::Confirmed && a.slot_id == slot.id() {
            // Already there: a repeated request changes nothing.
            return Ok(());
        }
        if a.status != AppointmentStatus::Confirmed {
            return refuse(
                "AppointmentNotReschedulable",
                format!("Appointment {id} is {}", a.status.as_str()),
            );
        }
        if a.start <= now {
            return refuse(
                "AppointmentNotReschedulable",
                format!("The visit of appointment {id} has started"),
            );
        }
        let first = first_bookable_day(now);
        if slot.date < first {
            return refuse(
                "SlotUnavailable",
                format!(
                    "Slot {} is before the first bookable day {first}",
                    slot.id()
                ),
            );
        }
        let postcode = a.place.postcode.clone();
        if self.slot_taken(&postcode, slot) {
            return refuse(
                "SlotUnavailable",
                format!("Slot {} is already booked at {postcode}", slot.id()),
            );
        }
        let order_id = a.order_id.clone();
        if let Some(a) = self.appointments.get_mut(id) {
            a.start = slot.start();
            a.end = slot.end();
            a.slot_id = slot.id();
        }
        if let Some(o) = order_id.as_ref().and_then(|o| self.orders.get_mut(o)) {
            // An order waiting for the old visit waits for the new one instead.
            o.next_due = o.next_due.map(|d| d.min(slot.end()));
        }
        if let Some(o) = order_id {
            self.notify(outbox, now, RESCHEDULED_EVENT, &o);
        }
        Ok(())
    }
}
