//! The scheduler loop: tick, claim what is due, run each job (bounded), keep its lease while it
//! runs, record how it ended; on shutdown stop claiming and give running jobs a grace period.
//! The daemon's jobs run through `DaemonExecutor`, so they are recorded and reported like
//! every run; in the sandbox profile, time is the sandbox's (`SandboxClock`).

use super::reports::JobFixed;
use super::{blocking, Daemon};
use crate::api::BtClient;
use crate::jobs::{ClaimedJob, Job};
use crate::runner::Failure;
use crate::schedule::{
    self, claim_due, complete, renew, BoxFuture, Clock, JobExecutor, JobOutcome, SchedulerConfig,
};
use crate::store::Store;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Aborts a spawned task when dropped: a job task abandoned at shutdown takes its run with it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the scheduler until `shutdown` turns true (or its sender is dropped).
///
/// Each tick claims at most as many due jobs as the executor has room for
/// ([`JobExecutor::room`]: the daemon's free run slots), runs each with `executor`, renews its lease every third of
/// `config.lease`, and completes it. Late jobs are reported as `tracing` warnings (and recorded
/// on the job). On shutdown, running jobs get `config.grace`; any still running then are
/// abandoned with their lease, so a restarted daemon resumes them when it expires.
pub async fn run(
    store: Store,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    executor: Arc<dyn JobExecutor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let shared = Shared {
        store,
        clock,
        config: config.clone(),
        executor,
        running: Arc::default(),
    };
    let mut inflight: JoinSet<()> = JoinSet::new();
    // A job added by any process on a shared store wakes the loop before its tick.
    let mut job_added = shared.store.wakeups().map(|w| w.jobs);
    tracing::info!(owner = %config.owner, "scheduler started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        while inflight.try_join_next().is_some() {}
        // No count of jobs in flight limits the claim: a job waiting for BT holds no slot, so
        // the executor's free slots (script work) are the only bound.
        let free = shared.executor.room().min(schedule::CLAIM_BATCH);
        if free > 0 {
            shared.claim(free, &mut inflight).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.tick) => {}
            _ = crate::store::woken(&mut job_added) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
    if !inflight.is_empty() {
        tracing::info!(
            jobs = inflight.len(),
            grace_secs = config.grace.as_secs(),
            "scheduler stopping: waiting for running jobs"
        );
        let all = async { while inflight.join_next().await.is_some() {} };
        if tokio::time::timeout(config.grace, all).await.is_err() {
            tracing::warn!(
                jobs = inflight.len(),
                "scheduler stopped with jobs still running: they keep their lease and resume after a restart"
            );
        }
    }
    inflight.abort_all();
    tracing::info!(owner = %config.owner, "scheduler stopped");
}

/// What the loop hands each claim.
struct Shared {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<SchedulerConfig>,
    executor: Arc<dyn JobExecutor>,
    /// Jobs this process is running: never claimed again by it, whatever their lease says.
    running: Arc<Mutex<HashSet<String>>>,
}

impl Shared {
    /// Claims up to `free` due jobs and starts each in `inflight`; reports missed and
    /// abandoned ones.
    async fn claim(&self, free: usize, inflight: &mut JoinSet<()>) {
        let now = match self.clock.now().await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!("scheduler: cannot read the clock, skipping a tick: {e}");
                return;
            }
        };
        let (s, c) = (self.store.clone(), self.config.clone());
        let batch = match blocking(move || claim_due(&s, &c.owner.clone(), now, free, &c)).await {
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return tracing::error!("scheduler: cannot claim jobs: {e}"),
            None => return tracing::error!("scheduler: the claim task failed"),
        };
        for (job, note) in &batch.missed {
            tracing::warn!(job = %job.id, recipe = %job.recipe, "{note}");
            self.executor.missed(job, note).await;
        }
        for job in &batch.abandoned {
            tracing::error!(job = %job.id, recipe = %job.recipe,
                "{}", job.last_outcome.as_deref().unwrap_or("given up"));
        }
        for c in batch.claimed {
            let fresh = self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.job.id.clone());
            if !fresh {
                // Our own lease expired under us (the process stalled): the run is still
                // going here, so do not start a second.
                tracing::warn!(job = %c.job.id, "lease expired while running here; keeping the run in progress");
                continue;
            }
            inflight.spawn(run_one(
                self.store.clone(),
                self.clock.clone(),
                self.config.clone(),
                self.executor.clone(),
                self.running.clone(),
                c,
            ));
        }
    }
}

