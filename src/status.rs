//! The state of everything at a glance, read once: `btw status` prints it and the console's
//! front page shows it, so the two never disagree. Daemons on the store with their heartbeat
//! age, runs counted by how they ended (last hour, last day), runs in flight, jobs next due,
//! missed and failed, recent failures, the alert queue, and what each daemon's folder refuses.

use crate::jobs::{Job, JobState};
use crate::store::{
    AlertQueueState, Heartbeat, OutcomeCount, RunFilter, RunSummary, Store, StoreError,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// A daemon without a beat for this long is taken as not serving (it beats every 10 s).
pub const SERVING_WITHIN: Duration = Duration::from_secs(120);

/// The store key under which a daemon serving `dir` keeps what it refuses (broken recipes,
/// refused links, refused inbox jobs), so `btw status` shows what the console shows.
pub fn problems_key(dir: &str) -> String {
    format!("folder_problems:{dir}")
}

/// A daemon seen on the store.
#[derive(Clone, Debug, Serialize)]
pub struct DaemonState {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub recipes: String,
    pub beat_at: String,
    pub age_secs: i64,
    pub serving: bool,
}

impl DaemonState {
    fn of(b: &Heartbeat, now: DateTime<Utc>) -> Self {
        let age = (now - b.beat_at).num_seconds().max(0);
        DaemonState {
            owner: b.owner.clone(),
            host: b.owner.split(':').next().unwrap_or_default().to_string(),
            pid: b.pid,
            recipes: b.recipes.clone(),
            beat_at: crate::time::rfc3339(b.beat_at),
            age_secs: age,
            serving: age as u64 <= SERVING_WITHIN.as_secs(),
        }
    }
}

/// Finished runs by how they ended. A `bt` failure is split by BT's answer: a 5xx or 429 is
/// BT unavailable (worth trying again), anything else BT refusing the request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClassCounts {
    pub ok: u64,
    pub bt_refused: u64,
    pub bt_unavailable: u64,
    pub script: u64,
    pub limit: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    pub missed: u64,
}

/// The classes in the order pages show them: the key, its label and the runs list's outcome
/// filter that lists them.
pub const CLASSES: [(&str, &str, &str); 8] = [
    ("ok", "ok", "ok"),
    ("bt_refused", "BT refused", "bt_refused"),
    ("bt_unavailable", "BT unavailable", "bt_unavailable"),
    ("script", "script error", "script"),
    ("limit", "limit", "limit"),
    ("timed_out", "timed out", "timed_out"),
    ("cancelled", "cancelled", "cancelled"),
    ("missed", "missed", "missed"),
];

impl ClassCounts {
    fn add(&mut self, c: &OutcomeCount) {
        let slot = match c.outcome.as_str() {
            "ok" => &mut self.ok,
            "bt" if c.bt_status.is_some_and(|s| s >= 500 || s == 429) => &mut self.bt_unavailable,
            "bt" => &mut self.bt_refused,
            "unreachable" => &mut self.bt_unavailable,
            "limit" if c.timed_out => &mut self.timed_out,
            "limit" => &mut self.limit,
            "cancelled" => &mut self.cancelled,
            "missed" => &mut self.missed,
            // compile, usage, refused, internal: the recipe's or the operator's to fix.
            _ => &mut self.script,
        };
        *slot += c.runs;
    }

    /// Runs that did not end ok.
    pub fn failed(&self) -> u64 {
        self.bt_refused
            + self.bt_unavailable
            + self.script
            + self.limit
            + self.timed_out
            + self.cancelled
            + self.missed
    }

    /// A class's count by its key in [`CLASSES`].
    pub fn get(&self, key: &str) -> u64 {
        match key {
            "ok" => self.ok,
            "bt_refused" => self.bt_refused,
            "bt_unavailable" => self.bt_unavailable,
            "script" => self.script,
            "limit" => self.limit,
            "timed_out" => self.timed_out,
            "cancelled" => self.cancelled,
            "missed" => self.missed,
            _ => 0,
        }
    }
}

/// What one daemon's folder refuses, as that daemon last recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct FolderProblems {
    pub recipes: String,
    /// `{file, kind: "recipe" | "job", reason, at?}`.
    pub problems: Vec<Value>,
}

impl FolderProblems {
    fn count(&self, kind: &str) -> usize {
        self.problems.iter().filter(|p| p["kind"] == kind).count()
    }
}

/// Everything at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// Every daemon's last beat, most recent first.
    pub daemons: Vec<DaemonState>,
    pub last_hour: ClassCounts,
    pub last_day: ClassCounts,
    /// Runs holding a live lease: doing work now, in any process on the store.
    pub in_flight: u64,
    /// Jobs scheduled or running, soonest first (at most 10).
    pub next_jobs: Vec<Job>,
    pub missed_or_failed_jobs: Vec<Job>,
    /// The latest failed runs (at most 10).
    pub recent_failures: Vec<RunSummary>,
    pub alerts: AlertQueueState,
    pub problems: Vec<FolderProblems>,
}

