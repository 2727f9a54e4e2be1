//! How Ethernet orders move: notifications, releasing holds, and the steps an order takes on the
//! order's clock until it completes (and changes the inventory).

use super::records::*;
use crate::world::clock::{secs_f64, Nows};
use crate::world::outbox::{queue_event_at, Notification};
use chrono::{DateTime, Duration, Utc};

// ---------------------------------------------------------------------------------------------
// Notifications and progress
// ---------------------------------------------------------------------------------------------

impl EthernetWorld {
    /// Queues a notification, stamped `now`, for an order state change or milestone (CONTRACT.md:
    /// notifications).
    pub fn notify(
        &self,
        outbox: &mut Vec<Notification>,
        now: DateTime<Utc>,
        event_type: &str,
        order_id: &str,
    ) {
        let Some(order) = self.orders.get(order_id) else {
            return;
        };
        queue_event_at(outbox, now, event_type, order.render());
    }

    /// Ends an order's hold on its appointment (cancelled/failed orders give the slot back).
    pub fn release_appointment(&mut self, order_id: &str) {
        let appointment = self
            .orders
            .get(order_id)
            .and_then(|o| o.appointment_id.clone());
        if let Some(a) = appointment.and_then(|id| self.appointments.get_mut(&id)) {
            if a.status.holds_slot() && a.status != AppointmentStatus::Completed {
                a.status = AppointmentStatus::Cancelled;
            }
        }
    }

    /// Frees the quote item a provide took, so it can be ordered again.
    pub fn release_quote(&mut self, order_id: &str) {
        let quote = self.orders.get(order_id).and_then(|o| o.quote.clone());
        if let Some((q, i)) = quote {
            if let Some(item) = self
                .quotes
                .get_mut(&q)
                .and_then(|q| q.items.iter_mut().find(|it| it.id == i))
            {
                if item.ordered_by.as_deref() == Some(order_id) {
                    item.ordered_by = None;
                }
            }
        }
    }
}

