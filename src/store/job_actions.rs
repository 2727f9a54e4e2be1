//! What an operator or the daemon does to one job after it was added: cancel it with a reason,
//! retry or run it now, move it to another recipe version; and the jobs a recipe's header owns.

use super::jobs::{get_in, job_from_row, ts, COLUMNS};
use super::{Job, JobState, Sqlite, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// How [`Store::job_again`] brings a job back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Again {
    /// A missed or failed job is scheduled again, due now.
    Retry,
    /// Any job not running right now fires now (a cron job then carries on with its schedule).
    RunNow,
}

/// Whether [`Again`] may bring `job` back; the error says why not.
pub(super) fn again_check(job: &Job, how: Again) -> Result<(), String> {
    let allowed = match how {
        Again::Retry => matches!(job.state, JobState::Missed | JobState::Failed),
        Again::RunNow => job.state != JobState::Running,
    };
    if allowed {
        return Ok(());
    }
    let hint = match how {
        Again::Retry if job.state.is_live() => {
            "; it is still to run (btw schedule run-now fires it at once)"
        }
        Again::Retry => "; only missed or failed jobs are retried (run-now fires any)",
        Again::RunNow => "; it is running now",
    };
    Err(format!("job {} is {}{hint}", job.id, job.state.as_str()))
}

impl Sqlite {
    /// Cancels a job, recording why (shown by `btw schedule list --all`). Ended jobs are left
    /// as they are: `Ok(None)`.
    pub fn job_cancel_because(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        self.immediate(|tx| {
            let Some(job) = get_in(tx, id)? else {
                return Ok(None);
            };
            if !job.state.is_live() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', last_outcome = ?2, updated_at = ?3
                 WHERE id = ?1",
                params![id, format!("cancelled: {reason}"), ts(now)],
            )?;
            get_in(tx, id)
        })
    }

    /// The live jobs made by the header of the recipe at `path`.
    pub fn jobs_owned_by(&self, path: &str) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe = ?1 AND state IN ('scheduled', 'running')",
            path,
        )
    }

    /// Every live job made by a recipe header, whatever the recipe.
    pub fn jobs_owned(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe IS NOT NULL AND owner_recipe != ?1 AND state IN ('scheduled', 'running')",
            "",
        )
    }

    fn jobs_where(&self, cond: &str, arg: &str) -> Result<Vec<Job>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE {cond} ORDER BY next_run_at"
            ))
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([arg], job_from_row)
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Moves a job to the recipe version `hash` (already stored).
    pub fn job_repin(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let r = self.immediate(|tx| {
            let n = tx.execute(
                "UPDATE jobs SET recipe_hash = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, hash, ts(now)],
            )?;
            if n == 0 {
                return Ok(None);
            }
            get_in(tx, id)
        })?;
        r.ok_or_else(|| self.error(format!("no job {id}")))
    }

    /// Sets a job's own catch-up window (`None`: the daemon's), e.g. after its recipe's
    /// `catch-up:` header line changed.
    pub fn job_set_catch_up(
        &self,
        id: &str,
        secs: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.immediate(|tx| {
            tx.execute(
                "UPDATE jobs SET catch_up_secs = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, secs.map(|s| s.min(i64::MAX as u64) as i64), ts(now)],
            )
        })
        .map(|_| ())
    }

    /// Brings a job back, due at `now` (see [`Again`]).
    pub fn job_again(&self, id: &str, how: Again, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let r = self.immediate(|tx| {
            let Some(job) = get_in(tx, id)? else {
                return Ok(Err(format!("no job {id}")));
            };
            if let Err(why) = again_check(&job, how) {
                return Ok(Err(why));
            }
            tx.execute(
                "UPDATE jobs SET state = 'scheduled', next_run_at = ?2, run_id = NULL,
                   lease_owner = NULL, lease_until = NULL, attempts = 0, updated_at = ?2
                 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            Ok(get_in(tx, id)?.ok_or_else(|| format!("job {id} vanished")))
        })?;
        r.map_err(|m| self.error(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use crate::store::{JobKind, JobState, NewJob};
    use chrono::TimeZone;
    use serde_json::json;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    fn job(owner: Option<&str>) -> NewJob {
        NewJob {
            id: None,
            kind: JobKind::At,
            at: Some(t(10)),
            cron: None,
            tz: "Europe/London".into(),
            recipe: "/r/a.rhai".into(),
            params: json!({}),
            next_run_at: t(10),
            catch_up_secs: None,
            recipe_hash: None,
            owner_recipe: owner.map(str::to_string),
        }
    }

    #[test]
    fn owned_jobs_cancel_with_a_reason_and_ended_jobs_come_back() {
        each_backend(|s| {
            let owned = s.job_add(&job(Some("/r/a.rhai")), t(9)).unwrap();
            let free = s.job_add(&job(None), t(9)).unwrap();
            assert_eq!(s.jobs_owned_by("/r/a.rhai").unwrap().len(), 1);
            assert_eq!(s.jobs_owned().unwrap().len(), 1);
            let c = s
                .job_cancel_because(&owned.id, "recipe deleted", t(9))
                .unwrap()
                .unwrap();
            assert_eq!(c.last_outcome.as_deref(), Some("cancelled: recipe deleted"));
            assert!(s
                .job_cancel_because(&owned.id, "x", t(9))
                .unwrap()
                .is_none());
            assert!(s.job_again(&free.id, Again::Retry, t(9)).is_err());
            let now = s.job_again(&free.id, Again::RunNow, t(9)).unwrap();
            assert_eq!(now.next_run_at, Some(t(9)));
            let back = s.job_again(&owned.id, Again::RunNow, t(11)).unwrap();
            assert_eq!(back.state, JobState::Scheduled);
            let p = s.job_repin(&free.id, "abc", t(9)).unwrap();
            assert_eq!(p.recipe_hash.as_deref(), Some("abc"));
        });
    }
}
