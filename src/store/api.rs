//! Where the store meets its engines: the shared statements (in the concern files, written
//! once) reach a connection through [`Store::with`]; the few operations where SQLite and
//! PostgreSQL really differ (group-committed writes, the write probe, closing) are handed to
//! the backend here.

use super::exec::{DbErr, Exec, Write, WriteFn};
use super::{Backend, Store, StoreError};
use std::time::Duration;

impl Store {
    /// Whether the store takes a write now, waiting at most `wait`. Nothing is written.
    pub fn probe_writable(&self, wait: Duration) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.probe_writable(wait),
            Backend::Postgres(p) => p.probe_writable(wait),
        }
    }

    /// Whether the store has been opened: false only for a lazily opened SQLite store
    /// ([`Store::open_lazy`]) that nothing has used yet.
    pub fn is_open(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(s) => s.is_open(),
            Backend::Postgres(_) => true,
        }
    }

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

    /// `f` applied as one write, committed before this returns and after every write queued
    /// before it (SQLite: a savepoint of its group-commit writer; PostgreSQL: a transaction).
    pub(crate) fn write_committed_with(&self, f: WriteFn) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write_committed_with(f),
            Backend::Postgres(p) => p.with(|x| x.in_transaction(f)),
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
