//! Scheduled jobs: rows, and the lease protocol that lets several daemons share one store
//! without a job ever firing twice.
//!
//! Every change is one `BEGIN IMMEDIATE` transaction: SQLite then serialises writers across
//! processes, so a claim reads and takes a job before any other claimer can look at it.
//! What is due and what to do with a late job (the misfire policy, cron arithmetic) is decided by
//! the caller (the `schedule` module), which this lower layer does not import: it is handed a
//! [`DueDecision`] per due job instead.

use super::rows::{sqlite_err, Cols};
use super::{Sqlite, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// `at`: once, at an instant. `cron`: on every occurrence of a cron expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    At,
    Cron,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::At => "at",
            JobKind::Cron => "cron",
        }
    }
}

/// Where a job is in its life. `scheduled` and `running` are live; the rest are final
/// (a cron job only leaves `scheduled`/`running` when cancelled, failed or out of occurrences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Scheduled,
    Running,
    Done,
    Missed,
    Cancelled,
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Scheduled,
        JobState::Running,
        JobState::Done,
        JobState::Missed,
        JobState::Cancelled,
        JobState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Missed => "missed",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the job may still run.
    pub fn is_live(self) -> bool {
        matches!(self, JobState::Scheduled | JobState::Running)
    }
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    /// The instant of an `at` job.
    pub at: Option<DateTime<Utc>>,
    /// The expression of a `cron` job, evaluated in `tz`.
    pub cron: Option<String>,
    pub tz: String,
    /// The recipe's absolute path.
    pub recipe: String,
    pub params: Value,
    /// When it next fires (for a running job: the occurrence being run).
    pub next_run_at: Option<DateTime<Utc>>,
    pub state: JobState,
    /// The run id of the current firing: set when claimed, kept across a crash and resume.
    pub run_id: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Claims of the current firing (1 normally; more after crashes).
    pub attempts: u32,
    pub last_outcome: Option<String>,
    pub last_run_id: Option<String>,
    /// This job's catch-up window after downtime; `None`: the scheduler's default.
    pub catch_up_secs: Option<u64>,
    /// The recipe version the job runs (its text is in the store); `None` for jobs older than
    /// pinning, which run the file as it is.
    pub recipe_hash: Option<String>,
    /// The recipe whose own header (`at`, `cron`) made this job; `None`: scheduled explicitly.
    pub owner_recipe: Option<String>,
    /// On the scheduler's clock (the sandbox's in the sandbox profile), as `updated_at`.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A job to add.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// A chosen id (so a resumed script adds the same job, not a second); `None`: a fresh one.
    pub id: Option<String>,
    pub kind: JobKind,
    pub at: Option<DateTime<Utc>>,
    pub cron: Option<String>,
    pub tz: String,
    pub recipe: String,
    pub params: Value,
    /// The first firing: `at` itself, or the cron expression's first occurrence.
    pub next_run_at: DateTime<Utc>,
    pub catch_up_secs: Option<u64>,
    pub recipe_hash: Option<String>,
    pub owner_recipe: Option<String>,
}

/// A job taken by a claimer: run it with `run_id`; `resume` when an earlier claim of the same
/// firing died mid-run (its ledger then replays the BT calls that already happened).
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedJob {
    pub job: Job,
    pub run_id: String,
    pub resume: bool,
}

/// What to do with a scheduled job that is due.
#[derive(Clone, Debug, PartialEq)]
pub enum DueDecision {
    /// Run it now, for the occurrence at `occurrence`.
    Run { occurrence: DateTime<Utc> },
    /// Do not run it: an `at` job becomes `missed`; a cron job records `note` and moves on to
    /// `next` (with no next occurrence it is `missed` for good).
    Skip {
        next: Option<DateTime<Utc>>,
        note: String,
    },
}

/// Who claims, and when.
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// A name unique to this claimer (process), written into the lease.
    pub owner: &'a str,
    /// The scheduler's clock (the sandbox's, in the sandbox profile): decides what is due.
    pub now: DateTime<Utc>,
    /// Real time: leases measure whether a process is alive, which a sandbox clock moved
    /// forward by days says nothing about.
    pub wall_now: DateTime<Utc>,
    pub lease: Duration,
    /// At most this many jobs are taken (the claimer's free slots); skips are not counted.
    pub limit: usize,
    /// A firing claimed this many times without finishing (it keeps crashing its daemon) is
    /// marked failed instead of claimed again.
    pub max_attempts: u32,
}

