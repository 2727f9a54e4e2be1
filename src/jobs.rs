//! The job model: what a scheduled job is (kinds, states, rows, what to add, how a firing is
//! claimed and how it ends) and the rules of its life (what a completion, a skip, a cancel or a
//! retry does to it). Backend-free: the store persists jobs (`store/jobs.rs`) and applies these
//! rules inside its transactions; the scheduler (`schedule`, `serve::scheduler`), the daemon's
//! pages and `btw schedule` read and decide with them.
//!
//! What is due and what to do with a late job (the misfire policy, cron arithmetic) is the
//! scheduler's: the store is handed a [`DueDecision`] per due job.

use chrono::{DateTime, Utc};
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
    /// The sandbox clock an `at` job was scheduled on by a run (its `at` is a time on that
    /// clock, and it runs on it); `None`: real time (the shared clock on the sandbox).
    pub clock: Option<String>,
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
    /// See [`Job::clock`].
    pub clock: Option<String>,
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
    /// Jobs on a clock of their own are due whatever `now` says (their claimer moves their clock
    /// to their time: see `SchedulerConfig::move_job_clocks`).
    pub own_clocks_due: bool,
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

/// How a run ended, for `Store::job_complete`.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion<'a> {
    pub ok: bool,
    pub summary: &'a str,
    /// A cron job's next occurrence; `None` for an `at` job or a cron job with none left.
    pub next: Option<DateTime<Utc>>,
    /// The scheduler's clock, for `updated_at`.
    pub now: DateTime<Utc>,
}

/// How `Store::job_again` brings a job back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Again {
    /// A missed or failed job is scheduled again, due now.
    Retry,
    /// Any job not running right now fires now (a cron job then carries on with its schedule).
    RunNow,
}

/// Whether [`Again`] may bring `job` back; the error says why not.
pub(crate) fn again_check(job: &Job, how: Again) -> Result<(), String> {
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

/// A fresh job id: short enough to type in `btw schedule cancel`.
pub fn new_job_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("job-{}", &u[..10])
}

/// A run id for a firing, in the runner's format (time-ordered, unique enough to prefix
/// BT external ids); the runner is a higher layer, so the format is repeated here.
pub(crate) fn new_run_id(now: DateTime<Utc>) -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%d%H%M%S"), &u[..6])
}

pub(crate) fn lease_end(from: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    from + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60))
}

// The rules of a job's life, applied by the store inside its transactions: pure functions of
// the job as read.

/// Whether `existing` is the job `new` would add (adding it again after a crash is harmless).
pub(crate) fn same_job(existing: &Job, new: &NewJob) -> bool {
    existing.kind == new.kind && existing.recipe == new.recipe && existing.params == new.params
}

/// Whether a job may be cancelled: `Ok(true)` when it already is, `Ok(false)` to cancel it,
/// `Err` when it has ended otherwise.
pub(crate) fn cancel_check(job: &Job) -> Result<bool, String> {
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
pub(crate) fn outcome_text(done: &Completion) -> String {
    if done.ok {
        format!("ok: {}", done.summary)
    } else {
        format!("failed: {}", done.summary)
    }
}

/// Where a firing's completion leaves the job (state, next run), or `None` when the firing is
/// no longer `owner`'s `run_id` (nothing must change).
pub(crate) fn completion_target(
    job: &Job,
    owner: &str,
    run_id: &str,
    done: &Completion,
) -> Option<(JobState, Option<DateTime<Utc>>)> {
    if job.run_id.as_deref() != Some(run_id) {
        return None;
    }
    let same = job.next_run_at;
    match job.state {
        JobState::Running if job.lease_owner.as_deref() == Some(owner) => {
            Some(match (job.kind, done.next) {
                (JobKind::Cron, Some(n)) => (JobState::Scheduled, Some(n)),
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
pub(crate) fn abandon_note(attempts: u32) -> String {
    format!(
        "failed: claimed {attempts} times without finishing (its daemon stopped each time); given up"
    )
}

/// Where a skipped due job goes: a cron job with a next occurrence stays scheduled for it;
/// anything else is missed.
pub(crate) fn skip_target(
    job: &Job,
    next: Option<DateTime<Utc>>,
) -> (JobState, Option<DateTime<Utc>>) {
    match (job.kind, next) {
        (JobKind::Cron, Some(n)) => (JobState::Scheduled, Some(n)),
        _ => (JobState::Missed, job.next_run_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    fn running(kind: JobKind) -> Job {
        Job {
            id: "job-1".into(),
            kind,
            at: None,
            cron: None,
            tz: "Europe/London".into(),
            recipe: "/r/a.rhai".into(),
            params: Value::Null,
            next_run_at: Some(t(10)),
            state: JobState::Running,
            run_id: Some("run-1".into()),
            lease_owner: Some("a".into()),
            lease_until: Some(t(11)),
            attempts: 1,
            last_outcome: None,
            last_run_id: None,
            catch_up_secs: None,
            recipe_hash: None,
            owner_recipe: None,
            clock: None,
            created_at: t(9),
            updated_at: t(9),
        }
    }

    fn done(ok: bool, next: Option<DateTime<Utc>>) -> Completion<'static> {
        Completion {
            ok,
            summary: "s",
            next,
            now: t(10),
        }
    }

    #[test]
    fn a_completion_moves_a_job_on_only_for_its_owner_and_run() {
        let at = running(JobKind::At);
        assert_eq!(
            completion_target(&at, "a", "run-1", &done(false, None)),
            Some((JobState::Failed, Some(t(10))))
        );
        assert_eq!(
            completion_target(&at, "b", "run-1", &done(true, None)),
            None
        );
        assert_eq!(
            completion_target(&at, "a", "run-2", &done(true, None)),
            None
        );
        let cron = running(JobKind::Cron);
        assert_eq!(
            completion_target(&cron, "a", "run-1", &done(true, Some(t(12)))),
            Some((JobState::Scheduled, Some(t(12))))
        );
        let mut cancelled = cron.clone();
        cancelled.state = JobState::Cancelled;
        assert_eq!(
            completion_target(&cancelled, "b", "run-1", &done(true, Some(t(12)))),
            Some((JobState::Cancelled, Some(t(10))))
        );
    }

    #[test]
    fn skips_cancels_and_retries_follow_the_state() {
        let mut job = running(JobKind::At);
        job.state = JobState::Scheduled;
        assert_eq!(
            skip_target(&job, Some(t(12))),
            (JobState::Missed, Some(t(10)))
        );
        job.kind = JobKind::Cron;
        assert_eq!(
            skip_target(&job, Some(t(12))),
            (JobState::Scheduled, Some(t(12)))
        );
        assert_eq!(cancel_check(&job), Ok(false));
        assert!(again_check(&job, Again::Retry)
            .unwrap_err()
            .contains("still to run"));
        job.state = JobState::Missed;
        assert!(cancel_check(&job)
            .unwrap_err()
            .contains("already ended (missed)"));
        assert_eq!(again_check(&job, Again::Retry), Ok(()));
    }
}