impl Overview {
    pub fn broken_recipes(&self) -> usize {
        self.problems.iter().map(|p| p.count("recipe")).sum()
    }

    pub fn refused_jobs(&self) -> usize {
        self.problems.iter().map(|p| p.count("job")).sum()
    }

    /// How long the oldest undelivered alert that has failed at least once has waited.
    pub fn alerts_failing_for(&self, now: DateTime<Utc>) -> Option<Duration> {
        age(self.alerts.failing_since.as_deref()?, now)
    }
}

/// How long ago an RFC 3339 instant was.
pub fn age(rfc3339: &str, now: DateTime<Utc>) -> Option<Duration> {
    let t = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    (now - t.with_timezone(&Utc)).to_std().ok()
}

/// Reads the overview from the store at `now`.
pub fn read(store: &Store, now: DateTime<Utc>) -> Result<Overview, StoreError> {
    let stamp = |d: chrono::Duration| crate::time::rfc3339_millis(now - d);
    let mut last_hour = ClassCounts::default();
    let mut last_day = ClassCounts::default();
    for c in store.run_counts(
        &stamp(chrono::Duration::hours(1)),
        &stamp(chrono::Duration::days(1)),
    )? {
        last_day.add(&c);
        if c.last_hour {
            last_hour.add(&c);
        }
    }
    let mut next_jobs = store.job_list(&[JobState::Scheduled, JobState::Running])?;
    next_jobs.sort_by_key(|j| j.next_run_at);
    next_jobs.truncate(10);
    let beats = store.heartbeats()?;
    let mut problems: Vec<FolderProblems> = Vec::new();
    for b in &beats {
        if problems.iter().any(|p| p.recipes == b.recipes) {
            continue;
        }
        if let Some(v) = store.value(&problems_key(&b.recipes))? {
            let list: Vec<Value> = serde_json::from_str(&v).unwrap_or_default();
            if !list.is_empty() {
                problems.push(FolderProblems {
                    recipes: b.recipes.clone(),
                    problems: list,
                });
            }
        }
    }
    Ok(Overview {
        daemons: beats.iter().map(|b| DaemonState::of(b, now)).collect(),
        last_hour,
        last_day,
        in_flight: store.runs_in_flight(&crate::time::rfc3339_millis(now))?,
        next_jobs,
        missed_or_failed_jobs: store.job_list(&[JobState::Missed, JobState::Failed])?,
        recent_failures: store.runs_list(&RunFilter {
            outcome: Some("failed".into()),
            limit: 10,
            ..RunFilter::default()
        })?,
        alerts: store.alert_queue_state()?,
        problems,
    })
}

/// A failed run's error in one line: BT's status, code and reason when BT answered, else the
/// message's first line.
pub fn error_line(error: &Value) -> String {
    let bt = &error["bt"];
    let line = if bt.is_object() {
        let mut parts = Vec::new();
        if let Some(s) = bt["status"].as_u64() {
            parts.push(format!("HTTP {s}"));
        }
        match &bt["code"] {
            Value::String(c) if !c.is_empty() => parts.push(c.clone()),
            Value::Number(n) => parts.push(n.to_string()),
            _ => {}
        }
        let reason = bt["reason"]
            .as_str()
            .or(error["message"].as_str())
            .unwrap_or("");
        let head = parts.join(" ");
        match (head.is_empty(), reason.lines().next().unwrap_or("")) {
            (true, r) => r.to_string(),
            (false, "") => head,
            (false, r) => format!("{head}: {r}"),
        }
    } else {
        error["message"]
            .as_str()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    let mut line = line.trim().to_string();
    if line.chars().count() > 160 {
        line = line.chars().take(159).collect::<String>() + "…";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bt_failures_split_by_answer_and_errors_fit_one_line() {
        let mut c = ClassCounts::default();
        for (outcome, status, timed_out) in [
            ("bt", Some(404), false),
            ("bt", Some(503), false),
            ("bt", Some(429), false),
            ("unreachable", None, false),
            ("limit", None, true),
            ("compile", None, false),
        ] {
            c.add(&OutcomeCount {
                outcome: outcome.into(),
                last_hour: true,
                bt_status: status,
                timed_out,
                runs: 1,
            });
        }
        assert_eq!(
            (c.bt_refused, c.bt_unavailable, c.timed_out, c.script),
            (1, 3, 1, 1)
        );
        assert_eq!(c.failed(), 6);
        let bt = json!({"message": "long", "bt": {"status": 404, "code": "NOT_FOUND", "reason": "no such quote\nmore"}});
        assert_eq!(error_line(&bt), "HTTP 404 NOT_FOUND: no such quote");
        assert_eq!(error_line(&json!({"message": "boom\nat x"})), "boom");
        assert_eq!(error_line(&json!({})), "");
    }
}
