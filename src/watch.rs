//! The drop folder: change events on the recipes folder and its `inbox/`, debounced by
//! `notify-debouncer-full` and then held by [`Stability`] into "this version has settled"
//! notices that carry the very bytes that were judged settled.
//!
//! Directories are watched rather than files, so an editor's write-temp-then-rename save is seen
//! as a change of the target name. A version is its content: a path is reported only once it has
//! been quiet (the debouncer) *and* its content hash held still across a further period (read →
//! wait → read again), and the daemon acts on the bytes of that second read, never on a later
//! read of the file. A close-write or a rename into the folder (Linux reports both) says the
//! writer is done, so it settles on one read. On Linux a file another process holds open for
//! writing (a shell redirect's writer, a tool writing in chunks) is not a version yet either.

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, RecommendedCache};
use std::collections::{HashMap, HashSet};
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

impl Settled {
    pub fn path(&self) -> &Path {
        match self {
            Settled::Recipe(p) | Settled::InboxJob(p) => p,
        }
    }

    /// The most a file of this kind may hold.
    fn max_bytes(&self) -> u64 {
        match self {
            Settled::Recipe(_) => crate::engine::limits::MAX_SCRIPT_BYTES,
            Settled::InboxJob(_) => crate::engine::limits::MAX_JSON_BYTES,
        }
    }
}

/// How a change was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Written, created, removed: the writer may still be at work.
    Changed,
    /// Closed after writing, or renamed into the folder: the writer is done.
    Done,
}

/// One read of a file: what the daemon acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Not there (deleted or renamed away).
    Gone,
    /// Its text, that text's hash, and the file's modification time.
    Text {
        text: String,
        hash: String,
        modified: Option<SystemTime>,
    },
    /// There, but not a file to read (a FIFO, a directory, too large, not UTF-8): why.
    Unreadable(String),
}

impl Read {
    /// Reads `path` once (following a link; a FIFO is never opened).
    pub fn of(path: &Path, max: u64) -> Read {
        if std::fs::symlink_metadata(path).is_err() {
            return Read::Gone;
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        match crate::engine::limits::read_regular_file(path, max) {
            Ok(text) => Read::Text {
                hash: crate::store::recipe_hash(&text),
                text,
                modified,
            },
            Err(_) if std::fs::symlink_metadata(path).is_err() => Read::Gone,
            Err(reason) => Read::Unreadable(reason),
        }
    }

    /// What two reads are compared by: the content's hash (the time stamp does not matter).
    fn key(&self) -> String {
        match self {
            Read::Gone => "gone".into(),
            Read::Text { hash, .. } => format!("text:{hash}"),
            Read::Unreadable(why) => format!("unreadable:{why}"),
        }
    }

    /// An empty file is never a version: a file just made (or emptied) by a writer still at work.
    pub fn is_empty(&self) -> bool {
        matches!(self, Read::Text { text, .. } if text.is_empty())
    }
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

/// How long a writer holding a file open keeps it from settling: past this, its content is taken
/// once it holds still (a process that keeps a file open for writing for good must not hide it).
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// How long an empty file waits for its content before it is taken as it is (emptied for good).
const EMPTY_AT_MOST: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Pending {
    kind: Settled,
    /// When the last change was seen, or the last read made.
    at: Instant,
    /// When the first change of this round was seen.
    since: Instant,
    done: bool,
    /// The last read, once made.
    read: Option<Read>,
}

/// Holds debounced paths until their content stops moving, then hands over that content.
#[derive(Debug)]
pub struct Stability {
    quiet: Duration,
    pending: HashMap<PathBuf, Pending>,
}

impl Stability {
    pub fn new(quiet: Duration) -> Self {
        Stability {
            quiet,
            pending: HashMap::new(),
        }
    }

    /// A change was seen on `kind`'s path at `now`.
    pub fn touch(&mut self, kind: Settled, seen: Seen, now: Instant) {
        let path = kind.path().to_path_buf();
        let p = self.pending.entry(path).or_insert(Pending {
            kind,
            at: now,
            since: now,
            done: false,
            read: None,
        });
        p.at = now;
        p.done = seen == Seen::Done;
        if !p.done {
            p.read = None;
        }
    }

    /// Versions that settled by `now`: each path with the content read last (held still across
    /// the quiet period, or read once after its writer was done).
    pub fn settled(&mut self, now: Instant) -> Vec<(Settled, Read)> {
        let quiet = self.quiet;
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, p)| p.done || now.duration_since(p.at) >= quiet)
            .map(|(path, _)| path.clone())
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let held = held_for_writing(&due);
        let mut out = Vec::new();
        for path in due {
            let Some(p) = self.pending.get_mut(&path) else {
                continue;
            };
            if held.contains(&path) && now.duration_since(p.since) < HOLD_AT_MOST {
                // A writer still has it open: whatever it holds now is not the version yet.
                p.at = now;
                p.done = false;
                p.read = None;
                continue;
            }
            let read = Read::of(&path, p.kind.max_bytes());
            let young = now.duration_since(p.since) < EMPTY_AT_MOST;
            let stable = p.done || p.read.as_ref().map(Read::key) == Some(read.key());
            if !stable || (read.is_empty() && young) {
                // Moved since the last read (or a first read, or empty): wait another period.
                p.at = now;
                p.done = false;
                p.read = Some(read);
                continue;
            }
            if let Some(p) = self.pending.remove(&path) {
                out.push((p.kind, read));
            }
        }
        out.sort_by(|a, b| a.0.path().cmp(b.0.path()));
        out
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Which of `paths` another process holds open for writing (Linux: `/proc/*/fd` and the open
/// flags in `/proc/*/fdinfo`); none elsewhere.
pub fn held_for_writing(paths: &[PathBuf]) -> HashSet<PathBuf> {
    let wanted: HashMap<PathBuf, PathBuf> = paths
        .iter()
        .filter_map(|p| Some((std::fs::canonicalize(p).ok()?, p.clone())))
        .collect();
    let mut out = HashSet::new();
    if wanted.is_empty() {
        return out;
    }
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for proc_ in procs.flatten() {
        let pid = proc_.file_name();
        if pid
            .to_str()
            .is_none_or(|s| s == me || !s.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(path) = wanted.get(&target) else {
                continue;
            };
            let info = proc_.path().join("fdinfo").join(fd.file_name());
            if opened_for_writing(&std::fs::read_to_string(info).unwrap_or_default()) {
                out.insert(path.clone());
            }
        }
    }
    out
}

/// Whether an `fdinfo` text's `flags:` (octal) say write-only or read-write.
fn opened_for_writing(fdinfo: &str) -> bool {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 != 0)
}

/// A running watch of the folder; dropping it stops it.
pub type FolderWatcher = notify_debouncer_full::Debouncer<RecommendedWatcher, RecommendedCache>;

/// What one event says of its paths: which changed, and whether their writer is done.
fn seen_in(kind: &EventKind, paths: &[PathBuf]) -> Vec<(PathBuf, Seen)> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            paths.iter().map(|p| (p.clone(), Seen::Done)).collect()
        }
        // Reads (ours included) raise the other access events: they change nothing.
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            paths.iter().map(|p| (p.clone(), Seen::Done)).collect()
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let n = paths.len();
            paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        p.clone(),
                        if i + 1 == n {
                            Seen::Done
                        } else {
                            Seen::Changed
                        },
                    )
                })
                .collect()
        }
        _ => paths.iter().map(|p| (p.clone(), Seen::Changed)).collect(),
    }
}

