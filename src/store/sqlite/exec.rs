//! SQLite's side of the executor (`store/exec.rs`): a connection, a transaction or a savepoint
//! of the group-commit writer runs the shared statements, rendered for SQLite.

use crate::store::exec::{render, Arg, DbErr, Engine, Exec, Row, Val};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

/// The executor on a SQLite connection (or on a savepoint of the group-commit writer).
pub(crate) struct SqliteExec<'c> {
    conn: &'c Connection,
    /// Whether a statement failed because another process held the file (worth retrying).
    busy: bool,
}

impl<'c> SqliteExec<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SqliteExec { conn, busy: false }
    }

    /// Whether a failure was another process holding the file.
    pub fn saw_busy(&self) -> bool {
        self.busy
    }

    fn fail(&mut self, e: rusqlite::Error) -> DbErr {
        self.busy |= is_busy(&e);
        DbErr(e.to_string())
    }
}

/// Whether SQLite refused because another connection holds the lock.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
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
        let conn = self.conn;
        let mut stmt = conn
            .prepare_cached(&render(sql, Engine::Sqlite))
            .map_err(|e| self.fail(e))?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.fail(e))? {
            let vals = (0..width)
                .map(|i| r.get_ref(i).map(value))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.fail(e))?;
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, DbErr> {
        let conn = self.conn;
        conn.prepare_cached(&render(sql, Engine::Sqlite))
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(args)))
            .map(|n| n as u64)
            .map_err(|e| self.fail(e))
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbErr> {
        let conn = self.conn;
        conn.execute_batch(sql).map_err(|e| self.fail(e))
    }

    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exec) -> Result<(), DbErr>,
    ) -> Result<(), DbErr> {
        let conn = self.conn;
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let mut inner = SqliteExec::new(&tx);
        let done = f(&mut inner);
        self.busy |= inner.busy;
        done?;
        tx.commit().map_err(|e| self.fail(e))
    }
}
