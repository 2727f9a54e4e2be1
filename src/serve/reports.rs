//! Each run of the daemon and its report: one JSON file per run in `DIR/runs/`, written
//! atomically, and the output sink that both echoes a recipe's lines to the daemon's log and
//! keeps them for the report.

use super::{blocking, Daemon};
use crate::engine::{Cancel, LogLevel, Output};
use crate::runner::{self, Failure, RunOutcome, Script};
use crate::store::{HeldLease, Store};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Echoes a run's lines to stderr, prefixed with the recipe, and keeps them for its report.
pub(super) struct RunLog {
    prefix: String,
    lines: Mutex<Vec<String>>,
}

impl RunLog {
    pub(super) fn new(prefix: &str) -> Self {
        RunLog {
            prefix: prefix.to_string(),
            lines: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn keep(&self, line: String) {
        self.emit(LogLevel::Info, &line);
        self.store(line);
    }

    /// Logs a line of the recipe's through the daemon's log at `level` (a recipe's `log::warn` is
    /// a warning of the daemon's), with the recipe named as a field: it has its time, its level
    /// and the log's one format.
    fn emit(&self, level: LogLevel, line: &str) {
        let recipe = self.prefix.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(recipe = %recipe, "[{recipe}] {line}"),
            LogLevel::Info => tracing::info!(recipe = %recipe, "[{recipe}] {line}"),
            LogLevel::Warn => tracing::warn!(recipe = %recipe, "[{recipe}] {line}"),
            LogLevel::Error => tracing::error!(recipe = %recipe, "[{recipe}] {line}"),
        }
    }

    /// Keeps a line for the run's report.
    fn store(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        // A chatty recipe must not grow the daemon without bound.
        if lines.len() < 10_000 {
            lines.push(line);
        }
    }
}

impl Output for RunLog {
    fn print(&self, line: &str) {
        self.keep(line.to_string());
    }
    fn log(&self, level: LogLevel, msg: &str) {
        self.emit(level, msg);
        self.store(format!("[{}] {msg}", level.label()));
    }
}

/// The report of one run: recipe, params, start, end, outcome, result or error with its
/// location, and the BT calls the run made (from its ledger).
pub(super) fn build(
    outcome: &RunOutcome,
    recipe: &str,
    origin: &str,
    params: &Value,
    started_at: &str,
    store: &Store,
    output: Vec<String>,
) -> Value {
    let calls: Vec<Value> = store
        .ledger_steps(&outcome.run_id)
        .unwrap_or_default()
        .into_iter()
        .map(|s| json!({"step": s.step, "operation": s.operation, "state": format!("{:?}", s.state).to_lowercase()}))
        .collect();
    let mut report = json!({
        "run_id": outcome.run_id,
        "recipe": recipe,
        // The version that ran, as in the runs table and `btw runs show`.
        "recipe_hash": store.run_get(&outcome.run_id).ok().flatten().map(|r| r.script_hash),
        "origin": origin,
        "params": crate::secrets::masked(params, &[]),
        "started_at": started_at,
        "finished_at": crate::store::now_rfc3339(),
        "elapsed_ms": outcome.elapsed.as_millis() as u64,
        "http_calls": outcome.api_calls,
        "api_calls": calls,
        "output": output,
    });
    match &outcome.result {
        Ok(v) => {
            report["outcome"] = json!("ok");
            report["result"] = v.clone();
        }
        Err(f) => {
            report["outcome"] = json!(f.kind());
            report["error"] = f.to_json();
        }
    }
    report
}

/// Writes `DIR/runs/<run_id>.json` through a temporary file and a rename, so a reader never
/// sees half a report.
pub(super) fn write(dir: &Path, report: &Value) -> std::io::Result<()> {
    let pending = write_pending(dir, report)?;
    publish(&pending)
}

/// A report written but not yet shown: its temporary file, renamed into place by [`publish`]
/// once the run's end is recorded (or removed, when the run turned out to be another's).
pub(super) struct Pending {
    tmp: PathBuf,
    to: PathBuf,
}

/// Writes a report to its temporary file in `DIR/runs/`.
fn write_pending(dir: &Path, report: &Value) -> std::io::Result<Pending> {
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs)?;
    let id = report["run_id"].as_str().unwrap_or("unknown");
    let tmp = runs.join(format!(".{id}.json.tmp"));
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        crate::secrets::create_private(&tmp)?.write_all((text + "\n").as_bytes())?;
    }
    Ok(Pending {
        tmp,
        to: runs.join(format!("{id}.json")),
    })
}

