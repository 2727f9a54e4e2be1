//! Retention for a daemon that runs for months: every so often, what is older than the
//! retention age, or beyond the most recent `keep` — run records and their ledger rows,
//! dispatched notifications (the store's side, `store/retention.rs`), and the files in `runs/`,
//! `inbox/done/` and `inbox/failed/` — is removed. Nothing a resume still needs goes: unfinished
//! runs keep their records, jobs waiting in `inbox/running/` are never touched.

use super::{blocking, Daemon};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long and how many finished things are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Retention {
    pub max_age: Duration,
    pub keep: usize,
}

impl Retention {
    /// A pass every half of the age, at most every 10 minutes, at least every second.
    fn every(&self) -> Duration {
        (self.max_age / 2).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }
}

/// Prunes at start, then every so often until `stop`.
pub(super) fn start(
    daemon: Arc<Daemon>,
    retention: Retention,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let d = daemon.clone();
            blocking(move || d.prune(retention)).await;
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(retention.every()) => {}
            }
        }
    })
}

impl Daemon {
    fn prune(&self, r: Retention) {
        let age = chrono::Duration::from_std(r.max_age).unwrap_or(chrono::Duration::days(3650));
        let cutoff =
            (chrono::Utc::now() - age).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self.store.prune(&cutoff, r.keep) {
            Ok(p) if p.is_empty() => {}
            Ok(p) => {
                for id in &p.daemon_runs {
                    let _ = std::fs::remove_file(self.dir.join("runs").join(format!("{id}.json")));
                }
                tracing::debug!(
                    runs = p.daemon_runs.len().max(p.runs),
                    ledger_rows = p.ledger_rows,
                    notifications = p.notifications,
                    "retention: pruned the store"
                );
            }
            Err(e) => tracing::warn!("retention: cannot prune the store: {e}"),
        }
        let oldest = SystemTime::now().checked_sub(r.max_age);
        prune_files(&self.dir.join("runs"), oldest, r.keep);
        // A job and the note beside it: two files each.
        for sub in ["inbox/done", "inbox/failed"] {
            prune_files(&self.dir.join(sub), oldest, r.keep.saturating_mul(2));
        }
    }
}

/// Removes the files of `dir` modified before `oldest`, and all but the newest `keep`. Hidden files (a report being written) are left alone.
fn prune_files(dir: &Path, oldest: Option<SystemTime>, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let m = e.path().symlink_metadata().ok()?;
            Some((m.modified().ok()?, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (i, (modified, path)) in files.iter().enumerate() {
        if i >= keep || oldest.is_some_and(|o| *modified < o) {
            let gone = if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            if let Err(e) = gone {
                tracing::debug!("retention: cannot remove {}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("{i}.json")), "{}").unwrap();
        }
        std::fs::write(dir.path().join(".tmp.json"), "{}").unwrap();
        prune_files(dir.path(), None, 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        prune_files(
            dir.path(),
            Some(SystemTime::now() + Duration::from_secs(60)),
            100,
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
