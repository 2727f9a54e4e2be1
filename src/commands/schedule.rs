//! `btw schedule list|add|cancel|retry|run-now|repin`: the job table from the command line, on
//! the same store the daemon uses (safe while it runs: every change is one store transaction),
//! with times judged by the daemon's clock.

use super::{code, store_flag, usage, Outcome};
use crate::cli::{AddArgs, ScheduleArgs, ScheduleCommand};
use crate::config::{Overrides, Settings};
use crate::jobs::{Again, Job, JobKind, JobState};
use crate::runner::{self, exit};
use crate::schedule::{
    add_at, add_cron, clock, drift, repin, resolve_recipe, CronSchedule, JobOptions,
};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Runs `btw schedule …`.
pub(super) async fn command(overrides: &Overrides, args: ScheduleArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let path = store_flag::store_path(&settings, &args.store, Some(&args.state));
    let store = Store::open(&path).map_err(usage)?;
    let json = args.json;
    // Times are judged on the daemon's clock (listing needs none).
    let now = match &args.command {
        ScheduleCommand::List { .. } => Utc::now(),
        _ => store_flag::clock_now(&settings).await,
    };
    let job = match args.command {
        ScheduleCommand::List { all } => return list(&store, all, json),
        ScheduleCommand::Add(add) => return add_job(&settings, &store, add, json, now),
        ScheduleCommand::Cancel { id } => store.job_cancel(id.trim(), now),
        ScheduleCommand::Retry { id, repin: again } => {
            if again {
                repin(&store, id.trim(), now).map_err(usage)?;
            }
            store.job_again(id.trim(), Again::Retry, now)
        }
        ScheduleCommand::RunNow { id } => store.job_again(id.trim(), Again::RunNow, now),
        ScheduleCommand::Repin { id } => return repinned(&store, id.trim(), json, now),
    }
    .map_err(|e| usage(e.detail))?;
    if json {
        print_json(&job_json(&store, &job));
    } else {
        println!(
            "{} {}: {}",
            job.id,
            job.state.as_str(),
            match job.state {
                JobState::Scheduled => format!("due {} (btw serve runs it)", local(&job)),
                _ => job.last_outcome.clone().unwrap_or_default(),
            }
        );
        if job.state == JobState::Scheduled {
            store_flag::warn_if_unserved(&settings, &store);
        }
    }
    Ok(code(exit::OK))
}

fn repinned(store: &Store, id: &str, json: bool, now: DateTime<Utc>) -> Outcome {
    let job = repin(store, id, now).map_err(usage)?;
    if json {
        print_json(&job_json(store, &job));
    } else {
        println!(
            "{} now runs the current version of {} ({})",
            job.id,
            job.recipe,
            job.recipe_hash.as_deref().unwrap_or("?")
        );
    }
    Ok(code(exit::OK))
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// A job for `--json`: its fields with secrets hidden, and whether its recipe changed since.
fn job_json(store: &Store, job: &Job) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("params".into(), runner::shown_job_params(store, job));
        m.insert(
            "recipe_drift".into(),
            drift(store, job).map_or(Value::Null, |d| Value::String(d.into())),
        );
    }
    v
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

/// Parameters as `key=value, …` (strings unquoted, secrets hidden).
fn params_text(store: &Store, job: &Job) -> String {
    match runner::shown_job_params(store, job) {
        Value::Object(m) if m.is_empty() => "-".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn list(store: &Store, all: bool, json: bool) -> Outcome {
    let states: &[JobState] = if all {
        &[]
    } else {
        &[JobState::Scheduled, JobState::Running, JobState::Missed]
    };
    let jobs = store.job_list(states).map_err(usage)?;
    if json {
        let out: Vec<Value> = jobs.iter().map(|j| job_json(store, j)).collect();
        print_json(&out);
        return Ok(code(exit::OK));
    }
    if jobs.is_empty() {
        println!(
            "no {}jobs (add one with: btw schedule add --at \"2026-12-01 10:00\" RECIPE)",
            if all { "" } else { "scheduled " }
        );
        return Ok(code(exit::OK));
    }
    let mut rows = vec![[
        "ID".to_string(),
        "STATE".into(),
        "NEXT / DUE".into(),
        "SCHEDULE".into(),
        "PARAMS".into(),
        "RECIPE".into(),
    ]];
    let mut notes = Vec::new();
    for j in &jobs {
        let state = match j.state {
            JobState::Missed => "MISSED".to_string(),
            s => s.as_str().to_string(),
        };
        let recipe = match drift(store, j) {
            Some(d) => format!("{} [{d} since scheduled]", j.recipe),
            None => j.recipe.clone(),
        };
        rows.push([
            j.id.clone(),
            state,
            local(j),
            describe(j),
            params_text(store, j),
            recipe,
        ]);
        notes.push(
            j.last_outcome
                .clone()
                .filter(|_| all || j.kind == JobKind::Cron || j.state == JobState::Missed),
        );
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
        if let Some(Some(o)) = i.checked_sub(1).and_then(|k| notes.get(k)) {
            println!("{:<w$}  last: {o}", "", w = widths[0]);
        }
    }
    if jobs.iter().any(|j| j.state == JobState::Missed) {
        println!("missed jobs: btw schedule retry ID (within its window from now) or run-now ID");
    }
    Ok(code(exit::OK))
}

fn add_job(
    settings: &Settings,
    store: &Store,
    add: AddArgs,
    json: bool,
    now: DateTime<Utc>,
) -> Outcome {
    let tz = clock::parse_tz(&add.tz).map_err(usage)?;
    let recipe = resolve_recipe(&add.recipe.to_string_lossy(), None).map_err(usage)?;
    // Typed by the recipe's declaration when it has one (text, not guessed JSON).
    let typed = std::fs::read_to_string(&recipe)
        .ok()
        .and_then(|s| crate::recipe::parse_header(&s).ok())
        .is_some_and(|h| h.params.typed().is_some());
    let params = runner::parse_params(&add.params, typed).map_err(usage)?;
    let opts = JobOptions {
        id: None,
        tz: Some(tz.name().to_string()),
        catch_up_secs: add.catch_up,
        ..Default::default()
    };
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
    store_flag::warn_if_unserved(settings, store);
    if json {
        print_json(&job_json(store, &job));
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
