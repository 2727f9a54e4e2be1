//! Notification subscriptions: the sandbox's own way (not BT's) for several listeners to receive
//! every order event at once, each with its own queue, so none displaces another.
//!
//! Two kinds. An ephemeral subscription belongs to a short-lived process (`btw run`, `btw repl`):
//! it is removed on exit, or dropped by the sandbox once deliveries to it have failed
//! [`EPHEMERAL_MAX_FAILURES`] times over at least [`EPHEMERAL_MIN_FAILING`]. A durable one
//! belongs to a long-lived listener (`btw serve`): it keeps its id, and its events wait in its
//! queue while the listener is down, to be delivered in order when it is back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

/// Failed deliveries before an ephemeral subscription may be dropped…
pub const EPHEMERAL_MAX_FAILURES: u32 = 5;
/// …and the least time they must span (real time).
pub const EPHEMERAL_MIN_FAILING: Duration = Duration::from_secs(60);
/// Events kept for a subscriber that is away; older ones give way.
pub const DURABLE_QUEUE_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ephemeral,
    Durable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ephemeral => "ephemeral",
            Kind::Durable => "durable",
        }
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

/// One event waiting for a subscriber: its delivery record's key and the body to POST.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub key: u64,
    pub body: Value,
}

/// A listener, its filter, its queue and how delivery to it has been going.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub kind: Kind,
    pub callback: Callback,
    /// Only these orders' events, when set.
    #[serde(default)]
    pub order_ids: Option<BTreeSet<String>>,
    #[serde(default)]
    pub queue: VecDeque<Queued>,
    /// Deliveries failed in a row, and since when (real time).
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether an event about `order_id` is for this subscriber.
    pub fn wants(&self, order_id: Option<&str>) -> bool {
        match (&self.order_ids, order_id) {
            (None, _) => true,
            (Some(ids), Some(id)) => ids.contains(id),
            (Some(_), None) => false,
        }
    }

    /// Queues an event; a queue past its limit lets its oldest event go (returned).
    pub fn push(&mut self, queued: Queued) -> Option<Queued> {
        self.queue.push_back(queued);
        (self.queue.len() > DURABLE_QUEUE_LIMIT)
            .then(|| self.queue.pop_front())
            .flatten()
    }

    /// A failed delivery at `now`; true when the subscription should now be dropped.
    pub fn failed(&mut self, now: DateTime<Utc>) -> bool {
        self.failures += 1;
        let since = *self.failing_since.get_or_insert(now);
        let span = (now - since).to_std().unwrap_or_default();
        self.kind == Kind::Ephemeral
            && self.failures >= EPHEMERAL_MAX_FAILURES
            && span >= EPHEMERAL_MIN_FAILING
    }

    pub fn delivered(&mut self) {
        self.failures = 0;
        self.failing_since = None;
    }

    /// The subscription as the admin API shows it: never the password.
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "url": self.callback.url,
            "username": self.callback.username,
            "orderIds": self.order_ids,
            "queued": self.queue.len(),
            "failures": self.failures,
        })
    }
}

/// A subscription id a client may choose: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(kind: Kind) -> Subscription {
        Subscription {
            id: "s1".into(),
            kind,
            callback: Callback {
                url: "http://127.0.0.1:9/".into(),
                username: "u".into(),
                password: "pw-secret".into(),
            },
            order_ids: None,
            queue: VecDeque::new(),
            failures: 0,
            failing_since: None,
        }
    }

    #[test]
    fn ephemeral_goes_after_five_failures_over_a_minute() {
        let mut s = sub(Kind::Ephemeral);
        let t0 = Utc::now();
        for n in 0..10 {
            assert!(!s.failed(t0 + chrono::Duration::seconds(n)), "too soon");
        }
        assert!(s.failed(t0 + chrono::Duration::seconds(61)));
        s.delivered();
        assert!(
            !s.failed(t0 + chrono::Duration::seconds(200)),
            "count restarts"
        );
        let mut d = sub(Kind::Durable);
        for n in 0..10 {
            assert!(!d.failed(t0 + chrono::Duration::seconds(n * 60)));
        }
    }

    #[test]
    fn filters_and_rendering() {
        let mut s = sub(Kind::Durable);
        assert!(s.wants(Some("A")) && s.wants(None));
        s.order_ids = Some(["A".to_string()].into());
        assert!(s.wants(Some("A")) && !s.wants(Some("B")) && !s.wants(None));
        assert!(!s.render().to_string().contains("pw-secret"));
        assert!(valid_id("serve-1f3a") && !valid_id("") && !valid_id("a/b"));
        assert!(!valid_id(&"x".repeat(65)));
    }
}