/// What one claim did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimBatch {
    pub claimed: Vec<ClaimedJob>,
    /// Jobs found late beyond their window (as they are after the claim), with why.
    pub missed: Vec<(Job, String)>,
    /// Firings given up after `max_attempts` crashed claims.
    pub abandoned: Vec<Job>,
}

/// How a run ended, for [`Store::job_complete`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion<'a> {
    pub ok: bool,
    pub summary: &'a str,
    /// A cron job's next occurrence; `None` for an `at` job or a cron job with none left.
    pub next: Option<DateTime<Utc>>,
    /// The scheduler's clock, for `updated_at`.
    pub now: DateTime<Utc>,
}

/// A stored instant: UTC, milliseconds, `Z`, so comparing the text compares the times.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    crate::time::rfc3339_millis(t)
}

pub(super) const COLUMNS: &str =
    "id, kind, at, cron, tz, recipe, params, next_run_at, state, run_id, lease_owner, \
     lease_until, attempts, last_outcome, last_run_id, catch_up_secs, created_at, updated_at, \
     recipe_hash, owner_recipe";

/// A job from a row of [`COLUMNS`], from either backend.
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
    })
}

pub(super) fn job_from_row(r: &Row) -> rusqlite::Result<Job> {
    job_from_cols(r).map_err(sqlite_err)
}

pub(super) fn get_in(tx: &Transaction, id: &str) -> rusqlite::Result<Option<Job>> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        job_from_row,
    )
    .optional()
}

/// A fresh job id: short enough to type in `btw schedule cancel`.
pub fn new_job_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("job-{}", &u[..10])
}

/// A run id for a firing, in the runner's format (time-ordered, unique enough to prefix
/// BT external ids); the runner is a higher layer, so the format is repeated here.
pub(super) fn new_run_id(now: DateTime<Utc>) -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%d%H%M%S"), &u[..6])
}

pub(super) fn lease_end(from: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    from + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60))
}

// The rules of a job's life, applied by both backends inside their transactions: pure
// functions of the job as read, so SQLite and PostgreSQL differ only in how they read and write.

/// Whether `existing` is the job `new` would add (adding it again after a crash is harmless).
pub(super) fn same_job(existing: &Job, new: &NewJob) -> bool {
    existing.kind == new.kind && existing.recipe == new.recipe && existing.params == new.params
}

/// Whether a job may be cancelled: `Ok(true)` when it already is, `Ok(false)` to cancel it,
/// `Err` when it has ended otherwise.
pub(super) fn cancel_check(job: &Job) -> Result<bool, String> {
    match job.state {
        JobState::Cancelled => Ok(true),
        JobState::Scheduled | JobState::Running => Ok(false),
        other => Err(format!(
            "job {} has already ended ({}): nothing to cancel",
            job.id,
            other.as_str()
        )),
    }
}

/// The `last_outcome` a completion records.
pub(super) fn outcome_text(done: &Completion) -> String {
    if done.ok {
        format!("ok: {}", done.summary)
    } else {
        format!("failed: {}", done.summary)
    }
}

/// Where a firing's completion leaves the job (state, next run), or `None` when the firing is
/// no longer `owner`'s `run_id` (nothing must change).
pub(super) fn completion_target(
    job: &Job,
    owner: &str,
    run_id: &str,
    done: &Completion,
) -> Option<(JobState, Option<String>)> {
    if job.run_id.as_deref() != Some(run_id) {
        return None;
    }
    let same = job.next_run_at.map(ts);
    match job.state {
        JobState::Running if job.lease_owner.as_deref() == Some(owner) => {
            Some(match (job.kind, done.next) {
                (JobKind::Cron, Some(n)) => (JobState::Scheduled, Some(ts(n))),
                (JobKind::Cron, None) => (JobState::Done, same),
                (JobKind::At, _) if done.ok => (JobState::Done, same),
                (JobKind::At, _) => (JobState::Failed, same),
            })
        }
        JobState::Cancelled => Some((JobState::Cancelled, same)),
        _ => None,
    }
}

/// The note of a firing given up after `attempts` crashed claims.
pub(super) fn abandon_note(attempts: u32) -> String {
    format!(
        "failed: claimed {attempts} times without finishing (its daemon stopped each time); given up"
    )
}

