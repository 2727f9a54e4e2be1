//! The embedded BT Wholesale sandbox: an axum server that behaves like BT's WHC test environment.
//!
//! Start it with [`start`] (on a bound listener) or [`start_on`] (on an address); it runs on the
//! caller's tokio runtime until [`SandboxHandle::shutdown`]. Dropping the handle leaves it running.
//! Order state changes can be observed with [`state::SandboxState::subscribe`].
//!
//! The wire contract follows.
//!
#![doc = include_str!("../CONTRACT.md")]

pub mod calendar;
pub mod clock;
pub mod error;
pub mod ethernet_state;
pub mod faults;
pub mod gateway;
pub mod model;
pub mod notify;
pub mod persist;
pub mod porting;
pub mod routes;
pub mod state;

use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How to run a sandbox.
#[derive(Clone)]
pub struct SandboxConfig {
    /// When set, only this key/secret pair gets a token; otherwise any non-empty pair does.
    pub credentials: Option<(String, String)>,
    /// Access token lifetime in sandbox-clock seconds.
    pub token_ttl_secs: u64,
    /// Sandbox-clock seconds between order states (acknowledged → inProgress → completed).
    pub order_step_secs: f64,
    /// Sandbox clock speed relative to real time.
    pub clock_speed: f64,
    /// Where state is loaded from on start and saved after every mutating request.
    pub state_file: Option<std::path::PathBuf>,
    /// Fault-injection rules in force from the start (see `faults.rs`; `btw sandbox --fault`).
    pub faults: Vec<faults::FaultRule>,
    /// Sandbox-clock seconds from a number import order (or its amended numbers) to the losing
    /// provider's accept/reject decision (see `porting.rs`).
    pub lcp_decision_secs: f64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            credentials: None,
            token_ttl_secs: 899,
            order_step_secs: 2.0,
            clock_speed: 1.0,
            state_file: None,
            faults: Vec::new(),
            lcp_decision_secs: 5.0,
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(k, _)| (k, "<redacted>")),
            )
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("order_step_secs", &self.order_step_secs)
            .field("clock_speed", &self.clock_speed)
            .field("state_file", &self.state_file)
            .field("faults", &self.faults)
            .field("lcp_decision_secs", &self.lcp_decision_secs)
            .finish()
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: state::SandboxState,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    ticker: JoinHandle<()>,
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
    pub fn state(&self) -> &state::SandboxState {
        &self.state
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
        self.state.save().await;
    }
}

/// The sandbox's routes, gateway and fallbacks over `state`.
pub fn router(state: state::SandboxState) -> Router {
    Router::new()
        .merge(routes::oauth::router())
        .merge(routes::verify::router())
        .merge(routes::qualify::router())
        .merge(routes::numbers::router())
        .merge(routes::address::router())
        .merge(routes::orders::router())
        .merge(routes::porting::router())
        .merge(routes::notifications::router())
        .merge(routes::ethernet::router())
        .merge(routes::admin::router())
        .merge(routes::faults::router())
        .fallback(gateway::not_found)
        .method_not_allowed_fallback(gateway::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway::gateway,
        ))
        // Outermost, so that faults hit even the token call and gateway errors.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::layer,
        ))
        .with_state(state)
}

/// Serves on an already-bound listener (tests bind `127.0.0.1:0`).
pub async fn start(
    listener: tokio::net::TcpListener,
    config: SandboxConfig,
) -> std::io::Result<SandboxHandle> {
    let addr = listener.local_addr()?;
    faults::check_config(&config.faults)?;
    let state = state::SandboxState::load_or_seed(config)?;
    let app = router(state.clone());
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
    tracing::info!("BT sandbox listening on http://{addr}");
    Ok(SandboxHandle {
        addr,
        state,
        shutdown,
        server,
        ticker,
    })
}

/// Binds `addr` (e.g. `"127.0.0.1:8099"`) and serves.
pub async fn start_on(addr: &str, config: SandboxConfig) -> std::io::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    start(listener, config).await
}

/// Moves orders along even when nobody is asking, saving when something changed.
async fn tick_loop(state: state::SandboxState) {
    // Notification delivery lives and dies with the ticker (aborting this future drops it).
    let _delivery = notify::spawn_delivery(state.clone());
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        if !state.tick().is_empty() {
            state.save().await;
        }
    }
}
