//! `btw serve`: the daemon operators run all day. It watches a recipes folder, runs on-drop
//! recipes and inbox jobs, fires scheduled jobs, runs recipes on order notifications, and writes
//! a report for every run — all through the same runner as `btw run`.
//!
//! Folder layout (`--recipes DIR`):
//! - `DIR/*.rhai`: recipes; the header (`//! trigger: …`) says when each runs;
//! - `DIR/inbox/*.json`: jobs `{"recipe": "x.rhai", "params": {…}, "at": optional}`; processed
//!   files move to `inbox/done/` (or `inbox/failed/` with a `.error.txt` beside them);
//! - `DIR/runs/<run_id>.json`: one report per run.

mod report;

use crate::api::BtClient;
use crate::config::{Profile, Settings};
use crate::engine::{Cancel, LogLevel, Output, StdOutput};
use crate::recipe::{self, Trigger};
use crate::runner::{self, Failure, RunContext, Script};
use crate::schedule::{
    self, BoxFuture, Clock, JobExecutor, JobOptions, JobOutcome, SchedulerConfig,
};
use crate::store::{EventHub, Job, Notification, Store};
use crate::watch::{self, Debouncer, Settled};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinSet;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub recipes: PathBuf,
    /// The SQLite store (ledger, runs, jobs, notifications).
    pub store: PathBuf,
    /// How long in-flight runs get to finish on SIGINT/SIGTERM before they are interrupted
    /// (and resumed on the next start).
    pub grace: Duration,
    /// A scheduled job missed by at most this much (daemon down) still runs, once.
    pub catch_up: Duration,
    /// How long a file must be quiet before it is read.
    pub debounce: Duration,
}

/// A loaded recipe: the last version that compiled.
#[derive(Clone, Debug)]
struct Loaded {
    hash: String,
    trigger: Trigger,
    /// The text that compiled: runs use it, even while a broken edit sits on disk.
    source: String,
}

struct Daemon {
    dir: PathBuf,
    store: Store,
    base: RunContext,
    recipes: Mutex<HashMap<PathBuf, Loaded>>,
    /// The last broken content reported per recipe, so it is reported once, not on every event.
    broken: Mutex<HashMap<PathBuf, String>>,
    runs: Mutex<JoinSet<()>>,
    log: Arc<dyn Output>,
}

fn say(log: &Arc<dyn Output>, level: LogLevel, msg: String) {
    log.log(level, &msg);
}

/// The sandbox's clock, for schedules in the sandbox profile (so a port date days ahead in
/// sandbox time is reached when the sandbox gets there).
struct SandboxClock(BtClient);

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