/// What one step of an order does.
enum Step {
    Accept,
    Fail,
    Milestone(&'static str),
    Complete(&'static str),
}

fn step_for(order: &EthOrder) -> Option<Step> {
    let later = order.action.later_milestones();
    match order.stage {
        0 => Some(Step::Accept),
        // The sandbox's documented failure trigger, at the second step.
        1 if order
            .external_id
            .as_deref()
            .is_some_and(|x| x.starts_with("fail-")) =>
        {
            Some(Step::Fail)
        }
        n if n < later.len() => Some(Step::Milestone(later[n - 1])),
        n if n == later.len() => Some(Step::Complete(later[n - 1])),
        _ => None,
    }
}

impl EthernetWorld {
    /// Moves Ethernet orders (and lapsed appointments) along, each up to its own clock's now, one
    /// `step_secs` between steps. Returns whether anything changed.
    /// Events go to `outbox`, stamped with the order's clock's now.
    pub fn advance(&mut self, outbox: &mut Vec<Notification>, nows: &Nows, step_secs: f64) -> bool {
        let step = secs_f64(step_secs);
        let mut changed = false;
        let due: Vec<(String, DateTime<Utc>)> = self
            .orders
            .values()
            .filter_map(|o| {
                let now = nows.of(o.clock.as_deref());
                (o.state.is_open() && o.next_due.is_some_and(|d| d <= now))
                    .then(|| (o.id.clone(), now))
            })
            .collect();
        for (id, now) in due {
            // Bounded: every pass advances `stage` or waits for the visit, and there are at most
            // five steps.
            for _ in 0..10 {
                let Some(order) = self.orders.get(&id) else {
                    break;
                };
                let Some(at) = order.next_due.filter(|d| *d <= now) else {
                    break;
                };
                if order.stage >= 1 && !order.open_actions.is_empty() {
                    // Held until an amend closes the open action.
                    if let Some(o) = self.orders.get_mut(&id) {
                        o.next_due = None;
                    }
                    break;
                }
                let Some(step_kind) = step_for(order) else {
                    break;
                };
                if let Some(visit_end) = self.visit_pending(order, &step_kind, at) {
                    // Live only after the engineer's visit: wait for its slot to pass.
                    if let Some(o) = self.orders.get_mut(&id) {
                        o.next_due = Some(visit_end);
                    }
                    continue;
                }
                self.apply_step(outbox, now, &id, step_kind, at, step);
                changed = true;
            }
        }
        let lapsed: Vec<String> = self
            .appointments
            .values()
            .filter(|a| {
                a.status == AppointmentStatus::Confirmed
                    && a.order_id.is_none()
                    && a.end <= nows.of(a.clock.as_deref())
            })
            .map(|a| a.id.clone())
            .collect();
        for id in lapsed {
            if let Some(a) = self.appointments.get_mut(&id) {
                a.status = AppointmentStatus::Failed;
                changed = true;
            }
        }
        changed
    }

    /// Counts, by `count`, the open orders and booked appointments on each run clock.
    pub fn open_clocks(&self, nows: &Nows, count: &mut impl FnMut(&Option<String>)) {
        self.orders
            .values()
            .filter(|o| o.state.is_open())
            .for_each(|o| count(&o.clock));
        self.appointments
            .values()
            .filter(|a| a.status.holds_slot() && a.end > nows.of(a.clock.as_deref()))
            .for_each(|a| count(&a.clock));
    }

    /// When `step` would put a GEA service live at `at` before its engineer's slot has ended:
    /// that slot's end (CONTRACT.md: GEA goes live after the visit).
    fn visit_pending(
        &self,
        order: &EthOrder,
        step: &Step,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if !matches!(step, Step::Complete(_)) {
            return None;
        }
        let visit = order
            .appointment_id
            .as_ref()
            .and_then(|a| self.appointments.get(a))?;
        (visit.end > at).then_some(visit.end)
    }

    fn apply_step(
        &mut self,
        outbox: &mut Vec<Notification>,
        now: DateTime<Utc>,
        id: &str,
        kind: Step,
        at: DateTime<Utc>,
        step: Duration,
    ) {
        let Some(order) = self.orders.get_mut(id) else {
            return;
        };
        order.stage += 1;
        order.next_due = Some(at + step);
        let events: &[&str] = match kind {
            Step::Accept => {
                order.state = EthOrderState::InProgress;
                order.milestones.push(Milestone {
                    name: "orderAccepted".into(),
                    at,
                });
                &["orderInProgress", "orderMilestone"]
            }
            Step::Milestone(name) => {
                order.milestones.push(Milestone {
                    name: name.into(),
                    at,
                });
                &["orderMilestone"]
            }
            Step::Fail => {
                order.state = EthOrderState::Failed;
                order.next_due = None;
                order.completion_date = Some(at);
                self.release_appointment(id);
                self.release_quote(id);
                &["orderFailed"]
            }
            Step::Complete(name) => {
                order.milestones.push(Milestone {
                    name: name.into(),
                    at,
                });
                order.state = EthOrderState::Completed;
                order.next_due = None;
                order.completion_date = Some(at);
                self.complete(id, at);
                // As for WHC (BT_API.md: Ethernet notifications are "as WHC"): the one line
                // completes, then the order.
                &["orderMilestone", "orderLineComplete", "orderComplete"]
            }
        };
        for event in events {
            self.notify(outbox, now, event, id);
        }
    }

    /// A completed order's effect on the inventory.
    fn complete(&mut self, id: &str, at: DateTime<Utc>) {
        let Some(order) = self.orders.get(id).cloned() else {
            return;
        };
        match order.action {
            OrderAction::Add => {
                let service_id = self.next_service_id();
                self.services.insert(
                    service_id.clone(),
                    Service {
                        id: service_id.clone(),
                        product: order.product,
                        places: order.places.clone(),
                        kbps: order.kbps,
                        term: order.term,
                        status: ServiceStatus::Active,
                        start: at,
                        terminated: None,
                        orders: vec![(order.id.clone(), OrderAction::Add)],
                    },
                );
                if let Some(o) = self.orders.get_mut(id) {
                    o.service_id = Some(service_id);
                }
                if let Some(a) = order
                    .appointment_id
                    .and_then(|a| self.appointments.get_mut(&a))
                {
                    a.status = AppointmentStatus::Completed;
                }
            }
            OrderAction::Modify | OrderAction::Delete => {
                let Some(s) = order.service_id.and_then(|s| self.services.get_mut(&s)) else {
                    return;
                };
                s.orders.push((order.id.clone(), order.action));
                if order.action == OrderAction::Modify {
                    s.kbps = order.kbps;
                } else {
                    s.status = ServiceStatus::Ceased;
                    s.terminated = Some(at);
                }
            }
        }
    }
}