/// Shows a pending report under its name.
fn publish(p: &Pending) -> std::io::Result<()> {
    std::fs::rename(&p.tmp, &p.to)
}

/// Reports a daemon killed between recording a run's end and showing its report left aside
/// (`runs/.ID.json.tmp`): shown when the store holds the run's end and no report of it is shown
/// yet, removed when one is; left while the run is unfinished (its resumption writes another).
/// Returns how many were shown.
pub(super) fn recover_pending(dir: &Path, store: &Store) -> usize {
    let runs = dir.join("runs");
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return 0;
    };
    let mut shown = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".json.tmp"))
        else {
            continue;
        };
        let pending = Pending {
            tmp: entry.path(),
            to: runs.join(format!("{id}.json")),
        };
        if pending.to.exists() {
            let _ = std::fs::remove_file(&pending.tmp);
            continue;
        }
        let ended = matches!(store.run_get(id), Ok(Some(r)) if r.finished_at.is_some());
        if ended && publish(&pending).is_ok() {
            tracing::info!("run {id}: its report, written before the daemon stopped, is shown now");
            shown += 1;
        }
    }
    shown
}

/// The report of a scheduled job that was missed (it never ran): written like a run's, so
/// whoever reads `runs/` sees it, with what to do about it.
pub(super) fn missed(store: &Store, job: &crate::jobs::Job, note: &str) -> Value {
    // One clock in the report: the job was due, and found missed, on the scheduler's clock
    // (the claim stamps `updated_at` with it), which may be the sandbox's rather than real time.
    let found = crate::time::rfc3339(job.updated_at);
    json!({
        "run_id": format!("{}-missed-{}", job.id, chrono::Utc::now().format("%Y%m%d%H%M%S")),
        "recipe": job.recipe,
        "origin": format!("schedule:{}", job.id),
        "job_id": job.id,
        "params": crate::runner::shown_job_params(store, job),
        "due_at": job.next_run_at.map(crate::time::rfc3339),
        "started_at": found,
        "finished_at": found,
        "clock": "due_at, started_at and finished_at are on the scheduler's clock",
        "outcome": "missed",
        "error": {"kind": "missed", "message": note},
        "next": format!("btw schedule retry {} (or run-now {})", job.id, job.id),
    })
}

/// Records a missed job's report as a run of its own, so `btw runs list` shows the miss.
pub(super) fn record_missed(store: &Store, report: &Value, profile: &str) -> Result<(), String> {
    let run_id = report["run_id"].as_str().unwrap_or_default();
    let recipe = report["recipe"].as_str().unwrap_or_default();
    store
        .run_started(run_id, recipe, "", &report["params"], profile)
        .and_then(|()| store.run_finished(run_id, "missed", report))
        .map_err(|e| e.to_string())
}

/// A run's report counts its attempts (as the store does); a resumed run's keeps what the
/// earlier attempts reported (their output, when they got as far as writing one). Its calls come
/// from the ledger, which holds the earlier attempts' steps and the resumed ones.
fn keep_earlier_attempts(dir: &Path, report: &mut Value, attempt: u32) {
    report["attempts"] = json!(attempt);
    if attempt < 2 {
        return;
    }
    report["resumed"] = json!(true);
    let id = report["run_id"].as_str().unwrap_or("unknown").to_string();
    let earlier: Option<Value> =
        std::fs::read_to_string(dir.join("runs").join(format!("{id}.json")))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(e) = earlier {
        report["started_at"] = e["started_at"].clone();
        let mut lines: Vec<Value> = e["output"].as_array().cloned().unwrap_or_default();
        lines.push(json!("--- resumed ---"));
        lines.extend(report["output"].as_array().cloned().unwrap_or_default());
        report["output"] = json!(lines);
    }
}

/// A run's own cancel, which the daemon's (its shutdown) reaches: the run's time limit or a
/// lease lost to another daemon then stops this run only, never every run of the daemon.
fn own_cancel(daemon: &Cancel) -> (Cancel, tokio::task::JoinHandle<()>) {
    let own = Cancel::default();
    let (d, o) = (daemon.clone(), own.clone());
    let follow = tokio::spawn(async move {
        d.cancelled().await;
        o.cancel();
    });
    (own, follow)
}

