//! The rest of the store on PostgreSQL: the daemon's runs and once-keys, recipe versions,
//! heartbeats, run-id leases, alerts, small values and retention; and the one-statement
//! helpers the other files use.

use super::errors::{decode, PgErr};
use super::Pg;
use crate::store::jobs::ts;
use crate::store::leases::{lease_expiry, owner_is_gone};
use crate::store::rows::Cols;
use crate::store::{
    now_rfc3339, recipe_hash, Heartbeat, LeaseHolder, PendingAlert, StoreError, UnfinishedRun,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;
use tokio_postgres::types::ToSql;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Pg {
    /// One statement; the rows it changed.
    pub(super) fn exec(&self, sql: &str, params: Params) -> Result<u64, StoreError> {
        self.block(async { Ok(self.client().await?.execute(sql, params).await?) })
    }

    /// The text of the first column of the first row, if any.
    pub(super) fn text_opt(&self, sql: &str, params: Params) -> Result<Option<String>, StoreError> {
        self.block(async {
            match self.client().await?.query_opt(sql, params).await? {
                Some(r) => r.text(0).map_err(decode),
                None => Ok(None),
            }
        })
    }

    /// A count.
    pub(super) fn count(&self, sql: &str, params: Params) -> Result<u64, StoreError> {
        self.block(async {
            let r = self.client().await?.query_one(sql, params).await?;
            Ok(r.int(0).map_err(decode)?.unwrap_or(0).max(0) as u64)
        })
    }

    pub fn daemon_run_queued(
        &self,
        run_id: &str,
        recipe: &str,
        params: &Value,
        origin: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, owner)
             VALUES ($1, $2, $3, $4, 'running', $5, $6) ON CONFLICT (run_id) DO NOTHING",
            &[
                &run_id,
                &recipe,
                &params.to_string(),
                &origin,
                &now_rfc3339(),
                &owner,
            ],
        )
        .map(|_| ())
    }

    pub fn claim_drop(&self, path: &str, hash: &str, run_id: &str) -> Result<bool, StoreError> {
        self.exec(
            "INSERT INTO daemon_seen (path, hash, run_id, seen_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (path, hash) DO NOTHING",
            &[&path, &hash, &run_id, &now_rfc3339()],
        )
        .map(|n| n == 1)
    }

    pub fn daemon_run_started(
        &self,
        run_id: &str,
        recipe: &str,
        params: &Value,
        origin: &str,
        owner: &str,
    ) -> Result<u32, StoreError> {
        self.block(async {
            let r = self
                .client()
                .await?
                .query_one(
                    "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, attempts, owner)
                     VALUES ($1, $2, $3, $4, 'running', $5, 1, $6)
                     ON CONFLICT (run_id) DO UPDATE SET state = 'running', finished_at = NULL,
                       attempts = daemon_runs.attempts + 1, owner = excluded.owner
                     RETURNING attempts",
                    &[&run_id, &recipe, &params.to_string(), &origin, &now_rfc3339(), &owner],
                )
                .await?;
            Ok(r.req_int(0).map_err(decode)?.max(1) as u32)
        })
    }

    pub fn daemon_run_finished(&self, run_id: &str, interrupted: bool) -> Result<(), StoreError> {
        let state = if interrupted { "interrupted" } else { "done" };
        self.exec(
            "UPDATE daemon_runs SET state = $2, finished_at = $3 WHERE run_id = $1",
            &[&run_id, &state, &now_rfc3339()],
        )
        .map(|_| ())
    }

    pub fn daemon_unfinished(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT run_id, recipe, params, origin, owner FROM daemon_runs
                     WHERE state != 'done' ORDER BY started_at",
                    &[],
                )
                .await?;
            let one = |r: &tokio_postgres::Row| -> Result<UnfinishedRun, String> {
                Ok(UnfinishedRun {
                    run_id: r.req_text(0)?,
                    recipe: r.req_text(1)?,
                    params: serde_json::from_str(&r.req_text(2)?).unwrap_or(Value::Null),
                    origin: r.req_text(3)?,
                    owner: r.text(4)?,
                })
            };
            rows.iter().map(|r| one(r).map_err(decode)).collect()
        })
    }

    pub fn daemon_run_adopt(
        &self,
        run_id: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        self.exec(
            "UPDATE daemon_runs SET owner = $3
             WHERE run_id = $1 AND state != 'done' AND owner IS NOT DISTINCT FROM $2",
            &[&run_id, &from, &to],
        )
        .map(|n| n == 1)
    }

    pub fn recipe_version_put(&self, path: &str, source: &str) -> Result<String, StoreError> {
        let hash = recipe_hash(source);
        self.exec(
            "INSERT INTO recipe_versions (hash, path, source, stored_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (hash) DO NOTHING",
            &[&hash, &path, &source, &now_rfc3339()],
        )?;
        Ok(hash)
    }

    pub fn recipe_version(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.text_opt(
            "SELECT source FROM recipe_versions WHERE hash = $1",
            &[&hash],
        )
    }

    pub fn recipe_head_set(&self, path: &str, source: &str) -> Result<String, StoreError> {
        let hash = self.recipe_version_put(path, source)?;
        self.exec(
            "INSERT INTO recipe_heads (path, hash, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (path) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
            &[&path, &hash, &now_rfc3339()],
        )?;
        Ok(hash)
    }

    pub fn recipe_head(&self, path: &str) -> Result<Option<(String, String)>, StoreError> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT v.hash, v.source FROM recipe_heads h
                       JOIN recipe_versions v ON v.hash = h.hash WHERE h.path = $1",
                    &[&path],
                )
                .await?;
            match row {
                Some(r) => Ok(Some((
                    r.req_text(0).map_err(decode)?,
                    r.req_text(1).map_err(decode)?,
                ))),
                None => Ok(None),
            }
        })
    }

    pub fn recipe_head_clear(&self, path: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM recipe_heads WHERE path = $1", &[&path])
            .map(|_| ())
    }

    pub fn heartbeat(
        &self,
        owner: &str,
        recipes: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO daemon_heartbeat (owner, pid, recipes, beat_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner) DO UPDATE SET beat_at = excluded.beat_at",
            &[&owner, &(std::process::id() as i64), &recipes, &ts(now)],
        )
        .map(|_| ())
    }

    pub fn heartbeat_end(&self, owner: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM daemon_heartbeat WHERE owner = $1", &[&owner])
            .map(|_| ())
    }

    pub fn last_heartbeat(&self) -> Result<Option<Heartbeat>, StoreError> {
        Ok(self.heartbeats()?.into_iter().next())
    }

    pub fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT owner, pid, recipes, beat_at FROM daemon_heartbeat
                     ORDER BY beat_at DESC",
                    &[],
                )
                .await?;
            let beat = |r: &tokio_postgres::Row| -> Result<Heartbeat, String> {
                Ok(Heartbeat {
                    owner: r.req_text(0)?,
                    pid: r.req_int(1)?.max(0) as u32,
                    recipes: r.req_text(2)?,
                    beat_at: r.time(3).ok().flatten().unwrap_or(DateTime::<Utc>::MIN_UTC),
                })
            };
            rows.iter().map(|r| beat(r).map_err(decode)).collect()
        })
    }

    /// The lease protocol of `leases.rs`: read the holder, and take the lease over only if the
    /// row is still as read; of two takers racing, the row lock lets one change it.
    pub fn lease_acquire(
        &self,
        run_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        let now = now_rfc3339();
        self.block(async {
            let c = self.client().await?;
            let held = c
                .query_opt(
                    "SELECT owner, expires_at FROM run_leases WHERE run_id = $1",
                    &[&run_id],
                )
                .await?
                .map(|r| {
                    Ok::<_, String>(LeaseHolder {
                        owner: r.req_text(0)?,
                        until: r.req_text(1)?,
                    })
                })
                .transpose()
                .map_err(decode)?;
            let taken_over = held.as_ref().map(|h| h.owner.clone());
            if let Some(h) = held {
                if h.owner != owner && h.until > now && !owner_is_gone(&h.owner) {
                    return Ok(Some(h));
                }
            }
            let changed = c
                .execute(
                    "INSERT INTO run_leases (run_id, owner, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner,
                       expires_at = excluded.expires_at
                     WHERE run_leases.owner IS NOT DISTINCT FROM $4",
                    &[&run_id, &owner, &lease_expiry(ttl), &taken_over],
                )
                .await?;
            Ok((changed != 1).then(|| LeaseHolder {
                owner: "another process".into(),
                until: now.clone(),
            }))
        })
    }

    pub fn lease_renew(
        &self,
        run_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.exec(
            "UPDATE run_leases SET expires_at = $3 WHERE run_id = $1 AND owner = $2",
            &[&run_id, &owner, &lease_expiry(ttl)],
        )
        .map(|n| n == 1)
    }

    pub fn lease_release(&self, run_id: &str, owner: &str) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM run_leases WHERE run_id = $1 AND owner = $2",
            &[&run_id, &owner],
        )
        .map(|_| ())
    }

    pub fn value(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.text_opt("SELECT value FROM btw_values WHERE key = $1", &[&key])
    }

    pub fn value_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        self.exec(
            "INSERT INTO btw_values (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &make()],
        )?;
        self.value(key)?
            .ok_or_else(|| self.error(PgErr(format!("the value {key} vanished"))))
    }
}

pub(super) fn alert_row(r: &tokio_postgres::Row) -> Result<PendingAlert, PgErr> {
    let one = || -> Result<PendingAlert, String> {
        Ok(PendingAlert {
            id: r.req_text(0)?,
            event: r.req_text(1)?,
            payload: serde_json::from_str(&r.req_text(2)?).unwrap_or(Value::Null),
            attempts: r.req_int(3)?.max(0) as u32,
        })
    };
    one().map_err(decode)
}
