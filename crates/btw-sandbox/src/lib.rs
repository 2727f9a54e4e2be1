//! The embedded BT Wholesale sandbox: an axum server that behaves like BT's WHC test environment.
//!
//! Start it with [`start`] (on a bound listener) or [`start_on`] (on an address); it runs on the
//! caller's tokio runtime until [`SandboxHandle::shutdown`]. Dropping the handle leaves it running.
//! Order state changes can be observed with [`SandboxState::subscribe`].
//!
//! It depends on nothing of btw. Layers, each importing only those before it: `error` and
//! `wire` (TMF helpers); `world`, the domain with no HTTP; `store` (persistence) and `state`
//! (the world behind a lock); `delivery` (notifications out); `http` (routers per resource,
//! gateway and fault middleware); this file, which starts it all.
//!
//! The wire contract follows.
//!
#![doc = include_str!("../CONTRACT.md")]
#![forbid(unsafe_code)]

mod config;
mod delivery;
mod error;
pub mod faults;
mod http;
mod state;
mod store;
mod wire;
mod world;

pub use config::SandboxConfig;
pub use error::ApiError;
pub use state::{NotSaved, SandboxState};
pub use world::{calendar, OrderState, OrderTransition, World};

/// The sandbox-only request header that names the run clock a request runs on (CONTRACT.md:
/// Clocks). BT never sees it.
pub const CLOCK_HEADER: &str = "x-sandbox-clock";

/// This sandbox's version, as its health answer (`GET /__sandbox/health`) reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This build, as the health answer reports it beside the version: the version, then the size
/// and modification time of the running executable (read once), so that a btw rebuilt at the
/// same version tells a sandbox started by the previous build from one of its own.
pub fn build_id() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        let exe = std::env::current_exe().and_then(std::fs::metadata);
        match exe {
            Ok(m) => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{VERSION}+{:x}.{mtime:x}", m.len())
            }
            Err(_) => format!("{VERSION}+unknown"),
        }
    })
}

use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running sandbox.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: SandboxState,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    ticker: JoinHandle<()>,
    persister: JoinHandle<()>,
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a wildcard bind is reported as loopback).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// The sandbox's state (e.g. to subscribe to order transitions).
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// Time since the last request (health probes aside).
    pub fn idle_for(&self) -> Duration {
        self.state.idle_for()
    }

    /// Resolves when a client asked the sandbox to stop (`POST /__sandbox/shutdown`).
    pub async fn stop_requested(&self) {
        self.state.stop_requested().await
    }

    /// Stops accepting requests, lets in-flight ones finish (up to 5 s) and saves the state.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        self.ticker.abort();
        let _ = self.ticker.await;
        self.persister.abort();
        let _ = self.persister.await;
        self.state.flush_final().await;
    }
}

/// Serves on an already-bound listener (tests bind `127.0.0.1:0`).
pub async fn start(
    listener: tokio::net::TcpListener,
    config: SandboxConfig,
) -> std::io::Result<SandboxHandle> {
    let addr = listener.local_addr()?;
    faults::check_config(&config.faults)?;
    let faults = std::sync::Arc::new(faults::Faults::new(config.faults.clone()));
    let state = SandboxState::load_or_seed(config)?;
    let app = http::router(state.clone(), faults);
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped handle means "keep running", not "stop".
                if signal.await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await
    });
    let ticker = tokio::spawn(tick_loop(state.clone()));
    let persister = tokio::spawn(state.clone().persist_loop());
    tracing::info!("BT sandbox listening on http://{addr}");
    Ok(SandboxHandle {
        addr,
        state,
        shutdown,
        server,
        ticker,
        persister,
    })
}

/// Binds `addr` (e.g. `"127.0.0.1:8099"`) and serves.
pub async fn start_on(addr: &str, config: SandboxConfig) -> std::io::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    start(listener, config).await
}

/// Moves orders along even when nobody is asking, saving when something changed.
async fn tick_loop(state: SandboxState) {
    // Notification delivery lives and dies with the ticker (aborting this future drops it).
    let _delivery = delivery::spawn_delivery(state.clone());
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_retention = std::time::Instant::now();
    loop {
        interval.tick().await;
        let mut changed = !state.tick().is_empty();
        // Retention looks at every object: once a minute is plenty for a 24 h rule.
        if last_retention.elapsed() >= Duration::from_secs(60) {
            last_retention = std::time::Instant::now();
            let dropped = state.drop_idle_clocks();
            if !dropped.is_empty() {
                tracing::info!(clocks = ?dropped, "sandbox: idle run clocks dropped");
                changed = true;
            }
        }
        // A failed save is logged and tried again by the saver; nobody waits for an answer here.
        if changed {
            let _ = state.save().await;
        }
    }
}
