//! Delivery of queued notifications: takes events from the world's outbox, POSTs them to the
//! registered callback with HTTP Basic auth and retries with exponential backoff. The world lock is
//! only taken briefly between awaits, never held across one.

use crate::state::SandboxState;
use crate::world::outbox::{Delivery, Notification};
use crate::world::World;
use backon::{ExponentialBuilder, Retryable};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// The delays between attempts: `FIRST_BACKOFF`, doubling, `MAX_ATTEMPTS - 1` of them.
fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(FIRST_BACKOFF)
        .with_factor(2.0)
        .with_max_delay(FIRST_BACKOFF * 2u32.pow(MAX_ATTEMPTS))
        .with_max_times(MAX_ATTEMPTS as usize - 1)
}

/// Why an attempt did not deliver.
#[derive(Debug)]
enum Undelivered {
    /// The registration is gone: give up at once.
    NoCallback,
    /// The callback failed or did not answer 2xx: try again.
    Failed,
}

async fn deliver(state: &SandboxState, client: &reqwest::Client, job: Job) {
    let attempts = AtomicU32::new(0);
    let result = (|| async {
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        attempt(state, client, &job, n).await
    })
    .retry(retry_policy())
    .sleep(tokio::time::sleep)
    .when(|e| matches!(e, Undelivered::Failed))
    .await;
    if matches!(result, Err(Undelivered::Failed)) {
        tracing::warn!("sandbox: gave up delivering a notification after {MAX_ATTEMPTS} attempts");
    }
}

/// One POST of `job` (attempt number `n`), recorded in its delivery record.
async fn attempt(
    state: &SandboxState,
    client: &reqwest::Client,
    job: &Job,
    n: u32,
) -> Result<(), Undelivered> {
    // Re-read each time: a removed (or replaced) registration applies to pending retries.
    let Some(cb) = state.with_world(|w| w.notify.callback.clone()) else {
        record(state, job.key, |d| {
            d.state = "failed".into();
            d.last_error = Some("callback removed".into());
        });
        return Err(Undelivered::NoCallback);
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
        d.attempts = n;
        d.last_status = status;
        d.last_error = error;
        if ok {
            d.state = "delivered".into();
        } else if n >= MAX_ATTEMPTS {
            d.state = "failed".into();
        }
    });
    if ok {
        Ok(())
    } else {
        Err(Undelivered::Failed)
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
    use crate::world::outbox::Callback;
    use serde_json::json;

    #[test]
    fn backoff_doubles() {
        use backon::BackoffBuilder;
        let delays: Vec<u64> = retry_policy()
            .build()
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 12_800]);
    }

    #[test]
    fn batches_follow_the_settings() {
        let mut w = World::seed(0.0);
        w.queue_event("a", json!({"id": "X1"}));
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
        w.queue_event("a", json!({"id": "X1"}));
        w.queue_event("b", json!({"id": "X1"}));
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
