//! The durable job scheduler: recipes that run at a set time (`at`) or on a cron expression,
//! kept in the store so they survive restarts, and claimed under a lease so they never fire
//! twice — not with two daemons on one store, nor after a crash mid-run (the re-claim keeps the
//! run id and resumes, so the run's ledger replays the BT calls that already happened).
//!
//! Times are Europe/London unless a job says otherwise; see [`clock`] and [`cron`] for what
//! happens in the daylight-saving gap and the repeated hour.
//!
//! This is scheduling only (cron, clock, adding and claiming jobs): the job model is
//! `crate::jobs`, kept by the store; it sits below the engine, whose `schedule::at/cron/list/cancel` bindings call it. The loop that runs
//! jobs is the daemon's (`serve::scheduler`, given a [`JobExecutor`]); `btw schedule` is a
//! command (`commands/schedule.rs`).

pub mod clock;
pub mod cron;
mod paths;

pub use clock::{parse_when, BoxFuture, Clock, ManualClock, SystemClock, LONDON};
pub use cron::CronSchedule;
pub use paths::resolve_within;

use crate::jobs::{
    ClaimBatch, ClaimRequest, ClaimedJob, Completion, DueDecision, Job, JobKind, NewJob,
};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scheduling error, said plainly.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the scheduler loop behaves.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// This process's name in leases; unique per process (see [`owner_id`]).
    pub owner: String,
    /// How often the store is asked for due jobs.
    pub tick: Duration,
    /// How long a claim holds without renewal; renewed every third of it while the job runs.
    /// A daemon that dies mid-run loses its jobs to the next claimer after this long.
    pub lease: Duration,
    /// After downtime, a job this late or less still runs (once); later, it is marked missed.
    /// A job's own `catch_up_secs` wins.
    pub catch_up: Duration,
    /// On shutdown, how long to wait for running jobs before leaving them to be resumed.
    pub grace: Duration,
    /// A firing claimed this many times without finishing is marked failed.
    pub max_attempts: u32,
    /// Jobs on a sandbox clock of their own ([`Job::clock`]) are due at once: the executor moves
    /// that clock to the job's time before running it (the sandbox profile), which moves nobody
    /// else's time. Off: such a job waits for the scheduler's clock like any other.
    pub move_job_clocks: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            owner: owner_id(),
            tick: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            catch_up: Duration::from_secs(3600),
            grace: Duration::from_secs(30),
            max_attempts: 5,
            move_job_clocks: false,
        }
    }
}

/// The most jobs one tick claims when the executor sets no bound of its own.
pub const CLAIM_BATCH: usize = 64;

/// A lease owner name unique to this process.
pub fn owner_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("btw-{}-{}", std::process::id(), &u[..6])
}

/// How a job's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// The recipe succeeded; `summary` is kept as the job's `last_outcome`.
    Ok { summary: String },
    /// The recipe failed: an `at` job becomes `failed`; a cron job still moves on.
    Failed { error: String },
    /// The run was stopped from outside (daemon shutdown) before it finished: the lease is
    /// released so the next claimer resumes the same run at once.
    Interrupted,
}

/// Runs a claimed job. The daemon's implementation runs `job.recipe` with `job.params` through
/// the runner with `RunContext.resume = Some(run_id)` **always** (the runner takes its run id
/// from there; for a fresh run the ledger is simply empty) and the store, so that `resume: true`
/// replays the calls the crashed attempt completed.
pub trait JobExecutor: Send + Sync {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        run_id: &'a str,
        resume: bool,
    ) -> BoxFuture<'a, JobOutcome>;

    /// How many more jobs to claim now: the daemon's free run slots (claimed jobs beyond them
    /// would only wait, holding leases another daemon could use). The default suits an
    /// executor with no bound of its own.
    fn room(&self) -> usize {
        CLAIM_BATCH
    }

    /// A job was found late beyond its window and marked missed (`note` says by how much).
    fn missed<'a>(&'a self, _job: &'a Job, _note: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Per-job options when adding.
