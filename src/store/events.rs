//! Order notifications: stored once per event id, the furthest state kept per order, and an
//! in-process feed that wakes scripts waiting for an event.

use super::exec::args;
use super::model::{state_rank, Notification};
use super::{now_rfc3339, Store, StoreError};
use serde_json::Value;
use tokio::sync::broadcast;

impl Store {
    /// Stores a notification unless its event id is known; returns whether it was new.
    /// Also advances the order's furthest state when the event carries a later one.
    pub fn record_notification(&self, n: &Notification) -> Result<bool, StoreError> {
        self.in_transaction(|x| {
            let inserted = x.execute(
                "INSERT INTO notifications (event_id, order_id, event_type, event_time, state,
                   received_at, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
                args![
                    &n.event_id,
                    &n.order_id,
                    &n.event_type,
                    &n.event_time,
                    &n.state,
                    now_rfc3339(),
                    n.body.to_string()
                ],
            )? == 1;
            let rank = n.state.as_deref().map(state_rank).unwrap_or(0);
            if inserted && rank > 0 {
                x.execute(
                    "INSERT INTO order_states (order_id, state, rank, event_time, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (order_id) DO UPDATE SET state = excluded.state,
                       rank = excluded.rank, event_time = excluded.event_time,
                       updated_at = excluded.updated_at
                     WHERE excluded.rank > order_states.rank",
                    args![&n.order_id, &n.state, rank, &n.event_time, now_rfc3339()],
                )?;
            }
            Ok(inserted)
        })
    }

    /// The first stored event of `event_type` for an order.
    pub fn find_notification(
        &self,
        order_id: &str,
        event_type: &str,
    ) -> Result<Option<Value>, StoreError> {
        let body = self.with(|x| {
            x.text_opt(
                "SELECT body FROM notifications WHERE order_id = $1 AND event_type = $2
                 ORDER BY received_at, {seq} LIMIT 1",
                args![order_id, event_type],
            )
        })?;
        Ok(body.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The furthest state the notifications have told of an order.
    pub fn order_state(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        self.with(|x| {
            x.text_opt(
                "SELECT state FROM order_states WHERE order_id = $1",
                args![order_id],
            )
        })
    }

    /// How many notifications are stored for an order (all types).
    pub fn notification_count(&self, order_id: &str) -> Result<u64, StoreError> {
        self.with(|x| {
            x.count(
                "SELECT COUNT(*) FROM notifications WHERE order_id = $1",
                args![order_id],
            )
        })
    }
}

/// Stored notifications plus a feed of the new ones, for waiters in this process.
#[derive(Clone, Debug)]
pub struct EventHub {
    pub store: Store,
    tx: broadcast::Sender<Notification>,
}

impl EventHub {
    pub fn new(store: Store) -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventHub { store, tx }
    }

    /// Stores a notification; a new one is announced to subscribers. Returns whether it was new.
    pub fn record(&self, n: Notification) -> Result<bool, StoreError> {
        let new = self.store.record_notification(&n)?;
        crate::metrics::event_received(!new);
        if new {
            let _ = self.tx.send(n);
        }
        Ok(new)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    fn event(id: &str, order: &str, ty: &str, state: &str) -> Notification {
        Notification::from_envelope(
            json!({"eventId": id, "eventTime": "2026-11-22T10:00:00Z", "eventType": ty,
            "event": {"productOrder": {"id": order, "state": state}}}),
        )
        .unwrap()
    }

    #[test]
    fn duplicates_are_stored_once_and_states_never_go_back() {
        each_backend(|s| {
            let hub = EventHub::new(s);
            let mut rx = hub.subscribe();
            assert!(hub
                .record(event("e1", "O1", "orderAcknowledged", "acknowledged"))
                .unwrap());
            assert!(hub
                .record(event("e3", "O1", "orderComplete", "completed"))
                .unwrap());
            assert!(!hub
                .record(event("e3", "O1", "orderComplete", "completed"))
                .unwrap());
            // Arriving late: inProgress after completed must not move the order back.
            assert!(hub
                .record(event("e2", "O1", "orderInProgress", "inProgress"))
                .unwrap());
            assert_eq!(
                hub.store.order_state("O1").unwrap().as_deref(),
                Some("completed")
            );
            assert_eq!(hub.store.notification_count("O1").unwrap(), 3);
            let mut seen = Vec::new();
            while let Ok(n) = rx.try_recv() {
                seen.push(n.event_id);
            }
            assert_eq!(seen, ["e1", "e3", "e2"]);
            assert!(hub
                .store
                .find_notification("O1", "orderComplete")
                .unwrap()
                .is_some());
        });
    }

    #[test]
    fn envelopes_must_carry_their_keys() {
        let err = Notification::from_envelope(
            json!({"eventId": "x", "eventType": "t", "eventTime": "n"}),
        )
        .unwrap_err();
        assert!(err.contains("event.productOrder.id"), "{err}");
    }
}