async fn run_one(
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<SchedulerConfig>,
    executor: Arc<dyn JobExecutor>,
    running: Arc<Mutex<HashSet<String>>>,
    claimed: ClaimedJob,
) {
    let id = claimed.job.id.clone();
    tracing::info!(job = %id, run_id = %claimed.run_id, resume = claimed.resume,
        recipe = %claimed.job.recipe, "running scheduled job");
    // Its own task, so a panicking executor is a failed run rather than a lost one.
    let exec = {
        let (job, run_id, resume) = (claimed.job.clone(), claimed.run_id.clone(), claimed.resume);
        tokio::spawn(async move { executor.execute(&job, &run_id, resume).await })
    };
    let _guard = AbortOnDrop(exec.abort_handle());
    tokio::pin!(exec);
    let every = (config.lease / 3).max(std::time::Duration::from_millis(50));
    let outcome = loop {
        tokio::select! {
            joined = &mut exec => break joined.unwrap_or_else(|e| JobOutcome::Failed {
                error: format!("the job's run failed inside btw: {e}"),
            }),
            _ = tokio::time::sleep(every) => {
                let (s, c, o, l) = (store.clone(), claimed.clone(), config.owner.clone(), config.lease);
                match blocking(move || renew(&s, &c, &o, l)).await {
                    Some(Ok(true)) => {}
                    Some(Ok(false)) => tracing::warn!(job = %id,
                        "the job's lease is no longer ours (cancelled, or taken after a stall); letting this run finish"),
                    Some(Err(e)) => tracing::warn!(job = %id, "cannot renew the lease: {e}"),
                    None => {}
                }
            }
        }
    };
    // The next cron occurrence is computed from the scheduler's clock; without it, from the
    // occurrence just run (never that occurrence again).
    let now = clock
        .now()
        .await
        .ok()
        .or(claimed.job.next_run_at)
        .unwrap_or_else(chrono::Utc::now);
    let (s, c, o, out) = (
        store.clone(),
        claimed.clone(),
        config.owner.clone(),
        outcome.clone(),
    );
    match blocking(move || complete(&s, &c, &o, &out, now)).await {
        Some(Ok(Some(job))) => match &outcome {
            JobOutcome::Failed { error } => {
                tracing::warn!(job = %id, run_id = %claimed.run_id, state = job.state.as_str(), "scheduled job failed: {error}")
            }
            _ => tracing::info!(job = %id, run_id = %claimed.run_id, state = job.state.as_str(),
                next_run_at = ?job.next_run_at, "scheduled job finished"),
        },
        Some(Ok(None)) => {
            tracing::warn!(job = %id, "finished, but the job was no longer ours: result not recorded on the job (the run's own record has it)")
        }
        Some(Err(e)) => tracing::error!(job = %id, "cannot record the job's outcome: {e}"),
        None => tracing::error!(job = %id, "the completion task failed"),
    }
    running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
}

/// The sandbox's clock, for schedules in the sandbox profile (so a port date days ahead in
/// sandbox time is reached when the sandbox gets there).
pub(super) struct SandboxClock(pub(super) BtClient);

impl Clock for SandboxClock {
    fn now(&self) -> BoxFuture<'_, Result<chrono::DateTime<chrono::Utc>, String>> {
        Box::pin(async move {
            let t = self.0.sandbox_now().await.map_err(|e| e.to_string())?;
            chrono::DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| e.to_string())
        })
    }
}

/// Runs scheduled jobs through the daemon, so they are recorded and reported like every run.
pub(super) struct DaemonExecutor(pub(super) Arc<Daemon>);

impl DaemonExecutor {
    /// A resumed firing whose run already ended well and was reported (its daemon stalled or
    /// died before recording the job's end): the job completes without running again. A run
    /// that ended but whose daemon died before writing its report (the daemon marks the run
    /// done only once the report is written) is run again instead: the ledger replays every
    /// call, so nothing reaches BT twice, and the run gets its report.
    async fn ended_ok(&self, run_id: &str) -> Option<JobOutcome> {
        let (store, id) = (self.0.store.clone(), run_id.to_string());
        let run = blocking(move || store.run_get(&id)).await?.ok()??;
        if run.finished_at.is_none() || run.outcome != "ok" {
            return None;
        }
        let store = self.0.store.clone();
        let unreported = blocking(move || store.daemon_unfinished())
            .await?
            .ok()?
            .iter()
            .any(|u| u.run_id == run_id);
        (!unreported).then(|| JobOutcome::Ok {
            summary: format!("run {run_id}: ok (finished before its daemon recorded it)"),
        })
    }
}

