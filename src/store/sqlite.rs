//! The SQLite backend: one file (WAL) behind one connection, the embedded default. Its queries
//! live beside the store's other files (`jobs.rs`, `ledger.rs`, …) as `impl Sqlite` blocks.

use super::{migrations, writer, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The SQLite store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pub(super) conn: Arc<Mutex<Connection>>,
    pub(super) path: PathBuf,
    /// Group commit for the ledger's writes (see `writer.rs`).
    pub(super) writer: writer::Writer,
}

impl Sqlite {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let err = |detail: String| StoreError {
            path: path.display().to_string(),
            detail,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create folder: {e}")))?;
        }
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        conn.busy_timeout(BUSY_WAIT)
            .map_err(|e| err(e.to_string()))?;
        prepare_with_retry(&conn).map_err(|e| err(e.to_string()))?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(Sqlite {
            writer: writer::Writer::start(conn.clone()),
            conn,
            path: path.to_path_buf(),
        })
    }

    /// An in-memory store, for tests and the REPL's scratch sessions.
    pub fn in_memory() -> Sqlite {
        let conn = Connection::open_in_memory().expect("SQLite in memory");
        migrations::migrate(&conn).expect("schema");
        let conn = Arc::new(Mutex::new(conn));
        Sqlite {
            writer: writer::Writer::start(conn.clone()),
            conn,
            path: PathBuf::from(":memory:"),
        }
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent; keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }
}

/// How long an open waits for other btw processes holding the file's write lock.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Sets the connection's modes and migrates the schema, retrying while another process holds
/// the file. Switching a new file to WAL takes an exclusive lock and SQLite answers "database is
/// locked" at once rather than calling the busy handler, so several btw processes opening a new
/// store together need this loop, not only `busy_timeout`.
fn prepare_with_retry(conn: &Connection) -> rusqlite::Result<()> {
    use backon::{BlockingRetryable, ExponentialBuilder};
    let started = std::time::Instant::now();
    (|| prepare(conn))
        .retry(
            ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(2))
                .with_max_delay(Duration::from_millis(100))
                .without_max_times()
                .with_jitter(),
        )
        .sleep(std::thread::sleep)
        .when(|e| is_busy(e) && started.elapsed() < BUSY_WAIT)
        .call()
}

fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer, and a crash loses at most the transaction in flight.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations::migrate(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
