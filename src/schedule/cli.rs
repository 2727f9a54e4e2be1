//! `btw schedule list|add|cancel`: the job table from the command line, on the same store the
//! daemon uses (safe while it runs: every change is one store transaction).

use super::{
    add_at, add_cron, clock, resolve_recipe, CronSchedule, Job, JobKind, JobOptions, JobState,
};
use crate::config::{Overrides, Settings};
use crate::runner::{self, exit};
use crate::store::Store;
use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The store file (default: btw.db in btw's data folder), as given to `btw serve --state`.
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Print JSON instead of a table or a sentence.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List jobs still to run (scheduled or running), soonest first; times shown in UK time.
    List {
        /// Also jobs that have ended: done, missed, cancelled, failed.
        #[arg(long)]
        all: bool,
    },
    /// Schedule a recipe: once (--at) or on a cron expression (--cron), in UK time by default.
    ///
    /// Examples: btw schedule add --at "2026-12-01 10:00" scripts/port_activate.rhai --param port_id=PO123
    ///           btw schedule add --cron "0 10 * * 1-5" scripts/daily_report.rhai
    Add(AddArgs),
    /// Cancel a job so it never fires again (a run in progress finishes).
    Cancel {
        /// The job id, as `btw schedule list` shows it.
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// When to run once: RFC 3339 (2026-12-01T10:00:00Z) or local time ("2026-12-01 10:00").
    /// A local time in the spring-forward gap runs when the gap ends; in the repeated autumn
    /// hour, at its first occurrence.
    #[arg(
        long,
        value_name = "WHEN",
        conflicts_with = "cron",
        required_unless_present = "cron"
    )]
    pub at: Option<String>,
    /// A cron expression (minute hour day month weekday), e.g. "0 10 * * 1-5": 10:00 local time
    /// on weekdays, all year.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The recipe script to run (stored as an absolute path; it must exist now).
    #[arg(value_name = "RECIPE")]
    pub recipe: PathBuf,
    /// A parameter for the recipe, key=value (as for `btw run`). Repeatable.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// The time zone for --at local times and --cron.
    #[arg(long, value_name = "ZONE", default_value = "Europe/London")]
    pub tz: String,
    /// Run it anyway if the daemon reaches it this many seconds late (after downtime);
    /// later than that it is marked missed. Default: the daemon's window (1 hour).
    #[arg(long, value_name = "SECS")]
    pub catch_up: Option<u64>,
}

fn usage(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    exit::USAGE
}

/// Runs `btw schedule …`; returns the exit code.
pub fn command(overrides: &Overrides, args: ScheduleArgs) -> i32 {
    let path = match &args.state {
        Some(p) => p.clone(),
        None => match Settings::load(overrides) {
            Ok(s) => s.data_dir.join("btw.db"),
            Err(e) => return usage(e.0),
        },
    };
    let store = match Store::open(&path) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    match args.command {
        ScheduleCommand::List { all } => list(&store, all, args.json),
        ScheduleCommand::Add(add) => add_job(&store, add, args.json),
        ScheduleCommand::Cancel { id } => match store.job_cancel(id.trim(), Utc::now()) {
            Ok(job) => {
                if args.json {
                    print_json(&job);
                } else {
                    println!("cancelled {}", job.id);
                }
                exit::OK
            }
            Err(e) => usage(e.detail),
        },
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

fn list(store: &Store, all: bool, json: bool) -> i32 {
    let states: &[JobState] = if all {
        &[]
    } else {
        &[JobState::Scheduled, JobState::Running]
    };
    let jobs = match store.job_list(states) {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    if json {
        print_json(&jobs);
        return exit::OK;
    }
    if jobs.is_empty() {
        println!(
            "no {}jobs (add one with: btw schedule add --at \"2026-12-01 10:00\" RECIPE)",
            if all { "" } else { "scheduled " }
        );
        return exit::OK;
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
    exit::OK
}

fn add_job(store: &Store, add: AddArgs, json: bool) -> i32 {
    let mut params = Map::new();
    for p in &add.params {
        match runner::parse_param(p) {
            Ok((k, v)) => {
                params.insert(k, v);
            }
            Err(e) => return usage(e),
        }
    }
    let tz = match clock::parse_tz(&add.tz) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let recipe = match resolve_recipe(&add.recipe.to_string_lossy(), None) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let opts = JobOptions {
        id: None,
        tz: Some(tz.name().to_string()),
        catch_up_secs: add.catch_up,
    };
    let now = Utc::now();
    let added = match (&add.at, &add.cron) {
        (Some(when), _) => {
            let t = match clock::parse_when(when, tz) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            if t < now {
                return usage(format!(
                    "--at {when}: {} is in the past (now {})",
                    clock::fmt_local(t, tz),
                    clock::fmt_local(now, tz)
                ));
            }
            add_at(store, t, &recipe, Value::Object(params), &opts, now)
        }
        (None, Some(expr)) => add_cron(store, expr, &recipe, Value::Object(params), &opts, now),
        (None, None) => return usage("give --at WHEN or --cron EXPR"),
    };
    let job = match added {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    if json {
        print_json(&job);
        return exit::OK;
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
    exit::OK
}
