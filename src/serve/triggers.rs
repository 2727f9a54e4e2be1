//! Notification triggers, derived from the stored events: whichever process stored a
//! notification, the daemon dispatches every stored event once — the recipes whose
//! `order-state` or `event` trigger matches it are queued in the same transaction that marks it
//! dispatched — so a crash loses no trigger and a redelivery fires none twice.

use super::{blocking, Daemon};
use crate::recipe::Trigger;
use crate::runner;
use crate::store::{Notification, TriggerRun};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the store is looked at for events another process stored (this process's own
/// arrivals wake the loop at once).
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Events dispatched per store read.
const BATCH: usize = 100;

/// Dispatches what is stored now, then follows the feed (a wake-up only: the store is the
/// truth) and polls the store until `stop`.
pub(super) fn start(
    daemon: Arc<Daemon>,
    mut feed: broadcast::Receiver<Notification>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_EVERY);
        // An event stored by another daemon on a shared store wakes the loop before its tick.
        let mut stored = daemon.store.wakeups().map(|w| w.events);
        loop {
            let d = daemon.clone();
            blocking(move || d.dispatch_stored()).await;
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
                _ = crate::store::woken(&mut stored) => {}
                n = feed.recv() => match n {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        // No listener in this process: the poll still finds what others store.
                        feed = broadcast::channel(1).1;
                    }
                }
            }
        }
    })
}

/// The params a trigger run is given.
fn trigger_params(n: &Notification) -> Value {
    let mut params = Map::new();
    params.insert("order_id".into(), json!(n.order_id));
    params.insert("event_type".into(), json!(n.event_type));
    params.insert("event_id".into(), json!(n.event_id));
    params.insert("state".into(), json!(n.state));
    params.insert(
        "event".into(),
        crate::api::snake::snake_keys(n.body.clone()),
    );
    Value::Object(params)
}

/// A recipe's name within the daemon's folder (`/` between folders): the same on every daemon
/// sharing the store, wherever its folder is. A recipe outside the folder keeps its path.
pub(super) fn recipe_name(dir: &Path, recipe: &Path) -> String {
    match recipe.strip_prefix(dir) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => recipe.display().to_string(),
    }
}

impl Daemon {
    /// Dispatches every stored event not dispatched yet, oldest first; launches what it queues.
    fn dispatch_stored(self: &Arc<Self>) {
        loop {
            let events = match self.store.undispatched(BATCH) {
                Ok(e) => e,
                Err(e) => return tracing::error!("cannot read stored notifications: {e}"),
            };
            if events.is_empty() {
                return;
            }
            for n in &events {
                if let Err(e) = self.dispatch(n) {
                    // Left undispatched: the next pass tries again.
                    return tracing::error!("cannot dispatch notification {}: {e}", n.event_id);
                }
            }
            if events.len() < BATCH {
                return;
            }
        }
    }

    /// One event: its trigger runs queued (once per order reaching a state, once per event id)
    /// and the event marked dispatched, together; then the queued runs start.
    fn dispatch(self: &Arc<Self>, n: &Notification) -> Result<(), crate::store::StoreError> {
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
        let params = trigger_params(n);
        let runs: Vec<TriggerRun> = matching
            .into_iter()
            .map(|(path, trigger)| TriggerRun {
                recipe: path.display().to_string(),
                name: recipe_name(&self.dir, &path),
                key: match trigger {
                    Trigger::OrderState(s) => format!("order-state:{}:{s}", n.order_id),
                    _ => format!("event:{}", n.event_id),
                },
                run_id: runner::new_run_id(),
                params: params.clone(),
                origin: format!("event:{}", n.event_type),
                owner: self.owner.clone(),
            })
            .collect();
        for run in self.store.dispatch_event(&n.event_id, &runs)? {
            let params = run.params.as_object().cloned().unwrap_or_default();
            self.launch(
                PathBuf::from(run.recipe),
                params,
                run.origin,
                Some(run.run_id),
                false,
            );
        }
        Ok(())
    }
}
