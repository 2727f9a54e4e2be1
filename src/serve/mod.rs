//! `btw serve`: the daemon operators run all day. It watches a recipes folder, runs on-drop
//! recipes and inbox jobs, fires scheduled jobs, runs recipes on order notifications, and writes
//! a report for every run — all through the same runner as `btw run`. This file wires the parts:
//! `recipes` (the watched folder), `inbox`, `triggers` (notifications), [`scheduler`]
//! (the job loop) and `reports` (each run and its report).
//!
//! The daemon beats into the store every 30 s (`daemon_heartbeat`), so `btw run` and
//! `btw schedule add` can tell whether anyone will fire the jobs they add.
//!
//! Folder layout (`--recipes DIR`, default `recipes/` in btw's data folder):
//! - `DIR/*.rhai`: recipes; the header (`//! trigger: …`) says when each runs;
//! - `DIR/inbox/*.json`: jobs `{"recipe": "x.rhai", "params": {…}, "at": optional}`; processed
//!   files move to `inbox/done/` (or `inbox/failed/` with a `.error.txt` beside them);
//! - `DIR/runs/<run_id>.json`: one report per run.

mod console;
mod http;
mod inbox;
mod owned;
mod pages;
mod recipes;
mod reports;
pub mod scheduler;
mod triggers;

use crate::config::{Profile, Settings};
use crate::engine::{Cancel, LogLevel, StdOutput};
use crate::runner::{Failure, RunContext};
use crate::schedule::{self, Clock, SchedulerConfig};
use crate::session::Session;
use crate::store::{EventHub, Store};
use recipes::Loaded;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch as tokio_watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the daemon runs.
#[derive(Clone, Debug)]
pub(crate) struct ServeOptions {
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
    /// Where the operator's console listens (`--http`); `None`: no console.
    pub http: Option<std::net::SocketAddr>,
}

/// What the daemon's parts share.
struct Daemon {
    dir: PathBuf,
    store: Store,
    base: RunContext,
    recipes: Mutex<HashMap<PathBuf, Loaded>>,
    /// The last broken content reported per recipe, so it is reported once, not on every event.
    broken: Mutex<HashMap<PathBuf, String>>,
    runs: Mutex<JoinSet<()>>,
    /// Failed runs and missed jobs are queued for the webhook (`[alerts] webhook_url`).
    alerts: bool,
}

/// Store calls may wait on another process's write lock, file reads on the disk, compiles on
/// the CPU: run them on the blocking pool, never on the async workers. `None`: the task died.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// A recipe or job file's name, for log lines.
fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string()
}

/// The tasks the daemon runs until it stops.
struct Tasks {
    stop: tokio_watch::Sender<bool>,
    folder: JoinHandle<()>,
    events: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
}

/// How often the daemon says it is alive; `btw run` warns after 2 minutes without a beat.
const BEAT_EVERY: Duration = Duration::from_secs(30);

/// Beats into the store until `stop`, then removes the beat.
fn heartbeat(
    store: Store,
    owner: String,
    dir: &Path,
    mut stop: tokio_watch::Receiver<bool>,
) -> JoinHandle<()> {
    let dir = dir.display().to_string();
    tokio::spawn(async move {
        loop {
            let (s, o, d) = (store.clone(), owner.clone(), dir.clone());
            if let Some(Err(e)) = blocking(move || s.heartbeat(&o, &d, chrono::Utc::now())).await {
                tracing::warn!("cannot record the daemon's heartbeat: {e}");
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(BEAT_EVERY) => {}
            }
        }
        let _ = blocking(move || store.heartbeat_end(&owner)).await;
    })
}

