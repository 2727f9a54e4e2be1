//! The store's rows and domain types, and the rules that need no database: step states, state
//! ranks, lease owners, recipe hashes. No SQL and no driver here: the concern files read and
//! write these (`ledger.rs`, `events.rs`, …) with statements written once, and the job model
//! is `crate::jobs`.

use chrono::{DateTime, Utc};
use serde_json::Value;
// The ledger.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Written before the call: if it is still `started`, the call's outcome is unknown.
    Started,
    Done,
    Failed,
}

impl StepState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }
    pub(super) fn parse(s: &str) -> StepState {
        match s {
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            _ => StepState::Started,
        }
    }
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    pub step: u64,
    /// As stored: an [`Operation`]'s name, or a name from a version that had other operations.
    pub operation: String,
    pub request: Value,
    pub state: StepState,
    pub result: Option<Value>,
    pub error: Option<Value>,
}
// Runs.

/// A run as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub script: String,
    pub script_hash: String,
    pub params: Value,
    pub profile: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `ok`, or the failure kind.
    pub outcome: String,
    pub report: Option<Value>,
}
// Order notifications.

/// One notification as BT sent it, with the fields btw indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub event_id: String,
    pub event_type: String,
    pub event_time: String,
    pub order_id: String,
    /// The order's state as the event tells it, if it does.
    pub state: Option<String>,
    pub body: Value,
}

impl Notification {
    /// Reads BT's envelope `{eventId, eventTime, eventType, event: {productOrder: {id, state, …}}}`.
    pub fn from_envelope(body: Value) -> Result<Notification, String> {
        let s = |p: &str| body.pointer(p).and_then(Value::as_str).map(str::to_string);
        let need = |p: &str, name: &str| {
            s(p).filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is missing"))
        };
        Ok(Notification {
            event_id: need("/eventId", "eventId")?,
            event_type: need("/eventType", "eventType")?,
            event_time: need("/eventTime", "eventTime")?,
            order_id: need("/event/productOrder/id", "event.productOrder.id")?,
            state: s("/event/productOrder/state"),
            body,
        })
    }

    /// Stored envelopes, read back; one stored by an older btw in a shape this one no longer
    /// reads is skipped with a warning (nothing can fire it).
    pub(crate) fn from_stored(bodies: impl IntoIterator<Item = String>) -> Vec<Notification> {
        let mut out = Vec::new();
        for body in bodies {
            let parsed = serde_json::from_str(&body)
                .map_err(|e| e.to_string())
                .and_then(Notification::from_envelope);
            match parsed {
                Ok(n) => out.push(n),
                Err(e) => tracing::warn!("a stored notification cannot be read ({e}); skipped"),
            }
        }
        out
    }
}

/// Where a state stands in an order's life, so a late or repeated event never moves it back.
/// Unknown states rank lowest and never replace a known one.
pub fn state_rank(state: &str) -> i64 {
    match state {
        "acknowledged" => 10,
        "pending" => 20,
        "held" => 30,
        "inProgress" => 40,
        "assessingCancellation" => 50,
        "pendingCancellation" => 60,
        "partial" => 90,
        "completed" | "cancelled" | "failed" | "rejected" => 100,
        _ => 0,
    }
}

/// A trigger run an event causes: the recipe, the key that makes it once (event id and
/// trigger), and what the run is given.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRun {
    pub recipe: String,
    /// The recipe's identity across the daemons sharing the store: its name within its
    /// recipes folder (the folders sit at other paths on other daemons). With `key`, what runs
    /// once.
    pub name: String,
    pub key: String,
    pub run_id: String,
    pub params: Value,
    pub origin: String,
    /// The daemon that dispatches it (and runs it unless it dies first).
    pub owner: String,
}
// Run-id leases.

/// Who holds a run id's lease, and until when (UTC RFC 3339).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseHolder {
    pub owner: String,
    pub until: String,
}

/// A lease owner name for this process: host, process id and a random part (two runs of one
/// process hold two leases).
pub fn new_lease_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .unwrap_or_else(|| "localhost".into());
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &rand[..8])
}