/// How many times one run is resumed after the store stopped answering mid-run.
const STORE_RESUMES: u32 = 10;

/// Whether the run was refused because another process holds its run id's lease.
pub(super) fn held_elsewhere(outcome: &RunOutcome) -> bool {
    matches!(&outcome.result, Err(Failure::Refused { message, .. })
        if message.contains("is already running") && outcome.api_calls == 0)
}

/// A run's description, for its records and log lines.
struct RunInfo {
    run_id: String,
    name: String,
    recipe_text: String,
    origin: String,
    params: Value,
    started_at: String,
}

/// What the caller fixes about a run: a scheduled job its text and clock; the default: nothing
/// (a dropped recipe, an inbox job, a trigger).
#[derive(Clone, Debug, Default)]
pub(super) struct JobFixed {
    /// The run slot already taken for it; none: the run waits for one.
    pub(super) slot: Option<Arc<super::slots::Slot>>,
    /// The recipe text the job was pinned to.
    pub(super) source: Option<String>,
    /// The sandbox clock the job was scheduled on: the run calls BT on it.
    pub(super) clock: Option<String>,
}

impl Daemon {
    /// Runs a recipe now, as its own task: records it, writes its report.
    pub(super) fn launch(
        self: &Arc<Self>,
        recipe: PathBuf,
        params: Map<String, Value>,
        origin: String,
        run_id: Option<String>,
        resuming: bool,
    ) {
        let me = self.clone();
        self.runs.spawn(move |slot| async move {
            me.run_recipe(
                &recipe,
                params,
                &origin,
                run_id,
                resuming,
                JobFixed {
                    slot: Some(slot),
                    ..JobFixed::default()
                },
            )
            .await;
        });
    }

    /// The recipe to run: the last version of it that compiled when it is one of the folder's,
    /// else the file as it is now.
    fn script_for(&self, recipe: &Path) -> Result<Script, Failure> {
        if let Some(l) = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(recipe)
        {
            return Ok(Script {
                name: recipe.display().to_string(),
                source: l.source.clone(),
                dir: Some(self.dir.clone()),
                path: Some(recipe.to_path_buf()),
            });
        }
        Script::from_file(recipe)
    }