#[derive(Clone, Debug, Default)]
pub struct JobOptions {
    /// A chosen job id (scripts derive it from their ledger so a resumed script does not
    /// schedule twice); `None`: a fresh one.
    pub id: Option<String>,
    /// The zone a cron expression is read in (default Europe/London).
    pub tz: Option<String>,
    /// This job's catch-up window, overriding the daemon's.
    pub catch_up_secs: Option<u64>,
    /// The recipe text to pin (the daemon's last good version of a watched recipe); `None`:
    /// the file as it is now.
    pub source: Option<String>,
    /// The recipe whose own header makes this job (so a header change or the file's removal
    /// replaces or cancels it); `None` for jobs scheduled explicitly.
    pub owner_recipe: Option<String>,
    /// The sandbox clock of the run that schedules an `at` job (see [`Job::clock`]).
    pub clock: Option<String>,
}

/// Stores the version of `recipe` a new job runs (see [`JobOptions::source`]); its hash.
fn pin(store: &Store, recipe: &Path, source: &str) -> Result<String, ScheduleError> {
    Ok(store.recipe_version_put(&recipe.display().to_string(), source)?)
}

/// The text of the recipe a job runs: the one the daemon loaded, or the file.
fn recipe_source(recipe: &Path, opts: &JobOptions) -> Result<String, ScheduleError> {
    match &opts.source {
        Some(s) => Ok(s.clone()),
        None => std::fs::read_to_string(recipe)
            .map_err(|e| ScheduleError::Invalid(format!("recipe {}: {e}", recipe.display()))),
    }
}

/// A job's parameters checked against the recipe's declaration when it is added, so a typo
/// is refused now rather than when the job fires (the run checks them again then).
fn checked_params(recipe: &Path, params: Value, source: &str) -> Result<Value, ScheduleError> {
    let params = params_object(params)?;
    let header = crate::recipe::parse_header(source).map_err(|e| {
        ScheduleError::Invalid(format!(
            "recipe {}:{}: {}",
            recipe.display(),
            e.line,
            e.message
        ))
    })?;
    let given = params.as_object().cloned().unwrap_or_default();
    header
        .params
        .check(&recipe.display().to_string(), &given, &[])
        .map(|_| params)
        .map_err(|e| ScheduleError::Invalid(e.to_string()))
}

/// Moves a job to the recipe's current version: the file as it is now, or (when a daemon
/// watches it) the last version that loaded.
pub fn repin(store: &Store, id: &str, now: DateTime<Utc>) -> Result<Job, ScheduleError> {
    let job = store
        .job_get(id)?
        .ok_or_else(|| ScheduleError::Invalid(format!("no job {id}")))?;
    let (hash, source) = match store.recipe_head(&job.recipe)? {
        Some(head) => head,
        None => {
            let source = recipe_source(Path::new(&job.recipe), &JobOptions::default())?;
            (pin(store, Path::new(&job.recipe), &source)?, source)
        }
    };
    // The job's parameters must still fit the version it moves to, or every firing would fail.
    checked_params(Path::new(&job.recipe), job.params.clone(), &source)
        .map_err(|e| ScheduleError::Invalid(format!("job {id} not moved: {e}")))?;
    Ok(store.job_repin(id, &hash, now)?)
}

/// Whether the recipe a job runs has changed (or vanished) since it was pinned: `None` when
/// it is the same (or the job predates pinning).
pub fn drift(store: &Store, job: &Job) -> Option<&'static str> {
    let pinned = job.recipe_hash.as_deref()?;
    let current = match store.recipe_head(&job.recipe).ok().flatten() {
        Some((hash, _)) => hash,
        None => match std::fs::read_to_string(&job.recipe) {
            Ok(text) => crate::store::recipe_hash(&text),
            Err(_) => return Some("vanished"),
        },
    };
    (current != pinned).then_some("changed")
}

/// Resolves a recipe path against `base` (the calling script's folder, or the current folder)
/// to an absolute path, and checks there is a file there now rather than at firing time.
pub fn resolve_recipe(recipe: &str, base: Option<&Path>) -> Result<PathBuf, ScheduleError> {
    let trimmed = recipe.trim();
    if trimmed.is_empty() {
        return Err(ScheduleError::Invalid("no recipe given".into()));
    }
    let p = Path::new(trimmed);
    let full = match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    };
    let abs = std::fs::canonicalize(&full)
        .map_err(|e| ScheduleError::Invalid(format!("recipe {}: {e}", full.display())))?;
    if !abs.is_file() {
        return Err(ScheduleError::Invalid(format!(
            "recipe {} is not a file",
            abs.display()
        )));
    }
    Ok(abs)
}

