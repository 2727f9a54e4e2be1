//! `btw status`: is a daemon serving the store, what fires next, what failed lately.

use super::{code, runs::uk, store_flag, usage, Outcome};
use crate::cli::StatusArgs;
use crate::config::{Overrides, Settings};
use crate::runner::exit;
use crate::store::{JobState, RunFilter, Store};
use chrono::Utc;
use serde_json::json;

pub(super) fn command(overrides: &Overrides, args: StatusArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let store =
        Store::open(&store_flag::store_path(&settings, &args.store, None)).map_err(usage)?;
    let beat = store.last_heartbeat().map_err(usage)?;
    let mut jobs = store
        .job_list(&[JobState::Scheduled, JobState::Running])
        .map_err(usage)?;
    jobs.sort_by_key(|j| j.next_run_at);
    jobs.truncate(10);
    let missed = store
        .job_list(&[JobState::Missed, JobState::Failed])
        .map_err(usage)?;
    let failures = store
        .runs_list(&RunFilter {
            outcome: Some("failed".into()),
            limit: 10,
            ..RunFilter::default()
        })
        .map_err(usage)?;
    let alerts = store.alerts_pending().unwrap_or(0);
    let age = beat
        .as_ref()
        .map(|b| (Utc::now() - b.beat_at).num_seconds().max(0));
    if args.json {
        let v = json!({
            "daemon": beat.as_ref().map(|b| json!({"pid": b.pid, "recipes": b.recipes, "beat_at": crate::time::rfc3339(b.beat_at), "age_secs": age})),
            "next_jobs": jobs,
            "missed_or_failed_jobs": missed,
            "recent_failures": failures,
            "alerts_pending": alerts,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(code(exit::OK));
    }
    match (&beat, age) {
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
    for j in &jobs {
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
    if !missed.is_empty() {
        println!("\nmissed or failed jobs (btw schedule retry ID)");
        for j in &missed {
            println!(
                "  {:<20} {:<10} {}",
                j.id,
                j.state.as_str(),
                j.last_outcome.as_deref().unwrap_or("")
            );
        }
    }
    println!("\nrecent failures");
    for r in &failures {
        println!(
            "  {:<24} {:<12} {:<20} {}",
            r.run_id,
            r.outcome,
            uk(&r.started_at),
            r.recipe
        );
    }
    if alerts > 0 {
        println!("\nalerts waiting for the webhook: {alerts}");
    }
    Ok(code(exit::OK))
}
