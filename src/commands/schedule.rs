//! `btw schedule list|add|cancel`: the job table from the command line, on the same store the
//! daemon uses (safe while it runs: every change is one store transaction).

use super::{code, usage, Outcome};
use crate::cli::{AddArgs, ScheduleArgs, ScheduleCommand};
use crate::config::{Overrides, Settings};
use crate::runner::{self, exit};
use crate::schedule::{
    add_at, add_cron, clock, resolve_recipe, CronSchedule, Job, JobKind, JobOptions, JobState,
};
use crate::store::Store;
use chrono::Utc;
use serde_json::{Map, Value};

/// Runs `btw schedule …`.
pub(super) fn command(overrides: &Overrides, args: ScheduleArgs) -> Outcome {
    let path = match &args.state {
        Some(p) => p.clone(),
        None => Settings::load(overrides)
            .map_err(|e| usage(e.0))?
            .data_dir
            .join("btw.db"),
    };
    let store = Store::open(&path).map_err(usage)?;
    match args.command {
        ScheduleCommand::List { all } => list(&store, all, args.json),
        ScheduleCommand::Add(add) => add_job(&store, add, args.json),
        ScheduleCommand::Cancel { id } => {
            let job = store
                .job_cancel(id.trim(), Utc::now())
                .map_err(|e| usage(e.detail))?;
            if args.json {
                print_json(&job);
            } else {
                println!("cancelled {}", job.id);
            }
            Ok(code(exit::OK))
        }
    }
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// When and how a job fires, for the table: `at` or the cron expression with its zone.
fn describe(job: &Job) -> String {
    match job.kind {
        JobKind::At => "once".to_string(),
        JobKind::Cron => format!(
            "cron \"{}\"{}",
            job.cron.as_deref().unwrap_or("?"),
            if job.tz == clock::LONDON.name() {
                String::new()
            } else {
                format!(" {}", job.tz)
            }
        ),
    }
}

fn local(job: &Job) -> String {
    let tz = clock::parse_tz(&job.tz).unwrap_or(clock::LONDON);
    job.next_run_at
        .map(|t| clock::fmt_local(t, tz))
        .unwrap_or_else(|| "-".into())
}

fn list(store: &Store, all: bool, json: bool) -> Outcome {
    let states: &[JobState] = if all {
        &[]
    } else {
        &[JobState::Scheduled, JobState::Running]
    };
    let jobs = store.job_list(states).map_err(usage)?;
    if json {
        print_json(&jobs);
        return Ok(code(exit::OK));
    }
    if jobs.is_empty() {
        println!(
            "no {}jobs (add one with: btw schedule add --at \"2026-12-01 10:00\" RECIPE)",
            if all { "" } else { "scheduled " }
        );
        return Ok(code(exit::OK));
    }
    println!(
        "{:<16} {:<10} {:<22} {:<24} RECIPE",
        "ID", "STATE", "NEXT / DUE", "SCHEDULE"
    );
    for j in &jobs {
        println!(
            "{:<16} {:<10} {:<22} {:<24} {}",
            j.id,
            j.state.as_str(),
            local(j),
            describe(j),
            j.recipe
        );
        if let Some(o) = j
            .last_outcome
            .as_deref()
            .filter(|_| all || j.kind == JobKind::Cron)
        {
            println!("{:<16} last: {o}", "");
        }
    }
    Ok(code(exit::OK))
}

fn add_job(store: &Store, add: AddArgs, json: bool) -> Outcome {
    let mut params = Map::new();
    for p in &add.params {
        let (k, v) = runner::parse_param(p).map_err(usage)?;
        params.insert(k, v);
    }
    let tz = clock::parse_tz(&add.tz).map_err(usage)?;
    let recipe = resolve_recipe(&add.recipe.to_string_lossy(), None).map_err(usage)?;
    let opts = JobOptions {
        id: None,
        tz: Some(tz.name().to_string()),
        catch_up_secs: add.catch_up,
    };
    let now = Utc::now();
    let added = match (&add.at, &add.cron) {
        (Some(when), _) => {
            let parsed = crate::time::parse_in(when, tz).map_err(usage)?;
            if let Some(w) = &parsed.warning {
                eprintln!("warning: --at {w}");
            }
            let t = parsed.at;
            if t < now {
                return Err(usage(format!(
                    "--at {when}: {} is in the past (now {})",
                    clock::fmt_local(t, tz),
                    clock::fmt_local(now, tz)
                )));
            }
            add_at(store, t, &recipe, Value::Object(params), &opts, now)
        }
        (None, Some(expr)) => add_cron(store, expr, &recipe, Value::Object(params), &opts, now),
        (None, None) => return Err(usage("give --at WHEN or --cron EXPR")),
    };
    let job = added.map_err(usage)?;
    if json {
        print_json(&job);
        return Ok(code(exit::OK));
    }
    println!("scheduled {}: {} {}", job.id, job.recipe, describe(&job));
    match (&job.cron, job.next_run_at) {
        (Some(expr), Some(first)) => {
            let upcoming = CronSchedule::parse(expr, &job.tz)
                .map(|s| {
                    let mut v = vec![first];
                    v.extend(s.upcoming(first, 2));
                    v
                })
                .unwrap_or_else(|_| vec![first]);
            for t in upcoming {
                println!(
                    "  next: {} ({})",
                    clock::fmt_local(t, tz),
                    clock::fmt_utc(t)
                );
            }
        }
        (_, Some(t)) => println!("  at: {} ({})", clock::fmt_local(t, tz), clock::fmt_utc(t)),
        _ => {}
    }
    Ok(code(exit::OK))
}
