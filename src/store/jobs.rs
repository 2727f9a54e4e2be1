//! Scheduled jobs in the store: their rows, and the lease protocol that lets several daemons
//! share one store without a job ever firing twice. The model and its rules are `crate::jobs`;
//! this is how they are read and written.
//!
//! Every change is one transaction that reads the job with its row lock (`{for_update}`:
//! PostgreSQL's row lock; SQLite's `BEGIN IMMEDIATE` takes the write lock before reading), so
//! two processes never both act on what they read.

use super::exec::{args, decode, DbErr, Exec};
use super::rows::Cols;
use super::{Store, StoreError};
use crate::jobs::{
    cancel_check, completion_target, lease_end, new_job_id, outcome_text, same_job, Completion,
    Job, JobKind, JobState, NewJob,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// A stored instant: UTC, milliseconds, `Z`, so comparing the text compares the times.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    crate::time::rfc3339_millis(t)
}

/// A stored count of seconds: at most what the column holds.
pub(super) fn secs(s: Option<u64>) -> Option<i64> {
    s.map(|s| s.min(i64::MAX as u64) as i64)
}

pub(super) const COLUMNS: &str =
    "id, kind, at, cron, tz, recipe, params, next_run_at, state, run_id, lease_owner, \
     lease_until, attempts, last_outcome, last_run_id, catch_up_secs, created_at, updated_at, \
     recipe_hash, owner_recipe, clock";

/// A job from a row of [`COLUMNS`].
pub(super) fn job_from_cols(r: &impl Cols) -> Result<Job, String> {
    let kind = match r.req_text(1)?.as_str() {
        "cron" => JobKind::Cron,
        _ => JobKind::At,
    };
    let state_text = r.req_text(8)?;
    let state =
        JobState::parse(&state_text).ok_or_else(|| format!("unknown job state {state_text:?}"))?;
    let need = |i: usize| r.time(i)?.ok_or_else(|| format!("column {i} is NULL"));
    Ok(Job {
        id: r.req_text(0)?,
        kind,
        at: r.time(2)?,
        cron: r.text(3)?,
        tz: r.req_text(4)?,
        recipe: r.req_text(5)?,
        params: serde_json::from_str(&r.req_text(6)?).unwrap_or(Value::Null),
        next_run_at: r.time(7)?,
        state,
        run_id: r.text(9)?,
        lease_owner: r.text(10)?,
        lease_until: r.time(11)?,
        attempts: r.req_int(12)?.max(0) as u32,
        last_outcome: r.text(13)?,
        last_run_id: r.text(14)?,
        catch_up_secs: r.int(15)?.map(|s| s.max(0) as u64),
        created_at: need(16)?,
        updated_at: need(17)?,
        recipe_hash: r.text(18)?,
        owner_recipe: r.text(19)?,
        clock: r.text(20)?,
    })
}

/// A job by id.
pub(super) fn get(x: &mut dyn Exec, id: &str) -> Result<Option<Job>, DbErr> {
    let row = x.query_opt(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"),
        args![id],
    )?;
    row.map(|r| job_from_cols(&r).map_err(decode)).transpose()
}

/// A job by id, its row locked until the transaction ends.
pub(super) fn get_locked(x: &mut dyn Exec, id: &str) -> Result<Option<Job>, DbErr> {
    let row = x.query_opt(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1 {{for_update}}"),
        args![id],
    )?;
    row.map(|r| job_from_cols(&r).map_err(decode)).transpose()
}

/// Every job matching `sql` (a SELECT of [`COLUMNS`]).
pub(super) fn jobs(
    x: &mut dyn Exec,
    sql: &str,
    args: &[super::exec::Arg],
) -> Result<Vec<Job>, DbErr> {
    x.rows(sql, args, job_from_cols)
}

