//! The inbox: `DIR/inbox/*.json` jobs, strict (`recipe`, `params`, `at` and nothing else),
//! naming a recipe inside the folder. A job run now waits in `inbox/running/` and then moves to
//! `inbox/done/` or `inbox/failed/` with a note naming its run; a scheduled one, or one refused
//! (with the reason in a `.error.txt` beside it), moves at once.

use super::{file_name, Daemon};
use crate::schedule::{self, JobOptions};
use crate::watch::Read;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The keys a job may have.
const KEYS: [&str; 3] = ["recipe", "params", "at"];

/// What became of a job taken from the inbox.
enum Taken {
    /// Started as this run: the file waits in `inbox/running/` until the run ends.
    Started(String),
    /// Settled now (scheduled): what to say in the log.
    Settled(String),
}

/// How long after its last change a job file that does not parse yet may still be on its way.
const STILL_WRITING: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a job file that does not parse may still be being written: some process holds it
/// open for writing (a shell redirect's writer keeps it until it exits), or it changed a moment
/// ago.
fn still_being_written(path: &Path, meta: &std::fs::Metadata) -> bool {
    let young = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age < STILL_WRITING);
    young || !crate::watch::held_for_writing(&[path.to_path_buf()]).is_empty()
}

/// An inbox job refused for good: its file (now in `inbox/failed/`), why, and when.
#[derive(Clone, Debug)]
pub(super) struct Refused {
    pub file: String,
    pub reason: String,
    pub at: String,
}

/// How many refused jobs the daemon remembers for the console and `btw status`.
const REFUSED_KEPT: usize = 20;

/// Where a started job waits for its run to end.
pub(super) fn running_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join("inbox")
        .join("running")
        .join(format!("{run_id}.json"))
}

