//! btw's durable store: the ledger of mutating calls, runs, events, scheduled jobs and recipe
//! versions, in SQLite (one file, the embedded default) or PostgreSQL (shared by several daemons).
//!
//! [`Store`] is the one type callers hold, with one synchronous method per operation. Each
//! operation is written once, in its concern's file (`ledger.rs`, `events.rs`, `jobs.rs`, …),
//! against a small executor (`exec.rs`) that a SQLite connection and a PostgreSQL client both
//! implement; the rows and rules are backend-free (`model.rs`, and the job model in
//! `crate::jobs`), and so is the schema (`migrations.rs`). What is engine-specific lives in
//! `sqlite/` (one connection, the group-commit writer, opening) and `postgres/` (the pool and
//! its runtime, LISTEN/NOTIFY wake-ups, connection errors); `api.rs` is where they meet.
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
mod model;
pub mod postgres;
mod recipes;
mod retention;
mod rows;
mod runs;
mod sqlite;

pub use events::EventHub;
// The job model the store's interface speaks, from its one home (`crate::jobs`).
pub use crate::jobs::{
    new_job_id, Again, ClaimBatch, ClaimRequest, ClaimedJob, Completion, DueDecision, Job, JobKind,
    JobState, NewJob,
};
pub use leases::{lease_ttl, set_lease_ttl, Fence, HeldLease, LEASE_LOST, LEASE_TTL};
pub use model::{
    new_lease_owner, owner_is_gone, recipe_hash, recipe_job_id, state_rank, AlertQueueState,
    EventSummary, Heartbeat, LeaseHolder, LedgerEntry, Notification, OutcomeCount, PendingAlert,
    Pruned, RunFilter, RunRecord, RunSummary, StepState, TriggerRun, UnfinishedRun,
};
pub use runs::RunStart;

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

    /// [`Store::open`], except that a SQLite file is opened (created, its schema checked) by
    /// the store's first use: a process that ends up not using it never touches the file.
    /// Errors show at that first use. A PostgreSQL store connects at once.
    pub fn open_lazy(path: &Path) -> Result<Store, StoreError> {
        if is_postgres_url(&path.to_string_lossy()) {
            return Store::open(path);
        }
        // The folder is there from the start, as when the store was opened at once (it is the
        // data folder, where other files of the command may go).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError {
                path: path.display().to_string(),
                detail: format!("cannot create folder: {e}"),
            })?;
        }
        Ok(Store {
            backend: Backend::Sqlite(Sqlite::lazy(path)),
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