impl Daemon {
    /// Runs a recipe now, as its own task: records it, writes its report.
    fn launch(
        self: &Arc<Self>,
        recipe: PathBuf,
        params: Map<String, Value>,
        origin: String,
        run_id: Option<String>,
        resuming: bool,
    ) {
        let me = self.clone();
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        runs.spawn(async move {
            me.run_recipe(&recipe, params, &origin, run_id, resuming)
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

    /// Runs a recipe to its end (or interruption); returns the outcome.
    async fn run_recipe(
        &self,
        recipe: &Path,
        params: Map<String, Value>,
        origin: &str,
        run_id: Option<String>,
        resuming: bool,
    ) -> runner::RunOutcome {
        let run_id = run_id.unwrap_or_else(runner::new_run_id);
        let name = recipe
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("recipe")
            .to_string();
        let started_at = crate::store::now_rfc3339();
        let params_json = Value::Object(params.clone());
        let recipe_text = recipe.display().to_string();
        if let Err(e) = self
            .store
            .daemon_run_started(&run_id, &recipe_text, &params_json, origin)
        {
            say(
                &self.log,
                LogLevel::Error,
                format!("{name}: cannot record the run: {e}"),
            );
        }
        let runlog = Arc::new(report::RunLog::new(&name));
        let mut ctx = self.base.clone();
        ctx.out = runlog.clone();
        ctx.resume = Some(run_id.clone());
        say(
            &self.log,
            LogLevel::Info,
            format!(
                "{name}: run {run_id} started ({origin}){}",
                if resuming { ", resuming" } else { "" }
            ),
        );
        let outcome = match self.script_for(recipe) {
            Ok(script) => runner::run(ctx, script, params).await,
            Err(f) => runner::RunOutcome {
                run_id: run_id.clone(),
                script: recipe_text.clone(),
                elapsed: Duration::ZERO,
                api_calls: 0,
                result: Err(f),
            },
        };
        let interrupted = matches!(outcome.result, Err(Failure::Cancelled { .. }));
        let rep = report::build(
            &outcome,
            &recipe_text,
            origin,
            &params_json,
            &started_at,
            &self.store,
            runlog.lines(),
        );
        if let Err(e) = report::write(&self.dir, &rep) {
            say(
                &self.log,
                LogLevel::Error,
                format!("{name}: cannot write the report of run {run_id}: {e}"),
            );
        }
        if let Err(e) = self.store.daemon_run_finished(&run_id, interrupted) {
            say(
                &self.log,
                LogLevel::Error,
                format!("{name}: cannot record the end of run {run_id}: {e}"),
            );
        }
        match &outcome.result {
            Ok(_) => say(
                &self.log,
                LogLevel::Info,
                format!("{name}: run {run_id} ok"),
            ),
            Err(f) if interrupted => say(
                &self.log,
                LogLevel::Warn,
                format!(
                    "{name}: run {run_id} interrupted; it resumes on the next start ({})",
                    f.message()
                ),
            ),
            Err(f) => say(
                &self.log,
                LogLevel::Warn,
                format!("{name}: run {run_id} failed: {}", f.render()),
            ),
        }
        outcome
    }

    /// A recipe file settled: load it if it compiles (else keep the last good version), then act
    /// on its trigger.
    fn recipe_settled(self: &Arc<Self>, path: &Path, now: chrono::DateTime<chrono::Utc>) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let source = match crate::engine::limits::read_script_file(path) {
            Ok(s) => s,
            Err(_) => {
                // Gone (deleted or renamed away), or not a recipe file at all (a device, too
                // large): forget it; its scheduled jobs stay until cancelled.
                if self
                    .recipes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(path)
                    .is_some()
                {
                    say(&self.log, LogLevel::Info, format!("{name}: removed"));
                }
                return;
            }
        };
        let hash = runner::script_hash(&source);
        if self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .map(|l| l.hash.as_str())
            == Some(hash.as_str())
        {
            return; // Saved again unchanged: nothing to do.
        }
        let script = Script {
            name: path.display().to_string(),
            source: source.clone(),
            dir: Some(self.dir.clone()),
            path: Some(path.to_path_buf()),
        };
        let had_previous = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(path);
        let keep = if had_previous {
            "; the previous version stays active"
        } else {
            "; not loaded"
        };
        // Compiles and has a readable header, or the problem to report.
        let checked = match runner::check(&script, &self.base.limits) {
            Err(f) => Err(f.render()),
            Ok(()) => recipe::parse_header(&source)
                .map_err(|e| format!("error: {}:{}: {}", path.display(), e.line, e.message)),
        };
        let header = match checked {
            Ok(h) => h,
            Err(problem) => {
                let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
                if broken.get(path) != Some(&hash) {
                    broken.insert(path.to_path_buf(), hash);
                    say(
                        &self.log,
                        LogLevel::Error,
                        format!("{name}: broken edit{keep}\n{problem}"),
                    );
                }
                return;
            }
        };
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        say(
            &self.log,
            LogLevel::Info,
            format!(
                "{name}: loaded ({}){}",
                header.trigger.describe(),
                header
                    .name
                    .as_deref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default()
            ),
        );
        self.recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                path.to_path_buf(),
                Loaded {
                    hash: hash.clone(),
                    trigger: header.trigger.clone(),
                    source: source.clone(),
                },
            );
        match &header.trigger {
            Trigger::OnDrop => {
                let run_id = runner::new_run_id();
                match self
                    .store
                    .claim_drop(&path.display().to_string(), &hash, &run_id)
                {
                    Ok(true) => self.launch(
                        path.to_path_buf(),
                        Map::new(),
                        "on-drop".into(),
                        Some(run_id),
                        false,
                    ),
                    Ok(false) => say(
                        &self.log,
                        LogLevel::Info,
                        format!("{name}: this content already ran; not running it again"),
                    ),
                    Err(e) => say(&self.log, LogLevel::Error, format!("{name}: {e}")),
                }
            }
            Trigger::At(when) => {
                self.schedule(path, &format!("at:{}", when.to_rfc3339()), |store, opts| {
                    schedule::add_at(store, *when, path, json!({}), opts, now)
                })
            }
            Trigger::Cron { expr, tz } => {
                let tz = tz.name().to_string();
                self.schedule(path, &format!("cron:{expr}:{tz}"), |store, opts| {
                    let mut opts = opts.clone();
                    opts.tz = Some(tz.clone());
                    schedule::add_cron(store, expr, path, json!({}), &opts, now)
                })
            }
            Trigger::Manual | Trigger::OrderState(_) | Trigger::Event(_) => {}
        }
    }

    /// Adds the job a recipe's `at`/`cron` header asks for, once: the job id is made from the
    /// recipe and its trigger, so reloading the same recipe never schedules it twice.
    fn schedule(
        &self,
        path: &Path,
        trigger_key: &str,
        add: impl FnOnce(&Store, &JobOptions) -> Result<Job, schedule::ScheduleError>,
    ) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let id = format!(
            "recipe-{}",
            &runner::script_hash(&format!("{}|{trigger_key}", path.display()))
        );
        match self.store.job_get(&id) {
            Ok(Some(job)) => {
                say(
                    &self.log,
                    LogLevel::Info,
                    format!(
                        "{name}: already scheduled as job {id} ({})",
                        job.state.as_str()
                    ),
                );
                return;
            }
            Ok(None) => {}
            Err(e) => {
                say(&self.log, LogLevel::Error, format!("{name}: {e}"));
                return;
            }
        }
        let opts = JobOptions {
            id: Some(id),
            ..Default::default()
        };
        match add(&self.store, &opts) {
            Ok(job) => say(
                &self.log,
                LogLevel::Info,
                format!(
                    "{name}: scheduled job {} for {}",
                    job.id,
                    job.next_run_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
            ),
            Err(e) => say(
                &self.log,
                LogLevel::Error,
                format!("{name}: cannot schedule: {e}"),
            ),
        }
    }

    /// An inbox job settled: run it now, or schedule it; then move the file out of the inbox.
    fn inbox_settled(self: &Arc<Self>, path: &Path, now: chrono::DateTime<chrono::Utc>) {
        let max = crate::engine::limits::MAX_JSON_BYTES;
        // A job too large to read fails like any bad job; one already gone is nobody's.
        let text = match crate::engine::limits::read_regular_file(path, max) {
            Err(_) if !path.exists() => return,
            t => t,
        };
        let result = (|| -> Result<String, String> {
            let text = text?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            let recipe = v
                .get("recipe")
                .and_then(Value::as_str)
                .ok_or("no \"recipe\"")?;
            let params = match v.get("params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err("\"params\" must be an object".into()),
            };
            crate::engine::limits::check_params(&params, &self.base.limits)?;
            let recipe_path =
                schedule::resolve_recipe(recipe, Some(&self.dir)).map_err(|e| e.to_string())?;
            match v.get("at").and_then(Value::as_str) {
                Some(at) => {
                    let when = schedule::parse_when(at, schedule::LONDON)?;
                    let job = schedule::add_at(
                        &self.store,
                        when,
                        &recipe_path,
                        Value::Object(params),
                        &JobOptions::default(),
                        now,
                    )
                    .map_err(|e| e.to_string())?;
                    Ok(format!(
                        "scheduled as job {} for {}",
                        job.id,
                        when.to_rfc3339()
                    ))
                }
                None => {
                    self.launch(
                        recipe_path,
                        params,
                        format!(
                            "inbox:{}",
                            path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                        ),
                        None,
                        false,
                    );
                    Ok("started".into())
                }
            }
        })();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("job.json")
            .to_string();
        let (folder, msg) = match &result {
            Ok(m) => ("done", m.clone()),
            Err(e) => ("failed", e.clone()),
        };
        let target_dir = self.dir.join("inbox").join(folder);
        let moved = std::fs::create_dir_all(&target_dir)
            .and_then(|_| std::fs::rename(path, target_dir.join(&name)));
        if result.is_err() {
            let _ = std::fs::write(
                target_dir.join(format!("{name}.error.txt")),
                format!("{msg}\n"),
            );
        }
        let level = if result.is_ok() {
            LogLevel::Info
        } else {
            LogLevel::Error
        };
        say(&self.log, level, format!("inbox/{name}: {msg}"));
        if let Err(e) = moved {
            say(
                &self.log,
                LogLevel::Error,
                format!("inbox/{name}: cannot move it to inbox/{folder}/: {e}"),
            );
        }
    }

