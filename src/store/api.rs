//! The store's operations, each handed to the backend the store was opened on. One list, so a
//! method missing from either backend (or with another signature) does not compile.

use super::exec::{DbErr, Exec, Write};
use super::{
    Again, Backend, ClaimBatch, ClaimRequest, Completion, DueDecision, Job, JobState, NewJob,
    Store, StoreError,
};
use chrono::{DateTime, Utc};
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

    // The console (sqlite.rs, postgres/upkeep.rs).
    /// Whether the store takes a write now, waiting at most `wait`. Nothing is written.
    fn probe_writable(&self, wait: Duration) -> Result<(), StoreError>;
}

impl Store {
    /// Runs `f` on a connection of the store's database: the shared statements' way in.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.with(f),
            Backend::Postgres(p) => p.with(f),
        }
    }

    /// A store error saying `detail`.
    pub(crate) fn error(&self, detail: impl std::fmt::Display) -> StoreError {
        match &self.backend {
            Backend::Sqlite(s) => s.error(detail),
            Backend::Postgres(p) => p.error(DbErr(detail.to_string())),
        }
    }

    /// A write committed before this returns (SQLite: through its group-commit writer).
    pub(crate) fn write_committed(&self, w: Write) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write_committed(w),
            Backend::Postgres(p) => p.with(|x| w.apply(x)),
        }
    }

    /// A write queued behind the others without waiting for its commit (SQLite's group-commit
    /// writer; PostgreSQL has no queue and writes it at once).
    pub(crate) fn write_queued(&self, w: Write, what: &'static str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write_queued(w, what),
            Backend::Postgres(p) => p.with(|x| w.apply(x)).map(|_| ()),
        }
    }

    /// Waits until every write queued so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.flush(),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// Runs `f` in one transaction.
    pub(crate) fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, StoreError> {
        self.with(|x| x.in_transaction(f))
    }

    /// Ends the store for this process: queued writes are committed and the connection closed
    /// (SQLite then leaves no WAL for the next start to replay; PostgreSQL's pool is dropped).
    pub fn close(self) {
        match self.backend {
            Backend::Sqlite(s) => s.close(),
            Backend::Postgres(p) => drop(p),
        }
    }
}
