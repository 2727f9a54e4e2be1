//! Delivery of queued notifications: takes events from the world's outbox, queues a copy for the
//! registered callback and for every subscription that wants it, and runs one worker per
//! listener that POSTs its queue in order with HTTP Basic auth, retrying with exponential backoff.
//! Listeners never wait for each other. The world lock is only taken briefly between awaits.

use crate::state::SandboxState;
use crate::world::outbox::{Callback, Delivery, Notification};
use crate::world::subscriptions::Queued;
use crate::world::World;
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Attempts per delivery to the callback before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first retry delay; it doubles after each failed attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between attempts to a subscriber, so one that comes back hears soon.
pub const MAX_SUBSCRIBER_BACKOFF: Duration = Duration::from_secs(5);
/// Per-attempt HTTP timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `reorder` mode gathers events into one batch.
pub const REORDER_WINDOW: Duration = Duration::from_millis(300);
/// Delivery records kept for `GET /__sandbox/notifications`.
pub const DELIVERY_LIMIT: usize = 1000;

/// Who an event goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Listener {
    /// The reseller's one callback (BT's model).
    Callback,
    /// A subscription, by id.
    Subscription(String),
}

fn new_record(w: &mut World, e: &Notification, copy: u8, subscription: Option<String>) -> u64 {
    let key = w.notify.next_key;
    w.notify.next_key += 1;
    w.notify.deliveries.push(Delivery {
        key,
        event_id: e.event_id.clone(),
        event_type: e.event_type.clone(),
        event_time: e.event_time,
        order_id: e.order_id(),
        copy,
        subscription,
        state: "pending".into(),
        attempts: 0,
        last_status: None,
        last_error: None,
    });
    key
}

/// Takes the queued events as one batch (applying the duplicate/reorder settings) and queues a
/// copy, with a pending delivery record, for each listener that wants it. Events nobody
/// listens for are dropped.
fn take_batch(w: &mut World) {
    let mut events = std::mem::take(&mut w.outbox);
    if w.notify.callback.is_none() && w.notify.subscriptions.is_empty() {
        return;
    }
    if w.notify.reorder {
        events.reverse();
    }
    let mut copies: Vec<(u8, Notification)> = events.iter().cloned().map(|e| (1, e)).collect();
    if w.notify.duplicate {
        copies.extend(events.into_iter().map(|e| (2, e)));
    }
    for (copy, e) in copies {
        let body = e.envelope();
        if w.notify.callback.is_some() {
            let key = new_record(w, &e, copy, None);
            let body = body.clone();
            w.notify.callback_queue.push_back(Queued { key, body });
        }
        let order_id = e.order_id();
        let ids: Vec<String> = w
            .notify
            .subscriptions
            .values()
            .filter(|s| s.wants(order_id.as_deref()))
            .map(|s| s.id.clone())
            .collect();
        for id in ids {
            let key = new_record(w, &e, copy, Some(id.clone()));
            let body = body.clone();
            let dropped = w
                .notify
                .subscriptions
                .get_mut(&id)
                .and_then(|s| s.push(Queued { key, body }));
            if let Some(old) = dropped {
                mark(w, old.key, |d| {
                    d.state = "failed".into();
                    d.last_error = Some("queue full".into());
                });
            }
        }
    }
    let len = w.notify.deliveries.len();
    if len > DELIVERY_LIMIT {
        w.notify.deliveries.drain(..len - DELIVERY_LIMIT);
    }
}

/// Updates a delivery record (it may be gone after a reset: then nothing happens).
fn mark(w: &mut World, key: u64, f: impl FnOnce(&mut Delivery)) {
    if let Some(d) = w.notify.deliveries.iter_mut().find(|d| d.key == key) {
        f(d);
    }
}

/// The listener's registration and the event at the head of its queue; `None` when it is gone
/// or has nothing to deliver.
fn head(w: &World, who: &Listener) -> Option<(Callback, Queued)> {
    match who {
        Listener::Callback => Some((
            w.notify.callback.clone()?,
            w.notify.callback_queue.front()?.clone(),
        )),
        Listener::Subscription(id) => {
            let s = w.notify.subscriptions.get(id)?;
            Some((s.callback.clone(), s.queue.front()?.clone()))
        }
    }
}