    /// Runs a recipe to its end (or interruption); returns the outcome. `job`: what a scheduled
    /// job fixes (its pinned text, its clock); otherwise the folder's last good version or the
    /// file, on a clock of the run's own.
    pub(super) async fn run_recipe(
        self: &Arc<Self>,
        recipe: &Path,
        params: Map<String, Value>,
        origin: &str,
        run_id: Option<String>,
        resuming: bool,
        job: JobFixed,
    ) -> RunOutcome {
        let info = RunInfo {
            run_id: run_id.unwrap_or_else(runner::new_run_id),
            name: recipe
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("recipe")
                .to_string(),
            recipe_text: recipe.display().to_string(),
            origin: origin.to_string(),
            params: Value::Object(params.clone()),
            started_at: crate::store::now_rfc3339(),
        };
        let (cancel, follow) = own_cancel(&self.base.cancel);
        // The lease first, so whatever this daemon records of the run is fenced by it.
        let lease = match self.take_run_lease(&info, &cancel).await {
            Ok(l) => l,
            Err(outcome) => {
                follow.abort();
                return outcome;
            }
        };
        let fence = lease.fence();
        let (store, f, i) = (
            self.store.clone(),
            fence.clone(),
            (
                info.recipe_text.clone(),
                info.params.clone(),
                info.origin.clone(),
                self.owner.clone(),
            ),
        );
        let begun = self
            .until_answered(&info, "record the run's start", move || {
                store.daemon_run_begin(&f, &i.0, &i.1, &i.2, &i.3)
            })
            .await;
        let attempt = match begun {
            Some(Some(n)) => n,
            Some(None) => {
                follow.abort();
                lease.release().await;
                return self.ended_before(&info).await;
            }
            None => {
                follow.abort();
                lease.forget();
                return lost(&info);
            }
        };
        let runlog = Arc::new(RunLog::new(&info.name));
        let mut ctx = self.base.clone();
        if let Some(clock) = &job.clock {
            ctx.client = ctx.client.on_clock(clock);
        }
        ctx.out = runlog.clone();
        // Held until the run's records and report are written, not only while its script runs.
        let slot = match job.slot.clone() {
            Some(s) => s,
            None => self.runs.take().await,
        };
        ctx.slot = Some(slot.clone());
        let _slot = slot;
        ctx.resume = Some(info.run_id.clone());
        ctx.fence = Some(fence);
        // A re-run from the console repeats a run whose params were taken once already,
        // a trigger's included.
        if info.origin.starts_with("event:")
            || super::alert_triggers::started_by_alert(&info.origin)
            || info.origin.starts_with(super::RERUN_ORIGIN)
        {
            ctx.supplied = crate::recipe::TRIGGER_KEYS;
        }
        ctx.cancel = cancel.clone();
        tracing::info!(
            "{}: run {} started ({origin}){}",
            info.name,
            info.run_id,
            if resuming { ", resuming" } else { "" }
        );
        let (me, path) = (self.clone(), recipe.to_path_buf());
        let script = match job.source {
            Some(source) => Ok(Script {
                name: recipe.display().to_string(),
                source,
                dir: recipe.parent().map(Path::to_path_buf),
                path: Some(recipe.to_path_buf()),
            }),
            None => blocking(move || me.script_for(&path))
                .await
                .unwrap_or_else(|| Script::from_file(recipe)),
        };
        // The recipe's declared secrets, hidden in the report as names that are secret are.
        let mut secrets = Vec::new();
        let outcome = match script {
            Ok(script) => {
                secrets = script.secret_params();
                self.run_through_store_outages(&info, ctx, script, params, &cancel)
                    .await
            }
            Err(f) => RunOutcome {
                run_id: info.run_id.clone(),
                script: info.recipe_text.clone(),
                elapsed: Duration::ZERO,
                api_calls: 0,
                result: Err(f),
            },
        };
        follow.abort();
        if cancel.is_lease_lost() {
            // Taken over after this daemon stalled past the lease: the new owner runs it to its
            // end and records it; from here this daemon writes nothing for it (no report, no end
            // record, no alert), so nothing of the run happens twice outside the ledger.
            lease.forget();
            tracing::warn!(
                "{}: run {} was taken over by another process; stopped here, its records left to that process",
                info.name,
                info.run_id
            );
            return outcome;
        }
        let mut info = info;
        info.params = crate::secrets::masked(&info.params, &secrets);
        self.record_end(outcome, info, runlog, attempt, lease).await
    }

    /// Runs the script; a run stopped because the store could not record a step (PostgreSQL
    /// restarting) is resumed under its run id once the store answers, so its ledger replays
    /// what it did and no BT call is sent twice. It never ends `failed` for the store's sake,
    /// unless the store keeps refusing after answering ([`STORE_RESUMES`] times: a full disk,
    /// say).
    async fn run_through_store_outages(
        self: &Arc<Self>,
        info: &RunInfo,
        ctx: runner::RunContext,
        script: Script,
        params: Map<String, Value>,
        cancel: &Cancel,
    ) -> RunOutcome {
        let mut resumes = 0;
        loop {
            let outcome = runner::run(ctx.clone(), script.clone(), params.clone()).await;
            let Some(why) = cancel.store_lost() else {
                return outcome;
            };
            if cancel.is_lease_lost() || self.base.cancel.is_cancelled() || resumes == STORE_RESUMES
            {
                return outcome;
            }
            resumes += 1;
            tracing::warn!(
                "{}: run {} stopped unfinished: {why}; resuming it from its ledger once the store answers",
                info.name,
                info.run_id
            );
            let (store, id) = (self.store.clone(), info.run_id.clone());
            let reached = self
                .until_answered(info, "read the record", move || store.run_get(&id))
                .await;
            if reached.is_none() {
                return outcome;
            }
            cancel.rearm_after_store();
        }
    }