impl Daemon {
    /// An inbox job settled (`read`: the content that held still): run it now, or schedule it;
    /// then move the file out of the inbox.
    pub(super) fn inbox_settled(self: &Arc<Self>, path: &Path, read: Read, now: DateTime<Utc>) {
        // A FIFO, a directory or a device is never opened: it fails like any bad job.
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return; // Already gone: nobody's.
        };
        let link = meta.file_type().is_symlink();
        let result = if let Some(reason) = link
            .then(|| crate::engine::limits::link_leaving(path, &self.dir))
            .flatten()
        {
            Err(reason)
        } else if !(meta.is_file() || link && std::fs::metadata(path).is_ok_and(|m| m.is_file())) {
            Err("not a regular file: jobs are regular JSON files".into())
        } else {
            match read {
                Read::Gone => return,
                Read::Unreadable(reason) => Err(reason),
                Read::Text { text, .. } => {
                    if serde_json::from_str::<Value>(&text).is_err()
                        && still_being_written(path, &meta)
                    {
                        // `slow_cmd > inbox/x.json`: the shell made the file before the JSON
                        // came. Looked at again once its writer has had time; refused only when
                        // nobody writes it any more.
                        tracing::debug!(
                            "inbox/{}: not JSON yet, and still being written: looked at again in {} s",
                            file_name(path),
                            STILL_WRITING.as_secs()
                        );
                        return self.look_again(path, now);
                    }
                    self.take_job(path, &text, now)
                }
            }
        };
        let name = file_name(path);
        match result {
            Ok(Taken::Started(run_id)) => {
                tracing::info!("inbox/{name}: started as run {run_id}")
            }
            Ok(Taken::Settled(msg)) => {
                tracing::info!("inbox/{name}: {msg}");
                self.file_job(path, "done", &name, &msg);
            }
            Err(msg) => {
                tracing::error!("inbox/{name}: refused: {msg}");
                // Taken meanwhile by another look at the same file: not refused after all.
                if self.file_job(path, "failed", &name, &msg) {
                    self.job_refused(&name, &msg);
                }
            }
        }
    }

    /// A job was refused for good: remembered for the console and `btw status`, and raised as
    /// the `job.refused` event (its alert, and the `on job.refused` recipes).
    fn job_refused(self: &Arc<Self>, name: &str, reason: &str) {
        let at = crate::store::now_rfc3339();
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            refused.push_back(Refused {
                file: name.to_string(),
                reason: reason.to_string(),
                at: at.clone(),
            });
            while refused.len() > REFUSED_KEPT {
                refused.pop_front();
            }
        }
        self.publish_problems();
        if self.alerts {
            crate::alerts::job_refused(&self.store, name, reason, &at);
        }
        self.fire_job_refused(name, reason);
    }

    /// Settles a job file again once [`STILL_WRITING`] has passed.
    fn look_again(self: &Arc<Self>, path: &Path, now: DateTime<Utc>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return; // No runtime (a test of the parts): the folder's next full read does it.
        };
        let (daemon, path) = (self.clone(), path.to_path_buf());
        let later = now + chrono::Duration::from_std(STILL_WRITING).unwrap_or_default();
        handle.spawn(async move {
            tokio::time::sleep(STILL_WRITING).await;
            let _ = tokio::task::spawn_blocking(move || {
                let read = Read::of(&path, crate::engine::limits::MAX_JSON_BYTES);
                daemon.inbox_settled(&path, read, later)
            })
            .await;
        });
    }

    /// Moves a job file to `inbox/<folder>/<name>` with a note beside it (`.error.txt` in
    /// `failed/`, `.run.txt` in `done/`); whether it was still there to move.
    pub(super) fn file_job(&self, from: &Path, folder: &str, name: &str, note: &str) -> bool {
        if std::fs::symlink_metadata(from).is_err() {
            // Taken meanwhile by another look at the same file (it moved to running/): no note.
            tracing::debug!("inbox/{name}: already taken");
            return false;
        }
        let target = self.dir.join("inbox").join(folder);
        let suffix = if folder == "failed" { "error" } else { "run" };
        let moved = std::fs::create_dir_all(&target)
            .and_then(|_| {
                std::fs::write(
                    target.join(format!("{name}.{suffix}.txt")),
                    format!("{note}\n"),
                )
            })
            .and_then(|_| std::fs::rename(from, target.join(name)));
        if let Err(e) = moved {
            tracing::error!("inbox/{name}: cannot move it to inbox/{folder}/: {e}");
        }
        true
    }

    /// A run started from the inbox ended: its job file goes to `done/` or `failed/`, with a
    /// note naming the run (and its error).
    pub(super) fn inbox_run_ended(&self, name: &str, run_id: &str, error: Option<String>) {
        let held = running_path(&self.dir, run_id);
        if std::fs::symlink_metadata(&held).is_err() {
            return;
        }
        let report = format!("report: runs/{run_id}.json");
        let (folder, note) = match error {
            None => ("done", format!("run {run_id}: ok\n{report}")),
            Some(e) => ("failed", format!("run {run_id} failed: {e}\n{report}")),
        };
        self.file_job(&held, folder, name, &note);
    }

    /// Starts or schedules the job a file describes; what happened, or why it was refused.
    fn take_job(
        self: &Arc<Self>,
        path: &Path,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Taken, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(job) = v else {
            return Err(
                "a job is a JSON object: {\"recipe\": …, \"params\": {…}, \"at\": …}".into(),
            );
        };
        if let Some(k) = job.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key {k:?}: a job has only \"recipe\", \"params\" and \"at\""
            ));
        }
        let recipe = job
            .get("recipe")
            .and_then(Value::as_str)
            .ok_or("no \"recipe\"")?;
        let params = match job.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("\"params\" must be an object".into()),
        };
        crate::engine::limits::check_params(&params, &self.base.limits)?;
        let recipe_path = schedule::resolve_within(recipe, &self.dir).map_err(|e| e.to_string())?;
        let at = match job.get("at") {
            None | Some(Value::Null) => return self.start_job(path, recipe_path, params),
            Some(Value::String(at)) => at,
            Some(_) => return Err("\"at\" must be a time, like \"2026-12-01 10:00\"".into()),
        };
        let parsed = crate::time::parse(at)?;
        if let Some(w) = &parsed.warning {
            tracing::warn!("inbox/{}: {w}", file_name(path));
        }
        let when = parsed.at;
        if when < now {
            return Err(format!(
                "\"at\": {} is in the past (now {})",
                schedule::clock::fmt_local(when, schedule::LONDON),
                schedule::clock::fmt_local(now, schedule::LONDON)
            ));
        }
        // A watched recipe is pinned at the version that loaded (the file may be a broken edit).
        let source = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&recipe_path)
            .map(|l| l.source.clone());
        let job = schedule::add_at(
            &self.store,
            when,
            &recipe_path,
            Value::Object(params),
            &JobOptions {
                source,
                ..Default::default()
            },
            now,
        )
        .map_err(|e| e.to_string())?;
        Ok(Taken::Settled(format!(
            "scheduled as job {} for {}",
            job.id,
            crate::time::rfc3339(when)
        )))
    }

    /// Records the run (so a crash resumes it rather than losing it), moves the file to
    /// `inbox/running/`, and queues the run.
    fn start_job(
        self: &Arc<Self>,
        path: &Path,
        recipe: PathBuf,
        params: Map<String, Value>,
    ) -> Result<Taken, String> {
        let run_id = crate::runner::new_run_id();
        let origin = format!("inbox:{}", file_name(path));
        self.store
            .daemon_run_queued(
                &run_id,
                &recipe.display().to_string(),
                &Value::Object(params.clone()),
                &origin,
                &self.owner,
            )
            .map_err(|e| e.to_string())?;
        let held = running_path(&self.dir, &run_id);
        if let Err(e) = held
            .parent()
            .map(std::fs::create_dir_all)
            .unwrap_or(Ok(()))
            .and_then(|_| std::fs::rename(path, &held))
        {
            // Not taken after all: the run must not happen either.
            let _ = self.store.daemon_run_finished(&run_id, false);
            return Err(format!("cannot move it to inbox/running/: {e}"));
        }
        self.launch(recipe, params, origin, Some(run_id.clone()), false);
        Ok(Taken::Started(run_id))
    }
}