/// Takes the delivered (or given up) event off the head of the listener's queue.
fn pop(w: &mut World, who: &Listener, key: u64) {
    let queue = match who {
        Listener::Callback => &mut w.notify.callback_queue,
        Listener::Subscription(id) => match w.notify.subscriptions.get_mut(id) {
            Some(s) => &mut s.queue,
            None => return,
        },
    };
    if queue.front().is_some_and(|q| q.key == key) {
        queue.pop_front();
    }
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

/// One POST; the receiver's status or why there was none.
async fn post(
    client: &reqwest::Client,
    cb: &Callback,
    body: &serde_json::Value,
) -> (Option<u16>, Option<String>) {
    let result = client
        .post(&cb.url)
        .basic_auth(&cb.username, Some(&cb.password))
        .json(body)
        .send()
        .await;
    match result {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(without_url(&e))),
    }
}

/// What a failed attempt leads to.
enum Next {
    /// Try the same event again after the backoff.
    Retry,
    /// The event was given up; go on with the next.
    Skip,
    /// The listener is gone.
    Stop,
}

/// Books a failed attempt: the callback gives an event up after [`MAX_ATTEMPTS`]; an ephemeral
/// subscription that kept failing is dropped with its queue; a durable one keeps trying.
fn after_failure(w: &mut World, who: &Listener, key: u64, attempts: u32) -> Next {
    match who {
        Listener::Callback if attempts >= MAX_ATTEMPTS => {
            mark(w, key, |d| d.state = "failed".into());
            pop(w, who, key);
            tracing::warn!(
                "sandbox: gave up delivering a notification after {MAX_ATTEMPTS} attempts"
            );
            Next::Skip
        }
        Listener::Callback => Next::Retry,
        Listener::Subscription(id) => {
            let now = chrono::Utc::now();
            let drop = match w.notify.subscriptions.get_mut(id) {
                Some(s) => s.failed(now),
                None => return Next::Stop,
            };
            if !drop {
                return Next::Retry;
            }
            if let Some(s) = w.notify.subscriptions.remove(id) {
                tracing::info!(
                    "sandbox: dropped subscription {id}: its listener stopped answering"
                );
                for q in s.queue {
                    mark(w, q.key, |d| {
                        d.state = "failed".into();
                        d.last_error = Some("subscription dropped".into());
                    });
                }
            }
            Next::Stop
        }
    }
}

/// Delivers one listener's queue in order until it is empty or the listener is gone.
async fn worker(state: SandboxState, client: reqwest::Client, who: Listener) {
    let mut attempts = 0u32;
    let mut backoff = FIRST_BACKOFF;
    let cap = match who {
        Listener::Callback => FIRST_BACKOFF * 2u32.pow(MAX_ATTEMPTS),
        Listener::Subscription(_) => MAX_SUBSCRIBER_BACKOFF,
    };
    // Re-read each time: a removed (or replaced) registration applies to pending retries.
    while let Some((cb, job)) = state.with_world(|w| head(w, &who)) {
        attempts += 1;
        let (status, error) = post(&client, &cb, &job.body).await;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let n = attempts;
        let next = state.with_world(|w| {
            mark(w, job.key, |d| {
                d.attempts = n;
                d.last_status = status;
                d.last_error = error;
                if ok {
                    d.state = "delivered".into();
                }
            });
            if ok {
                pop(w, &who, job.key);
                if let Listener::Subscription(id) = &who {
                    if let Some(s) = w.notify.subscriptions.get_mut(id) {
                        s.delivered();
                    }
                }
                Next::Skip
            } else {
                after_failure(w, &who, job.key, n)
            }
        });
        // A failed save is logged and tried again by the saver: delivery goes on.
        let _ = state.save().await;
        match next {
            Next::Skip => {
                attempts = 0;
                backoff = FIRST_BACKOFF;
            }
            Next::Retry => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cap);
            }
            Next::Stop => return,
        }
    }
    // The registration went away with events still queued for it.
    if who == Listener::Callback {
        state.with_world(|w| {
            for q in std::mem::take(&mut w.notify.callback_queue) {
                mark(w, q.key, |d| {
                    d.state = "failed".into();
                    d.last_error = Some("callback removed".into());
                });
            }
        });
    }
}

/// The listeners with something to deliver.
fn busy(w: &World) -> Vec<Listener> {
    let mut out = Vec::new();
    if !w.notify.callback_queue.is_empty() {
        out.push(Listener::Callback);
    }
    for s in w.notify.subscriptions.values() {
        if !s.queue.is_empty() {
            out.push(Listener::Subscription(s.id.clone()));
        }
    }
    out
}

