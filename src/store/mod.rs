//! btw's durable store: the ledger of mutating calls, runs, events, scheduled jobs and recipe
//! versions, in SQLite (one file, the embedded default) or PostgreSQL (shared by several daemons).
//!
//! [`Store`] is the one type callers hold, with one synchronous method per operation; it hands
//! each call to its backend (`api.rs`). An enum rather than a trait object: the SQLite queries
//! stay in the files they always lived in (`impl Sqlite` blocks, one per concern), which one
//! trait impl could not span, and the compiler checks that both backends offer every method with
//! the same signature. What is shared is the domain (rows, the job rules in `jobs.rs`, state
//! ranks, lease owners); only the SQL differs.
//!
//! Everything is synchronous and quick; callers on the async runtime wrap it in `spawn_blocking`
//! where it matters, scripts call it from their own blocking thread.

mod alerts;
mod api;
mod console;
mod daemon;
mod dispatch;
mod events;
mod exec;
mod job_actions;
mod job_claims;
mod jobs;
mod kv;
mod leases;
mod ledger;
mod migrations;
pub mod postgres;
mod recipes;
mod retention;
mod rows;
mod runs;
mod sqlite;

pub use alerts::PendingAlert;
pub use console::{EventSummary, RunFilter, RunSummary};
pub use daemon::UnfinishedRun;
pub use dispatch::TriggerRun;
pub use events::{state_rank, EventHub, Notification};
// The job model the store's interface speaks, from its one home (`crate::jobs`).
pub use crate::jobs::{
    new_job_id, Again, ClaimBatch, ClaimRequest, ClaimedJob, Completion, DueDecision, Job, JobKind,
    JobState, NewJob,
};
pub use leases::{new_lease_owner, owner_is_gone, HeldLease, LeaseHolder, LEASE_TTL};
pub use ledger::{LedgerEntry, StepState};
pub use recipes::{recipe_hash, Heartbeat};
pub use retention::Pruned;
pub use runs::RunRecord;

pub(crate) use sqlite::Sqlite;

use std::path::{Path, PathBuf};

/// A store error, said plainly (the store and what failed). A PostgreSQL store is named by its
/// URL without the password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store {path}: {detail}")]
pub struct StoreError {
    pub path: String,
    pub detail: String,
}

/// Which database a store is.
#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(Sqlite),
    Postgres(postgres::Pg),
}

/// The store. Cheap to clone; clones share one connection (SQLite) or pool (PostgreSQL).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The file, or the PostgreSQL URL without its password.
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Whether `location` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    let l = location.trim_start().to_ascii_lowercase();
    l.starts_with("postgres://") || l.starts_with("postgresql://")
}

impl Store {
    /// Opens the store at `path` and brings its schema up to date: a SQLite file (created if
    /// needed), or a PostgreSQL database when `path` is a `postgres://` / `postgresql://` URL.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let text = path.to_string_lossy();
        if is_postgres_url(&text) {
            let pg = postgres::Pg::connect(text.trim())?;
            return Ok(Store {
                path: PathBuf::from(pg.display_url()),
                backend: Backend::Postgres(pg),
            });
        }
        Ok(Store {
            backend: Backend::Sqlite(Sqlite::open(path)?),
            path: path.to_path_buf(),
        })
    }

    /// An in-memory SQLite store, for tests and the REPL's scratch sessions.
    pub fn in_memory() -> Store {
        Store {
            backend: Backend::Sqlite(Sqlite::in_memory()),
            path: PathBuf::from(":memory:"),
        }
    }

    /// The SQLite file, or the PostgreSQL URL without its password: what to show a person.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether several daemons may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// What wakes a daemon when another process adds a job or stores an event (PostgreSQL's
    /// `LISTEN/NOTIFY`); `None` for SQLite, where the daemon polls.
    pub fn wakeups(&self) -> Option<Wakeups> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.wakeups()),
        }
    }
}

pub use postgres::{woken, Wakeups};

pub fn now_rfc3339() -> String {
    crate::time::rfc3339_millis(chrono::Utc::now())
}
