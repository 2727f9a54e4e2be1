//! Small named values btw keeps for itself in the store (e.g. the daemon's sandbox subscription
//! id), in a table of their own made on first use.

use super::{Sqlite, StoreError};
use rusqlite::{params, OptionalExtension};

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS btw_values (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

impl Sqlite {
    /// The value stored under `key`, if any.
    pub fn value(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        conn.execute_batch(TABLE).map_err(|e| self.error(e))?;
        conn.query_row("SELECT value FROM btw_values WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| self.error(e))
    }

    /// The value under `key`, storing `make()` first when there is none.
    pub fn value_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.execute_batch(TABLE).map_err(|e| self.error(e))?;
        conn.execute(
            "INSERT OR IGNORE INTO btw_values (key, value) VALUES (?1, ?2)",
            params![key, make()],
        )
        .map_err(|e| self.error(e))?;
        conn.query_row("SELECT value FROM btw_values WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::testing::each_backend;

    #[test]
    fn a_value_is_made_once() {
        each_backend(|store| {
            assert_eq!(store.value("k").unwrap(), None);
            assert_eq!(store.value_or_insert("k", || "a".into()).unwrap(), "a");
            assert_eq!(store.value_or_insert("k", || "b".into()).unwrap(), "a");
            assert_eq!(store.value("k").unwrap().as_deref(), Some("a"));
        });
    }
}
