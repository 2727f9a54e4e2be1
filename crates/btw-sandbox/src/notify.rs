//! Outbound order notifications: the event envelope BT POSTs to a reseller's callback URL.
//!
//! Producers (WHC order transitions, port milestones, Ethernet orders) call [`queue_event`] with the
//! world locked; the event waits in `World::outbox` until the delivery task ([`spawn_delivery`])
//! takes it, POSTs it with HTTP Basic auth and retries with exponential backoff. The world lock is
//! only taken briefly between awaits, never held across one.

use super::routes::rfc3339;
use super::state::{OrderState, OrderTransition, SandboxState, World};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Attempts per delivery before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first retry delay; it doubles after each failed attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Per-attempt HTTP timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `reorder` mode gathers events into one batch.
pub const REORDER_WINDOW: Duration = Duration::from_millis(300);
/// Delivery records kept for `GET /__sandbox/notifications`.
pub const DELIVERY_LIMIT: usize = 1000;

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

    fn order_id(&self) -> Option<String> {
        self.event
            .pointer("/productOrder/id")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// Where BT delivers, and how it authenticates there (HTTP Basic with the reseller's credentials).
#[derive(Clone, Serialize, Deserialize)]
pub struct Callback {
    pub url: String,
    pub username: String,
    pub password: String,
}

// Hand-written so the password never reaches a log line.
impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

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
            "state": self.state,
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
        })
    }
}

/// Registration, test settings and the delivery log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotifyState {
    pub callback: Option<Callback>,
    pub duplicate: bool,
    pub reorder: bool,
    pub deliveries: Vec<Delivery>,
    pub next_key: u64,
}

/// Queues one notification (`eventType` with `event.productOrder`) stamped with the sandbox
/// clock, for delivery to the registered callback.
pub fn queue_event(world: &mut World, event_type: &str, product_order: serde_json::Value) {
    let at = world.now();
    queue_event_at(world, at, event_type, product_order);
}

/// Like [`queue_event`], for a milestone that happened at `at` (e.g. a clock-driven step that
/// the tick applies a little later).
pub fn queue_event_at(
    world: &mut World,
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
    world.outbox.push(note);
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
pub fn on_order_transition(world: &mut World, t: &OrderTransition) {
    let Some(event_type) = whc_event_type(t.to) else {
        return;
    };
    let Some(order) = world.orders.get(&t.order_id) else {
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
        queue_event_at(world, t.at, kind, order);
    }
}

/// One delivery to make: the record's key and the body.
struct Job {
    key: u64,
    body: Value,
}

/// Takes the queued events as one batch (applying the duplicate/reorder settings) and records a
/// pending delivery for each copy. Without a callback the events are dropped.
fn take_batch(w: &mut World) -> Vec<Job> {
    let mut events = std::mem::take(&mut w.outbox);
    if w.notify.callback.is_none() {
        return Vec::new();
    }
    if w.notify.reorder {
        events.reverse();
    }
    let mut copies: Vec<(u8, Notification)> = events.iter().cloned().map(|e| (1, e)).collect();
    if w.notify.duplicate {
        copies.extend(events.into_iter().map(|e| (2, e)));
    }
    let mut jobs = Vec::with_capacity(copies.len());
    for (copy, e) in copies {
        let key = w.notify.next_key;
        w.notify.next_key += 1;
        w.notify.deliveries.push(Delivery {
            key,
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            event_time: e.event_time,
            order_id: e.order_id(),
            copy,
            state: "pending".into(),
            attempts: 0,
            last_status: None,
            last_error: None,
        });
        jobs.push(Job {
            key,
            body: e.envelope(),
        });
    }
    let len = w.notify.deliveries.len();
    if len > DELIVERY_LIMIT {
        w.notify.deliveries.drain(..len - DELIVERY_LIMIT);
    }
    jobs
}

/// Updates a delivery record (it may be gone after a reset: then nothing happens).
fn record(state: &SandboxState, key: u64, f: impl FnOnce(&mut Delivery)) {
    state.with_world(|w| {
        if let Some(d) = w.notify.deliveries.iter_mut().find(|d| d.key == key) {
            f(d);
        }
    });
}

/// The delay before retry number `attempt` (1-based count of failed attempts so far).
pub fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1).min(16))
}

async fn deliver(state: &SandboxState, client: &reqwest::Client, job: Job) {
    for attempt in 1..=MAX_ATTEMPTS {
        // Re-read each time: a removed (or replaced) registration applies to pending retries.
        let Some(cb) = state.with_world(|w| w.notify.callback.clone()) else {
            record(state, job.key, |d| {
                d.state = "failed".into();
                d.last_error = Some("callback removed".into());
            });
            return;
        };
        let result = client
            .post(&cb.url)
            .basic_auth(&cb.username, Some(&cb.password))
            .json(&job.body)
            .send()
            .await;
        let (status, error) = match result {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(without_url(&e))),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        record(state, job.key, |d| {
            d.attempts = attempt;
            d.last_status = status;
            d.last_error = error.clone();
            if ok {
                d.state = "delivered".into();
            } else if attempt == MAX_ATTEMPTS {
                d.state = "failed".into();
            }
        });
        if ok {
            return;
        }
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    tracing::warn!("sandbox: gave up delivering a notification after {MAX_ATTEMPTS} attempts");
}

/// The error text without the URL (it could carry credentials in its userinfo).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_string()
}

async fn delivery_loop(state: SandboxState) {
    let client = match reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("sandbox: notifications disabled, no HTTP client: {e}");
            return;
        }
    };
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (waiting, reorder) = state.with_world(|w| (!w.outbox.is_empty(), w.notify.reorder));
        if !waiting {
            continue;
        }
        if reorder {
            // Let a few events gather, so there is something to reorder.
            tokio::time::sleep(REORDER_WINDOW).await;
        }
        let jobs = state.with_world(take_batch);
        for job in jobs {
            deliver(&state, &client, job).await;
        }
    }
}

/// The running delivery task; dropping it stops the task.
pub struct DeliveryTask(JoinHandle<()>);

impl Drop for DeliveryTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts delivering queued notifications for `state` (on the current tokio runtime).
pub fn spawn_delivery(state: SandboxState) -> DeliveryTask {
    DeliveryTask(tokio::spawn(delivery_loop(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(7), Duration::from_millis(12_800));
    }

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

    #[test]
    fn batches_follow_the_settings() {
        let mut w = World::seed(0.0);
        queue_event(&mut w, "a", json!({"id": "X1"}));
        assert!(take_batch(&mut w).is_empty(), "no callback: dropped");
        assert!(w.outbox.is_empty());
        w.notify.callback = Some(Callback {
            url: "http://127.0.0.1:9/".into(),
            username: "u".into(),
            password: "secret".into(),
        });
        assert!(!format!("{:?}", w.notify).contains("secret"));
        w.notify.duplicate = true;
        w.notify.reorder = true;
        queue_event(&mut w, "a", json!({"id": "X1"}));
        queue_event(&mut w, "b", json!({"id": "X1"}));
        let jobs = take_batch(&mut w);
        let types: Vec<&str> = jobs
            .iter()
            .map(|j| j.body["eventType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["b", "a", "b", "a"]);
        assert_eq!(jobs[0].body["eventId"], jobs[2].body["eventId"]);
        assert_eq!(w.notify.deliveries.len(), 4);
        assert_eq!(w.notify.deliveries[0].order_id.as_deref(), Some("X1"));
    }
}