impl Store {
    /// Adds a job, `scheduled` to fire at `next_run_at`. A chosen id that exists already is
    /// an error unless it is the same job (so adding it again after a crash is harmless).
    pub fn job_add(&self, new: &NewJob, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let id = new.id.clone().unwrap_or_else(new_job_id);
        let (inserted, found) = self.in_transaction(|x| {
            let inserted = x.execute(
                "INSERT INTO jobs (id, kind, at, cron, tz, recipe, params, next_run_at, state,
                   attempts, catch_up_secs, created_at, updated_at, recipe_hash, owner_recipe,
                   clock)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', 0, $9, $10, $10, $11, $12,
                   $13)
                 ON CONFLICT (id) DO NOTHING",
                args![
                    &id,
                    new.kind.as_str(),
                    new.at.map(ts),
                    &new.cron,
                    &new.tz,
                    &new.recipe,
                    new.params.to_string(),
                    ts(new.next_run_at),
                    secs(new.catch_up_secs),
                    ts(now),
                    &new.recipe_hash,
                    &new.owner_recipe,
                    &new.clock
                ],
            )?;
            Ok((inserted == 1, get(x, &id)?))
        })?;
        match (inserted, found) {
            (true, Some(job)) => Ok(job),
            (false, Some(existing)) if same_job(&existing, new) => Ok(existing),
            (false, Some(_)) => Err(self.error(format!("a different job {id} exists already"))),
            (_, None) => Err(self.error(format!("job {id} vanished after insert"))),
        }
    }

    pub fn job_get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.with(|x| get(x, id))
    }

    /// Jobs in any of `states` (every job when empty), soonest first, then newest.
    pub fn job_list(&self, states: &[JobState]) -> Result<Vec<Job>, StoreError> {
        let all = self.with(|x| {
            jobs(
                x,
                &format!(
                    "SELECT {COLUMNS} FROM jobs
                     ORDER BY state NOT IN ('scheduled', 'running'), next_run_at, created_at DESC"
                ),
                args![],
            )
        })?;
        Ok(all
            .into_iter()
            .filter(|j| states.is_empty() || states.contains(&j.state))
            .collect())
    }

    /// Cancels a job so it never fires again. A run already in progress finishes (its result is
    /// recorded) but a cron job is not rescheduled. Cancelling twice is harmless; cancelling a
    /// job that has already ended is an error saying how it ended.
    pub fn job_cancel(&self, id: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        self.in_transaction(|x| {
            let Some(job) = get_locked(x, id)? else {
                return Err(DbErr(format!("no job {id}")));
            };
            if cancel_check(&job)? {
                return Ok(job);
            }
            x.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = $2 WHERE id = $1",
                args![id, ts(now)],
            )?;
            Ok(get(x, id)?.unwrap_or(job))
        })
    }

    /// Extends a running job's lease. `false`: the lease is no longer this owner's (it expired
    /// and another claimer took the job, or the job was cancelled).
    pub fn job_renew(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        wall_now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.set_job_lease(id, owner, run_id, lease_end(wall_now, lease))
    }

    /// Gives a running job's lease up at once (its run was interrupted, e.g. by shutdown), so the
    /// next claimer resumes it without waiting for the lease to expire.
    pub fn job_release(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        wall_now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_job_lease(id, owner, run_id, wall_now)
    }

    fn set_job_lease(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.with(|x| {
            x.execute(
                "UPDATE jobs SET lease_until = $4
                 WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND run_id = $3",
                args![id, owner, run_id, ts(until)],
            )
        })?;
        Ok(n == 1)
    }

    /// Records how a firing ended. An `at` job becomes `done` or `failed`; a cron job goes back
    /// to `scheduled` at `done.next` (a fresh run id is assigned at its next claim). A job that
    /// was cancelled while it ran keeps `cancelled`, with the outcome recorded.
    /// `None`: the firing is no longer this owner's (its lease was lost); nothing is changed.
    pub fn job_complete(
        &self,
        id: &str,
        owner: &str,
        run_id: &str,
        done: &Completion,
    ) -> Result<Option<Job>, StoreError> {
        let outcome = outcome_text(done);
        self.in_transaction(|x| {
            let Some(job) = get_locked(x, id)? else {
                return Ok(None);
            };
            let Some((state, next)) = completion_target(&job, owner, run_id, done) else {
                return Ok(None);
            };
            x.execute(
                "UPDATE jobs SET state = $2, next_run_at = $3, last_outcome = $4,
                   last_run_id = run_id, run_id = NULL, lease_owner = NULL, lease_until = NULL,
                   updated_at = $5
                 WHERE id = $1",
                args![id, state.as_str(), next.map(ts), &outcome, ts(done.now)],
            )?;
            get(x, id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{ClaimRequest, DueDecision};
    use crate::store::postgres::testing::each_backend;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    fn at_job(when: DateTime<Utc>) -> NewJob {
        NewJob {
            id: None,
            kind: JobKind::At,
            at: Some(when),
            cron: None,
            tz: "Europe/London".into(),
            recipe: "/r/activate.rhai".into(),
            params: json!({"port_id": "P1"}),
            next_run_at: when,
            catch_up_secs: None,
            recipe_hash: None,
            owner_recipe: None,
            clock: None,
        }
    }

    fn req(owner: &str, now: DateTime<Utc>) -> ClaimRequest<'_> {
        ClaimRequest {
            owner,
            now,
            wall_now: now,
            lease: Duration::from_secs(30),
            limit: 10,
            max_attempts: 3,
            own_clocks_due: false,
        }
    }

    fn run_all(j: &Job) -> DueDecision {
        DueDecision::Run {
            occurrence: j.next_run_at.unwrap(),
        }
    }

    #[test]
    fn a_job_is_claimed_once_renewed_and_completed() {
        each_backend(|s| {
            let job = s.job_add(&at_job(t(10, 0)), t(9, 0)).unwrap();
            assert_eq!(job.state, JobState::Scheduled);
            assert!(s
                .job_claim_due(&req("a", t(9, 59)), &mut run_all)
                .unwrap()
                .claimed
                .is_empty());
            let b = s.job_claim_due(&req("a", t(10, 0)), &mut run_all).unwrap();
            assert_eq!(b.claimed.len(), 1);
            let c = &b.claimed[0];
            assert!(!c.resume);
            assert_eq!(c.job.state, JobState::Running);
            // Nobody else gets it while the lease holds.
            assert!(s
                .job_claim_due(&req("b", t(10, 0)), &mut run_all)
                .unwrap()
                .claimed
                .is_empty());
            assert!(s
                .job_renew(&job.id, "a", &c.run_id, t(10, 0), Duration::from_secs(30))
                .unwrap());
            assert!(!s
                .job_renew(&job.id, "b", &c.run_id, t(10, 0), Duration::from_secs(30))
                .unwrap());
            let done = Completion {
                ok: true,
                summary: "activated",
                next: None,
                now: t(10, 1),
            };
            assert!(s
                .job_complete(&job.id, "b", &c.run_id, &done)
                .unwrap()
                .is_none());
            let j = s
                .job_complete(&job.id, "a", &c.run_id, &done)
                .unwrap()
                .unwrap();
            assert_eq!(j.state, JobState::Done);
            assert_eq!(j.last_run_id.as_deref(), Some(c.run_id.as_str()));
            assert_eq!(j.last_outcome.as_deref(), Some("ok: activated"));
        });
    }

    #[test]
    fn an_expired_lease_is_resumed_with_the_same_run_id_then_given_up() {
        each_backend(|s| {
            let job = s.job_add(&at_job(t(10, 0)), t(9, 0)).unwrap();
            let first = s.job_claim_due(&req("a", t(10, 0)), &mut run_all).unwrap();
            let run_id = first.claimed[0].run_id.clone();
            // The lease (30 s) has not expired at 10:00:20.
            let early = t(10, 0) + chrono::Duration::seconds(20);
            assert!(s
                .job_claim_due(&req("b", early), &mut run_all)
                .unwrap()
                .claimed
                .is_empty());
            let b = s.job_claim_due(&req("b", t(10, 1)), &mut run_all).unwrap();
            assert_eq!(b.claimed.len(), 1);
            assert!(b.claimed[0].resume);
            assert_eq!(b.claimed[0].run_id, run_id);
            assert_eq!(b.claimed[0].job.attempts, 2);
            // The first owner's lease is gone.
            assert!(!s
                .job_renew(&job.id, "a", &run_id, t(10, 1), Duration::from_secs(30))
                .unwrap());
            s.job_claim_due(&req("c", t(10, 2)), &mut run_all).unwrap();
            let gave_up = s.job_claim_due(&req("d", t(10, 3)), &mut run_all).unwrap();
            assert!(gave_up.claimed.is_empty());
            assert_eq!(gave_up.abandoned.len(), 1);
            assert_eq!(s.job_get(&job.id).unwrap().unwrap().state, JobState::Failed);
        });
    }

    #[test]
    fn cancel_list_and_skips() {
        each_backend(|s| {
            let a = s.job_add(&at_job(t(10, 0)), t(9, 0)).unwrap();
            let b = s.job_add(&at_job(t(11, 0)), t(9, 0)).unwrap();
            assert_eq!(
                s.job_cancel(&a.id, t(9, 1)).unwrap().state,
                JobState::Cancelled
            );
            assert_eq!(
                s.job_cancel(&a.id, t(9, 1)).unwrap().state,
                JobState::Cancelled
            );
            assert!(s.job_cancel("job-nope", t(9, 1)).is_err());
            let live = s
                .job_list(&[JobState::Scheduled, JobState::Running])
                .unwrap();
            assert_eq!(live.iter().map(|j| &j.id).collect::<Vec<_>>(), vec![&b.id]);
            assert_eq!(s.job_list(&[]).unwrap().len(), 2);
            let batch = s
                .job_claim_due(&req("a", t(12, 0)), &mut |_| DueDecision::Skip {
                    next: None,
                    note: "missed".into(),
                })
                .unwrap();
            assert_eq!(batch.missed.len(), 1);
            assert_eq!(s.job_get(&b.id).unwrap().unwrap().state, JobState::Missed);
            let err = s.job_cancel(&b.id, t(12, 0)).unwrap_err().to_string();
            assert!(err.contains("already ended (missed)"), "{err}");
        });
    }

    #[test]
    fn a_job_cancelled_while_running_finishes_but_stays_cancelled() {
        each_backend(|s| {
            let job = s.job_add(&at_job(t(10, 0)), t(9, 0)).unwrap();
            let c = s
                .job_claim_due(&req("a", t(10, 0)), &mut run_all)
                .unwrap()
                .claimed[0]
                .clone();
            s.job_cancel(&job.id, t(10, 0)).unwrap();
            // The lease is no longer worth renewing, and nobody re-claims it.
            assert!(!s
                .job_renew(&job.id, "a", &c.run_id, t(10, 0), Duration::from_secs(30))
                .unwrap());
            assert!(s
                .job_claim_due(&req("b", t(11, 0)), &mut run_all)
                .unwrap()
                .claimed
                .is_empty());
            let done = Completion {
                ok: true,
                summary: "activated",
                next: None,
                now: t(10, 1),
            };
            let j = s
                .job_complete(&job.id, "a", &c.run_id, &done)
                .unwrap()
                .unwrap();
            assert_eq!(j.state, JobState::Cancelled);
            assert_eq!(j.last_outcome.as_deref(), Some("ok: activated"));
        });
    }

    #[test]
    fn adding_the_same_id_twice_keeps_one_job() {
        each_backend(|s| {
            let mut n = at_job(t(10, 0));
            n.id = Some("job-fixed".into());
            s.job_add(&n, t(9, 0)).unwrap();
            s.job_add(&n, t(9, 0)).unwrap();
            assert_eq!(s.job_list(&[]).unwrap().len(), 1);
            n.recipe = "/r/other.rhai".into();
            assert!(s.job_add(&n, t(9, 0)).is_err());
        });
    }
}
