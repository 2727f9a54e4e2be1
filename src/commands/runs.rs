//! `btw runs list|show`: the runs recorded in the store, read while the daemon runs too.

use super::{code, store_flag, usage, Outcome};
use crate::cli::{RunsArgs, RunsCommand};
use crate::config::{Overrides, Settings};
use crate::runner::exit;
use crate::store::{RunFilter, RunRecord, Store};
use serde_json::{json, Value};

pub(super) fn command(overrides: &Overrides, args: RunsArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let store =
        Store::open(&store_flag::store_path(&settings, &args.store, None)).map_err(usage)?;
    match args.command {
        RunsCommand::List {
            failed,
            recipe,
            limit,
            json,
        } => {
            let filter = RunFilter {
                recipe,
                outcome: failed.then(|| "failed".to_string()),
                limit: limit.max(1),
                ..RunFilter::default()
            };
            let runs = store.runs_list(&filter).map_err(usage)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&runs).unwrap_or_default()
                );
            } else if runs.is_empty() {
                println!("no runs");
            } else {
                println!(
                    "{:<24} {:<12} {:<20} RECIPE",
                    "RUN", "OUTCOME", "STARTED (UK)"
                );
                for r in runs {
                    println!(
                        "{:<24} {:<12} {:<20} {}",
                        r.run_id,
                        r.outcome,
                        uk(&r.started_at),
                        r.recipe
                    );
                }
            }
            Ok(code(exit::OK))
        }
        RunsCommand::Show { run_id, json } => {
            let Some(run) = store.run_get(run_id.trim()).map_err(usage)? else {
                return Err(usage(format!(
                    "no run {run_id} in the store {}",
                    store.path().display()
                )));
            };
            let steps = store.ledger_steps(&run.run_id).unwrap_or_default();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&record_json(&run, &steps)).unwrap_or_default()
                );
            } else {
                print_run(&run, &steps);
            }
            Ok(code(exit::OK))
        }
    }
}

/// An RFC 3339 instant as UK time; the text itself when it is not one.
pub(super) fn uk(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| crate::time::fmt_local(d.with_timezone(&chrono::Utc), chrono_tz::Europe::London))
        .unwrap_or_else(|_| t.to_string())
}

fn record_json(run: &RunRecord, steps: &[crate::store::LedgerEntry]) -> Value {
    let report = run.report.clone().unwrap_or(Value::Null);
    json!({
        "run_id": run.run_id,
        "recipe": run.script,
        "recipe_hash": run.script_hash,
        "profile": run.profile,
        "params": crate::runner::shown_params(run),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "result": report.get("result"),
        "error": report.get("error"),
        "steps": steps.iter().map(|s| json!({
            "step": s.step,
            "operation": s.operation,
            "state": format!("{:?}", s.state).to_lowercase(),
        })).collect::<Vec<_>>(),
    })
}

fn print_run(run: &RunRecord, steps: &[crate::store::LedgerEntry]) {
    println!("run       {}", run.run_id);
    println!("recipe    {} (version {})", run.script, run.script_hash);
    println!("outcome   {}", run.outcome);
    println!("started   {}", uk(&run.started_at));
    if let Some(f) = &run.finished_at {
        println!("finished  {}", uk(f));
    }
    println!("params    {}", crate::runner::shown_params(run));
    let report = run.report.clone().unwrap_or(Value::Null);
    if let Some(e) = report.get("error") {
        println!("error     {}", e["message"].as_str().unwrap_or("?"));
        if let Some(bt) = e.get("bt") {
            let field = |k: &str| {
                bt.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_string())
                    .unwrap_or_default()
            };
            println!(
                "BT        {} answered {} (code {}, {}); tracking id {}",
                field("operation"),
                field("status"),
                field("code"),
                field("reason"),
                field("tracking_id")
            );
        }
    }
    if let Some(r) = report.get("result") {
        println!("result    {r}");
    }
    for s in steps {
        println!("step {:>3}  {} ({:?})", s.step, s.operation, s.state);
    }
}