    /// A new order notification: run every recipe whose trigger matches it — once per order
    /// reaching a state (several events can carry the same state: line complete, then complete),
    /// once per event id for event triggers, even across restarts and daemons.
    fn notification(self: &Arc<Self>, n: &Notification) {
        let matching: Vec<PathBuf> = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, l)| match &l.trigger {
                Trigger::OrderState(s) => n.state.as_deref() == Some(s.as_str()),
                Trigger::Event(t) => n.event_type == *t,
                _ => false,
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in matching {
            let trigger = self
                .recipes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&path)
                .map(|l| l.trigger.clone());
            let key = match trigger {
                Some(Trigger::OrderState(s)) => format!("order-state:{}:{s}", n.order_id),
                _ => format!("event:{}", n.event_id),
            };
            let run_id = runner::new_run_id();
            match self
                .store
                .claim_drop(&path.display().to_string(), &key, &run_id)
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    say(
                        &self.log,
                        LogLevel::Error,
                        format!("{}: {e}", path.display()),
                    );
                    continue;
                }
            }
            let mut params = Map::new();
            params.insert("order_id".into(), json!(n.order_id));
            params.insert("event_type".into(), json!(n.event_type));
            params.insert("event_id".into(), json!(n.event_id));
            params.insert("state".into(), json!(n.state));
            params.insert(
                "event".into(),
                crate::api::snake::snake_keys(n.body.clone()),
            );
            self.launch(
                path,
                params,
                format!("event:{}", n.event_type),
                Some(run_id),
                false,
            );
        }
    }
}

