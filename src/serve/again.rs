//! A way back from a failed run, for the console: resumed under its own run id when its ledger
//! has completed steps (they are replayed, not sent again), else run again as a new run of the
//! same recipe version with the same parameters, both read from the store (never from a page,
//! where secrets are masked).

use super::reports::JobFixed;
use super::{Daemon, RERUN_ORIGIN as ORIGIN};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// What the console started.
pub(super) enum Again {
    /// The run continues under its own id.
    Resumed,
    /// A new run, with this id.
    Rerun(String),
}

impl Daemon {
    /// Resumes or re-runs the failed run `run_id` (see the module's doc). Store calls: call it
    /// off the async workers.
    pub(super) fn run_again(self: &Arc<Self>, run_id: &str) -> Result<Again, String> {
        let store = &self.store;
        let run = store
            .run_get(run_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no run {run_id}"))?;
        match run.outcome.as_str() {
            "running" => return Err(format!("run {run_id} is still running")),
            "ok" => return Err(format!("run {run_id} ended ok: there is nothing to repeat")),
            "missed" => {
                return Err(format!(
                    "run {run_id} is a missed job's record: retry the job on the Schedules page"
                ))
            }
            _ => {}
        }
        if run.script.starts_with("stdin:") {
            return Err(format!(
                "run {run_id} was read from standard input: resume it with btw run --resume {run_id}"
            ));
        }
        let recipe = PathBuf::from(&run.script);
        let params = match &run.params {
            Value::Object(m) => m.clone(),
            Value::Null => Default::default(),
            _ => {
                return Err(format!(
                    "run {run_id}: its recorded params are not an object"
                ))
            }
        };
        let origin = store.run_origin(run_id).map_err(|e| e.to_string())?;
        let steps = store.ledger_steps(run_id).map_err(|e| e.to_string())?;
        let replayable = steps
            .iter()
            .any(|s| s.state == crate::store::StepState::Done);
        if replayable {
            let origin = origin.unwrap_or_else(|| format!("{ORIGIN}{run_id}"));
            // Queued (a restart resumes it) and no longer ended, so the run may begin again.
            store
                .daemon_run_queued(run_id, &run.script, &run.params, &origin, &self.owner)
                .and_then(|()| store.daemon_run_finished(run_id, true))
                .map_err(|e| e.to_string())?;
            tracing::info!("run {run_id}: resumed from the console");
            self.launch(recipe, params, origin, Some(run_id.to_string()), true);
            return Ok(Again::Resumed);
        }
        let source = match store
            .recipe_version(&run.script_hash)
            .map_err(|e| e.to_string())?
        {
            Some(s) => s,
            None => {
                let now = crate::engine::limits::read_script_file(&recipe).map_err(|e| {
                    format!("the version of {} that ran is not in the store, and the file cannot be read: {e}", run.script)
                })?;
                if crate::runner::script_hash(&now) != run.script_hash {
                    return Err(format!(
                        "the version of {} that ran ({}) is no longer in the store and the file has changed: run it with btw run",
                        run.script, run.script_hash
                    ));
                }
                now
            }
        };
        let new_id = crate::runner::new_run_id();
        let origin = format!("{ORIGIN}{run_id}");
        store
            .daemon_run_queued(&new_id, &run.script, &run.params, &origin, &self.owner)
            .map_err(|e| e.to_string())?;
        tracing::info!("run {run_id}: run again from the console as run {new_id}");
        let me = self.clone();
        let id = new_id.clone();
        self.runs.spawn(move |slot| async move {
            me.run_recipe(
                &recipe,
                params,
                &origin,
                Some(id),
                false,
                JobFixed {
                    slot: Some(slot),
                    source: Some(source),
                    clock: None,
                },
            )
            .await;
        });
        Ok(Again::Rerun(new_id))
    }
}