impl DaemonExecutor {
    /// Moves the sandbox clock job `job` was scheduled on to its time (never back: a clock
    /// already past it is left alone). The clock is the scheduling run's own, so nobody else's
    /// time moves, and the job is not late for it.
    async fn move_clock(&self, job: &Job, clock: &str) -> Result<(), String> {
        let Some(due) = job.next_run_at else {
            return Ok(());
        };
        let to = crate::time::rfc3339(due);
        tracing::info!(job = %job.id, %clock, "sandbox: moving the job's clock to {to}");
        self.0
            .base
            .client
            .on_clock(clock)
            .sandbox_advance_to(&to)
            .await
            .map(drop)
            .map_err(|e| format!("cannot move the job's sandbox clock {clock} to {to}: {e}"))
    }
}

impl JobExecutor for DaemonExecutor {
    fn room(&self) -> usize {
        self.0.runs.free()
    }

    fn execute<'a>(
        &'a self,
        job: &'a Job,
        run_id: &'a str,
        resume: bool,
    ) -> BoxFuture<'a, JobOutcome> {
        Box::pin(async move {
            let params = job.params.as_object().cloned().unwrap_or_default();
            let origin = format!("schedule:{}", job.id);
            // The version the job was scheduled with, from the store: any daemon on the store
            // runs exactly that.
            let pinned = match job.recipe_hash.clone() {
                Some(hash) => {
                    let store = self.0.store.clone();
                    match blocking(move || store.recipe_version(&hash)).await {
                        Some(Ok(Some(text))) => Some(text),
                        Some(Ok(None)) | None => {
                            return JobOutcome::Failed {
                                error: format!(
                                    "the recipe version it was scheduled with ({}) is not in the store; btw schedule repin {} runs the current one",
                                    job.recipe_hash.as_deref().unwrap_or("?"),
                                    job.id
                                ),
                            }
                        }
                        Some(Err(e)) => return JobOutcome::Failed { error: e.to_string() },
                    }
                }
                None => None,
            };
            let clock = match &job.clock {
                Some(c) if self.0.base.profile == crate::config::Profile::Sandbox => {
                    if let Err(error) = self.move_clock(job, c).await {
                        return JobOutcome::Failed { error };
                    }
                    Some(c.clone())
                }
                _ => None,
            };
            let fixed = JobFixed {
                // Taken by the run itself: one bound for every run's script work, so a
                // scheduled job waits for a slot as an inbox job does (its lease renewed).
                slot: None,
                source: pinned,
                clock,
            };
            // Always pass the run id: a fresh firing has an empty ledger; a resumed one replays.
            let outcome = loop {
                if resume {
                    if let Some(ended) = self.ended_ok(run_id).await {
                        return ended;
                    }
                }
                let outcome = self
                    .0
                    .run_recipe(
                        Path::new(&job.recipe),
                        params.clone(),
                        &origin,
                        Some(run_id.to_string()),
                        resume,
                        fixed.clone(),
                    )
                    .await;
                // Taken over from a daemon that stalled past the job's lease but still runs it:
                // wait for that run to end (or its lease to lapse) rather than fail the job.
                if !super::reports::held_elsewhere(&outcome) || self.0.base.cancel.is_cancelled() {
                    break outcome;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            match &outcome.result {
                Ok(v) => JobOutcome::Ok {
                    summary: format!(
                        "run {run_id}: {}",
                        v.to_string().chars().take(200).collect::<String>()
                    ),
                },
                Err(Failure::Cancelled { .. }) => JobOutcome::Interrupted,
                Err(f) => JobOutcome::Failed {
                    error: format!("run {run_id}: {}", f.message()),
                },
            }
        })
    }

    fn missed<'a>(&'a self, job: &'a Job, note: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let report = super::reports::missed(&self.0.store, job, note);
            let (store, r, profile) = (
                self.0.store.clone(),
                report.clone(),
                self.0.base.profile.name(),
            );
            if let Some(Err(e)) =
                blocking(move || super::reports::record_missed(&store, &r, profile)).await
            {
                tracing::error!(job = %job.id, "cannot record the missed job in the store: {e}");
            }
            self.0.fire_job_missed(&report);
            if self.0.alerts {
                let (store, r) = (self.0.store.clone(), report.clone());
                let _ = blocking(move || crate::alerts::job_missed(&store, &r)).await;
            }
            let dir = self.0.dir.clone();
            let id = job.id.clone();
            if let Some(Err(e)) = blocking(move || super::reports::write(&dir, &report)).await {
                tracing::error!(job = %id, "cannot write the missed job's report: {e}");
            }
        })
    }
}
