//! The daemon's health, judged once for `/healthz` and the console's front page: the store
//! takes writes, this daemon's heartbeat is fresh, the notification listener the profile
//! expects accepts connections, and alerts have not been undeliverable for longer than
//! `[alerts] unhealthy_after_secs`.

use super::blocking;
use super::console::Console;
use crate::store::AlertQueueState;
use chrono::Utc;
use serde::Serialize;
use std::time::Duration;

/// What the checks found; healthy when `problems` is empty.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct Health {
    pub problems: Vec<String>,
    /// This daemon's last beat (RFC 3339).
    pub heartbeat: Option<String>,
    pub heartbeat_age_secs: Option<u64>,
    /// Whether the daemon has a notification listener.
    pub listener: bool,
    pub store_writable: bool,
    pub alerts: AlertQueueState,
}

impl Health {
    pub(super) fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub(super) async fn check(c: &Console) -> Health {
    let (store, me) = (c.daemon.store.clone(), c.daemon.owner.clone());
    let found = blocking(move || {
        let writable = store.probe_writable(Duration::from_secs(1));
        // This daemon's own beat: other daemons may share the store.
        let beat = store
            .heartbeats()
            .map(|all| all.into_iter().find(|h| h.owner == me));
        (writable, beat, store.alert_queue_state())
    })
    .await;
    let mut h = Health {
        listener: c.listener.running(),
        ..Health::default()
    };
    let now = Utc::now();
    match found {
        None => h.problems.push("the health check failed".to_string()),
        Some((writable, beat, alerts)) => {
            match writable {
                Ok(()) => h.store_writable = true,
                Err(e) => h
                    .problems
                    .push(format!("the store is not writable: {}", e.detail)),
            }
            match beat {
                Ok(Some(b)) => {
                    h.heartbeat = Some(crate::time::rfc3339(b.beat_at));
                    let age = (now - b.beat_at).to_std().unwrap_or_default();
                    h.heartbeat_age_secs = Some(age.as_secs());
                    if age > crate::status::SERVING_WITHIN {
                        h.problems
                            .push(format!("no heartbeat for {} s", age.as_secs()));
                    }
                }
                Ok(None) => h.problems.push("the daemon has not beaten yet".into()),
                Err(e) => h
                    .problems
                    .push(format!("cannot read the heartbeat: {}", e.detail)),
            }
            match alerts {
                Ok(a) => {
                    let failing = a
                        .failing_since
                        .as_deref()
                        .and_then(|t| crate::status::age(t, now));
                    if let Some(age) = failing.filter(|a| *a > c.alert_limit) {
                        h.problems.push(format!(
                            "alerts undeliverable for {} s (limit {} s): {}",
                            age.as_secs(),
                            c.alert_limit.as_secs(),
                            a.last_error.as_deref().unwrap_or("no answer")
                        ));
                    }
                    h.alerts = a;
                }
                Err(e) => h
                    .problems
                    .push(format!("cannot read the alert queue: {}", e.detail)),
            }
        }
    }
    if let Some(p) = c.listener.problem().await {
        h.problems.push(p);
    }
    h
}