    /// Takes the run's lease, trying again while the store does not answer (PostgreSQL
    /// restarting). Refused: the outcome to return ([`held_elsewhere`] when another process
    /// holds it; a run given up at shutdown stays unfinished, resumed on the next start).
    async fn take_run_lease(
        self: &Arc<Self>,
        info: &RunInfo,
        cancel: &Cancel,
    ) -> Result<HeldLease, RunOutcome> {
        let mut pause = Duration::from_millis(100);
        let mut tries = 0u32;
        loop {
            let on_lost = cancel.clone();
            let message = match HeldLease::take(&self.store, &info.run_id, move || {
                on_lost.lose_lease()
            })
            .await
            {
                Ok(l) => return Ok(l),
                Err(m) => m,
            };
            let refused = RunOutcome {
                run_id: info.run_id.clone(),
                script: info.recipe_text.clone(),
                elapsed: Duration::ZERO,
                api_calls: 0,
                result: Err(Failure::Refused {
                    message: message.clone(),
                    location: None,
                }),
            };
            if held_elsewhere(&refused) {
                tracing::warn!(
                    "{}: run {} is running elsewhere; left to it while its lease lasts",
                    info.name,
                    info.run_id
                );
                return Err(refused);
            }
            tries += 1;
            if self.base.cancel.is_cancelled() {
                tracing::error!(
                    "{}: cannot take the lease of run {} ({message}); it stays unfinished and resumes on the next start",
                    info.name,
                    info.run_id
                );
                return Err(refused);
            }
            if tries == 1 || tries.is_multiple_of(20) {
                tracing::warn!(
                    "{}: cannot take the lease of run {} yet ({message}); trying again",
                    info.name,
                    info.run_id
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Runs `op` on a blocking thread until the store answers: `Some` its answer, `None` when
    /// the run's lease is gone. While the daemon stops, it gives up after a lease's time (the run
    /// then stays unfinished, and the next start resumes it), also answering `None`.
    async fn until_answered<T: Send + 'static>(
        &self,
        info: &RunInfo,
        what: &str,
        op: impl Fn() -> Result<T, crate::store::StoreError> + Send + Sync + 'static,
    ) -> Option<T> {
        let op = Arc::new(op);
        let mut pause = Duration::from_millis(100);
        let mut tries = 0u32;
        let mut stopping_since: Option<std::time::Instant> = None;
        loop {
            let o = op.clone();
            let e = match blocking(move || o()).await {
                Some(Ok(v)) => return Some(v),
                Some(Err(e)) if e.is_lease_lost() => {
                    tracing::warn!(
                        "{}: run {}: {e}; stopped here, its records left to that process",
                        info.name,
                        info.run_id
                    );
                    return None;
                }
                Some(Err(e)) => e.to_string(),
                None => "the store task failed".to_string(),
            };
            tries += 1;
            if self.base.cancel.is_cancelled() {
                let since = *stopping_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > crate::store::lease_ttl() {
                    tracing::error!(
                        "{}: cannot {what} of run {}: {e}; giving up as the daemon stops: it stays unfinished and resumes on the next start",
                        info.name,
                        info.run_id
                    );
                    return None;
                }
            }
            if tries == 1 || tries.is_multiple_of(20) {
                tracing::warn!(
                    "{}: cannot {what} of run {} yet: {e}; trying again until the store answers",
                    info.name,
                    info.run_id
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// The outcome of a run found ended when it was to run again (its daemon stalled or died
    /// after recording its end, and the run was found unfinished elsewhere): as recorded, never
    /// run twice.
    async fn ended_before(&self, info: &RunInfo) -> RunOutcome {
        let (store, id) = (self.store.clone(), info.run_id.clone());
        let run = blocking(move || store.run_get(&id))
            .await
            .and_then(|r| r.ok().flatten());
        tracing::info!(
            "{}: run {} already ended ({}); not run again",
            info.name,
            info.run_id,
            run.as_ref()
                .map(|r| r.outcome.as_str())
                .unwrap_or("recorded")
        );
        let result = match &run {
            Some(r) if r.outcome == "ok" => Ok(r
                .report
                .as_ref()
                .and_then(|v| v.get("result").cloned())
                .unwrap_or(Value::Null)),
            _ => Err(Failure::Refused {
                message: format!(
                    "run {} already ended ({}); it is not run again",
                    info.run_id,
                    run.as_ref()
                        .map(|r| r.outcome.as_str())
                        .unwrap_or("recorded")
                ),
                location: None,
            }),
        };
        RunOutcome {
            run_id: info.run_id.clone(),
            script: info.recipe_text.clone(),
            elapsed: Duration::ZERO,
            api_calls: 0,
            result,
        }
    }

    /// Records the run's end and shows its report, then logs it: the report is written aside,
    /// the end recorded (the run's outcome, the daemon's record and the lease given up, in one
    /// transaction fenced by the lease, tried again until the store answers), and only then is
    /// the report shown, the inbox job filed and an alert raised. A run taken over meanwhile
    /// leaves nothing behind here.
    async fn record_end(
        self: &Arc<Self>,
        outcome: RunOutcome,
        info: RunInfo,
        runlog: Arc<RunLog>,
        attempt: u32,
        lease: HeldLease,
    ) -> RunOutcome {
        let interrupted = matches!(outcome.result, Err(Failure::Cancelled { .. }));
        let (name, run_id) = (&info.name, &info.run_id);
        let (rep, pending) = tokio::task::block_in_place(|| {
            // The run's reads are queued, not waited for: committed first, so the report lists
            // them (a store that does not answer now is flushed again with the end record).
            let _ = self.store.flush();
            let mut rep = build(
                &outcome,
                &info.recipe_text,
                &info.origin,
                &info.params,
                &info.started_at,
                &self.store,
                runlog.lines(),
            );
            keep_earlier_attempts(&self.dir, &mut rep, attempt);
            let pending = write_pending(&self.dir, &rep)
                .map_err(|e| {
                    tracing::error!("{name}: cannot write the report of run {run_id}: {e}")
                })
                .ok();
            (rep, pending)
        });
        let (kind, record) = runner::end_record(&outcome, info.params.clone());
        let (store, fence) = (self.store.clone(), lease.fence());
        lease.ending();
        let ended = self
            .until_answered(&info, "record the end", move || {
                // The run's reads were queued, not waited for: committed before its end.
                store.flush()?;
                store.daemon_run_ended(&fence, interrupted, kind, &record)
            })
            .await;
        // Given up with the end record, or another process's now: no longer renewed either way.
        lease.forget();
        if ended.is_none() {
            if let Some(p) = &pending {
                let _ = std::fs::remove_file(&p.tmp);
            }
            return outcome;
        }
        if let Some(p) = &pending {
            if let Err(e) = publish(p) {
                tracing::error!("{name}: cannot write the report of run {run_id}: {e}");
            }
        }
        tokio::task::block_in_place(|| {
            // The job's note names the report, so the job leaves `running/` only once it exists.
            if let Some(job) = info.origin.strip_prefix("inbox:").filter(|_| !interrupted) {
                let error = outcome.result.as_ref().err().map(|f| f.message());
                self.inbox_run_ended(job, run_id, error);
            }
            if !interrupted {
                crate::metrics::run_finished(name, rep["outcome"].as_str().unwrap_or("?"));
            }
            if !interrupted && outcome.result.is_err() {
                if self.alerts {
                    crate::alerts::run_failed(&self.store, &rep);
                }
                self.fire_run_failed(&info.origin, &rep);
            }
        });
        match &outcome.result {
            Ok(_) => tracing::info!("{name}: run {run_id} ok"),
            Err(f) if interrupted => tracing::warn!(
                "{name}: run {run_id} interrupted; it resumes on the next start ({})",
                f.message()
            ),
            Err(f) => tracing::warn!("{name}: run {run_id} failed: {}", f.render()),
        }
        outcome
    }
}

/// The outcome of a run whose lease was found gone before it started: another process runs it.
fn lost(info: &RunInfo) -> RunOutcome {
    RunOutcome {
        run_id: info.run_id.clone(),
        script: info.recipe_text.clone(),
        elapsed: Duration::ZERO,
        api_calls: 0,
        result: Err(Failure::Cancelled { location: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_left_aside_is_shown_once_its_run_has_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("btw.db")).unwrap();
        for id in ["ended", "running", "shown"] {
            write_pending(dir.path(), &json!({"run_id": id})).unwrap();
            store
                .run_started(id, "r.rhai", "h", &json!({}), "sandbox")
                .unwrap();
        }
        store.run_finished("ended", "ok", &json!({})).unwrap();
        store.run_finished("shown", "ok", &json!({})).unwrap();
        write(dir.path(), &json!({"run_id": "shown", "v": 2})).unwrap();
        write_pending(dir.path(), &json!({"run_id": "shown", "v": 1})).unwrap();

        assert_eq!(recover_pending(dir.path(), &store), 1);
        let runs = dir.path().join("runs");
        assert!(runs.join("ended.json").exists());
        // Unfinished: left for its resumption. Shown already: the stale copy goes.
        assert!(!runs.join("running.json").exists());
        assert!(runs.join(".running.json.tmp").exists());
        assert!(!runs.join(".shown.json.tmp").exists());
        let shown: Value =
            serde_json::from_str(&std::fs::read_to_string(runs.join("shown.json")).unwrap())
                .unwrap();
        assert_eq!(shown["v"], 2);
    }
}