fn params_object(params: Value) -> Result<Value, ScheduleError> {
    match params {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(m) => Ok(Value::Object(m)),
        other => Err(ScheduleError::Invalid(format!(
            "params must be a map, not {other}"
        ))),
    }
}

/// Schedules `recipe` (an absolute path; see [`resolve_recipe`]) to run once at `when`.
pub fn add_at(
    store: &Store,
    when: DateTime<Utc>,
    recipe: &Path,
    params: Value,
    opts: &JobOptions,
    now: DateTime<Utc>,
) -> Result<Job, ScheduleError> {
    let tz = opts.tz.clone().unwrap_or_else(|| LONDON.name().to_string());
    clock::parse_tz(&tz).map_err(ScheduleError::Invalid)?;
    let timing = Timing {
        kind: JobKind::At,
        at: Some(when),
        cron: None,
        tz,
        next_run_at: when,
    };
    insert(store, timing, recipe, params, opts, now)
}

/// Schedules `recipe` to run on every occurrence of `expr` (read in `opts.tz`, default
/// Europe/London), the first being the first occurrence after `now`.
pub fn add_cron(
    store: &Store,
    expr: &str,
    recipe: &Path,
    params: Value,
    opts: &JobOptions,
    now: DateTime<Utc>,
) -> Result<Job, ScheduleError> {
    let tz = opts.tz.clone().unwrap_or_else(|| LONDON.name().to_string());
    let sched = CronSchedule::parse(expr, &tz).map_err(ScheduleError::Invalid)?;
    let first = sched.first_after(now).map_err(ScheduleError::Invalid)?;
    let timing = Timing {
        kind: JobKind::Cron,
        at: None,
        cron: Some(sched.expr().to_string()),
        tz,
        next_run_at: first,
    };
    insert(store, timing, recipe, params, opts, now)
}

/// When a job fires: the part of a [`NewJob`] that differs between `at` and `cron` jobs.
struct Timing {
    kind: JobKind,
    at: Option<DateTime<Utc>>,
    cron: Option<String>,
    tz: String,
    next_run_at: DateTime<Utc>,
}

/// Adds a job with `timing`, pinning the recipe's current text so later edits do not change it.
fn insert(
    store: &Store,
    timing: Timing,
    recipe: &Path,
    params: Value,
    opts: &JobOptions,
    now: DateTime<Utc>,
) -> Result<Job, ScheduleError> {
    // Read once: the parameters are checked against the very text the job is pinned to.
    let source = recipe_source(recipe, opts)?;
    let new = NewJob {
        id: opts.id.clone(),
        kind: timing.kind,
        at: timing.at,
        cron: timing.cron,
        tz: timing.tz,
        recipe: recipe.display().to_string(),
        params: checked_params(recipe, params, &source)?,
        next_run_at: timing.next_run_at,
        catch_up_secs: opts.catch_up_secs,
        recipe_hash: Some(pin(store, recipe, &source)?),
        owner_recipe: opts.owner_recipe.clone(),
        // A repeating job keeps real time: on a clock of its own the daemon would move that
        // clock to each next occurrence at once, and run it without end.
        clock: opts.clock.clone().filter(|_| timing.kind == JobKind::At),
    };
    Ok(store.job_add(&new, now)?)
}

fn cron_of(job: &Job) -> Result<CronSchedule, String> {
    let expr = job
        .cron
        .as_deref()
        .ok_or_else(|| format!("cron job {} has no expression", job.id))?;
    CronSchedule::parse(expr, &job.tz)
}

