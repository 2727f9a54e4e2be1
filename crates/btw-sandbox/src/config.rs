//! How to run a sandbox: credentials, clock speed, order pace, persistence and faults.

use crate::faults::FaultRule;

/// How to run a sandbox.
#[derive(Clone)]
pub struct SandboxConfig {
    /// When set, only this key/secret pair gets a token; otherwise any non-empty pair does.
    pub credentials: Option<(String, String)>,
    /// Access token lifetime in seconds on the clock the token was fetched on.
    pub token_ttl_secs: u64,
    /// Sandbox-clock seconds between order states (acknowledged → inProgress → completed).
    pub order_step_secs: f64,
    /// Sandbox clock speed relative to real time.
    pub clock_speed: f64,
    /// Where state is loaded from on start and saved after every mutating request.
    pub state_file: Option<std::path::PathBuf>,
    /// Fault-injection rules in force from the start (see `faults.rs`; `btw sandbox --fault`).
    pub faults: Vec<FaultRule>,
    /// Sandbox-clock seconds from a number import order (or its amended numbers) to the losing
    /// provider's accept/reject decision (see `world/port.rs`).
    pub lcp_decision_secs: f64,
    /// The idle timeout of whoever runs the sandbox (it stops it after this long without a
    /// request), as the health answer reports it: other btw processes judge by it whether the
    /// sandbox is still in use. `None`: it runs until stopped.
    pub idle_timeout: Option<std::time::Duration>,
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
            idle_timeout: None,
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
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}
