//! Alert triggers: recipes headed `on run.failed`, `on job.missed` or `on job.refused` run when
//! a daemon run fails, a scheduled job is missed or an inbox job is refused, through the daemon's normal run path (slots, records, reports).
//! A run an alert trigger started never fires `on run.failed` itself, so a failing alert recipe
//! cannot feed on its own failures.

use super::Daemon;
use crate::recipe::Trigger;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The origin prefix of runs an alert trigger started.
const ORIGIN: &str = "alert:";

/// Whether a run with this origin was started by an alert trigger.
pub(super) fn started_by_alert(origin: &str) -> bool {
    origin.starts_with(ORIGIN)
}

impl Daemon {
    /// A run failed: the `on run.failed` recipes run with `run_id`, `recipe`, `error`, unless
    /// the failed run was itself started by an alert trigger.
    pub(super) fn fire_run_failed(self: &Arc<Self>, origin: &str, report: &Value) {
        if started_by_alert(origin) {
            return;
        }
        let error = report["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| report["error"].to_string());
        let mut params = Map::new();
        params.insert("run_id".into(), report["run_id"].clone());
        params.insert("recipe".into(), report["recipe"].clone());
        params.insert("error".into(), json!(error));
        let failed = report["recipe"].as_str().unwrap_or_default().to_string();
        self.fire(&Trigger::RunFailed, &failed, params);
    }

    /// A scheduled job was missed: the `on job.missed` recipes run with `job_id`, `recipe`, `due`.
    pub(super) fn fire_job_missed(self: &Arc<Self>, report: &Value) {
        let mut params = Map::new();
        params.insert("job_id".into(), report["job_id"].clone());
        params.insert("recipe".into(), report["recipe"].clone());
        params.insert("due".into(), report["due_at"].clone());
        let missed = report["recipe"].as_str().unwrap_or_default().to_string();
        self.fire(&Trigger::JobMissed, &missed, params);
    }

    /// An inbox job was refused for good: the `on job.refused` recipes run with `file`, `reason`.
    pub(super) fn fire_job_refused(self: &Arc<Self>, file: &str, reason: &str) {
        let mut params = Map::new();
        params.insert("file".into(), json!(file));
        params.insert("reason".into(), json!(reason));
        self.fire(&Trigger::JobRefused, "", params);
    }

    /// Launches every loaded recipe with this trigger, but never the recipe the alert is about.
    fn fire(self: &Arc<Self>, trigger: &Trigger, about: &str, params: Map<String, Value>) {
        let matching: Vec<PathBuf> = self
            .recipes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(path, l)| l.trigger == *trigger && path.display().to_string() != about)
            .map(|(path, _)| path.clone())
            .collect();
        let origin = format!("{ORIGIN}{}", trigger.describe().trim_start_matches("on "));
        for recipe in matching {
            self.launch(recipe, params.clone(), origin.clone(), None, false);
        }
    }
}
