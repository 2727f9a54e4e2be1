//! What only PostgreSQL does for the console: a probe that the server takes writes.

use super::errors::PgErr;
use super::Pg;
use crate::store::StoreError;
use std::time::Duration;

impl Pg {
    /// Whether the database takes a write now: a transaction that is not read-only, on a
    /// server that is not a standby, answered within `wait`. Nothing is written.
    pub fn probe_writable(&self, wait: Duration) -> Result<(), StoreError> {
        self.block(async {
            let probe = async {
                let c = self.client().await?;
                let standby: bool = c.query_one("SELECT pg_is_in_recovery()", &[]).await?.get(0);
                if standby {
                    return Err(PgErr(
                        "not writable: the server is a read-only standby".into(),
                    ));
                }
                Ok(())
            };
            tokio::time::timeout(wait, probe)
                .await
                .unwrap_or_else(|_| Err(PgErr(format!("not writable: no answer in {wait:?}"))))
        })
    }
}
