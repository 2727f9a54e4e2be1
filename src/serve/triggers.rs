//! Notification triggers: each order notification runs the recipes whose `order-state` or
//! `event` trigger matches it — once per order reaching a state, once per event id, even across
//! restarts and daemons.

use super::{blocking, Daemon};
use crate::recipe::Trigger;
use crate::runner;
use crate::store::Notification;
use serde_json::{json, Map};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Follows the notification feed until `stop`.
pub(super) fn start(
    daemon: Arc<Daemon>,
    mut feed: broadcast::Receiver<Notification>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                n = feed.recv() => match n {
                    Ok(n) => {
                        let d = daemon.clone();
                        // Claims are store transactions: off the async workers.
                        blocking(move || d.notification(&n)).await;
                    }
                    Err(RecvError::Lagged(k)) => tracing::warn!(
                        "{k} notifications arrived faster than they could be handled; their triggers did not run"
                    ),
                    Err(_) => break,
                }
            }
        }
    })
}

impl Daemon {
    /// A new order notification: run every recipe whose trigger matches it. Several events can
    /// carry the same state (line complete, then complete): the claim key keeps it to one run.
    fn notification(self: &Arc<Self>, n: &Notification) {
        let matching: Vec<(PathBuf, Trigger)> = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, l)| match &l.trigger {
                Trigger::OrderState(s) => n.state.as_deref() == Some(s.as_str()),
                Trigger::Event(t) => n.event_type == *t,
                _ => false,
            })
            .map(|(p, l)| (p.clone(), l.trigger.clone()))
            .collect();
        for (path, trigger) in matching {
            let key = match trigger {
                Trigger::OrderState(s) => format!("order-state:{}:{s}", n.order_id),
                _ => format!("event:{}", n.event_id),
            };
            let run_id = runner::new_run_id();
            match self
                .store
                .claim_drop(&path.display().to_string(), &key, &run_id)
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!("{}: {e}", path.display());
                    continue;
                }
            }
            let mut params = Map::new();
            params.insert("order_id".into(), json!(n.order_id));
            params.insert("event_type".into(), json!(n.event_type));
            params.insert("event_id".into(), json!(n.event_id));
            params.insert("state".into(), json!(n.state));
            params.insert(
                "event".into(),
                crate::api::snake::snake_keys(n.body.clone()),
            );
            let origin = format!("event:{}", n.event_type);
            self.launch(path, params, origin, Some(run_id), false);
        }
    }
}
