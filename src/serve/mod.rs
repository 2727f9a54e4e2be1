//! `btw serve`: the daemon operators run all day. It watches a recipes folder, runs on-drop
//! recipes and inbox jobs, fires scheduled jobs, runs recipes on order notifications, and writes
//! a report for every run — all through the same runner as `btw run`. This file wires the parts:
//! `recipes` (the watched folder), `inbox`, `triggers` (notifications), [`scheduler`]
//! (the job loop) and `reports` (each run and its report).
//!
//! The daemon beats into the store every 10 s (`daemon_heartbeat`), so `btw run` and
//! `btw schedule add` can tell whether anyone will fire the jobs they add, and so daemons
//! sharing one store can tell a live peer from a dead one (`adopt`: runs a dead daemon left
//! are resumed by another).
//!
//! Folder layout (`--recipes DIR`, default `recipes/` in btw's data folder):
//! - `DIR/*.rhai`: recipes; the header (`//! trigger: …`) says when each runs;
//! - `DIR/inbox/*.json`: jobs `{"recipe": "x.rhai", "params": {…}, "at": optional}`; processed
//!   files move to `inbox/done/` (or `inbox/failed/` with a `.error.txt` beside them);
//! - `DIR/runs/<run_id>.json`: one report per run.

mod adopt;
mod again;
mod alert_triggers;
mod console;
mod health;
mod http;
mod inbox;
mod listener_health;
mod owned;
mod pages;
mod prune;
mod recipes;
mod reports;
pub mod scheduler;
mod since;
mod slots;
mod triggers;

pub(crate) use prune::Retention;

use crate::api::BtClient;
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
use tokio::task::JoinHandle;

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
    /// How long a scheduled job's claim holds without renewal.
    pub lease: Duration,
    /// Runs doing script work at once, whatever started them (the rest wait their turn);
    /// waiting runs hold no slot.
    pub max_runs: usize,
    /// How often the folder is read again in full, for anything the watcher missed.
    pub rescan: Duration,
    /// What finished runs, events and job files are kept.
    pub retention: Retention,
    /// Where the operator's console listens (`--http`); `None`: no console.
    pub http: Option<std::net::SocketAddr>,
}

/// What the daemon's parts share.
struct Daemon {
    dir: PathBuf,
    /// This daemon's name on the store: its heartbeat, its runs and its job leases.
    owner: String,
    store: Store,
    base: RunContext,
    recipes: Mutex<HashMap<PathBuf, Loaded>>,
    /// The last broken content reported per recipe (reported once, not on every event) and its
    /// error, for the console.
    broken: Mutex<HashMap<PathBuf, recipes::Broken>>,
    /// Recipes being compiled, each with the newest version settled meanwhile (taken next).
    compiling: Mutex<HashMap<PathBuf, recipes::Waiting>>,
    /// Inbox jobs refused for good lately, newest last, for the console and `btw status`.
    refused: Mutex<std::collections::VecDeque<inbox::Refused>>,
    runs: slots::RunSlots,
    /// Failed runs and missed jobs are queued for the webhook (`[alerts] webhook_url`).
    alerts: bool,
}

/// Store calls may wait on another process's write lock, file reads on the disk, compiles on
/// the CPU: run them on the blocking pool, never on the async workers. `None`: the task died.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// The origin of a run started again from the console (`again`): `console:` and the run it
/// repeats.
const RERUN_ORIGIN: &str = "console:";

/// A recipe or job file's name, for log lines.
fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string()
}

impl Daemon {
    /// Writes this folder's problems to the store: broken recipes and the latest refused jobs.
    fn publish_problems(&self) {
        let mut problems: Vec<serde_json::Value> = self
            .broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(p, b)| serde_json::json!({"file": file_name(p), "kind": "recipe", "reason": b.error}))
            .collect();
        problems.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
        problems.extend(
            self.refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|r| serde_json::json!({"file": format!("inbox/{}", r.file), "kind": "job", "reason": r.reason, "at": r.at})),
        );
        let key = crate::status::problems_key(&self.dir.display().to_string());
        if let Err(e) = self
            .store
            .value_set(&key, &serde_json::Value::Array(problems).to_string())
        {
            tracing::warn!("cannot record the folder's problems in the store: {e}");
        }
    }
}

/// The tasks the daemon runs until it stops.
struct Tasks {
    stop: tokio_watch::Sender<bool>,
    folder: JoinHandle<()>,
    events: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    prune: JoinHandle<()>,
    adopt: JoinHandle<()>,
}

/// How often the daemon says it is alive; `btw run` warns after 2 minutes without a beat, and
/// peers on the store take a daemon silent for [`adopt::STALE_AFTER`] for dead.
const BEAT_EVERY: Duration = Duration::from_secs(10);

/// Beats into the store until `stop`, then removes the beat. The first beat is written before
/// this returns: peers must see the daemon alive before it queues any run.
///
/// Each beat also counts the live daemons on the store and gives this one an equal share of
/// the credential's rate limit: BT limits a credential, not a machine. Equal shares are simple
/// and need no bucket in the store (no store round trip per BT call); a daemon busier than its
/// peers cannot borrow their unused part, which costs throughput only when the load is uneven.
async fn heartbeat(
    store: Store,
    owner: String,
    dir: &Path,
    client: BtClient,
    mut stop: tokio_watch::Receiver<bool>,
) -> JoinHandle<()> {
    let dir = dir.display().to_string();
    let beat = move |s: Store, o: String, d: String, c: BtClient| async move {
        let beat = blocking(move || {
            s.heartbeat(&o, &d, chrono::Utc::now())?;
            s.heartbeats()
        })
        .await;
        match beat {
            Some(Ok(beats)) => {
                if let Some(l) = c.limiter() {
                    l.set_share(adopt::live_owners(beats).len());
                }
            }
            Some(Err(e)) => tracing::warn!("cannot record the daemon's heartbeat: {e}"),
            None => {}
        }
    };
    beat(store.clone(), owner.clone(), dir.clone(), client.clone()).await;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(BEAT_EVERY) => {}
            }
            beat(store.clone(), owner.clone(), dir.clone(), client.clone()).await;
        }
        let _ = blocking(move || store.heartbeat_end(&owner)).await;
    })
}

