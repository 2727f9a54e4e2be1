//! Scheduled jobs on PostgreSQL: rows read `FOR UPDATE` inside the transaction that changes
//! them, so two daemons acting on one job serialise on its row. The rules are `jobs.rs`'s.

use super::errors::{decode, PgErr};
use super::Pg;
use crate::store::jobs::{job_from_cols, lease_end, new_job_id, ts, COLUMNS};
use crate::store::{job_actions::again_check, jobs as job_rules};
use crate::store::{Again, Completion, Job, JobState, NewJob, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::GenericClient;

/// A job by id; `lock`: and its row, until the transaction ends.
pub(super) async fn get_in(
    c: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<Job>, PgErr> {
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    match c.query_opt(&sql, &[&id]).await? {
        Some(r) => Ok(Some(job_from_cols(&r).map_err(decode)?)),
        None => Ok(None),
    }
}

pub(super) fn jobs_of(rows: &[tokio_postgres::Row]) -> Result<Vec<Job>, PgErr> {
    rows.iter()
        .map(|r| job_from_cols(r).map_err(decode))
        .collect()
}

fn secs(s: Option<u64>) -> Option<i64> {
    s.map(|s| s.min(i64::MAX as u64) as i64)
}

impl Pg {
    pub fn job_add(&self, new: &NewJob, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let id = new.id.clone().unwrap_or_else(new_job_id);
        let found = self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO jobs (id, kind, at, cron, tz, recipe, params, next_run_at, state,
                       attempts, catch_up_secs, created_at, updated_at, recipe_hash, owner_recipe)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', 0, $9, $10, $10, $11, $12)
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        &id,
                        &new.kind.as_str(),
                        &new.at.map(ts),
                        &new.cron,
                        &new.tz,
                        &new.recipe,
                        &new.params.to_string(),
                        &ts(new.next_run_at),
                        &secs(new.catch_up_secs),
                        &ts(now),
                        &new.recipe_hash,
                        &new.owner_recipe,
                    ],
                )
                .await?;
            let job = get_in(&*tx, &id, false).await?;
            tx.commit().await?;
            Ok((inserted == 1, job))
        })?;
        match found {
            (true, Some(job)) => Ok(job),
            (false, Some(existing)) if job_rules::same_job(&existing, new) => Ok(existing),
            (false, Some(_)) => {
                Err(self.error(PgErr(format!("a different job {id} exists already"))))
            }
            (_, None) => Err(self.error(PgErr(format!("job {id} vanished after insert")))),
        }
    }

    pub fn job_get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.block(async { get_in(&**self.client().await?, id, false).await })
    }

    pub fn job_list(&self, states: &[JobState]) -> Result<Vec<Job>, StoreError> {
        let all = self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs
                         ORDER BY state NOT IN ('scheduled', 'running'), next_run_at, created_at DESC"
                    ),
                    &[],
                )
                .await?;
            jobs_of(&rows)
        })?;
        Ok(all
            .into_iter()
            .filter(|j| states.is_empty() || states.contains(&j.state))
            .collect())
    }

    pub fn job_cancel(&self, id: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(job) = get_in(&*tx, id, true).await? else {
                return Err(PgErr(format!("no job {id}")));
            };
            if job_rules::cancel_check(&job)? {
                return Ok(job);
            }
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = $2 WHERE id = $1",
                &[&id, &ts(now)],
            )
            .await?;
            let job = get_in(&*tx, id, false).await?.unwrap_or(job);
            tx.commit().await?;
            Ok(job)
        })
    }

    pub fn job_renew(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        wall_now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.set_lease(id, owner, run_id, lease_end(wall_now, lease))
    }

    pub fn job_release(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        wall_now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_lease(id, owner, run_id, wall_now)
    }

    fn set_lease(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.block(async {
            Ok(self
                .client()
                .await?
                .execute(
                    "UPDATE jobs SET lease_until = $4
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND run_id = $3",
                    &[&id, &owner, &run_id, &ts(until)],
                )
                .await?)
        })?;
        Ok(n == 1)
    }

    pub fn job_complete(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        done: &Completion,
    ) -> Result<Option<Job>, StoreError> {
        let outcome = job_rules::outcome_text(done);
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(job) = get_in(&*tx, id, true).await? else {
                return Ok(None);
            };
            let Some((state, next)) = job_rules::completion_target(&job, owner, run_id, done)
            else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE jobs SET state = $2, next_run_at = $3, last_outcome = $4,
                   last_run_id = run_id, run_id = NULL, lease_owner = NULL, lease_until = NULL,
                   updated_at = $5
                 WHERE id = $1",
                &[&id, &state.as_str(), &next, &outcome, &ts(done.now)],
            )
            .await?;
            let job = get_in(&*tx, id, false).await?;
            tx.commit().await?;
            Ok(job)
        })
    }

    pub fn job_cancel_because(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(job) = get_in(&*tx, id, true).await? else {
                return Ok(None);
            };
            if !job.state.is_live() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', last_outcome = $2, updated_at = $3
                 WHERE id = $1",
                &[&id, &format!("cancelled: {reason}"), &ts(now)],
            )
            .await?;
            let job = get_in(&*tx, id, false).await?;
            tx.commit().await?;
            Ok(job)
        })
    }

    pub fn jobs_owned_by(&self, path: &str) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe = $1 AND state IN ('scheduled', 'running')",
            path,
        )
    }

    pub fn jobs_owned(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe IS NOT NULL AND owner_recipe != $1 AND state IN ('scheduled', 'running')",
            "",
        )
    }

    fn jobs_where(&self, cond: &str, arg: &str) -> Result<Vec<Job>, StoreError> {
        self.block(async {
            let sql = format!("SELECT {COLUMNS} FROM jobs WHERE {cond} ORDER BY next_run_at");
            jobs_of(&self.client().await?.query(&sql, &[&arg]).await?)
        })
    }

    pub fn job_repin(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.update_job(
            id,
            "UPDATE jobs SET recipe_hash = $2, updated_at = $3 WHERE id = $1",
            Some(hash.to_string()),
            now,
        )
    }

    pub fn job_set_catch_up(
        &self,
        id: &str,
        secs_: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    "UPDATE jobs SET catch_up_secs = $2, updated_at = $3 WHERE id = $1",
                    &[&id, &secs(secs_), &ts(now)],
                )
                .await?;
            Ok(())
        })
    }

    /// One UPDATE of a job by id (`$1`), with a text `$2` and the time `$3`; the job after it.
    fn update_job(
        &self,
        id: &str,
        sql: &str,
        arg: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        self.block(async {
            let c = self.client().await?;
            if c.execute(sql, &[&id, &arg, &ts(now)]).await? == 0 {
                return Err(PgErr(format!("no job {id}")));
            }
            get_in(&**c, id, false)
                .await?
                .ok_or_else(|| PgErr(format!("no job {id}")))
        })
    }

    pub fn job_again(&self, id: &str, how: Again, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let Some(job) = get_in(&*tx, id, true).await? else {
                return Err(PgErr(format!("no job {id}")));
            };
            again_check(&job, how)?;
            tx.execute(
                "UPDATE jobs SET state = 'scheduled', next_run_at = $2, run_id = NULL,
                   lease_owner = NULL, lease_until = NULL, attempts = 0, updated_at = $2
                 WHERE id = $1",
                &[&id, &ts(now)],
            )
            .await?;
            let job = get_in(&*tx, id, false).await?;
            tx.commit().await?;
            job.ok_or_else(|| PgErr(format!("job {id} vanished")))
        })
    }
}
