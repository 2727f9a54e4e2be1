//! The SQLite backend: one file (WAL) behind one connection, the embedded default, and its
//! side of the executor (`exec.rs`): the shared statements run on it as they are written.

use super::exec::{render, Arg, DbErr, Engine, Exec, Row, Val};
use super::{migrations, writer, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};
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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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

    /// Runs `f` on the connection (held for its duration).
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        f(&mut SqliteExec(&conn)).map_err(|e| self.error(e.0))
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

/// The executor on a SQLite connection (or on a savepoint of the group-commit writer).
pub(super) struct SqliteExec<'c>(pub &'c Connection);

fn sqlite_error(e: rusqlite::Error) -> DbErr {
    DbErr(e.to_string())
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(Some(n)) => ToSqlOutput::from(*n),
            Arg::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(None) | Arg::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn value(v: ValueRef<'_>) -> Val {
    match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(n) => Val::Int(n),
        ValueRef::Real(f) => Val::Text(f.to_string()),
        ValueRef::Text(b) | ValueRef::Blob(b) => Val::Text(String::from_utf8_lossy(b).into_owned()),
    }
}

impl Exec for SqliteExec<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn query(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, DbErr> {
        let mut stmt = self
            .0
            .prepare_cached(&render(sql, Engine::Sqlite))
            .map_err(sqlite_error)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(sqlite_error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sqlite_error)? {
            let vals = (0..width)
                .map(|i| r.get_ref(i).map(value))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite_error)?;
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, DbErr> {
        self.0
            .prepare_cached(&render(sql, Engine::Sqlite))
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(args)))
            .map(|n| n as u64)
            .map_err(sqlite_error)
    }

    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exec) -> Result<(), DbErr>,
    ) -> Result<(), DbErr> {
        let tx = rusqlite::Transaction::new_unchecked(self.0, TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        f(&mut SqliteExec(&tx))?;
        tx.commit().map_err(sqlite_error)
    }
}

/// Statements kept prepared per connection: every shared statement, with room to spare.
const STATEMENT_CACHE: usize = 128;

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
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrations::migrate(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
