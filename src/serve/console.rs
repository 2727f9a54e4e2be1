//! What the console's handlers share: the daemon, its clock, the templates and the tokens.

use super::Daemon;
use crate::api::Secret;
use crate::schedule::Clock;
use std::sync::Arc;

/// What the console's handlers share.
pub(super) struct Console {
    pub(super) daemon: Arc<Daemon>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) templates: minijinja::Environment<'static>,
    /// Put in every form and checked on every POST: another site cannot read it, so it cannot
    /// make an operator's browser press a button.
    pub(super) csrf: String,
    pub(super) token: Option<Secret>,
    /// The notification listener the profile expects, probed by `/healthz`.
    pub(super) listener: super::listener_health::ListenerHealth,
    /// How long alerts may stay undeliverable before the daemon counts as unhealthy.
    pub(super) alert_limit: std::time::Duration,
}