/// Starts the daemon and runs it until SIGINT/SIGTERM.
pub(crate) async fn serve(settings: &Settings, opts: ServeOptions) -> Result<(), Failure> {
    let dir = prepare_folder(&opts.recipes)?;
    let store = Store::open(&opts.store).map_err(usage)?;
    let session = Session::open(settings, Some(&store)).await?;
    let hub = session
        .events
        .clone()
        .unwrap_or_else(|| EventHub::new(store.clone()));
    let cancel = Cancel::default();
    let out = Arc::new(StdOutput {
        prints_to_stderr: true,
        min_level: LogLevel::Info,
    });
    let base = RunContext::for_settings(session.client.clone(), settings, out)
        .with_cancel(cancel.clone())
        .with_store(Some(store.clone()))
        .with_events(Some(hub.clone()));
    let daemon = Arc::new(Daemon {
        dir: dir.clone(),
        store: store.clone(),
        base,
        recipes: Mutex::new(HashMap::new()),
        broken: Mutex::new(HashMap::new()),
        runs: Mutex::new(JoinSet::new()),
        alerts: settings.console.webhook_url.is_some(),
    });
    let clock: Arc<dyn Clock> = if settings.profile == Profile::Sandbox {
        Arc::new(scheduler::SandboxClock(session.client.clone()))
    } else {
        Arc::new(schedule::SystemClock)
    };
    tracing::info!(
        "serving {} (profile {}, store {}){}",
        dir.display(),
        settings.profile,
        store.path().display(),
        session
            .listener_url()
            .map(|u| format!(", notifications on {u}"))
            .unwrap_or_default()
    );
    // Runs a stop or a crash left unfinished resume first, replaying what they had done.
    daemon.resume_unfinished().await;
    let (stop, stop_rx) = tokio_watch::channel(false);
    let (folder, watcher) = recipes::start(
        daemon.clone(),
        clock.clone(),
        opts.debounce,
        stop_rx.clone(),
    )
    .await
    .map_err(|e| usage(format!("cannot watch {}: {e}", dir.display())))?;
    let config = SchedulerConfig {
        catch_up: opts.catch_up,
        grace: opts.grace,
        ..SchedulerConfig::default()
    };
    let extras = http::start_extras(
        daemon.clone(),
        clock.clone(),
        &settings.console,
        opts.http,
        session.listener_url().is_some(),
        stop_rx.clone(),
    )
    .await
    .map_err(usage)?;
    let tasks = Tasks {
        stop,
        heartbeat: heartbeat(store.clone(), config.owner.clone(), &dir, stop_rx.clone()),
        folder,
        events: triggers::start(daemon.clone(), hub.subscribe(), stop_rx.clone()),
        scheduler: tokio::spawn(scheduler::run(
            store.clone(),
            clock,
            config,
            Arc::new(scheduler::DaemonExecutor(daemon.clone())),
            stop_rx,
        )),
    };
    crate::session::wait_for_shutdown().await;
    drop(watcher);
    shut_down(&daemon, tasks, &cancel, opts.grace).await;
    extras.join().await;
    session.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure::Usage {
        message: message.to_string(),
    }
}

/// The recipes folder, made if missing, with its `inbox` and `runs`; its canonical path.
fn prepare_folder(recipes: &Path) -> Result<PathBuf, Failure> {
    let dir = std::fs::create_dir_all(recipes)
        .and_then(|_| std::fs::canonicalize(recipes))
        .map_err(|e| {
            usage(format!(
                "cannot use the recipes folder {}: {e}",
                recipes.display()
            ))
        })?;
    for sub in ["inbox", "runs"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| usage(format!("cannot create {}: {e}", dir.join(sub).display())))?;
    }
    Ok(dir)
}

/// Stops watching and following, lets in-flight runs finish within `grace` (then interrupts
/// them: they are recorded and resumed on the next start, their ledger making the resume repeat
/// nothing), and waits for the scheduler.
async fn shut_down(daemon: &Daemon, tasks: Tasks, cancel: &Cancel, grace: Duration) {
    tracing::info!(
        "stopping: runs in flight get {} s to finish",
        grace.as_secs()
    );
    let _ = tasks.stop.send(true);
    let _ = tasks.folder.await;
    let _ = tasks.events.await;
    let mut runs = std::mem::take(&mut *daemon.runs.lock().unwrap_or_else(|p| p.into_inner()));
    let drained =
        tokio::time::timeout(grace, async { while runs.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("grace period over: interrupting the runs still going");
        cancel.cancel();
        while runs.join_next().await.is_some() {}
    }
    // The scheduler has its own grace for its jobs; the cancel above reaches them too.
    let _ = tokio::time::timeout(grace + Duration::from_secs(5), tasks.scheduler).await;
    let _ = tasks.heartbeat.await;
}
