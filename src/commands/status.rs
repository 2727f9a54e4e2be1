//! `btw status`: is a daemon serving the store, what fires next, what failed lately.

use super::{code, runs::uk, store_flag, usage, Outcome};
use crate::cli::StatusArgs;
use crate::config::{Overrides, Settings};
use crate::runner::{exit, Failure};
use crate::store::{Heartbeat, Job, JobState, RunFilter, RunSummary, Store};
use chrono::Utc;
use serde_json::json;

/// What the store says about the daemon and its work.
struct Status {
    beat: Option<Heartbeat>,
    next: Vec<Job>,
    missed: Vec<Job>,
    failures: Vec<RunSummary>,
    alerts: u64,
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
    Ok(Status {
        beat: store.last_heartbeat().map_err(usage)?,
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
    let age = s
        .beat
        .as_ref()
        .map(|b| (Utc::now() - b.beat_at).num_seconds().max(0));
    if args.json {
        let v = json!({
            "daemon": s.beat.as_ref().map(|b| json!({"pid": b.pid, "recipes": b.recipes, "beat_at": crate::time::rfc3339(b.beat_at), "age_secs": age})),
            "next_jobs": s.next,
            "missed_or_failed_jobs": s.missed,
            "recent_failures": s.failures,
            "alerts_pending": s.alerts,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_text(&store, &s, age);
    }
    Ok(code(exit::OK))
}

fn print_text(store: &Store, s: &Status, age: Option<i64>) {
    match (&s.beat, age) {
        (Some(b), Some(a)) if a <= 120 => println!(
            "daemon    serving {} (pid {}, beat {a} s ago)",
            b.recipes, b.pid
        ),
        (Some(b), Some(a)) => println!(
            "daemon    silent for {a} s (last: pid {}, {})",
            b.pid, b.recipes
        ),
        _ => println!("daemon    none has run on {}", store.path().display()),
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
}
