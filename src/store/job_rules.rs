//! The rules of a job's life that both backends apply inside their transactions: what a
//! cancel, a completion, a skip, a retry or a give-up does to a job. Pure functions of the job
//! as read, so SQLite and PostgreSQL only differ in how they read and write it.

use super::jobs::ts;
use super::{Again, Completion, Job, JobKind, JobState, NewJob};
use chrono::{DateTime, Utc};

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
