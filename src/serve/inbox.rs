//! The inbox: `DIR/inbox/*.json` jobs run now or are scheduled, then move to `inbox/done/` (or
//! `inbox/failed/`, with the reason in a `.error.txt` beside them).

use super::{file_name, Daemon};
use crate::schedule::{self, JobOptions};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

impl Daemon {
    /// An inbox job settled: run it now, or schedule it; then move the file out of the inbox.
    pub(super) fn inbox_settled(self: &Arc<Self>, path: &Path, now: DateTime<Utc>) {
        // A job too large to read fails like any bad job; one already gone is nobody's.
        let result = match crate::engine::limits::read_regular_file(
            path,
            crate::engine::limits::MAX_JSON_BYTES,
        ) {
            Err(_) if !path.exists() => return,
            Err(e) => Err(e),
            Ok(text) => self.take_job(path, &text, now),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("job.json")
            .to_string();
        let (folder, msg) = match &result {
            Ok(m) => ("done", m.clone()),
            Err(e) => ("failed", e.clone()),
        };
        let target_dir = self.dir.join("inbox").join(folder);
        let moved = std::fs::create_dir_all(&target_dir)
            .and_then(|_| std::fs::rename(path, target_dir.join(&name)));
        if result.is_err() {
            let _ = std::fs::write(
                target_dir.join(format!("{name}.error.txt")),
                format!("{msg}\n"),
            );
            tracing::error!("inbox/{name}: {msg}");
        } else {
            tracing::info!("inbox/{name}: {msg}");
        }
        if let Err(e) = moved {
            tracing::error!("inbox/{name}: cannot move it to inbox/{folder}/: {e}");
        }
    }

    /// Starts or schedules the job a file describes; what happened, or why it was refused.
    fn take_job(
        self: &Arc<Self>,
        path: &Path,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let recipe = v
            .get("recipe")
            .and_then(Value::as_str)
            .ok_or("no \"recipe\"")?;
        let params = match v.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("\"params\" must be an object".into()),
        };
        crate::engine::limits::check_params(&params, &self.base.limits)?;
        let recipe_path =
            schedule::resolve_recipe(recipe, Some(&self.dir)).map_err(|e| e.to_string())?;
        let Some(at) = v.get("at").and_then(Value::as_str) else {
            let origin = format!("inbox:{}", file_name(path));
            self.launch(recipe_path, params, origin, None, false);
            return Ok("started".into());
        };
        let parsed = crate::time::parse(at)?;
        if let Some(w) = &parsed.warning {
            tracing::warn!("inbox/{}: {w}", file_name(path));
        }
        let when = parsed.at;
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
        Ok(format!(
            "scheduled as job {} for {}",
            job.id,
            crate::time::rfc3339(when)
        ))
    }
}
