//! The watched recipes folder: what is there at start, then every file that settles; a recipe
//! that compiles is loaded and its trigger acted on. A broken edit (an empty file included)
//! keeps the last good version, which the store keeps across restarts.

use super::{blocking, file_name, Daemon};
use crate::recipe::{self, Header, Trigger};
use crate::runner::{self, Script};
use crate::schedule::Clock;
use crate::watch::{self, FolderWatcher, Settled, Stability};
use chrono::{DateTime, Utc};
use serde_json::Map;
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
    /// When this daemon loaded this version (RFC 3339).
    pub(super) loaded_at: String,
}

/// A broken edit of a recipe: its content's key (reported once per content) and the error.
#[derive(Clone, Debug)]
pub(super) struct Broken {
    key: String,
    pub(super) error: String,
}

/// Handles what the folder holds now, then follows it until `stop`. Of the quiet period, half
/// is the watcher's debounce, half the check that size and modification time held still.
/// Every `rescan` the folder is read again in full (a missed event loses nothing), and the
/// watch is set up afresh when a watched folder was replaced (`mv inbox inbox.old && mkdir inbox`).
pub(super) async fn start(
    daemon: Arc<Daemon>,
    clock: Arc<dyn Clock>,
    quiet: Duration,
    rescan: Duration,
    mut stop: tokio_watch::Receiver<bool>,
) -> notify::Result<JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let half = (quiet / 2).max(Duration::from_millis(5));
    let mut armed = Armed::new(&daemon.dir, half, tx)?;
    let now = clock.now().await.unwrap_or_else(|_| Utc::now());
    let dir = daemon.dir.clone();
    let present = blocking(move || watch::scan(&dir))
        .await
        .unwrap_or_default();
    settle(&daemon, present, now).await;
    let d = daemon.clone();
    blocking(move || d.cancel_orphans(now)).await;
    let task = tokio::spawn(async move {
        let mut stability = Stability::new(half);
        let mut tick = tokio::time::interval(Duration::from_millis(50).min(half));
        let mut full = tokio::time::interval(rescan.max(Duration::from_millis(100)));
        full.tick().await;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(p) = rx.recv() => {
                    if p == daemon.dir.join("inbox") {
                        // Renamed away, or made anew: the new one is watched at once.
                        armed.rearm_if_replaced();
                    }
                    if watch::classify(&daemon.dir, &p).is_some() {
                        stability.touch(p, Instant::now());
                    }
                }
                _ = full.tick() => {
                    armed.rearm_if_replaced();
                    let dir = daemon.dir.clone();
                    // Only inbox jobs: a recipe already loaded is unchanged unless an event said so.
                    for s in blocking(move || watch::scan(&dir)).await.unwrap_or_default() {
                        if let Settled::InboxJob(p) = s {
                            stability.touch(p, Instant::now());
                        }
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
    Ok(task)
}

/// The folder's watch, and which folders it watches (by device and inode), so a replaced one
/// is noticed and watched again.
struct Armed {
    dir: PathBuf,
    quiet: Duration,
    tx: mpsc::UnboundedSender<PathBuf>,
    ids: Option<(u64, u64)>,
    watcher: Option<FolderWatcher>,
}

impl Armed {
    fn new(
        dir: &Path,
        quiet: Duration,
        tx: mpsc::UnboundedSender<PathBuf>,
    ) -> notify::Result<Self> {
        let watcher = watch::watch(dir, quiet, tx.clone())?;
        Ok(Armed {
            dir: dir.to_path_buf(),
            quiet,
            tx,
            ids: inbox_id(dir),
            watcher: Some(watcher),
        })
    }

    fn rearm_if_replaced(&mut self) {
        let now = inbox_id(&self.dir);
        if now == self.ids {
            return;
        }
        if now.is_none() {
            // Gone for now (renamed away): made again so drops have somewhere to go.
            let _ = std::fs::create_dir_all(self.dir.join("inbox"));
        }
        // The old watch goes first: two watches of one folder would report every change twice.
        self.watcher = None;
        match watch::watch(&self.dir, self.quiet, self.tx.clone()) {
            Ok(w) => {
                self.watcher = Some(w);
                self.ids = inbox_id(&self.dir);
                tracing::info!("inbox/ was replaced: watching the new one");
            }
            Err(e) => tracing::warn!("cannot watch {} again: {e}", self.dir.display()),
        }
    }
}

/// The inbox folder's device and inode.
#[cfg(unix)]
fn inbox_id(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join("inbox"))
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
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
        if let Some(reason) = self.link_leaving_folder(path) {
            // Not a recipe of this folder at all: nothing of it serves, not even an older version.
            self.recipe_gone(path, now);
            return self.report_broken(
                path,
                &format!("link:{reason}"),
                &format!("error: {reason}"),
            );
        }
        let source = match crate::engine::limits::read_script_file(path) {
            Ok(s) => s,
            // Gone: deleted or renamed away.
            Err(_) if std::fs::symlink_metadata(path).is_err() => {
                return self.recipe_gone(path, now)
            }
            // There but not a recipe to read (a directory, a FIFO, too large, not UTF-8): broken.
            Err(reason) => {
                self.report_broken(
                    path,
                    &format!("unreadable:{reason}"),
                    &format!("error: {reason}"),
                );
                return self.keep_last_good(path);
            }
        };
        let hash = runner::script_hash(&source);
        if self.loaded().get(path).map(|l| l.hash.as_str()) == Some(hash.as_str()) {
            return; // Saved again unchanged: nothing to do.
        }
        let Some(header) = self.check(path, &source, &hash) else {
            return self.keep_last_good(path);
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
        if let Err(e) = self
            .store
            .recipe_head_set(&path.display().to_string(), &source)
        {
            tracing::error!("{name}: cannot keep this version in the store: {e}");
        }
        self.loaded().insert(
            path.to_path_buf(),
            Loaded {
                hash: hash.clone(),
                trigger: header.trigger.clone(),
                source: source.clone(),
                loaded_at: crate::store::now_rfc3339(),
            },
        );
        self.act_on(path, &header, &source, &hash, now);
    }

    /// Deleted or renamed away: forget it, and cancel the jobs its header made.
    fn recipe_gone(&self, path: &Path, now: DateTime<Utc>) {
        let name = file_name(path);
        if self.loaded().remove(path).is_some() {
            tracing::info!("{name}: removed");
        }
        let key = path.display().to_string();
        if let Err(e) = self.store.recipe_head_clear(&key) {
            tracing::error!("{name}: {e}");
        }
        self.cancel_owned(
            path,
            None,
            &format!("its recipe {name} was deleted or renamed"),
            now,
        );
    }

    /// A broken file with nothing loaded (the daemon just started): the store's last good
    /// version of it keeps serving.
    fn keep_last_good(&self, path: &Path) {
        if self.loaded().contains_key(path) {
            return;
        }
        let name = file_name(path);
        let head = match self.store.recipe_head(&path.display().to_string()) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => return tracing::error!("{name}: {e}"),
        };
        let (hash, source) = head;
        let Ok(header) = recipe::parse_header(&source) else {
            return;
        };
        tracing::warn!(
            "{name}: the last good version ({hash}, from the store) keeps serving until the file is fixed"
        );
        self.loaded().insert(
            path.to_path_buf(),
            Loaded {
                hash,
                trigger: header.trigger,
                source,
                loaded_at: crate::store::now_rfc3339(),
            },
        );
    }

    /// Why a recipe that is a symbolic link is refused: its target lies outside the recipes
    /// folder, where saves are not watched (the daemon would keep running a stale version), as
    /// imports and inbox jobs refuse such links. A link to a file inside the folder is followed.
    fn link_leaving_folder(&self, path: &Path) -> Option<String> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if !meta.file_type().is_symlink() {
            return None;
        }
        let folder = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        match std::fs::canonicalize(path) {
            Ok(target) if target.starts_with(&folder) => None,
            Ok(target) => Some(format!(
                "{}: a link to {}, outside the recipes folder: refused (copy the recipe into the folder)",
                path.display(),
                target.display()
            )),
            Err(e) => Some(format!("{}: a link that leads nowhere ({e})", path.display())),
        }
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PathBuf, Loaded>> {
        self.recipes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The header of a recipe that compiles; otherwise reports the problem (once per content).
    /// An empty (or blank) file is a broken edit, never a new version.
    fn check(&self, path: &Path, source: &str, hash: &str) -> Option<Header> {
        let script = Script {
            name: path.display().to_string(),
            source: source.to_string(),
            dir: Some(self.dir.clone()),
            path: Some(path.to_path_buf()),
        };
        let checked = if source.trim().is_empty() {
            Err(format!("error: {}: the file is empty", path.display()))
        } else {
            match runner::check(&script, &self.base.limits) {
                Err(f) => Err(f.render()),
                Ok(()) => recipe::parse_header(source)
                    .map_err(|e| format!("error: {}:{}: {}", path.display(), e.line, e.message))
                    .and_then(|h| match recipe::trigger_problem(&h) {
                        // Every run its trigger starts would fail: refused like a broken header.
                        Some(problem) => Err(format!("error: {}: {problem}", path.display())),
                        None => Ok(h),
                    }),
            }
        };
        match checked {
            Ok(h) => Some(h),
            Err(problem) => {
                self.report_broken(path, hash, &problem);
                None
            }
        }
    }

    /// Reports a broken recipe, once per content (`key`), saying whether a version keeps serving.
    fn report_broken(&self, path: &Path, key: &str, problem: &str) {
        let stored = self
            .store
            .recipe_head(&path.display().to_string())
            .ok()
            .flatten()
            .is_some();
        let keep = if self.loaded().contains_key(path) || stored {
            "; the previous version stays active"
        } else {
            "; not loaded"
        };
        let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        if broken.get(path).map(|b| b.key.as_str()) != Some(key) {
            broken.insert(
                path.to_path_buf(),
                Broken {
                    key: key.to_string(),
                    error: problem.to_string(),
                },
            );
            tracing::error!("{}: broken edit{keep}\n{problem}", file_name(path));
        }
    }

    /// Runs an on-drop recipe (once per content), or schedules an `at`/`cron` one.
    fn act_on(
        self: &Arc<Self>,
        path: &Path,
        header: &Header,
        source: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        let trigger = &header.trigger;
        if matches!(trigger, Trigger::At(_) | Trigger::Cron { .. }) {
            return self.schedule_header(path, header, source, now);
        }
        // The header no longer schedules anything: what it scheduled before goes.
        self.cancel_owned(
            path,
            None,
            &format!("replaced: {name}'s header is now {}", trigger.describe()),
            now,
        );
        if *trigger != Trigger::OnDrop {
            return;
        }
        let run_id = runner::new_run_id();
        let key = path.display().to_string();
        match self.store.claim_drop(&key, hash, &run_id) {
            Ok(true) => {
                // Recorded before it waits for a slot: a crash meanwhile resumes it, never loses it.
                let params = serde_json::Value::Object(Map::new());
                if let Err(e) =
                    self.store
                        .daemon_run_queued(&run_id, &key, &params, "on-drop", &self.owner)
                {
                    tracing::error!("{name}: cannot record the run: {e}");
                }
                self.launch(
                    path.to_path_buf(),
                    Map::new(),
                    "on-drop".into(),
                    Some(run_id),
                    false,
                );
            }
            Ok(false) => tracing::info!("{name}: this content already ran; not running it again"),
            Err(e) => tracing::error!("{name}: {e}"),
        }
    }
}

/// Without inodes, only a missing inbox is noticed.
#[cfg(not(unix))]
fn inbox_id(dir: &Path) -> Option<(u64, u64)> {
    dir.join("inbox").is_dir().then_some((0, 0))
}
