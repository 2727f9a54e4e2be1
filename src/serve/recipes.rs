//! The watched recipes folder: what is there at start, then every file that settles; a recipe
//! that compiles is loaded (a broken edit keeps the last good version) and its trigger acted on.

use super::{blocking, file_name, Daemon};
use crate::recipe::{self, Header, Trigger};
use crate::runner::{self, Script};
use crate::schedule::{self, Clock, JobOptions, ScheduleError};
use crate::store::{Job, Store};
use crate::watch::{self, FolderWatcher, Settled, Stability};
use chrono::{DateTime, Utc};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinHandle;

/// A loaded recipe: the last version that compiled.
#[derive(Clone, Debug)]
pub(super) struct Loaded {
    hash: String,
    pub(super) trigger: Trigger,
    /// The text that compiled: runs use it, even while a broken edit sits on disk.
    pub(super) source: String,
}

/// Handles what the folder holds now, then follows it until `stop`; the watcher must live as
/// long as the task. Of the quiet period, half is the watcher's debounce, half the check that
/// size and modification time held still.
pub(super) async fn start(
    daemon: Arc<Daemon>,
    clock: Arc<dyn Clock>,
    quiet: Duration,
    mut stop: tokio_watch::Receiver<bool>,
) -> notify::Result<(JoinHandle<()>, FolderWatcher)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let half = (quiet / 2).max(Duration::from_millis(5));
    let watcher = watch::watch(&daemon.dir, half, tx)?;
    let now = clock.now().await.unwrap_or_else(|_| Utc::now());
    let dir = daemon.dir.clone();
    let present = blocking(move || watch::scan(&dir))
        .await
        .unwrap_or_default();
    settle(&daemon, present, now).await;
    let task = tokio::spawn(async move {
        let mut stability = Stability::new(half);
        let mut tick = tokio::time::interval(Duration::from_millis(50).min(half));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(p) = rx.recv() => {
                    if watch::classify(&daemon.dir, &p).is_some() {
                        stability.touch(p, Instant::now());
                    }
                }
                _ = tick.tick() => {
                    if stability.is_idle() { continue; }
                    let settled = stability.settled(Instant::now());
                    if settled.is_empty() { continue; }
                    let now = clock.now().await.unwrap_or_else(|_| Utc::now());
                    let files = settled.iter().filter_map(|p| watch::classify(&daemon.dir, p)).collect();
                    settle(&daemon, files, now).await;
                }
            }
        }
    });
    Ok((task, watcher))
}

/// Handles settled files in order, on the blocking pool (they are read, compiled, recorded).
async fn settle(daemon: &Arc<Daemon>, files: Vec<Settled>, now: DateTime<Utc>) {
    let daemon = daemon.clone();
    blocking(move || {
        for s in files {
            match s {
                Settled::Recipe(p) => daemon.recipe_settled(&p, now),
                Settled::InboxJob(p) => daemon.inbox_settled(&p, now),
            }
        }
    })
    .await;
}

impl Daemon {
    /// A recipe file settled: load it if it compiles (else keep the last good version), then act
    /// on its trigger.
    fn recipe_settled(self: &Arc<Self>, path: &Path, now: DateTime<Utc>) {
        let name = file_name(path);
        let Ok(source) = crate::engine::limits::read_script_file(path) else {
            // Gone (deleted or renamed away), or not a recipe file at all (a device, too
            // large): forget it; its scheduled jobs stay until cancelled.
            if self.loaded().remove(path).is_some() {
                tracing::info!("{name}: removed");
            }
            return;
        };
        let hash = runner::script_hash(&source);
        if self.loaded().get(path).map(|l| l.hash.as_str()) == Some(hash.as_str()) {
            return; // Saved again unchanged: nothing to do.
        }
        let Some(header) = self.check(path, &source, &hash) else {
            return;
        };
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        tracing::info!(
            "{name}: loaded ({}){}",
            header.trigger.describe(),
            header
                .name
                .as_deref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        );
        if let Some(w) = &header.warning {
            tracing::warn!("{name}: {w}");
        }
        self.loaded().insert(
            path.to_path_buf(),
            Loaded {
                hash: hash.clone(),
                trigger: header.trigger.clone(),
                source,
            },
        );
        self.act_on(path, &header.trigger, &hash, now);
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PathBuf, Loaded>> {
        self.recipes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The header of a recipe that compiles; otherwise reports the problem (once per content).
    fn check(&self, path: &Path, source: &str, hash: &str) -> Option<Header> {
        let script = Script {
            name: path.display().to_string(),
            source: source.to_string(),
            dir: Some(self.dir.clone()),
            path: Some(path.to_path_buf()),
        };
        let checked = match runner::check(&script, &self.base.limits) {
            Err(f) => Err(f.render()),
            Ok(()) => recipe::parse_header(source)
                .map_err(|e| format!("error: {}:{}: {}", path.display(), e.line, e.message)),
        };
        let problem = match checked {
            Ok(h) => return Some(h),
            Err(p) => p,
        };
        let keep = if self.loaded().contains_key(path) {
            "; the previous version stays active"
        } else {
            "; not loaded"
        };
        let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        if broken.get(path).map(String::as_str) != Some(hash) {
            broken.insert(path.to_path_buf(), hash.to_string());
            tracing::error!("{}: broken edit{keep}\n{problem}", file_name(path));
        }
        None
    }

    /// Runs an on-drop recipe (once per content), or schedules an `at`/`cron` one.
    fn act_on(self: &Arc<Self>, path: &Path, trigger: &Trigger, hash: &str, now: DateTime<Utc>) {
        let name = file_name(path);
        match trigger {
            Trigger::OnDrop => {
                let run_id = runner::new_run_id();
                match self
                    .store
                    .claim_drop(&path.display().to_string(), hash, &run_id)
                {
                    Ok(true) => self.launch(
                        path.to_path_buf(),
                        Map::new(),
                        "on-drop".into(),
                        Some(run_id),
                        false,
                    ),
                    Ok(false) => {
                        tracing::info!("{name}: this content already ran; not running it again")
                    }
                    Err(e) => tracing::error!("{name}: {e}"),
                }
            }
            // The key is part of the job id: its format must not change, or a reloaded recipe
            // would be scheduled a second time under a new id.
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
        add: impl FnOnce(&Store, &JobOptions) -> Result<Job, ScheduleError>,
    ) {
        let name = file_name(path);
        let id = format!(
            "recipe-{}",
            &runner::script_hash(&format!("{}|{trigger_key}", path.display()))
        );
        match self.store.job_get(&id) {
            Ok(Some(job)) => {
                tracing::info!(
                    "{name}: already scheduled as job {id} ({})",
                    job.state.as_str()
                );
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{name}: {e}");
                return;
            }
        }
        let opts = JobOptions {
            id: Some(id),
            ..Default::default()
        };
        match add(&self.store, &opts) {
            Ok(job) => tracing::info!(
                "{name}: scheduled job {} for {}",
                job.id,
                job.next_run_at
                    .map(crate::time::rfc3339)
                    .unwrap_or_default()
            ),
            Err(e) => tracing::error!("{name}: cannot schedule: {e}"),
        }
    }
}