/// Whether `owner` is a process of this host that no longer exists (killed before it could
/// release). Only said where the process table can be read; elsewhere the lease must expire.
pub fn owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let mine = new_lease_owner();
    let my_host = mine.split(':').next().unwrap_or_default();
    let proc_root = std::path::Path::new("/proc");
    host == my_host
        && proc_root.join("self").exists()
        && pid.parse::<u32>().is_ok()
        && !proc_root.join(pid).exists()
}
// The daemon.

/// A run the daemon started and had not seen finish.
#[derive(Clone, Debug, PartialEq)]
pub struct UnfinishedRun {
    pub run_id: String,
    pub recipe: String,
    pub params: Value,
    pub origin: String,
    /// The daemon that queued or last started it (`None`: recorded before daemons had owners).
    pub owner: Option<String>,
}

/// A recipe's content hash: the runner's (FNV-1a, 64 bits), so the daemon, the runs table
/// and the jobs name one text by one hash.
/// The id of the job a recipe's `at`/`cron` header makes: from the recipe's name relative to its
/// folder and its trigger (`trigger_key`: `at:RFC3339` or `cron:EXPR:ZONE`), never from where
/// the folder is, so daemons serving the same recipes from different paths share one job.
pub fn recipe_job_id(name: &str, trigger_key: &str) -> String {
    format!("recipe-{}", recipe_hash(&format!("{name}|{trigger_key}")))
}

pub fn recipe_hash(source: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A daemon seen on the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub owner: String,
    pub pid: u32,
    pub recipes: String,
    pub beat_at: DateTime<Utc>,
}
// Alerts, the console and retention.

/// An alert waiting to be posted.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAlert {
    pub id: String,
    pub event: String,
    pub payload: Value,
    pub attempts: u32,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Runs whose recipe path ends with this (a file name or a path).
    pub recipe: Option<String>,
    /// `ok`, `failed` (any outcome but ok and running), a class the front page counts
    /// (`bt_refused`, `bt_unavailable`, `timed_out`), or one outcome kind.
    pub outcome: Option<String>,
    /// Runs started at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// Daemon runs whose origin is this (`schedule:ID`) or starts with it and a colon
    /// (`schedule`, `inbox`, `event`, `alert`, `console`, `on-drop`); `command` for runs
    /// the daemon did not start (`btw run`).
    pub origin: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// One line of the runs list.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub recipe: String,
    pub script_hash: String,
    pub outcome: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Where a daemon run came from (`schedule:ID`, `inbox:FILE`, …); `None`: `btw run`.
    pub origin: Option<String>,
    /// How many times the daemon started it (more than one: resumed).
    pub attempts: Option<u32>,
    /// The failure of a failed run (its report's `error`).
    pub error: Option<Value>,
}

/// Runs counted by how they ended, as the front page and `btw status` sum them: `outcome`,
/// whether it started in the last hour, BT's HTTP status of a `bt` failure and whether a
/// `limit` failure was the run's time limit.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeCount {
    pub outcome: String,
    pub last_hour: bool,
    pub bt_status: Option<i64>,
    pub timed_out: bool,
    pub runs: u64,
}

/// The alert queue at a glance.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AlertQueueState {
    pub pending: u64,
    /// When the oldest undelivered alert was queued (RFC 3339).
    pub oldest_queued_at: Option<String>,
    /// When the oldest undelivered alert that has failed at least once was queued.
    pub failing_since: Option<String>,
    /// The latest delivery error.
    pub last_error: Option<String>,
}

/// An order notification as the console lists it, with the daemon runs it caused.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub order_id: String,
    pub event_type: String,
    pub state: Option<String>,
    pub received_at: String,
    pub runs: Vec<String>,
}

/// What one pass removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pruned {
    /// The daemon runs forgotten (their reports can go too).
    pub daemon_runs: Vec<String>,
    pub runs: usize,
    pub ledger_rows: usize,
    pub notifications: usize,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        self.daemon_runs.is_empty()
            && self.runs == 0
            && self.ledger_rows == 0
            && self.notifications == 0
    }
}
