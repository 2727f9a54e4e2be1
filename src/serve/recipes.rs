//! The watched recipes folder: what is there at start, then every file that settles; a recipe
//! that compiles is loaded and its trigger acted on. A broken edit (an empty file included)
//! keeps the last good version, which the store keeps across restarts.

use super::{blocking, file_name, Daemon};
use crate::recipe::{self, Header, Trigger};
use crate::runner::{self, Script};
use crate::schedule::Clock;
use crate::watch::{self, FolderWatcher, Read, Seen, Settled, Stability};
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

/// The newest version of a recipe that settled while an earlier one compiled, and when.
pub(super) type Waiting = Option<(Read, DateTime<Utc>)>;

/// A broken edit of a recipe: its content's key (reported once per content) and the error.
#[derive(Clone, Debug)]
pub(super) struct Broken {
    key: String,
    pub(super) error: String,
}

/// Handles what the folder holds now, then follows it until `stop`. Of the quiet period, half
/// is the watcher's debounce, half the check that the content held still. Every `rescan` the
/// folder is read again in full (a missed event loses nothing), and the watch is set up afresh
/// when a watched folder was replaced (`mv inbox inbox.old && mkdir inbox`). Settled versions
/// are handed to tasks of their own (see [`dispatch`]): the watch never waits for a compile.
pub(super) async fn start(
    daemon: Arc<Daemon>,
    clock: Arc<dyn Clock>,
    quiet: Duration,
    rescan: Duration,
    mut stop: tokio_watch::Receiver<bool>,
) -> notify::Result<JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(PathBuf, Seen)>();
    let half = (quiet / 2).max(Duration::from_millis(5));
    let mut armed = Armed::new(&daemon.dir, half, tx)?;
    let now = clock.now().await.unwrap_or_else(|_| Utc::now());
    let dir = daemon.dir.clone();
    let present = blocking(move || watch::scan(&dir))
        .await
        .unwrap_or_default();
    let later = load_present(&daemon, present, now).await;
    let d = daemon.clone();
    blocking(move || d.cancel_orphans(now)).await;
    let task = tokio::spawn(async move {
        let mut stability = Stability::new(half);
        for s in later {
            stability.touch(s, Seen::Done, Instant::now());
        }
        let mut tick = tokio::time::interval(Duration::from_millis(50).min(half));
        let mut full = tokio::time::interval(rescan.max(Duration::from_millis(100)));
        full.tick().await;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some((p, seen)) = rx.recv() => {
                    if p == daemon.dir.join("inbox") {
                        // Renamed away, or made anew: the new one is watched at once.
                        armed.rearm_if_replaced();
                    }
                    if let Some(kind) = watch::classify(&daemon.dir, &p) {
                        stability.touch(kind, seen, Instant::now());
                    }
                }
                _ = full.tick() => {
                    armed.rearm_if_replaced();
                    let dir = daemon.dir.clone();
                    // Only inbox jobs: a recipe already loaded is unchanged unless an event said so.
                    for s in blocking(move || watch::scan(&dir)).await.unwrap_or_default() {
                        if matches!(s, Settled::InboxJob(_)) {
                            stability.touch(s, Seen::Changed, Instant::now());
                        }
                    }
                }
                _ = tick.tick() => {
                    if stability.is_idle() { continue; }
                    // Reading files (and /proc) is blocking work: done on the blocking pool.
                    let Some((back, settled)) = blocking(move || {
                        let settled = stability.settled(Instant::now());
                        (stability, settled)
                    }).await else { break };
                    stability = back;
                    if settled.is_empty() { continue; }
                    let now = clock.now().await.unwrap_or_else(|_| Utc::now());
                    dispatch(&daemon, settled, now);
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
    tx: mpsc::UnboundedSender<(PathBuf, Seen)>,
    ids: Option<(u64, u64)>,
    watcher: Option<FolderWatcher>,
}

impl Armed {
    fn new(
        dir: &Path,
        quiet: Duration,
        tx: mpsc::UnboundedSender<(PathBuf, Seen)>,
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

/// Hands settled versions on: inbox jobs (in order) to one blocking task, each recipe to a
/// compile of its own, so a slow compile holds up neither the other recipes nor the inbox.
fn dispatch(daemon: &Arc<Daemon>, files: Vec<(Settled, Read)>, now: DateTime<Utc>) {
    let mut jobs = Vec::new();
    for (kind, read) in files {
        match kind {
            Settled::Recipe(p) => daemon.compile_soon(p, read, now),
            Settled::InboxJob(p) => jobs.push((p, read)),
        }
    }
    if !jobs.is_empty() {
        let daemon = daemon.clone();
        tokio::task::spawn_blocking(move || {
            for (p, read) in jobs {
                daemon.inbox_settled(&p, read, now);
            }
        });
    }
}

/// Loads the recipes present at the start before anything else starts (stored notifications
/// are dispatched to the loaded recipes as soon as the daemon is up), each compiled on its own
/// blocking task so they load side by side, each within the compile limit. What is left for
/// the watch loop: inbox jobs, and recipes a writer still holds open or that are empty.
async fn load_present(
    daemon: &Arc<Daemon>,
    present: Vec<Settled>,
    now: DateTime<Utc>,
) -> Vec<Settled> {
    let (recipes, mut later): (Vec<Settled>, Vec<Settled>) = present
        .into_iter()
        .partition(|s| matches!(s, Settled::Recipe(_)));
    let paths: Vec<PathBuf> = recipes.iter().map(|s| s.path().to_path_buf()).collect();
    let held = blocking(move || watch::held_for_writing(&paths))
        .await
        .unwrap_or_default();
    let mut loads = Vec::new();
    for kind in recipes {
        if held.contains(kind.path()) {
            later.push(kind);
            continue;
        }
        let daemon = daemon.clone();
        loads.push(tokio::task::spawn_blocking(move || {
            let path = kind.path().to_path_buf();
            let read = Read::of(&path, crate::engine::limits::MAX_SCRIPT_BYTES);
            if read.is_empty() {
                return Some(kind);
            }
            daemon.recipe_settled(&path, read, now);
            None
        }));
    }
    for load in loads {
        if let Ok(Some(kind)) = load.await {
            later.push(kind);
        }
    }
    later
}

/// How long a recipe may take to compile before it is reported broken
/// (`BTW_COMPILE_LIMIT_MS`, for tests; 10 s otherwise).
fn compile_limit() -> Duration {
    std::env::var("BTW_COMPILE_LIMIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10))
}

impl Daemon {
    /// Compiles a settled version on a blocking task of its own. Versions of one recipe are
    /// taken in order: one settling while its predecessor compiles waits for it (only the newest
    /// waiting one is kept), so an older version never lands after a newer one.
    fn compile_soon(self: &Arc<Self>, path: PathBuf, read: Read, now: DateTime<Utc>) {
        {
            let mut compiling = self.compiling.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(next) = compiling.get_mut(&path) {
                *next = Some((read, now));
                return;
            }
            compiling.insert(path.clone(), None);
        }
        let daemon = self.clone();
        tokio::task::spawn_blocking(move || {
            let (mut read, mut now) = (read, now);
            loop {
                daemon.recipe_settled(&path, read, now);
                let mut compiling = daemon.compiling.lock().unwrap_or_else(|p| p.into_inner());
                match compiling.get_mut(&path).and_then(Option::take) {
                    Some((r, n)) => (read, now) = (r, n),
                    None => {
                        compiling.remove(&path);
                        break;
                    }
                }
            }
        });
    }

    /// A recipe's version settled (`read`: the content that held still): load it if it
    /// compiles (else keep the last good version), then act on its trigger.
    fn recipe_settled(self: &Arc<Self>, path: &Path, read: Read, now: DateTime<Utc>) {
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
        let (source, hash, modified) = match read {
            Read::Text {
                text,
                hash,
                modified,
            } => (text, hash, modified),
            // Gone: deleted or renamed away.
            Read::Gone => return self.recipe_gone(path, now),
            // There but not a recipe to read (a directory, a FIFO, too large, not UTF-8): broken.
            Read::Unreadable(reason) => {
                self.report_broken(
                    path,
                    &format!("unreadable:{reason}"),
                    &format!("error: {reason}"),
                );
                return self.keep_last_good(path);
            }
        };
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
        self.publish_problems();
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
        let saved = modified.map(DateTime::<Utc>::from).unwrap_or(now);
        self.act_on(path, &header, &source, &hash, saved, now);
    }

    /// Deleted or renamed away: forget it, and cancel the jobs its header made.
    fn recipe_gone(&self, path: &Path, now: DateTime<Utc>) {
        let name = file_name(path);
        if self.loaded().remove(path).is_some() {
            tracing::info!("{name}: removed");
        }
        let was_broken = self
            .broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path)
            .is_some();
        if was_broken {
            self.publish_problems();
        }
        let key = path.display().to_string();
        if let Err(e) = self.store.recipe_head_clear(&key) {
            tracing::error!("{name}: {e}");
        }
        self.cancel_if_nobody_has(path, now);
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

    /// Why a recipe that is a symbolic link is refused: the folder's one link rule
    /// ([`crate::engine::limits::link_leaving`]), as for inbox jobs and imports.
    fn link_leaving_folder(&self, path: &Path) -> Option<String> {
        crate::engine::limits::link_leaving(path, &self.dir)
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
            match compile_within(script, &self.base.limits, compile_limit()) {
                Err(problem) => Err(problem),
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
            drop(broken);
            self.publish_problems();
        }
    }

    /// Runs an on-drop recipe (once per content), or schedules an `at`/`cron` one (`saved`: when
    /// this version was saved, so an older one never re-pins a job over a newer one).
    fn act_on(
        self: &Arc<Self>,
        path: &Path,
        header: &Header,
        source: &str,
        hash: &str,
        saved: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        let trigger = &header.trigger;
        if matches!(trigger, Trigger::At(_) | Trigger::Cron { .. }) {
            return self.schedule_header(path, header, source, saved, now);
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

/// Compiles `script` on a thread of its own, waiting at most `limit`: a recipe whose compile
/// takes longer is reported broken (the thread is left to finish on its own; parsing cannot be
/// interrupted), so one pathological recipe never holds the folder.
fn compile_within(
    script: Script,
    limits: &crate::config::Limits,
    limit: Duration,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let limits = limits.clone();
    let name = script.name.clone();
    let spawned = std::thread::Builder::new()
        .name("btw-compile".into())
        .spawn(move || {
            let _ = tx.send(runner::check(&script, &limits).map_err(|f| f.render()));
        });
    if let Err(e) = spawned {
        return Err(format!("error: {name}: cannot compile it now: {e}"));
    }
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => Err(format!(
            "error: {name}: compiling took longer than {} s: not loaded (split it, or shorten it)",
            limit.as_secs_f64()
        )),
    }
}

/// Without inodes, only a missing inbox is noticed.
#[cfg(not(unix))]
fn inbox_id(dir: &Path) -> Option<(u64, u64)> {
    dir.join("inbox").is_dir().then_some((0, 0))
}
