//! The sandbox's shared state: the [`World`] behind a mutex, with the config, the event channel,
//! the persister and the service bookkeeping (last request, stop requests).
//!
//! [`SandboxState`] is what handlers get: cheap to clone, it locks the world only briefly (never
//! across an await), applies order progress on each object's clock, broadcasts order state changes
//! to subscribers, and, when configured with a state file, saves a change before it is answered:
//! [`SandboxState::save`] waits until a commit holds it. One saver writes what changed since its
//! last commit; requests that arrive while it writes share its next commit (group commit), so a
//! busy sandbox pays one commit per batch of concurrent requests, not one per request.

use crate::config::SandboxConfig;
use crate::store::{Changes, Store};
use crate::world::{OrderTransition, World};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch, Notify};

tokio::task_local! {
    /// The run clock the request being served names (`X-Sandbox-Clock`), set by the HTTP layer
    /// around the handler; the world reads it as its active clock in [`SandboxState::with_world`].
    pub static REQUEST_CLOCK: Option<String>;
}

/// The request's clock, when called inside a request that named one.
pub fn request_clock() -> Option<String> {
    REQUEST_CLOCK.try_with(Clone::clone).ok().flatten()
}

/// The first pause before a failed save is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long (real time) a run clock with nothing open lives after its last use.
pub const CLOCK_IDLE: Duration = Duration::from_secs(24 * 3600);

/// How far the saves have got, in tickets (see [`Persister::asked`]).
#[derive(Clone, Copy, Default)]
struct Saved {
    /// Every change up to this ticket is committed.
    committed: u64,
    /// The last attempt, covering changes up to this ticket, failed (they are tried again).
    failed: u64,
}

/// Saving: the open state file, the tickets of the changes asked to be saved, and how far the
/// commits have got.
struct Persister {
    store: Option<Arc<Mutex<Store>>>,
    /// One ticket per change to save, taken after the change is made: a save that reads this
    /// count before taking the world's changes holds every change up to it.
    asked: AtomicU64,
    saved: watch::Sender<Saved>,
    wake: Notify,
    /// One flush at a time, so an older snapshot never lands after a newer one.
    flushing: tokio::sync::Mutex<()>,
}

/// A change the sandbox could not commit to its state file (it is tried again with the next save).
#[derive(Debug)]
pub struct NotSaved;

impl std::fmt::Display for NotSaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the sandbox could not write the change to its state file")
    }
}

/// The running service: when it was last used, and whether someone asked it to stop.
struct Service {
    last_request: Mutex<Instant>,
    stop: Notify,
    stop_requested: AtomicBool,
}

/// Shared handle on the sandbox: the world, the config, the event channel and the persister.
#[derive(Clone)]
pub struct SandboxState {
    world: Arc<Mutex<World>>,
    config: Arc<SandboxConfig>,
    events: broadcast::Sender<OrderTransition>,
    persister: Arc<Persister>,
    service: Arc<Service>,
}

impl SandboxState {
    /// Loads the world from `config.state_file` when it holds one, else seeds a fresh one.
    pub fn load_or_seed(config: SandboxConfig) -> std::io::Result<SandboxState> {
        let (store, world) = match &config.state_file {
            Some(path) => {
                let (store, world) = Store::open(path, config.clock_speed)?;
                (Some(store), world)
            }
            None => (None, None),
        };
        let world = world.unwrap_or_else(|| World::seed(config.clock_speed));
        let state = Self::with_store(config, world, store);
        state.ask_save();
        Ok(state)
    }

    pub fn new(config: SandboxConfig, world: World) -> SandboxState {
        Self::with_store(config, world, None)
    }

