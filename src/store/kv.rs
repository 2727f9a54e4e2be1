//! Small named values btw keeps for itself in the store (e.g. the daemon's sandbox subscription
//! id), in a table of their own.

use super::exec::{args, DbErr};
use super::{Store, StoreError};

impl Store {
    /// The value stored under `key`, if any.
    pub fn value(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|x| x.text_opt("SELECT value FROM btw_values WHERE key = $1", args![key]))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn value_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "INSERT INTO btw_values (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                args![key, value],
            )
        })
        .map(|_| ())
    }

    /// The value under `key`, storing `make()` first when there is none.
    pub fn value_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        self.with(|x| {
            x.execute(
                "INSERT INTO btw_values (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                args![key, make()],
            )?;
            x.text_opt("SELECT value FROM btw_values WHERE key = $1", args![key])?
                .ok_or_else(|| DbErr(format!("the value {key} vanished")))
        })
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
