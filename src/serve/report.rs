//! Run reports: one JSON file per run in `DIR/runs/`, written atomically, and the output sink
//! that both echoes a recipe's lines to the daemon's log and keeps them for the report.

use crate::engine::{LogLevel, Output};
use crate::runner::RunOutcome;
use crate::store::Store;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Echoes a run's lines to stderr, prefixed with the recipe, and keeps them for its report.
pub struct RunLog {
    prefix: String,
    lines: Mutex<Vec<String>>,
}

impl RunLog {
    pub fn new(prefix: &str) -> Self {
        RunLog {
            prefix: prefix.to_string(),
            lines: Mutex::new(Vec::new()),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn keep(&self, line: String) {
        let _ = writeln!(std::io::stderr().lock(), "[{}] {line}", self.prefix);
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        // A chatty recipe must not grow the daemon without bound.
        if lines.len() < 10_000 {
            lines.push(line);
        }
    }
}

impl Output for RunLog {
    fn print(&self, line: &str) {
        self.keep(line.to_string());
    }
    fn log(&self, level: LogLevel, msg: &str) {
        self.keep(format!("[{}] {msg}", level.label()));
    }
}

/// The report of one run: recipe, params, start, end, outcome, result or error with its
/// location, and the BT calls the run made (from its ledger).
pub fn build(
    outcome: &RunOutcome,
    recipe: &str,
    origin: &str,
    params: &Value,
    started_at: &str,
    store: &Store,
    output: Vec<String>,
) -> Value {
    let calls: Vec<Value> = store
        .ledger_steps(&outcome.run_id)
        .unwrap_or_default()
        .into_iter()
        .map(|s| json!({"step": s.step, "operation": s.operation, "state": format!("{:?}", s.state).to_lowercase()}))
        .collect();
    let mut report = json!({
        "run_id": outcome.run_id,
        "recipe": recipe,
        "origin": origin,
        "params": params,
        "started_at": started_at,
        "finished_at": crate::store::now_rfc3339(),
        "elapsed_ms": outcome.elapsed.as_millis() as u64,
        "http_calls": outcome.api_calls,
        "api_calls": calls,
        "output": output,
    });
    match &outcome.result {
        Ok(v) => {
            report["outcome"] = json!("ok");
            report["result"] = v.clone();
        }
        Err(f) => {
            report["outcome"] = json!(f.kind());
            report["error"] = f.to_json();
        }
    }
    report
}

/// Writes `DIR/runs/<run_id>.json` through a temporary file and a rename, so a reader never
/// sees half a report.
pub fn write(dir: &Path, report: &Value) -> std::io::Result<()> {
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs)?;
    let id = report["run_id"].as_str().unwrap_or("unknown");
    let tmp = runs.join(format!(".{id}.json.tmp"));
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, runs.join(format!("{id}.json")))
}
