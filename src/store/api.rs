//! The store's operations, each handed to the backend the store was opened on. One list, so a
//! method missing from either backend (or with another signature) does not compile.

use super::{
    Again, Backend, ClaimBatch, ClaimRequest, Completion, DueDecision, EventSummary, Heartbeat,
    Job, JobState, LeaseHolder, LedgerEntry, NewJob, Notification, PendingAlert, Pruned, RunFilter,
    RunRecord, RunSummary, StepState, Store, StoreError, TriggerRun, UnfinishedRun,
};
use crate::api::Operation;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

macro_rules! delegate {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(s) => s.$name($($arg),*),
                        Backend::Postgres(p) => p.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

delegate! {
    // Scheduled jobs (jobs.rs, job_claims.rs, job_actions.rs).
    /// Adds a job, `scheduled` to fire at `next_run_at`; adding the same job again is harmless.
    fn job_add(&self, new: &NewJob, now: DateTime<Utc>) -> Result<Job, StoreError>;
    fn job_get(&self, id: &str) -> Result<Option<Job>, StoreError>;
    /// Jobs in any of `states` (every job when empty), soonest first, then newest.
    fn job_list(&self, states: &[JobState]) -> Result<Vec<Job>, StoreError>;
    /// Cancels a job so it never fires again (a run in progress finishes).
    fn job_cancel(&self, id: &str, now: DateTime<Utc>) -> Result<Job, StoreError>;
    /// Extends a running job's lease; `false` when it is no longer this owner's.
    fn job_renew(&self, id: &str, owner: &str, run_id: &str, wall_now: DateTime<Utc>, lease: Duration) -> Result<bool, StoreError>;
    /// Gives a running job's lease up at once, so the next claimer resumes it.
    fn job_release(&self, id: &str, owner: &str, run_id: &str, wall_now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records how a firing ended; `None` when it is no longer this owner's.
    fn job_complete(&self, id: &str, owner: &str, run_id: &str, done: &Completion) -> Result<Option<Job>, StoreError>;
    /// Takes what is due: crashed firings (resumed with their run id) and due jobs.
    fn job_claim_due(&self, req: &ClaimRequest, decide: &mut dyn FnMut(&Job) -> DueDecision) -> Result<ClaimBatch, StoreError>;
    /// Cancels a live job, recording why; ended jobs are left as they are (`None`).
    fn job_cancel_because(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<Option<Job>, StoreError>;
    /// The live jobs made by the header of the recipe at `path`.
    fn jobs_owned_by(&self, path: &str) -> Result<Vec<Job>, StoreError>;
    /// Every live job made by a recipe header.
    fn jobs_owned(&self) -> Result<Vec<Job>, StoreError>;
    /// Moves a job to the stored recipe version `hash`.
    fn job_repin(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<Job, StoreError>;
    /// Sets a job's own catch-up window (`None`: the daemon's).
    fn job_set_catch_up(&self, id: &str, secs: Option<u64>, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Brings a job back, due at `now`.
    fn job_again(&self, id: &str, how: Again, now: DateTime<Utc>) -> Result<Job, StoreError>;

    // The ledger (ledger.rs) and runs (runs.rs).
    fn ledger_get(&self, run_id: &str, step: u64) -> Result<Option<LedgerEntry>, StoreError>;
    /// Records that a step is about to call BT; returns once committed.
    fn ledger_begin(&self, run_id: &str, step: u64, operation: Operation, request: &Value) -> Result<(), StoreError>;
    /// Records a step that is already done, in one write.
    fn ledger_record_done(&self, run_id: &str, step: u64, operation: Operation, request: &Value, result: &Value) -> Result<(), StoreError>;
    /// Records a read's answer without waiting for its commit (see `ledger.rs`); PostgreSQL
    /// writes it at once.
    fn ledger_queue_done(&self, run_id: &str, step: u64, operation: Operation, request: &Value, result: &Value) -> Result<(), StoreError>;
    /// Waits until every write queued so far is committed.
    fn flush(&self) -> Result<(), StoreError>;
    /// Records a step's outcome.
    fn ledger_finish(&self, run_id: &str, step: u64, state: StepState, value: &Value) -> Result<(), StoreError>;
    /// Every step of a run, in order.
    fn ledger_steps(&self, run_id: &str) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Records the start of a run (or of its resumption).
    fn run_started(&self, run_id: &str, script: &str, script_hash: &str, params: &Value, profile: &str) -> Result<(), StoreError>;
    /// Records how a run ended, with its report.
    fn run_finished(&self, run_id: &str, outcome: &str, report: &Value) -> Result<(), StoreError>;
    /// The most recently started run.
    fn latest_run_id(&self) -> Result<Option<String>, StoreError>;
    fn run_get(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;

    // Run-id leases (leases.rs).
    /// Takes the lease of `run_id` for `ttl`: `None` when taken, else who holds it.
    fn lease_acquire(&self, run_id: &str, owner: &str, ttl: Duration) -> Result<Option<LeaseHolder>, StoreError>;
    /// Extends a lease this owner holds; `false` when it is no longer this owner's.
    fn lease_renew(&self, run_id: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Gives a lease up (only this owner's).
    fn lease_release(&self, run_id: &str, owner: &str) -> Result<(), StoreError>;

    // Notifications (events.rs, dispatch.rs).
    /// Stores a notification unless its event id is known; returns whether it was new.
    fn record_notification(&self, n: &Notification) -> Result<bool, StoreError>;
    /// The first stored event of `event_type` for an order.
    fn find_notification(&self, order_id: &str, event_type: &str) -> Result<Option<Value>, StoreError>;
    /// The furthest state the notifications have told of an order.
    fn order_state(&self, order_id: &str) -> Result<Option<String>, StoreError>;
    /// How many notifications are stored for an order.
    fn notification_count(&self, order_id: &str) -> Result<u64, StoreError>;
    /// Stored events not dispatched yet, oldest first, at most `limit`.
    fn undispatched(&self, limit: usize) -> Result<Vec<Notification>, StoreError>;
    /// Marks `event_id` dispatched and queues `runs`, once, in one transaction.
    fn dispatch_event(&self, event_id: &str, runs: &[TriggerRun]) -> Result<Vec<TriggerRun>, StoreError>;

    // The daemon (daemon.rs, recipes.rs).
    /// Records a run queued (not started yet): a restart resumes it.
    fn daemon_run_queued(&self, run_id: &str, recipe: &str, params: &Value, origin: &str, owner: &str) -> Result<(), StoreError>;
    /// Claims a run of a recipe for a key: true the first time only.
    fn claim_drop(&self, path: &str, hash: &str, run_id: &str) -> Result<bool, StoreError>;
    /// Records that a run starts (again); returns which attempt this is.
    fn daemon_run_started(&self, run_id: &str, recipe: &str, params: &Value, origin: &str, owner: &str) -> Result<u32, StoreError>;
    /// Marks a daemon run `done`, or `interrupted`.
    fn daemon_run_finished(&self, run_id: &str, interrupted: bool) -> Result<(), StoreError>;
    /// Runs left `running` or `interrupted`.
    fn daemon_unfinished(&self) -> Result<Vec<UnfinishedRun>, StoreError>;
    /// Takes an unfinished run over from `from` (a dead daemon; `None`: no owner recorded) for
    /// `to`: true for one taker only.
    fn daemon_run_adopt(&self, run_id: &str, from: Option<&str>, to: &str) -> Result<bool, StoreError>;
    /// Keeps `source` (once per content); returns its hash.
    fn recipe_version_put(&self, path: &str, source: &str) -> Result<String, StoreError>;
    /// The text of a stored version.
    fn recipe_version(&self, hash: &str) -> Result<Option<String>, StoreError>;
    /// Records `source` as the last good version of the watched recipe at `path`.
    fn recipe_head_set(&self, path: &str, source: &str) -> Result<String, StoreError>;
    /// The last good version of a watched recipe: its hash and text.
    fn recipe_head(&self, path: &str) -> Result<Option<(String, String)>, StoreError>;
    /// Forgets a watched recipe's last good version.
    fn recipe_head_clear(&self, path: &str) -> Result<(), StoreError>;
    /// Records that the daemon `owner` is alive now.
    fn heartbeat(&self, owner: &str, recipes: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// A daemon stopping says so.
    fn heartbeat_end(&self, owner: &str) -> Result<(), StoreError>;
    /// The most recent heartbeat on this store, if any.
    fn last_heartbeat(&self) -> Result<Option<Heartbeat>, StoreError>;
    /// Every daemon's last heartbeat, most recent first: several daemons may share a store.
    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError>;

    // Alerts (alerts.rs), small values (kv.rs), the console (console.rs), retention.
    /// Queues an alert, due now.
    fn alert_enqueue(&self, id: &str, event: &str, payload: &Value) -> Result<(), StoreError>;
    /// Undelivered alerts due by `now`, oldest first.
    fn alerts_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<PendingAlert>, StoreError>;
    fn alert_delivered(&self, id: &str) -> Result<(), StoreError>;
    /// Records a failed attempt; the next one is due at `next`.
    fn alert_failed(&self, id: &str, error: &str, next: DateTime<Utc>) -> Result<(), StoreError>;
    /// Alerts not delivered yet.
    fn alerts_pending(&self) -> Result<u64, StoreError>;
    /// The value stored under `key`, if any.
    fn value(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// The value under `key`, storing `make()` first when there is none.
    fn value_or_insert(&self, key: &str, make: impl FnOnce() -> String) -> Result<String, StoreError>;
    /// Runs newest first, filtered.
    fn runs_list(&self, f: &RunFilter) -> Result<Vec<RunSummary>, StoreError>;
    /// Jobs scheduled and due by `now` (RFC 3339), and jobs missed.
    fn jobs_due_and_missed(&self, now: &str) -> Result<(u64, u64), StoreError>;
    /// Whether the store takes a write now, waiting at most `wait`. Nothing is written.
    fn probe_writable(&self, wait: Duration) -> Result<(), StoreError>;
    /// The latest notifications received, newest first.
    fn events_recent(&self, limit: usize) -> Result<Vec<EventSummary>, StoreError>;
    /// Where a daemon run came from, if it was one.
    fn run_origin(&self, run_id: &str) -> Result<Option<String>, StoreError>;
    /// Prunes what finished before `cutoff` and all but the `keep` most recent.
    fn prune(&self, cutoff: &str, keep: usize) -> Result<Pruned, StoreError>;
}

impl Store {
    /// Ends the store for this process: queued writes are committed and the connection closed
    /// (SQLite then leaves no WAL for the next start to replay; PostgreSQL's pool is dropped).
    pub fn close(self) {
        match self.backend {
            Backend::Sqlite(s) => s.close(),
            Backend::Postgres(p) => drop(p),
        }
    }
}
