//! The outbox of order notifications: the event envelope BT POSTs to a reseller's callback URL,
//! the registration and the delivery log.
//!
//! Producers (WHC order transitions, port milestones, Ethernet orders) queue events here with the
//! world locked; they wait in `World::outbox` until the
//! delivery task takes them.

use super::model::{Order, OrderState, OrderTransition};
use crate::wire::rfc3339;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One notification in BT's envelope shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_type: String,
    /// `{"productOrder": {...}}`.
    pub event: serde_json::Value,
}

impl Notification {
    /// The JSON body that is POSTed.
    pub fn envelope(&self) -> Value {
        json!({
            "eventId": self.event_id,
            "eventTime": rfc3339(self.event_time),
            "eventType": self.event_type,
            "event": self.event,
        })
    }

    pub fn order_id(&self) -> Option<String> {
        self.event
            .pointer("/productOrder/id")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

pub use super::subscriptions::Callback;

/// One delivery (one copy of one event) and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Internal key, so the task can update its record after the world lock was released.
    pub key: u64,
    pub event_id: String,
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    pub order_id: Option<String>,
    pub copy: u8,
    /// The subscription it is for; `None`: the reseller's callback.
    #[serde(default)]
    pub subscription: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl Delivery {
    pub fn render(&self) -> Value {
        json!({
            "eventId": self.event_id,
            "eventType": self.event_type,
            "eventTime": rfc3339(self.event_time),
            "orderId": self.order_id,
            "copy": self.copy,
            "subscription": self.subscription,
            "state": self.state,
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
        })
    }
}

/// Registration, subscriptions, test settings and the delivery log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotifyState {
    pub callback: Option<Callback>,
    /// Events waiting for the callback, oldest first.
    #[serde(default)]
    pub callback_queue: std::collections::VecDeque<super::subscriptions::Queued>,
    /// By id (see `subscriptions.rs`).
    #[serde(default)]
    pub subscriptions: std::collections::BTreeMap<String, super::subscriptions::Subscription>,
    pub duplicate: bool,
    pub reorder: bool,
    pub deliveries: Vec<Delivery>,
    pub next_key: u64,
}

/// Queues one notification (`eventType` with `event.productOrder`) that happened at `at` (the
/// sandbox clock's now, or a clock-driven step the tick applies a little later), for delivery to
/// the registered callback.
pub fn queue_event_at(
    outbox: &mut Vec<Notification>,
    at: DateTime<Utc>,
    event_type: &str,
    product_order: serde_json::Value,
) {
    let note = Notification {
        event_id: uuid::Uuid::new_v4().to_string(),
        event_time: at,
        event_type: event_type.to_string(),
        event: serde_json::json!({ "productOrder": product_order }),
    };
    outbox.push(note);
}

/// The event type for a WHC order entering `to` (`None`: no event, e.g. created but not submitted).
pub fn whc_event_type(to: OrderState) -> Option<&'static str> {
    // By name, so states added later (rejected, failed) map without touching this file's callers.
    Some(match to.as_str() {
        "acknowledged" => "orderAcknowledged",
        "inProgress" => "orderInProgress",
        "completed" => "orderComplete",
        "cancelled" => "orderCancelled",
        "rejected" => "orderRejected",
        "failed" => "orderFailed",
        _ => return None,
    })
}

/// Queues the notifications for a WHC product order's state change (called from
/// `World::transition`): on completion one `orderLineComplete` per item, then `orderComplete`.
pub fn on_order_transition(outbox: &mut Vec<Notification>, order: &Order, t: &OrderTransition) {
    let Some(event_type) = whc_event_type(t.to) else {
        return;
    };
    let state = t.to.as_str();
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|i| json!({"id": i.id, "action": i.action, "state": state}))
        .collect();
    let base = json!({
        "id": order.id,
        "externalId": order.external_id,
        "@type": "ProductOrder",
        "state": state,
    });
    let with_items = |items: Vec<Value>| {
        let mut v = base.clone();
        v["productOrderItem"] = Value::Array(items);
        v
    };
    let mut events = Vec::new();
    if t.to == OrderState::Completed {
        for item in &items {
            events.push(("orderLineComplete", with_items(vec![item.clone()])));
        }
    }
    events.push((event_type, with_items(items)));
    for (kind, order) in events {
        queue_event_at(outbox, t.at, kind, order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whc_event_names() {
        assert_eq!(whc_event_type(OrderState::Pending), None);
        assert_eq!(
            whc_event_type(OrderState::Acknowledged),
            Some("orderAcknowledged")
        );
        assert_eq!(whc_event_type(OrderState::Completed), Some("orderComplete"));
        assert_eq!(
            whc_event_type(OrderState::Cancelled),
            Some("orderCancelled")
        );
    }
}
