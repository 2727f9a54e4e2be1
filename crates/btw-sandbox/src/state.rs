//! The sandbox's shared state: the [`World`] behind a mutex, with the config, the event channel
//! and the persister.
//!
//! [`SandboxState`] is what handlers get: cheap to clone, it locks the world only briefly (never
//! across an await), applies order progress on the sandbox clock, broadcasts order state changes
//! to subscribers, and persists the world when configured with a state file.

use crate::config::SandboxConfig;
use crate::store::Persister;
use crate::world::{OrderTransition, World};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Shared handle on the sandbox: the world, the config, the event channel and the persister.
#[derive(Clone)]
pub struct SandboxState {
    world: Arc<Mutex<World>>,
    config: Arc<SandboxConfig>,
    events: broadcast::Sender<OrderTransition>,
    persister: Arc<Persister>,
}

impl SandboxState {
    /// Loads the world from `config.state_file` when it exists, else seeds a fresh one.
    pub fn load_or_seed(config: SandboxConfig) -> std::io::Result<SandboxState> {
        let world = match &config.state_file {
            Some(path) => crate::store::load(path, config.clock_speed)?,
            None => None,
        }
        .unwrap_or_else(|| World::seed(config.clock_speed));
        Ok(Self::new(config, world))
    }

    pub fn new(config: SandboxConfig, world: World) -> SandboxState {
        let (events, _) = broadcast::channel(256);
        SandboxState {
            world: Arc::new(Mutex::new(world)),
            persister: Arc::new(Persister {
                path: config.state_file.clone(),
                generation: AtomicU64::new(0),
                written: Mutex::new(0),
            }),
            config: Arc::new(config),
            events,
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

    /// Writes the world to the state file, if one is configured.
    pub async fn save(&self) {
        let Some(path) = self.persister.path.clone() else {
            return;
        };
        let persister = self.persister.clone();
        let snapshot = self.with_world(|w| persister.snapshot(w));
        let result =
            tokio::task::spawn_blocking(move || persister.write(&path, snapshot.0, &snapshot.1))
                .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("sandbox: could not save state: {e}"),
            Err(e) => tracing::warn!("sandbox: state save task failed: {e}"),
        }
    }
}