/// Where a skipped due job goes: a cron job with a next occurrence stays scheduled for it;
/// anything else is missed.
pub(super) fn skip_target(job: &Job, next: Option<DateTime<Utc>>) -> (JobState, Option<String>) {
    match (job.kind, next) {
        (JobKind::Cron, Some(n)) => (JobState::Scheduled, Some(ts(n))),
        _ => (JobState::Missed, job.next_run_at.map(ts)),
    }
}

impl Sqlite {
    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: the write lock is taken before reading,
    /// so two processes (or connections) never both act on what they read.
    pub(super) fn immediate<T>(
        &self,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let value = f(&tx).map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(value)
    }

    /// Adds a job, `scheduled` to fire at `next_run_at`. A chosen id that exists already is
    /// an error unless it is the same job (so adding it again after a crash is harmless).
    pub fn job_add(&self, new: &NewJob, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let id = new.id.clone().unwrap_or_else(new_job_id);
        let found = self.immediate(|tx| {
            if let Some(existing) = get_in(tx, &id)? {
                return Ok(Err(existing));
            }
            tx.execute(
                "INSERT INTO jobs (id, kind, at, cron, tz, recipe, params, next_run_at, state,
                   attempts, catch_up_secs, created_at, updated_at, recipe_hash, owner_recipe)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'scheduled', 0, ?9, ?10, ?10, ?11, ?12)",
                params![
                    id,
                    new.kind.as_str(),
                    new.at.map(ts),
                    new.cron,
                    new.tz,
                    new.recipe,
                    new.params.to_string(),
                    ts(new.next_run_at),
                    new.catch_up_secs.map(|s| s.min(i64::MAX as u64) as i64),
                    ts(now),
                    new.recipe_hash,
                    new.owner_recipe,
                ],
            )?;
            Ok(Ok(get_in(tx, &id)?))
        })?;
        match found {
            Ok(Some(job)) => Ok(job),
            Ok(None) => Err(self.error(format!("job {id} vanished after insert"))),
            Err(existing) if same_job(&existing, new) => Ok(existing),
            Err(_) => Err(self.error(format!("a different job {id} exists already"))),
        }
    }

    pub fn job_get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_from_row,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Jobs in any of `states` (every job when empty), soonest first, then newest.
    pub fn job_list(&self, states: &[JobState]) -> Result<Vec<Job>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM jobs
                 ORDER BY state NOT IN ('scheduled', 'running'), next_run_at, created_at DESC"
            ))
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([], job_from_row)
            .map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for row in rows {
            let job = row.map_err(|e| self.error(e))?;
            if states.is_empty() || states.contains(&job.state) {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// Cancels a job so it never fires again. A run already in progress finishes (its result is
    /// recorded) but a cron job is not rescheduled. Cancelling twice is harmless; cancelling a
    /// job that has already ended is an error saying how it ended.
    pub fn job_cancel(&self, id: &str, now: DateTime<Utc>) -> Result<Job, StoreError> {
        let result = self.immediate(|tx| {
            let Some(job) = get_in(tx, id)? else {
                return Ok(Err(format!("no job {id}")));
            };
            match cancel_check(&job) {
                Ok(true) => return Ok(Ok(job)),
                Ok(false) => {}
                Err(why) => return Ok(Err(why)),
            }
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            Ok(Ok(get_in(tx, id)?.unwrap_or(job)))
        })?;
        result.map_err(|m| self.error(m))
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
        let n = self.immediate(|tx| {
            tx.execute(
                "UPDATE jobs SET lease_until = ?4
                 WHERE id = ?1 AND state = 'running' AND lease_owner = ?2 AND run_id = ?3",
                params![id, owner, run_id, ts(lease_end(wall_now, lease))],
            )
        })?;
        Ok(n == 1)
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
        let n = self.immediate(|tx| {
            tx.execute(
                "UPDATE jobs SET lease_until = ?4
                 WHERE id = ?1 AND state = 'running' AND lease_owner = ?2 AND run_id = ?3",
                params![id, owner, run_id, ts(wall_now)],
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
        let now = ts(done.now);
        let outcome = outcome_text(done);
        self.immediate(|tx| {
            let Some(job) = get_in(tx, id)? else {
                return Ok(None);
            };
            let Some((state, next)) = completion_target(&job, owner, run_id, done) else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE jobs SET state = ?2, next_run_at = ?3, last_outcome = ?4,
                   last_run_id = run_id, run_id = NULL, lease_owner = NULL, lease_until = NULL,
                   updated_at = ?5
                 WHERE id = ?1",
                params![id, state.as_str(), next, outcome, now],
            )?;
            get_in(tx, id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