fn late_note(due: DateTime<Utc>, now: DateTime<Utc>, window: Duration, tz: &str) -> String {
    let tz = clock::parse_tz(tz).unwrap_or(LONDON);
    let late = (now - due).num_seconds().max(0) as u64;
    format!(
        "missed: due at {} ({}), the scheduler reached it {} late, beyond its catch-up window of {}",
        clock::fmt_utc(due),
        clock::fmt_local(due, tz),
        in_words(late),
        in_words(window.as_secs())
    )
}

/// A span of seconds as a person says it: its largest unit and the next one down, when not zero
/// ("9 days 23 h", "4 min 5 s", "1 day").
pub fn in_words(secs: u64) -> String {
    const UNITS: [(u64, &str, &str); 4] = [
        (86_400, " day", " days"),
        (3_600, " h", " h"),
        (60, " min", " min"),
        (1, " s", " s"),
    ];
    let say = |n: u64, (_, one, many): (u64, &str, &str)| {
        format!("{n}{}", if n == 1 { one } else { many })
    };
    let Some(i) = UNITS.iter().position(|u| secs >= u.0) else {
        return "0 s".to_string();
    };
    let mut parts = vec![say(secs / UNITS[i].0, UNITS[i])];
    if let Some(&next) = UNITS.get(i + 1) {
        let n = secs % UNITS[i].0 / next.0;
        if n > 0 {
            parts.push(say(n, next));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod words_tests {
    use super::in_words;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(in_words(0), "0 s");
        assert_eq!(in_words(1), "1 s");
        assert_eq!(in_words(245), "4 min 5 s");
        assert_eq!(in_words(3_600), "1 h");
        assert_eq!(in_words(9 * 86_400 + 23 * 3_600 + 59), "9 days 23 h");
        assert_eq!(in_words(575_999 * 60), "399 days 23 h");
        assert_eq!(in_words(86_400 + 30), "1 day");
    }
}

/// The misfire policy for one due job at `now`: run it if it is within its catch-up window,
/// else skip it (an `at` job is missed; a cron job records the miss and moves to its next
/// occurrence after `now`). A cron job down through several occurrences is judged by the
/// latest of them and runs at most once: never a burst of catch-up runs.
pub fn decide(job: &Job, now: DateTime<Utc>, default_catch_up: Duration) -> DueDecision {
    let window = job
        .catch_up_secs
        .map(Duration::from_secs)
        .unwrap_or(default_catch_up);
    let within = |t: DateTime<Utc>| {
        (now - t)
            .to_std()
            .map(|late| late <= window)
            .unwrap_or(true)
    };
    let Some(due) = job.next_run_at else {
        return DueDecision::Skip {
            next: None,
            note: "missed: the job has no firing time".into(),
        };
    };
    match job.kind {
        JobKind::At if within(due) => DueDecision::Run { occurrence: due },
        JobKind::At => DueDecision::Skip {
            next: None,
            note: late_note(due, now, window, &job.tz),
        },
        JobKind::Cron => {
            let sched = match cron_of(job) {
                Ok(s) => s,
                Err(e) => {
                    return DueDecision::Skip {
                        next: None,
                        note: format!("missed: {e}"),
                    }
                }
            };
            let latest = sched
                .latest_at_or_before(now)
                .filter(|l| *l > due)
                .unwrap_or(due);
            if within(latest) {
                DueDecision::Run { occurrence: latest }
            } else {
                DueDecision::Skip {
                    next: sched.next_after(now),
                    note: late_note(latest, now, window, &job.tz),
                }
            }
        }
    }
}

/// Claims due jobs for `owner` (at most `limit`), applying the misfire policy. `now` is the
/// scheduler's clock; leases use real time.
pub fn claim_due(
    store: &Store,
    owner: &str,
    now: DateTime<Utc>,
    limit: usize,
    config: &SchedulerConfig,
) -> Result<ClaimBatch, ScheduleError> {
    claim_due_at(store, owner, now, Utc::now(), limit, config)
}

/// [`claim_due`] with real time given too (tests move it to expire leases).
pub fn claim_due_at(
    store: &Store,
    owner: &str,
    now: DateTime<Utc>,
    wall_now: DateTime<Utc>,
    limit: usize,
    config: &SchedulerConfig,
) -> Result<ClaimBatch, ScheduleError> {
    let req = ClaimRequest {
        owner,
        now,
        wall_now,
        lease: config.lease,
        limit,
        max_attempts: config.max_attempts,
        own_clocks_due: config.move_job_clocks,
    };
    let catch_up = config.catch_up;
    Ok(store.job_claim_due(&req, &mut |job| {
        // A job whose clock is moved to its time is never late for it.
        let at = match (&job.clock, job.next_run_at) {
            (Some(_), Some(due)) if config.move_job_clocks => due,
            _ => now,
        };
        decide(job, at, catch_up)
    })?)
}

/// Keeps a running job's lease. `false`: it is no longer ours (lost or cancelled).
pub fn renew(
    store: &Store,
    claimed: &ClaimedJob,
    owner: &str,
    lease: Duration,
) -> Result<bool, ScheduleError> {
    Ok(store.job_renew(&claimed.job.id, owner, &claimed.run_id, Utc::now(), lease)?)
}

/// Records how a claimed job's run ended (see [`JobOutcome`]); a cron job's next occurrence is
/// the first after both `now` and the occurrence just run. `None`: the job was no longer ours.
pub fn complete(
    store: &Store,
    claimed: &ClaimedJob,
    owner: &str,
    outcome: &JobOutcome,
    now: DateTime<Utc>,
) -> Result<Option<Job>, ScheduleError> {
    let job = &claimed.job;
    let (ok, summary) = match outcome {
        JobOutcome::Interrupted => {
            store.job_release(&job.id, owner, &claimed.run_id, Utc::now())?;
            return store.job_get(&job.id).map_err(Into::into);
        }
        JobOutcome::Ok { summary } => (true, summary.as_str()),
        JobOutcome::Failed { error } => (false, error.as_str()),
    };
    let next = match job.kind {
        JobKind::At => None,
        JobKind::Cron => {
            let after = job.next_run_at.map_or(now, |o| o.max(now));
            cron_of(job).ok().and_then(|s| s.next_after(after))
        }
    };
    let done = Completion {
        ok,
        summary,
        next,
        now,
    };
    Ok(store.job_complete(&job.id, owner, &claimed.run_id, &done)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobState;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn recipe() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.rhai");
        std::fs::write(&p, "42").unwrap();
        (dir, p)
    }

    /// A one-off job of `r` at `when`, with no params, created at `now`.
    fn at_job(s: &Store, when: &str, r: &Path, opts: &JobOptions, now: DateTime<Utc>) -> Job {
        add_at(s, utc(when), r, json!({}), opts, now).unwrap()
    }

    /// A job of `r` on `expr`, with no params and default options, created at `now`.
    fn cron_job(s: &Store, expr: &str, r: &Path, now: DateTime<Utc>) -> Job {
        add_cron(s, expr, r, json!({}), &Default::default(), now).unwrap()
    }

    #[test]
    fn catch_up_runs_a_slightly_late_job_and_misses_a_very_late_one() {
        let (_d, r) = recipe();
        let s = Store::in_memory();
        let cfg = SchedulerConfig::default();
        let now = utc("2026-12-01T12:00:00Z");
        let soon = at_job(&s, "2026-12-01T11:50:00Z", &r, &Default::default(), now);
        let late = at_job(&s, "2026-12-01T10:00:00Z", &r, &Default::default(), now);
        let own = at_job(
            &s,
            "2026-12-01T10:00:00Z",
            &r,
            &JobOptions {
                catch_up_secs: Some(3 * 3600),
                ..Default::default()
            },
            now,
        );
        let b = claim_due(&s, "a", now, 10, &cfg).unwrap();
        let mut ids: Vec<_> = b.claimed.iter().map(|c| c.job.id.clone()).collect();
        ids.sort();
        let mut want = vec![soon.id.clone(), own.id.clone()];
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(b.missed.len(), 1);
        assert_eq!(b.missed[0].0.id, late.id);
        assert!(b.missed[0].1.contains("2 h late"), "{}", b.missed[0].1);
        assert_eq!(
            s.job_get(&late.id).unwrap().unwrap().state,
            JobState::Missed
        );
        // Nothing more is due: each ran at most once.
        assert!(claim_due(&s, "b", now, 10, &cfg)
            .unwrap()
            .claimed
            .is_empty());
    }

    #[test]
    fn a_cron_job_after_downtime_runs_once_and_moves_to_the_future() {
        let (_d, r) = recipe();
        let s = Store::in_memory();
        let cfg = SchedulerConfig::default();
        let created = utc("2026-12-01T08:00:00Z");
        // Every 15 minutes; the daemon was down from 08:00 to 10:20.
        let job = cron_job(&s, "*/15 * * * *", &r, created);
        assert_eq!(job.next_run_at, Some(utc("2026-12-01T08:15:00Z")));
        let now = utc("2026-12-01T10:20:00Z");
        let b = claim_due(&s, "a", now, 10, &cfg).unwrap();
        assert_eq!(b.claimed.len(), 1, "one catch-up run, not nine");
        let c = &b.claimed[0];
        assert_eq!(c.job.next_run_at, Some(utc("2026-12-01T10:15:00Z")));
        let after = complete(
            &s,
            c,
            "a",
            &JobOutcome::Ok {
                summary: "ok".into(),
            },
            now,
        )
        .unwrap()
        .unwrap();
        assert_eq!(after.state, JobState::Scheduled);
        assert_eq!(after.next_run_at, Some(utc("2026-12-01T10:30:00Z")));
        assert!(after.run_id.is_none());
        assert!(claim_due(&s, "a", now, 10, &cfg)
            .unwrap()
            .claimed
            .is_empty());

        // Down for a whole day with a daily job: missed, moved to tomorrow, not run.
        let daily = cron_job(&s, "0 10 * * *", &r, created);
        let much_later = utc("2026-12-02T14:00:00Z");
        let b = claim_due(&s, "a", much_later, 10, &cfg).unwrap();
        let ran: Vec<_> = b.claimed.iter().map(|c| &c.job.id).collect();
        assert!(!ran.contains(&&daily.id));
        let d = s.job_get(&daily.id).unwrap().unwrap();
        assert_eq!(d.state, JobState::Scheduled);
        assert_eq!(d.next_run_at, Some(utc("2026-12-03T10:00:00Z")));
        assert!(d
            .last_outcome
            .unwrap()
            .starts_with("missed: due at 2026-12-02T10:00:00Z"));
    }

    #[test]
    fn a_cron_completion_never_reruns_the_same_occurrence() {
        let (_d, r) = recipe();
        let s = Store::in_memory();
        let cfg = SchedulerConfig::default();
        let job = cron_job(&s, "0 10 * * 1-5", &r, utc("2026-03-27T08:00:00Z"));
        let b = claim_due(&s, "a", utc("2026-03-27T10:00:00Z"), 10, &cfg).unwrap();
        // Completed with a clock that reads earlier than the occurrence (clocks differ).
        let after = complete(
            &s,
            &b.claimed[0],
            "a",
            &JobOutcome::Failed {
                error: "boom".into(),
            },
            utc("2026-03-27T09:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(after.id, job.id);
        assert_eq!(after.state, JobState::Scheduled);
        assert_eq!(after.next_run_at, Some(utc("2026-03-30T09:00:00Z")));
        assert_eq!(after.last_outcome.as_deref(), Some("failed: boom"));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let (_d, r) = recipe();
        let s = Store::in_memory();
        let now = utc("2026-12-01T08:00:00Z");
        let e = add_cron(&s, "61 * * * *", &r, json!({}), &Default::default(), now).unwrap_err();
        assert!(e.to_string().contains("cron expression"), "{e}");
        let e = add_at(&s, now, &r, json!([1]), &Default::default(), now).unwrap_err();
        assert!(e.to_string().contains("params must be a map"), "{e}");
        let e = resolve_recipe("nope.rhai", Some(r.parent().unwrap())).unwrap_err();
        assert!(e.to_string().contains("nope.rhai"), "{e}");
        assert!(resolve_recipe("r.rhai", Some(r.parent().unwrap()))
            .unwrap()
            .is_absolute());
        assert!(resolve_recipe(" ", None).is_err());
        assert!(resolve_recipe(r.parent().unwrap().to_str().unwrap(), None).is_err());
    }
}
