//! The sandbox's shared state: the [`World`] behind a mutex, with the config, the event channel,
//! the persister and the service bookkeeping (last request, stop requests).
//!
//! [`SandboxState`] is what handlers get: cheap to clone, it locks the world only briefly (never
//! across an await), applies order progress on the sandbox clock, broadcasts order state changes
//! to subscribers, and marks the world for saving when configured with a state file; the saving
//! itself happens in the background, a little later, writing only what changed.

use crate::config::SandboxConfig;
use crate::store::{Changes, Store};
use crate::world::{OrderTransition, World};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Notify};

/// How long changes gather before they are written: many requests, one transaction.
pub const SAVE_DELAY: Duration = Duration::from_millis(250);

/// Saving: the open state file, and a flag plus wake-up for "something changed".
struct Persister {
    store: Option<Arc<Mutex<Store>>>,
    dirty: AtomicBool,
    wake: Notify,
    /// One flush at a time, so an older snapshot never lands after a newer one.
    flushing: tokio::sync::Mutex<()>,
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
        state.mark_dirty();
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
                dirty: AtomicBool::new(false),
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
    /// transitions it queued.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let (result, events) = {
            let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
            let result = f(&mut world);
            (result, std::mem::take(&mut world.events))
        };
        for event in events {
            // No subscribers is fine.
            let _ = self.events.send(event);
        }
        result
    }

    /// Applies order progress up to the sandbox clock's now.
    pub fn tick(&self) -> Vec<OrderTransition> {
        let step = self.config.order_step_secs;
        self.with_world(|w| {
            let now = w.now();
            w.ethernet.advance(&mut w.outbox, now, step);
            w.advance_orders(now, step)
        })
    }

    /// Order state changes as they happen (submit, cancel, clock progress).
    pub fn subscribe(&self) -> broadcast::Receiver<OrderTransition> {
        self.events.subscribe()
    }

    /// Marks the world changed: the persister writes it shortly (see [`SAVE_DELAY`]).
    pub async fn save(&self) {
        self.mark_dirty();
    }

    fn mark_dirty(&self) {
        if self.persister.store.is_some() && !self.persister.dirty.swap(true, Ordering::SeqCst) {
            self.persister.wake.notify_one();
        }
    }

    /// Writes the changes since the last save now, if there are any.
    pub async fn flush(&self) {
        let Some(store) = self.persister.store.clone() else {
            return;
        };
        let _one_at_a_time = self.persister.flushing.lock().await;
        if !self.persister.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let state = self.clone();
        let result = tokio::task::spawn_blocking(move || state.save_changes(&store)).await;
        let failed = match result {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                tracing::warn!("sandbox: could not save state: {e}");
                true
            }
            Err(e) => {
                tracing::warn!("sandbox: state save task failed: {e}");
                true
            }
        };
        if failed {
            // Try again with the next change rather than lose this one.
            self.persister.dirty.store(true, Ordering::SeqCst);
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

    /// Saves whatever is unsaved, after any save still under way (a cancelled flush's write
    /// runs to its end): the last save before the sandbox stops.
    pub async fn flush_final(&self) {
        if self.persister.store.is_some() {
            self.persister.dirty.store(true, Ordering::SeqCst);
        }
        self.flush().await;
    }

    /// Saves changes in the background until the future is dropped.
    pub async fn persist_loop(self) {
        if self.persister.store.is_none() {
            return std::future::pending().await;
        }
        loop {
            self.persister.wake.notified().await;
            tokio::time::sleep(SAVE_DELAY).await;
            self.flush().await;
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