/// Runs scheduled jobs through the daemon, so they are recorded and reported like every run.
struct DaemonExecutor(Arc<Daemon>);

impl JobExecutor for DaemonExecutor {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        run_id: &'a str,
        resume: bool,
    ) -> BoxFuture<'a, JobOutcome> {
        Box::pin(async move {
            let params = job.params.as_object().cloned().unwrap_or_default();
            let origin = format!("schedule:{}", job.id);
            // Always pass the run id: a fresh firing has an empty ledger; a resumed one replays.
            let outcome = self
                .0
                .run_recipe(
                    Path::new(&job.recipe),
                    params,
                    &origin,
                    Some(run_id.to_string()),
                    resume,
                )
                .await;
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
}

/// Starts the daemon and runs it until SIGINT/SIGTERM.
pub async fn serve(settings: &Settings, opts: ServeOptions) -> i32 {
    let log: Arc<dyn Output> = Arc::new(StdOutput {
        prints_to_stderr: true,
        min_level: LogLevel::Info,
    });
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        runner::exit::USAGE
    };
    let dir = match std::fs::create_dir_all(&opts.recipes)
        .and_then(|_| std::fs::canonicalize(&opts.recipes))
    {
        Ok(d) => d,
        Err(e) => {
            return fail(format!(
                "cannot use the recipes folder {}: {e}",
                opts.recipes.display()
            ))
        }
    };
    for sub in ["inbox", "runs"] {
        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
            return fail(format!("cannot create {}: {e}", dir.join(sub).display()));
        }
    }
    let store = match Store::open(&opts.store) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let (client, sandbox) = match crate::app::connect(settings).await {
        Ok(c) => c,
        Err(f) => {
            eprintln!("{}", f.render());
            return f.exit_code();
        }
    };
    let (hub, listener) =
        match crate::app::listen_for_notifications(settings, &client, &store).await {
            Some((h, l)) => (Some(h), Some(l)),
            None => (None, None),
        };
    let hub = hub.unwrap_or_else(|| EventHub::new(store.clone()));
    let cancel = Cancel::default();
    let base = RunContext {
        client: client.clone(),
        profile: settings.profile,
        cug: settings.cug.clone(),
        billing_account: settings.billing_account.clone(),
        limits: settings.limits.clone(),
        out: log.clone(),
        cancel: cancel.clone(),
        poll_interval: None,
        store: Some(store.clone()),
        resume: None,
        events: Some(hub.clone()),
    };
    let daemon = Arc::new(Daemon {
        dir: dir.clone(),
        store: store.clone(),
        base,
        recipes: Mutex::new(HashMap::new()),
        broken: Mutex::new(HashMap::new()),
        runs: Mutex::new(JoinSet::new()),
        log: log.clone(),
    });
    let clock: Arc<dyn Clock> = if settings.profile == Profile::Sandbox {
        Arc::new(SandboxClock(client.clone()))
    } else {
        Arc::new(schedule::SystemClock)
    };
    say(
        &log,
        LogLevel::Info,
        format!(
            "serving {} (profile {}, store {}){}",
            dir.display(),
            settings.profile,
            store.path().display(),
            listener
                .as_ref()
                .map(|l| format!(", notifications on {}", l.url()))
                .unwrap_or_default()
        ),
    );

    // Runs a stop or a crash left unfinished resume first, replaying what they had done.
    match store.daemon_unfinished() {
        Ok(left) => {
            for r in left {
                say(
                    &log,
                    LogLevel::Warn,
                    format!("resuming run {} of {} ({})", r.run_id, r.recipe, r.origin),
                );
                let params = r.params.as_object().cloned().unwrap_or_default();
                daemon.launch(
                    PathBuf::from(r.recipe),
                    params,
                    r.origin,
                    Some(r.run_id),
                    true,
                );
            }
        }
        Err(e) => say(
            &log,
            LogLevel::Error,
            format!("cannot read unfinished runs: {e}"),
        ),
    }

    // The folder: what is there now, then every change.
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let watcher = match watch::watch(&dir, tx) {
        Ok(w) => w,
        Err(e) => return fail(format!("cannot watch {}: {e}", dir.display())),
    };
    let now = clock.now().await.unwrap_or_else(|_| chrono::Utc::now());
    for s in watch::scan(&dir) {
        match s {
            Settled::Recipe(p) => daemon.recipe_settled(&p, now),
            Settled::InboxJob(p) => daemon.inbox_settled(&p, now),
        }
    }
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
    let folder = {
        let daemon = daemon.clone();
        let clock = clock.clone();
        let mut stop = stop_rx.clone();
        let quiet = opts.debounce;
        tokio::spawn(async move {
            let mut debouncer = Debouncer::new(quiet);
            let mut tick = tokio::time::interval(Duration::from_millis(50).min(quiet));
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    Some(p) = rx.recv() => {
                        if watch::classify(&daemon.dir, &p).is_some() {
                            debouncer.touch(p, Instant::now());
                        }
                    }
                    _ = tick.tick() => {
                        if debouncer.is_idle() { continue; }
                        let settled = debouncer.settled(Instant::now());
                        if settled.is_empty() { continue; }
                        let now = clock.now().await.unwrap_or_else(|_| chrono::Utc::now());
                        for p in settled {
                            match watch::classify(&daemon.dir, &p) {
                                Some(Settled::Recipe(p)) => daemon.recipe_settled(&p, now),
                                Some(Settled::InboxJob(p)) => daemon.inbox_settled(&p, now),
                                None => {}
                            }
                        }
                    }
                }
            }
        })
    };
    let events = {
        let daemon = daemon.clone();
        let mut feed = hub.subscribe();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    n = feed.recv() => match n {
                        Ok(n) => daemon.notification(&n),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                            say(&daemon.log, LogLevel::Warn, format!("{k} notifications arrived faster than they could be handled; their triggers did not run"));
                        }
                        Err(_) => break,
                    }
                }
            }
        })
    };
    let scheduler = tokio::spawn(schedule::run(
        store.clone(),
        clock.clone(),
        SchedulerConfig {
            catch_up: opts.catch_up,
            grace: opts.grace,
            ..SchedulerConfig::default()
        },
        Arc::new(DaemonExecutor(daemon.clone())),
        stop_rx.clone(),
    ));

    crate::app::wait_for_shutdown().await;
    say(
        &log,
        LogLevel::Info,
        format!(
            "stopping: runs in flight get {} s to finish",
            opts.grace.as_secs()
        ),
    );
    let _ = stop_tx.send(true);
    drop(watcher);
    let _ = folder.await;
    let _ = events.await;
    // In-flight runs finish within the grace period, or are interrupted (recorded, resumed on
    // the next start; their ledger makes the resume repeat nothing).
    let mut runs = std::mem::take(&mut *daemon.runs.lock().unwrap_or_else(|p| p.into_inner()));
    let drained = tokio::time::timeout(opts.grace, async {
        while runs.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        say(
            &log,
            LogLevel::Warn,
            "grace period over: interrupting the runs still going".into(),
        );
        cancel.cancel();
        while runs.join_next().await.is_some() {}
    }
    // The scheduler has its own grace for its jobs; the cancel above reaches them too.
    let _ = tokio::time::timeout(opts.grace + Duration::from_secs(5), scheduler).await;
    if let Some(l) = listener {
        l.shutdown().await;
    }
    if let Some(h) = sandbox {
        h.shutdown().await;
    }
    say(&log, LogLevel::Info, "stopped".into());
    runner::exit::OK
}
