//! What an operator or the daemon does to one job after it was added: cancel it with a reason,
//! retry or run it now, move it to another recipe version; and the jobs a recipe's header owns.

use super::exec::{args, decode, DbErr};
use super::jobs::{get, get_locked, jobs, secs, ts, COLUMNS};
use super::rows::Cols;
use super::{Store, StoreError};
use crate::jobs::{again_check, Again, Job};
use chrono::{DateTime, Utc};

impl Store {
    /// Cancels a job, recording why (shown by `btw schedule list --all`). Ended jobs are left
    /// as they are: `Ok(None)`.
    pub fn job_cancel_because(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        self.in_transaction(|x| {
            let Some(job) = get_locked(x, id)? else {
                return Ok(None);
            };
            if !job.state.is_live() {
                return Ok(None);
            }
            x.execute(
                "UPDATE jobs SET state = 'cancelled', last_outcome = $2, updated_at = $3
                 WHERE id = $1",
                args![id, format!("cancelled: {reason}"), ts(now)],
            )?;
            get(x, id)
        })
    }

    /// Brings back a job a recipe's header made that was cancelled (the recipe was deleted, or
    /// its header changed, and then came back): scheduled again at `next`, pinned to `hash`.
    /// Only a cancelled job comes back: one that ran, missed or failed keeps its history.
    pub fn job_rearm(
        &self,
        id: &str,
        next: DateTime<Utc>,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        self.in_transaction(|x| {
            let Some(job) = get_locked(x, id)? else {
                return Err(DbErr(format!("no job {id}")));
            };
            if job.state != crate::jobs::JobState::Cancelled {
                return Err(DbErr(format!(
                    "job {id} is {}, not cancelled",
                    job.state.as_str()
                )));
            }
            x.execute(
                "UPDATE jobs SET state = 'scheduled', next_run_at = $2, recipe_hash = $3,
                   run_id = NULL, lease_owner = NULL, lease_until = NULL, attempts = 0,
                   last_outcome = $4, updated_at = $5
                 WHERE id = $1",
                args![
                    id,
                    ts(next),
                    hash,
                    "re-armed: its recipe came back",
                    ts(now)
                ],
            )?;
            get(x, id)?.ok_or_else(|| DbErr(format!("job {id} vanished")))
        })
    }

    /// The live jobs made by the header of the recipe at `path`.
    pub fn jobs_owned_by(&self, path: &str) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe = $1 AND state IN ('scheduled', 'running')",
            path,
        )
    }

    /// Every live job made by a recipe header, whatever the recipe.
    pub fn jobs_owned(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs_where(
            "owner_recipe IS NOT NULL AND owner_recipe != $1 AND state IN ('scheduled', 'running')",
            "",
        )
    }

    fn jobs_where(&self, cond: &str, arg: &str) -> Result<Vec<Job>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE {cond} ORDER BY next_run_at");
        self.with(|x| jobs(x, &sql, args![arg]))
    }

    /// Moves a job to the recipe version `hash` (already stored).
    pub fn job_repin(&self, id: &str, hash: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.in_transaction(|x| {
            let n = x.execute(
                "UPDATE jobs SET recipe_hash = $2, updated_at = $3 WHERE id = $1",
                args![id, hash, ts(now)],
            )?;
            let job = if n == 0 { None } else { get(x, id)? };
            job.ok_or_else(|| DbErr(format!("no job {id}")))
        })
    }

    /// The recipe file a recipe's job was last pinned from, and when that version was saved.
    #[allow(clippy::type_complexity)]
    pub fn job_pin(
        &self,
        id: &str,
    ) -> Result<Option<(Option<String>, Option<DateTime<Utc>>)>, StoreError> {
        self.with(|x| {
            let row = x.query_opt(
                "SELECT owner_recipe, recipe_saved_at FROM jobs WHERE id = $1",
                args![id],
            )?;
            row.map(|r| Ok((r.text(0).map_err(decode)?, r.time(1).map_err(decode)?)))
                .transpose()
        })
    }

    /// Pins a recipe's job to the version `hash` of the recipe file `path`, saved at `saved`.
    pub fn job_pin_to(
        &self,
        id: &str,
        hash: &str,
        path: &str,
        saved: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE jobs SET recipe_hash = $2, recipe = $3, owner_recipe = $3,
                   recipe_saved_at = $4, updated_at = $5
                 WHERE id = $1",
                args![id, hash, path, ts(saved), ts(now)],
            )
        })
        .map(|_| ())
    }

    /// Sets a job's own catch-up window (`None`: the daemon's), e.g. after its recipe's
    /// `catch-up:` header line changed.
    pub fn job_set_catch_up(
        &self,
        id: &str,
        secs_: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE jobs SET catch_up_secs = $2, updated_at = $3 WHERE id = $1",
                args![id, secs(secs_), ts(now)],
            )
        })
        .map(|_| ())
    }

    /// Brings a job back, due at `now` (see [`Again`]).
    pub fn job_again(&self, id: &str, how: Again, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.in_transaction(|x| {
            let Some(job) = get_locked(x, id)? else {
                return Err(DbErr(format!("no job {id}")));
            };
            again_check(&job, how)?;
            x.execute(
                "UPDATE jobs SET state = 'scheduled', next_run_at = $2, run_id = NULL,
                   lease_owner = NULL, lease_until = NULL, attempts = 0, updated_at = $2
                 WHERE id = $1",
                args![id, ts(now)],
            )?;
            get(x, id)?.ok_or_else(|| DbErr(format!("job {id} vanished")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobKind, JobState, NewJob};
    use crate::store::postgres::testing::each_backend;
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
            clock: None,
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

    #[test]
    fn a_cancelled_owned_job_is_re_armed_and_nothing_else_is() {
        each_backend(|s| {
            let owned = s.job_add(&job(Some("/r/a.rhai")), t(9)).unwrap();
            assert!(
                s.job_rearm(&owned.id, t(12), "h2", t(9)).is_err(),
                "a live job is not re-armed"
            );
            s.job_cancel_because(&owned.id, "recipe deleted", t(9))
                .unwrap();
            let back = s.job_rearm(&owned.id, t(12), "h2", t(10)).unwrap();
            assert_eq!(
                (back.state, back.next_run_at, back.recipe_hash.as_deref()),
                (JobState::Scheduled, Some(t(12)), Some("h2"))
            );
            assert_eq!(s.jobs_owned_by("/r/a.rhai").unwrap().len(), 1);
            assert!(s.job_rearm("job-none", t(12), "h", t(10)).is_err());
        });
    }
}
