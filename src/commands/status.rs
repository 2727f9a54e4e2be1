//! `btw status`: which daemons serve the store (several may share one), what fires next, what
//! failed lately.

use super::{code, runs::uk, store_flag, usage, Outcome};
use crate::cli::StatusArgs;
use crate::config::{Overrides, Settings};
use crate::jobs::{Job, JobState};
use crate::runner::{exit, Failure};
use crate::store::{Heartbeat, RunFilter, RunSummary, Store};
use chrono::Utc;
use serde_json::json;

/// What the store says about the daemons and their work.
struct Status {
    /// Every daemon's last beat, most recent first.
    beats: Vec<Heartbeat>,
    next: Vec<Job>,
    missed: Vec<Job>,
    failures: Vec<RunSummary>,
    alerts: u64,
    /// Per daemon folder: what its daemon refuses (broken recipes, links leaving the folder,
    /// refused inbox jobs), as it last recorded them.
    problems: Vec<(String, Vec<serde_json::Value>)>,
}

fn read(store: &Store) -> Result<Status, Failure> {
    let mut next = store
        .job_list(&[JobState::Scheduled, JobState::Running])
        .map_err(usage)?;
    next.sort_by_key(|j| j.next_run_at);
    next.truncate(10);
    let failures = RunFilter {
        outcome: Some("failed".into()),
        limit: 10,
        ..RunFilter::default()
    };
    let beats = store.heartbeats().map_err(usage)?;
    let mut problems = Vec::new();
    for b in &beats {
        let key = crate::serve::problems_key(&b.recipes);
        if let Some(v) = store.value(&key).ok().flatten() {
            let list: Vec<serde_json::Value> = serde_json::from_str(&v).unwrap_or_default();
            if !list.is_empty() && !problems.iter().any(|(d, _)| d == &b.recipes) {
                problems.push((b.recipes.clone(), list));
            }
        }
    }
    Ok(Status {
        problems,
        beats,
        next,
        missed: store
            .job_list(&[JobState::Missed, JobState::Failed])
            .map_err(usage)?,
        failures: store.runs_list(&failures).map_err(usage)?,
        alerts: store.alerts_pending().unwrap_or(0),
    })
}

pub(super) fn command(overrides: &Overrides, args: StatusArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let store =
        Store::open(&store_flag::store_path(&settings, &args.store, None)).map_err(usage)?;
    let s = read(&store)?;
    if args.json {
        let daemons: Vec<_> = s.beats.iter().map(beat_json).collect();
        let v = json!({
            "daemon": daemons.first(),
            "daemons": daemons,
            "next_jobs": s.next,
            "missed_or_failed_jobs": s.missed,
            "recent_failures": s.failures,
            "alerts_pending": s.alerts,
            "problems": s.problems.iter().map(|(d, p)| json!({"recipes": d, "problems": p})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_text(&store, &s);
    }
    Ok(code(exit::OK))
}

fn age_secs(b: &Heartbeat) -> i64 {
    (Utc::now() - b.beat_at).num_seconds().max(0)
}

/// Whether a daemon beat recently enough to be taken as serving (as `run` and `schedule` judge it).
fn serving(age_secs: i64) -> bool {
    age_secs as u64 <= store_flag::HEARTBEAT_FRESH.as_secs()
}

/// The host a daemon runs on, from its owner name (`host:pid:random`).
fn host(b: &Heartbeat) -> &str {
    b.owner.split(':').next().unwrap_or_default()
}

fn beat_json(b: &Heartbeat) -> serde_json::Value {
    json!({
        "host": host(b),
        "pid": b.pid,
        "recipes": b.recipes,
        "beat_at": crate::time::rfc3339(b.beat_at),
        "age_secs": age_secs(b),
        "serving": serving(age_secs(b)),
    })
}

fn print_text(store: &Store, s: &Status) {
    if s.beats.is_empty() {
        println!("daemon    none has run on {}", store.path().display());
    }
    for b in &s.beats {
        let (a, host) = (age_secs(b), host(b));
        if serving(a) {
            println!(
                "daemon    serving {} (pid {} on {host}, beat {a} s ago)",
                b.recipes, b.pid
            );
        } else {
            println!(
                "daemon    silent for {a} s (last: pid {} on {host}, {})",
                b.pid, b.recipes
            );
        }
    }
    println!("\nnext jobs");
    for j in &s.next {
        let next = j
            .next_run_at
            .map(|t| crate::time::fmt_local(t, chrono_tz::Europe::London))
            .unwrap_or_default();
        println!(
            "  {:<20} {:<10} {:<22} {}",
            j.id,
            j.state.as_str(),
            next,
            j.recipe
        );
    }
    if !s.missed.is_empty() {
        println!("\nmissed or failed jobs (btw schedule retry ID)");
        for j in &s.missed {
            let last = j.last_outcome.as_deref().unwrap_or("");
            println!("  {:<20} {:<10} {last}", j.id, j.state.as_str());
        }
    }
    println!("\nrecent failures");
    for r in &s.failures {
        let started = uk(&r.started_at);
        println!(
            "  {:<24} {:<12} {started:<20} {}",
            r.run_id, r.outcome, r.recipe
        );
    }
    if s.alerts > 0 {
        println!("\nalerts waiting for the webhook: {}", s.alerts);
    }
    for (dir, problems) in &s.problems {
        println!("\nrefused in {dir}");
        for p in problems {
            let reason = p["reason"].as_str().unwrap_or_default();
            // The first line says why; the rest (a compiler's excerpt) is in the log.
            let reason = reason.lines().next().unwrap_or_default();
            println!("  {:<24} {reason}", p["file"].as_str().unwrap_or("?"));
        }
    }
}
