//! The SQLite backend: one file (WAL) behind one connection, the embedded default, and its
//! side of the executor (`exec.rs`): the shared statements run on it as they are written.

mod exec;
mod writer;

use super::exec::{DbErr, Exec, Write, WriteFn};
use super::{migrations, StoreError};
use exec::SqliteExec;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The SQLite store. Cheap to clone; clones share one connection, opened by the first clone
/// that needs it when the store was opened lazily ([`Sqlite::lazy`]).
#[derive(Clone)]
pub(crate) struct Sqlite {
    open: Arc<OnceLock<Result<Opened, StoreError>>>,
    path: PathBuf,
}

/// The open file: its one connection and the writer in front of it.
struct Opened {
    conn: Arc<Mutex<Connection>>,
    /// Group commit for the ledger's writes (see `writer.rs`).
    writer: writer::Writer,
}

impl Opened {
    fn on(conn: Connection) -> Opened {
        let conn = Arc::new(Mutex::new(conn));
        Opened {
            writer: writer::Writer::start(conn.clone()),
            conn,
        }
    }
}

impl Sqlite {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let s = Sqlite::lazy(path);
        s.opened()?;
        Ok(s)
    }

    /// The store at `path`, opened (as [`Sqlite::open`]) by its first use: a process that
    /// never uses it neither creates nor reads the file. An open that fails fails that use
    /// and every later one.
    pub fn lazy(path: &Path) -> Sqlite {
        Sqlite {
            open: Arc::new(OnceLock::new()),
            path: path.to_path_buf(),
        }
    }

    /// Whether the file has been opened (or its open tried).
    pub fn is_open(&self) -> bool {
        self.open.get().is_some()
    }

    fn opened(&self) -> Result<&Opened, StoreError> {
        self.open
            .get_or_init(|| open_file(&self.path).map(Opened::on))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// An in-memory store, for tests and the REPL's scratch sessions.
    pub fn in_memory() -> Sqlite {
        let conn = Connection::open_in_memory().expect("SQLite in memory");
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrations::migrate(&mut SqliteExec::new(&conn)).expect("schema");
        Sqlite {
            open: Arc::new(OnceLock::from(Ok(Opened::on(conn)))),
            path: PathBuf::from(":memory:"),
        }
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        // A panic while holding the lock leaves SQLite itself consistent; keep going.
        Ok(self
            .opened()?
            .conn
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `f` on the connection (held for its duration).
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, StoreError> {
        let conn = self.conn()?;
        f(&mut SqliteExec::new(&conn)).map_err(|e| self.error(e.0))
    }

    /// Whether the store takes a write now: a second connection takes the write lock and lets it
    /// go, waiting at most `wait` for another writer. Nothing is written.
    pub fn probe_writable(&self, wait: Duration) -> Result<(), StoreError> {
        if self.path.as_os_str() == ":memory:" {
            return Ok(());
        }
        let conn = Connection::open(&self.path).map_err(|e| self.error(e))?;
        conn.busy_timeout(wait).map_err(|e| self.error(e))?;
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(|e| self.error(format!("not writable: {e}")))
    }

    pub(super) fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }
}

/// Statements kept prepared per connection: every shared statement, with room to spare.
const STATEMENT_CACHE: usize = 128;

impl Sqlite {
    /// Applies `w` through the writer and returns once it is committed.
    pub(super) fn write_committed(&self, w: Write) -> Result<u64, StoreError> {
        self.opened()?
            .writer
            .write(writer::shared(w))
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// Applies `f` through the writer (in its own savepoint) and returns once it is committed.
    pub(super) fn write_committed_with(&self, f: WriteFn) -> Result<u64, StoreError> {
        self.opened()?
            .writer
            .write(Box::new(move |conn| {
                f(&mut SqliteExec::new(conn))
                    .map(|n| n as usize)
                    .map_err(|e| e.0)
            }))
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// Queues `w` without waiting for its commit (see [`Writer::queue`]).
    pub(super) fn write_queued(&self, w: Write, what: &'static str) -> Result<(), StoreError> {
        self.opened()?
            .writer
            .queue(writer::shared(w), what)
            .map_err(|e| self.error(e))
    }

    /// Waits until every write queued so far is committed (nothing to wait for, and nothing
    /// opened, when the store was never used).
    pub fn flush(&self) -> Result<(), StoreError> {
        let Some(Ok(opened)) = self.open.get() else {
            return Ok(());
        };
        opened
            .writer
            .write(Box::new(|_| Ok(0)))
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Ends the store for this process: what is queued is committed, the writer thread ends,
    /// and the connection closes when this was its last holder. The WAL is left as it is (see
    /// `prepare`): the next open reads it back. Writes through other clones fail afterwards.
    pub fn close(self) {
        let path = self.path.display().to_string();
        let cell = match Arc::try_unwrap(self.open) {
            Ok(cell) => cell,
            Err(shared) => {
                // Other clones hold the connection: the queued writes are committed, and the
                // connection closes with its last holder (or the process).
                if let Some(Ok(opened)) = shared.get() {
                    opened.writer.stop();
                }
                return;
            }
        };
        let Some(Ok(opened)) = cell.into_inner() else {
            return;
        };
        opened.writer.stop();
        if let Ok(m) = Arc::try_unwrap(opened.conn) {
            let conn = m.into_inner().unwrap_or_else(|p| p.into_inner());
            if let Err((_, e)) = conn.close() {
                tracing::warn!("closing the store {path}: {e}");
            }
        }
    }
}

/// Opens (creating if needed) the file at `path` and brings its schema up to date.
fn open_file(path: &Path) -> Result<Connection, StoreError> {
    let err = |detail: String| StoreError {
        path: path.display().to_string(),
        detail,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create folder: {e}")))?;
    }
    create_private_file(path).map_err(|e| err(format!("cannot create the store: {e}")))?;
    let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
    conn.busy_timeout(BUSY_WAIT)
        .map_err(|e| err(e.to_string()))?;
    prepare_with_retry(&conn).map_err(|e| err(e.detail))?;
    Ok(conn)
}

/// Creates a new store file readable by its owner alone: it may keep a run's secret
/// parameters, for a resume. SQLite gives the WAL and shared-memory files the same mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    // SQLite's own names (an in-memory database, a URI) are not files to create.
    let text = path.to_string_lossy();
    if text == ":memory:" || text.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// How long an open waits for other btw processes holding the file's write lock.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Sets the connection's modes and migrates the schema, retrying while another process holds
/// the file. Switching a new file to WAL takes an exclusive lock and SQLite answers "database is
/// locked" at once rather than calling the busy handler, so several btw processes opening a new
/// store together need this loop, not only `busy_timeout`.
fn prepare_with_retry(conn: &Connection) -> Result<(), Unprepared> {
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
        .when(|e| e.busy && started.elapsed() < BUSY_WAIT)
        .call()
}

/// Why a connection could not be prepared, and whether another process held the file.
struct Unprepared {
    busy: bool,
    detail: String,
}

fn prepare(conn: &Connection) -> Result<(), Unprepared> {
    let failed = |e: rusqlite::Error| Unprepared {
        busy: exec::is_busy(&e),
        detail: e.to_string(),
    };
    // WAL: readers never block the writer, and a crash loses at most the transaction in flight.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(failed)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(failed)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(failed)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The WAL stays for the next process (whose open reads it back) rather than being folded
    // into the database at every exit: that fold and the new WAL of the next run cost four
    // syncs a run. SQLite still checkpoints as the WAL grows (`wal_autocheckpoint`), and a
    // commit is as durable either way.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(failed)?;
    let mut x = SqliteExec::new(conn);
    if migrations::sqlite_is_current(&mut x).map_err(|e| Unprepared {
        busy: x.saw_busy(),
        detail: e.0,
    })? {
        return Ok(());
    }
    migrations::migrate(&mut x).map_err(|e| Unprepared {
        busy: x.saw_busy(),
        detail: e.0,
    })
}