/// Starts the daemon and runs it until SIGINT/SIGTERM.
pub(crate) async fn serve(settings: &Settings, opts: ServeOptions) -> Result<(), Failure> {
    let dir = prepare_folder(&opts.recipes)?;
    let store = Store::open(&opts.store).map_err(usage)?;
    let session = open_session(settings, &store, &dir).await?;
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
    let owner = crate::store::new_lease_owner();
    let daemon = Arc::new(Daemon {
        dir: dir.clone(),
        owner: owner.clone(),
        store: store.clone(),
        base,
        recipes: Mutex::new(HashMap::new()),
        broken: Mutex::new(HashMap::new()),
        compiling: Mutex::new(HashMap::new()),
        refused: Mutex::new(std::collections::VecDeque::new()),
        runs: slots::RunSlots::new(opts.max_runs),
        alerts: settings.console.webhook_url.is_some(),
    });
    let clock = daemon_clock(settings, &session);
    say_serving(settings, &session, &dir, &store);
    tracing::info!(
        "{} runs do script work at once (waiting runs hold no slot); BT calls: {}",
        opts.max_runs.max(1),
        settings
            .rate
            .map(|r| format!(
                "at most {} a second, bursts of {}, shared with the other daemons on the store",
                r.per_sec, r.burst
            ))
            .unwrap_or_else(|| "no rate limit".into())
    );
    let (stop, stop_rx) = tokio_watch::channel(false);
    let heartbeat = heartbeat(
        store.clone(),
        owner.clone(),
        &dir,
        session.client.clone(),
        stop_rx.clone(),
    )
    .await;
    // Reports a crash left aside once their runs' ends were recorded are shown; runs a stop or
    // a crash left unfinished resume first, replaying what they had done.
    {
        let (dir, store) = (dir.clone(), store.clone());
        blocking(move || reports::recover_pending(&dir, &store)).await;
    }
    daemon.adopt_orphans().await;
    let folder = recipes::start(
        daemon.clone(),
        clock.clone(),
        opts.debounce,
        opts.rescan,
        stop_rx.clone(),
    )
    .await
    .map_err(|e| usage(format!("cannot watch {}: {e}", dir.display())))?;
    let config = SchedulerConfig {
        catch_up: opts.catch_up,
        grace: opts.grace,
        lease: opts.lease,
        owner,
        move_job_clocks: settings.profile == crate::config::Profile::Sandbox,
        ..SchedulerConfig::default()
    };
    let extras = http::start_extras(
        daemon.clone(),
        clock.clone(),
        &settings.console,
        opts.http,
        listener_health::ListenerHealth::new(settings, session.listener_url()),
        stop_rx.clone(),
    )
    .await
    .map_err(usage)?;
    let tasks = Tasks {
        stop,
        heartbeat,
        prune: prune::start(daemon.clone(), opts.retention, stop_rx.clone()),
        adopt: adopt::start(daemon.clone(), stop_rx.clone()),
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
    shut_down(&daemon, tasks, &cancel, opts.grace).await;
    extras.join().await;
    session.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The sandbox's clock under the sandbox profile (so a moved sandbox clock moves the
/// schedule), the machine's otherwise.
fn daemon_clock(settings: &Settings, session: &Session) -> Arc<dyn Clock> {
    if settings.profile == Profile::Sandbox {
        Arc::new(scheduler::SandboxClock(session.client.clone()))
    } else {
        Arc::new(schedule::SystemClock)
    }
}

fn say_serving(settings: &Settings, session: &Session, dir: &Path, store: &Store) {
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
}

/// The daemon's session: its sandbox subscription is durable, under an id kept in its store per
/// recipes folder, so events that arrive while it is stopped wait for it, and daemons sharing a
/// store each have their own (the sandbox sends every subscriber every event; the store keeps
/// each once and dispatches it once). A store's one earlier subscription goes to the first
/// folder that asks.
async fn open_session(settings: &Settings, store: &Store, dir: &Path) -> Result<Session, Failure> {
    let folder = dir.display().to_string();
    let inherited = match store.value("sandbox_subscription").map_err(usage)? {
        Some(old) => {
            let heir = store
                .value_or_insert("sandbox_subscription_heir", || folder.clone())
                .map_err(usage)?;
            Some(old).filter(|_| heir == folder)
        }
        None => None,
    };
    let id = store
        .value_or_insert(&format!("sandbox_subscription:{folder}"), || {
            inherited.unwrap_or_else(|| format!("serve-{}", uuid::Uuid::new_v4().simple()))
        })
        .map_err(usage)?;
    Session::open_as(
        settings,
        Some(store),
        crate::session::Subscriber::Durable(id),
    )
    .await
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
    let _ = tasks.adopt.await;
    let drained = tokio::time::timeout(grace, daemon.runs.drained()).await;
    if drained.is_err() {
        tracing::warn!(
            "grace period over: interrupting the {} runs still going",
            daemon.runs.active()
        );
        cancel.cancel();
        daemon.runs.drained().await;
    }
    // The scheduler has its own grace for its jobs; the cancel above reaches them too.
    let _ = tokio::time::timeout(grace + Duration::from_secs(5), tasks.scheduler).await;
    let _ = tasks.heartbeat.await;
    let _ = tasks.prune.await;
}
