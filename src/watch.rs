//! The drop folder: change events on the recipes folder and its `inbox/`, debounced by
//! `notify-debouncer-full` and then held by [`Stability`] into "this file has settled" notices.
//!
//! Directories are watched rather than files, so an editor's write-temp-then-rename save is seen
//! as a change of the target name. A path is reported only once it has been quiet (the
//! debouncer) *and* its size and modification time held still for a further period (the check
//! on top), so a file still being written is never picked up half-way.

use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, RecommendedCache};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// What kind of file settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// `DIR/*.rhai` (also when it was removed: the path no longer exists).
    Recipe(PathBuf),
    /// `DIR/inbox/*.json`.
    InboxJob(PathBuf),
}

/// Which paths in the folder matter, and as what.
pub fn classify(dir: &Path, path: &Path) -> Option<Settled> {
    let name = path.file_name()?.to_str()?;
    // Editor and tool temporaries: hidden files, backups, swap and partial files.
    if name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
        || name.ends_with(".part")
    {
        return None;
    }
    let parent = path.parent()?;
    if parent == dir && name.ends_with(".rhai") {
        return Some(Settled::Recipe(path.to_path_buf()));
    }
    if parent == dir.join("inbox") && name.ends_with(".json") {
        return Some(Settled::InboxJob(path.to_path_buf()));
    }
    None
}

fn fingerprint(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Holds debounced paths until their size and modification time stop moving.
#[derive(Debug)]
pub struct Stability {
    quiet: Duration,
    pending: HashMap<PathBuf, (Instant, Option<(u64, SystemTime)>)>,
}

impl Stability {
    pub fn new(quiet: Duration) -> Self {
        Stability {
            quiet,
            pending: HashMap::new(),
        }
    }

    /// A change was seen on `path` at `now`.
    pub fn touch(&mut self, path: PathBuf, now: Instant) {
        let fp = fingerprint(&path);
        self.pending.insert(path, (now, fp));
    }

    /// Paths quiet for the debounce period whose size and mtime did not move meanwhile.
    pub fn settled(&mut self, now: Instant) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let quiet = self.quiet;
        self.pending.retain(|path, (at, fp)| {
            if now.duration_since(*at) < quiet {
                return true;
            }
            let again = fingerprint(path);
            if again != *fp {
                // Still being written (or replaced): wait another period.
                *at = now;
                *fp = again;
                return true;
            }
            out.push(path.clone());
            false
        });
        out.sort();
        out
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }
}

/// A running watch of the folder; dropping it stops it.
pub type FolderWatcher = notify_debouncer_full::Debouncer<RecommendedWatcher, RecommendedCache>;

/// Watches `dir` (and `dir/inbox`), sending each changed path on `tx` once it has been quiet
/// for `quiet`.
pub fn watch(
    dir: &Path,
    quiet: Duration,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> notify::Result<FolderWatcher> {
    let mut watcher =
        notify_debouncer_full::new_debouncer(quiet, None, move |res: DebounceEventResult| {
            match res {
                Ok(events) => {
                    for event in events {
                        // Reads (ours included) raise access events; only changes matter.
                        if matches!(event.kind, notify::EventKind::Access(_)) {
                            continue;
                        }
                        for p in &event.paths {
                            let _ = tx.send(p.clone());
                        }
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!("file watcher: {e}");
                    }
                }
            }
        })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let inbox = dir.join("inbox");
    if inbox.is_dir() {
        watcher.watch(&inbox, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// Every recipe and inbox job present now (at start-up, before any change is seen).
pub fn scan(dir: &Path) -> Vec<Settled> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("inbox")] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                if let Some(s) = classify(dir, &e.path()) {
                    out.push(s);
                }
            }
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recipes_and_inbox_jobs_count() {
        let d = Path::new("/r");
        assert_eq!(
            classify(d, Path::new("/r/a.rhai")),
            Some(Settled::Recipe("/r/a.rhai".into()))
        );
        assert_eq!(
            classify(d, Path::new("/r/inbox/j.json")),
            Some(Settled::InboxJob("/r/inbox/j.json".into()))
        );
        for p in [
            "/r/.a.rhai.swp",
            "/r/a.rhai~",
            "/r/runs/x.json",
            "/r/a.txt",
            "/r/inbox/j.json.tmp",
            "/r/sub/a.rhai",
        ] {
            assert_eq!(classify(d, Path::new(p)), None, "{p}");
        }
    }

    #[test]
    fn a_file_still_growing_does_not_settle() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.rhai");
        std::fs::write(&p, "let a = 1;").unwrap();
        let mut d = Stability::new(Duration::from_millis(100));
        let t0 = Instant::now();
        d.touch(p.clone(), t0);
        assert!(
            d.settled(t0 + Duration::from_millis(50)).is_empty(),
            "not quiet yet"
        );
        std::fs::write(&p, "let a = 1;\nlet b = 2;").unwrap();
        assert!(
            d.settled(t0 + Duration::from_millis(150)).is_empty(),
            "it grew: wait again"
        );
        assert_eq!(d.settled(t0 + Duration::from_millis(300)), vec![p]);
        assert!(d.is_idle());
    }
}