/// Watches `dir` (and `dir/inbox`), sending each changed path on `tx` once it has been quiet
/// for `quiet`, with whether its writer is done.
pub fn watch(
    dir: &Path,
    quiet: Duration,
    tx: mpsc::UnboundedSender<(PathBuf, Seen)>,
) -> notify::Result<FolderWatcher> {
    let mut watcher = notify_debouncer_full::new_debouncer(
        quiet,
        None,
        move |res: DebounceEventResult| match res {
            Ok(events) => {
                for event in events {
                    for seen in seen_in(&event.kind, &event.paths) {
                        let _ = tx.send(seen);
                    }
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!("file watcher: {e}");
                }
            }
        },
    )?;
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
    fn a_file_settles_on_content_that_held_still_and_hands_over_that_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.rhai");
        std::fs::write(&p, "let a = 1;").unwrap();
        let mut d = Stability::new(Duration::from_millis(100));
        let t0 = Instant::now();
        let kind = Settled::Recipe(p.clone());
        d.touch(kind.clone(), Seen::Changed, t0);
        assert!(
            d.settled(t0 + Duration::from_millis(50)).is_empty(),
            "not quiet yet"
        );
        assert!(
            d.settled(t0 + Duration::from_millis(100)).is_empty(),
            "first read"
        );
        // Same size, same second: only the content tells this apart.
        std::fs::write(&p, "let b = 2;").unwrap();
        assert!(
            d.settled(t0 + Duration::from_millis(200)).is_empty(),
            "it changed: wait again"
        );
        let got = d.settled(t0 + Duration::from_millis(300));
        assert_eq!(got.len(), 1);
        match &got[0].1 {
            Read::Text { text, .. } => assert_eq!(text, "let b = 2;"),
            other => panic!("{other:?}"),
        }
        assert!(d.is_idle());
    }

    #[test]
    fn an_empty_file_is_not_a_version_and_a_closed_one_settles_on_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.rhai");
        std::fs::write(&p, "").unwrap();
        let mut d = Stability::new(Duration::from_millis(10));
        let t0 = Instant::now();
        d.touch(Settled::Recipe(p.clone()), Seen::Changed, t0);
        for ms in [20, 40, 60] {
            assert!(d.settled(t0 + Duration::from_millis(ms)).is_empty(), "{ms}");
        }
        std::fs::write(&p, "let a = 1;").unwrap();
        d.touch(
            Settled::Recipe(p.clone()),
            Seen::Done,
            t0 + Duration::from_millis(70),
        );
        let got = d.settled(t0 + Duration::from_millis(70));
        assert_eq!(got.len(), 1, "a close-write settles at once");
    }

    #[test]
    fn write_modes_are_read_from_fdinfo() {
        assert!(opened_for_writing("pos:\t0\nflags:\t0100001\nmnt_id:\t1\n"));
        assert!(opened_for_writing("flags:\t02\n"));
        assert!(!opened_for_writing("pos:\t0\nflags:\t0100000\n"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "").unwrap();
        // Our own descriptors never count (the daemon reads what it watches).
        let _open = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        assert!(held_for_writing(std::slice::from_ref(&p)).is_empty());
    }
}