async fn delivery_loop(state: SandboxState) {
    let client = match reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("sandbox: notifications disabled, no HTTP client: {e}");
            return;
        }
    };
    // Dropped with this loop (an aborted ticker), which aborts them too.
    let mut workers: HashMap<Listener, DeliveryTask> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (waiting, reorder) = state.with_world(|w| (!w.outbox.is_empty(), w.notify.reorder));
        if waiting && reorder {
            // Let a few events gather, so there is something to reorder.
            tokio::time::sleep(REORDER_WINDOW).await;
        }
        let listeners = state.with_world(|w| {
            take_batch(w);
            busy(w)
        });
        workers.retain(|_, h| !h.0.is_finished());
        for who in listeners {
            if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(who.clone()) {
                let task = tokio::spawn(worker(state.clone(), client.clone(), who));
                slot.insert(DeliveryTask(task));
            }
        }
    }
}

/// A running delivery task; dropping it stops the task (the loop's drops its workers).
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
    use crate::world::subscriptions::{Kind, Subscription};
    use serde_json::json;

    fn callback() -> Callback {
        Callback {
            url: "http://127.0.0.1:9/".into(),
            username: "u".into(),
            password: "secret".into(),
        }
    }

    #[test]
    fn batches_follow_the_settings() {
        let mut w = World::seed(0.0);
        w.queue_event("a", json!({"id": "X1"}));
        take_batch(&mut w);
        assert!(
            w.outbox.is_empty() && w.notify.deliveries.is_empty(),
            "no listener: dropped"
        );
        w.notify.callback = Some(callback());
        assert!(!format!("{:?}", w.notify).contains("secret"));
        w.notify.duplicate = true;
        w.notify.reorder = true;
        w.queue_event("a", json!({"id": "X1"}));
        w.queue_event("b", json!({"id": "X1"}));
        take_batch(&mut w);
        let types: Vec<&str> = w
            .notify
            .callback_queue
            .iter()
            .map(|j| j.body["eventType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["b", "a", "b", "a"]);
        let q = &w.notify.callback_queue;
        assert_eq!(q[0].body["eventId"], q[2].body["eventId"]);
        assert_eq!(w.notify.deliveries.len(), 4);
        assert_eq!(w.notify.deliveries[0].order_id.as_deref(), Some("X1"));
    }

    #[test]
    fn every_subscriber_gets_its_own_copy() {
        let mut w = World::seed(0.0);
        for (id, filter) in [("all", None), ("only-x2", Some("X2"))] {
            w.notify.subscriptions.insert(
                id.into(),
                Subscription {
                    id: id.into(),
                    kind: Kind::Ephemeral,
                    callback: callback(),
                    order_ids: filter.map(|f| [f.to_string()].into()),
                    queue: Default::default(),
                    failures: 0,
                    failing_since: None,
                },
            );
        }
        w.queue_event("a", json!({"id": "X1"}));
        w.queue_event("b", json!({"id": "X2"}));
        take_batch(&mut w);
        assert!(w.notify.callback_queue.is_empty(), "no callback registered");
        assert_eq!(w.notify.subscriptions["all"].queue.len(), 2);
        assert_eq!(w.notify.subscriptions["only-x2"].queue.len(), 1);
        assert_eq!(busy(&w).len(), 2);
        let key = w.notify.subscriptions["all"].queue[0].key;
        let who = Listener::Subscription("all".into());
        pop(&mut w, &who, key);
        assert_eq!(w.notify.subscriptions["all"].queue.len(), 1);
        // An ephemeral subscriber failing long enough is dropped, its records failed.
        w.notify.subscriptions.get_mut("all").unwrap().failing_since =
            Some(chrono::Utc::now() - chrono::Duration::seconds(120));
        w.notify.subscriptions.get_mut("all").unwrap().failures = 4;
        let key = w.notify.subscriptions["all"].queue[0].key;
        assert!(matches!(after_failure(&mut w, &who, key, 1), Next::Stop));
        assert!(!w.notify.subscriptions.contains_key("all"));
        let d = w.notify.deliveries.iter().find(|d| d.key == key).unwrap();
        assert_eq!(d.state, "failed");
    }
}