    fn with_store(config: SandboxConfig, world: World, store: Option<Store>) -> SandboxState {
        let (events, _) = broadcast::channel(256);
        SandboxState {
            world: Arc::new(Mutex::new(world)),
            persister: Arc::new(Persister {
                store: store.map(|s| Arc::new(Mutex::new(s))),
                asked: AtomicU64::new(0),
                saved: watch::Sender::new(Saved::default()),
                wake: Notify::new(),
                flushing: tokio::sync::Mutex::new(()),
            }),
            config: Arc::new(config),
            events,
            service: Arc::new(Service {
                last_request: Mutex::new(Instant::now()),
                stop: Notify::new(),
                stop_requested: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Runs `f` with the world locked (briefly; `f` must not block), then broadcasts any order
    /// transitions it queued. Inside a request that names a run clock, the world's `now()` is
    /// that clock's while `f` runs.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let clock = request_clock();
        let (result, events) = {
            let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
            world.active_clock = clock;
            let result = f(&mut world);
            world.active_clock = None;
            (result, std::mem::take(&mut world.events))
        };
        for event in events {
            // No subscribers is fine.
            let _ = self.events.send(event);
        }
        result
    }

    /// Applies order progress: each object up to its own clock's now.
    pub fn tick(&self) -> Vec<OrderTransition> {
        let step = self.config.order_step_secs;
        self.with_world(|w| {
            let nows = w.nows();
            w.ethernet.advance(&mut w.outbox, &nows, step);
            w.advance_orders(&nows, step)
        })
    }

    /// Drops the run clocks with nothing open that nobody named for [`CLOCK_IDLE`] (real time).
    pub fn drop_idle_clocks(&self) -> Vec<String> {
        let idle = chrono::Duration::from_std(CLOCK_IDLE).unwrap_or(chrono::Duration::days(1));
        self.with_world(|w| w.drop_idle_clocks(chrono::Utc::now(), idle))
    }

    /// Order state changes as they happen (submit, cancel, clock progress).
    pub fn subscribe(&self) -> broadcast::Receiver<OrderTransition> {
        self.events.subscribe()
    }

    /// Saves the changes made so far: resolves once a commit holds them (at once without a state
    /// file). Callers answer a change only after this, so an answered change survives a crash.
    pub async fn save(&self) -> Result<(), NotSaved> {
        let Some(ticket) = self.ask_save() else {
            return Ok(());
        };
        let mut saved = self.persister.saved.subscribe();
        let outcome = saved
            .wait_for(|s| s.committed >= ticket || s.failed >= ticket)
            .await
            .map(|s| *s);
        match outcome {
            Ok(s) if s.committed >= ticket => Ok(()),
            _ => Err(NotSaved),
        }
    }

    /// Takes a ticket for the changes made so far and wakes the saver; `None` without a store.
    fn ask_save(&self) -> Option<u64> {
        self.persister.store.as_ref()?;
        let ticket = self.persister.asked.fetch_add(1, Ordering::SeqCst) + 1;
        self.persister.wake.notify_one();
        Some(ticket)
    }

    /// Whether changes were asked to be saved that no commit holds yet.
    fn unsaved(&self) -> bool {
        self.persister.asked.load(Ordering::SeqCst) > self.persister.saved.borrow().committed
    }

    /// Writes the changes asked to be saved, if any are not committed yet; false when the write
    /// failed (its changes are put back in the world and written by the next attempt).
    pub async fn flush(&self) -> bool {
        let Some(store) = self.persister.store.clone() else {
            return true;
        };
        let _one_at_a_time = self.persister.flushing.lock().await;
        // Read before the take: every ticket up to here was taken after its change was made.
        let target = self.persister.asked.load(Ordering::SeqCst);
        if target <= self.persister.saved.borrow().committed {
            return true;
        }
        let state = self.clone();
        let result = tokio::task::spawn_blocking(move || state.save_changes(&store)).await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("could not save state: {e}")),
            Err(e) => Some(format!("state save task failed: {e}")),
        };
        self.persister.saved.send_modify(|s| match &error {
            None => s.committed = s.committed.max(target),
            Some(_) => s.failed = s.failed.max(target),
        });
        match error {
            None => true,
            Some(e) => {
                tracing::warn!("sandbox: {e}");
                false
            }
        }
    }

    /// Takes the changes from the world and writes them. The store stays locked from the take to
    /// the commit, so saves land in the order their changes were taken; the world is locked only
    /// while the changed entries are serialised. A failed write puts its changes back.
    fn save_changes(&self, store: &Mutex<Store>) -> Result<(), String> {
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        let changes = self.with_world(Changes::take).map_err(|e| e.to_string())?;
        match store.save(&changes) {
            Ok(()) => {
                tracing::debug!(rows = changes.rows(), "sandbox: state saved");
                Ok(())
            }
            Err(e) => {
                self.with_world(|w| changes.restore(w));
                Err(e.to_string())
            }
        }
    }

    /// Saves whatever is unsaved (the clock included), after any save still under way (a
    /// cancelled flush's write runs to its end): the last save before the sandbox stops.
    pub async fn flush_final(&self) {
        self.ask_save();
        self.flush().await;
    }

    /// Saves changes as they are asked for, until the future is dropped: one commit at a time,
    /// each holding every change asked for before it began. A failed save is tried again after
    /// a pause that grows while it keeps failing.
    pub async fn persist_loop(self) {
        if self.persister.store.is_none() {
            return std::future::pending().await;
        }
        let mut retry = RETRY_FIRST;
        loop {
            if !self.unsaved() {
                self.persister.wake.notified().await;
            }
            if self.flush().await {
                retry = RETRY_FIRST;
            } else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }

    /// Notes a request, for the idle timeout.
    pub fn touch(&self) {
        *self
            .service
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Time since the last request.
    pub fn idle_for(&self) -> Duration {
        self.service
            .last_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Asks whoever runs the sandbox to stop it (`POST /__sandbox/shutdown`).
    pub fn request_stop(&self) {
        self.service.stop_requested.store(true, Ordering::SeqCst);
        self.service.stop.notify_waiters();
    }

    /// Resolves once a stop was requested.
    pub async fn stop_requested(&self) {
        loop {
            let notified = self.service.stop.notified();
            if self.service.stop_requested.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::RequestEntry;

    fn request(n: usize) -> RequestEntry {
        RequestEntry {
            at: chrono::Utc::now(),
            method: "POST".into(),
            path: format!("/p/{n}"),
            status: 201,
            tracking_header: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_change_is_in_the_file_when_its_save_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let config = SandboxConfig {
            state_file: Some(path.clone()),
            ..SandboxConfig::default()
        };
        let state = SandboxState::load_or_seed(config).unwrap();
        let saver = tokio::spawn(state.clone().persist_loop());
        let mut saves = Vec::new();
        for n in 0..40 {
            let state = state.clone();
            saves.push(tokio::spawn(async move {
                state.with_world(|w| w.record_request(request(n)));
                state.save().await.is_ok()
            }));
        }
        for save in saves {
            assert!(save.await.unwrap(), "a save failed");
        }
        // Read by another connection while the sandbox still runs: nothing was saved on stopping.
        let (_, saved) = Store::open(&path, 1.0).unwrap();
        assert_eq!(saved.unwrap().journal.requests.len(), 40);
        saver.abort();
    }

    #[tokio::test]
    async fn without_a_state_file_a_save_returns_at_once() {
        let state = SandboxState::new(SandboxConfig::default(), World::seed(1.0));
        state.with_world(|w| w.record_request(request(1)));
        assert!(state.save().await.is_ok());
    }
}