/// Job files waiting in the inbox (not yet taken) and runs of inbox jobs under way.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub(super) struct Backlog {
    pub waiting: u64,
    pub running: u64,
}

fn json_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
                .count() as u64
        })
        .unwrap_or(0)
}

/// Whether `name` is a bare file name: nothing that leads out of `inbox/failed/`.
fn bare_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 256
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
}

impl Daemon {
    /// The inbox's backlog, counted from the folder.
    pub(super) fn inbox_backlog(&self) -> Backlog {
        let inbox = self.dir.join("inbox");
        Backlog {
            waiting: json_files(&inbox),
            running: json_files(&inbox.join("running")),
        }
    }

    /// A refused job, fixed in `inbox/failed/`, goes back into the inbox to be read again (its
    /// `.error.txt` note goes); refused again if it is still wrong.
    pub(super) fn retry_refused(&self, name: &str) -> Result<(), String> {
        if !bare_name(name) {
            return Err(format!("{name:?} is not a job file's name"));
        }
        let inbox = self.dir.join("inbox");
        let from = inbox.join("failed").join(name);
        let to = inbox.join(name);
        if std::fs::symlink_metadata(&from).is_err() {
            return Err(format!("there is no inbox/failed/{name}"));
        }
        if std::fs::symlink_metadata(&to).is_ok() {
            return Err(format!(
                "inbox/{name} exists already: move or remove it first"
            ));
        }
        std::fs::rename(&from, &to)
            .map_err(|e| format!("cannot move inbox/failed/{name} back: {e}"))?;
        let _ = std::fs::remove_file(inbox.join("failed").join(format!("{name}.error.txt")));
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| r.file != name);
        self.publish_problems();
        tracing::info!("inbox/{name}: moved back from inbox/failed/ to be read again");
        Ok(())
    }
}
