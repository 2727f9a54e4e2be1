//! btw's durable store: one SQLite file (WAL) for the ledger of mutating calls and the runs.
//!
//! Everything here is synchronous and quick; callers on the async runtime wrap it in
//! `spawn_blocking` where it matters, scripts call it from their own blocking thread.

mod alerts;
mod console;
mod daemon;
mod dispatch;
mod events;
mod job_actions;
mod job_claims;
mod jobs;
mod kv;
mod leases;
mod ledger;
mod migrations;
mod recipes;
mod retention;
mod runs;
mod writer;

pub use alerts::PendingAlert;
pub use console::{EventSummary, RunFilter, RunSummary};
pub use daemon::UnfinishedRun;
pub use dispatch::TriggerRun;
pub use events::{state_rank, EventHub, Notification};
pub use job_actions::Again;
pub use jobs::{
    new_job_id, ClaimBatch, ClaimRequest, ClaimedJob, Completion, DueDecision, Job, JobKind,
    JobState, NewJob,
};
pub use leases::{new_lease_owner, owner_is_gone, HeldLease, LeaseHolder, LEASE_TTL};
pub use ledger::{LedgerEntry, StepState};
pub use recipes::{recipe_hash, Heartbeat};
pub use retention::Pruned;
pub use runs::RunRecord;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A store error, said plainly (the path and what failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("store {path}: {detail}")]
pub struct StoreError {
    pub path: String,
    pub detail: String,
}

/// The store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Group commit for the ledger's writes (see `writer.rs`).
    writer: writer::Writer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |detail: String| StoreError {
            path: path.display().to_string(),
            detail,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create folder: {e}")))?;
        }
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| err(e.to_string()))?;
        // WAL: readers never block the writer, and a crash loses at most the transaction in flight.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| err(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| err(e.to_string()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| err(e.to_string()))?;
        migrations::migrate(&conn).map_err(|e| err(e.to_string()))?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(Store {
            writer: writer::Writer::start(conn.clone()),
            conn,
            path: path.to_path_buf(),
        })
    }

    /// An in-memory store, for tests and the REPL's scratch sessions.
    pub fn in_memory() -> Store {
        let conn = Connection::open_in_memory().expect("SQLite in memory");
        migrations::migrate(&conn).expect("schema");
        let conn = Arc::new(Mutex::new(conn));
        Store {
            writer: writer::Writer::start(conn.clone()),
            conn,
            path: PathBuf::from(":memory:"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent; keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }
}

pub fn now_rfc3339() -> String {
    crate::time::rfc3339_millis(chrono::Utc::now())
}
