//! `btw status`: the overview the console's front page shows (`crate::status`), as text or
//! JSON: which daemons serve the store, runs by outcome, what fires next, what failed lately.

use super::{code, runs::uk, store_flag, usage, Outcome};
use crate::cli::StatusArgs;
use crate::config::{Overrides, Settings};
use crate::runner::exit;
use crate::status::{Overview, CLASSES};
use crate::store::Store;
use chrono::Utc;
use serde_json::json;

pub(super) fn command(overrides: &Overrides, args: StatusArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let store =
        Store::open(&store_flag::store_path(&settings, &args.store, None)).map_err(usage)?;
    let s = crate::status::read(&store, Utc::now()).map_err(usage)?;
    if args.json {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        // The names earlier versions printed, kept for scripts that read them.
        v["daemon"] = json!(s.daemons.first());
        v["alerts_pending"] = json!(s.alerts.pending);
        v["broken_recipes"] = json!(s.broken_recipes());
        v["refused_jobs"] = json!(s.refused_jobs());
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_text(&store, &s);
    }
    Ok(code(exit::OK))
}

fn print_text(store: &Store, s: &Overview) {
    if s.daemons.is_empty() {
        println!("daemon    none has run on {}", store.path().display());
    }
    for b in &s.daemons {
        let (a, host) = (b.age_secs, &b.host);
        if b.serving {
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
    println!(
        "\nruns      {:<16} {:>9} {:>9}",
        "", "last hour", "last day"
    );
    for (key, label, _) in CLASSES {
        println!(
            "          {label:<16} {:>9} {:>9}",
            s.last_hour.get(key),
            s.last_day.get(key)
        );
    }
    println!("          {:<16} {:>9}", "in flight now", s.in_flight);
    println!("\nnext jobs");
    for j in &s.next_jobs {
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
    if !s.missed_or_failed_jobs.is_empty() {
        println!("\nmissed or failed jobs (btw schedule retry ID)");
        for j in &s.missed_or_failed_jobs {
            let last = j.last_outcome.as_deref().unwrap_or("");
            println!("  {:<20} {:<10} {last}", j.id, j.state.as_str());
        }
    }
    println!("\nrecent failures");
    for r in &s.recent_failures {
        let started = uk(&r.started_at);
        let error = r.error.as_ref().map(crate::status::error_line);
        println!(
            "  {:<24} {:<12} {started:<20} {} {}",
            r.run_id,
            r.outcome,
            r.recipe,
            error.unwrap_or_default()
        );
    }
    if s.alerts.pending > 0 {
        println!("\nalerts waiting for the webhook: {}", s.alerts.pending);
        if let Some(e) = &s.alerts.last_error {
            println!("  last delivery error: {e}");
        }
    }
    for f in &s.problems {
        println!("\nrefused in {}", f.recipes);
        for p in &f.problems {
            let reason = p["reason"].as_str().unwrap_or_default();
            // The first line says why; the rest (a compiler's excerpt) is in the log.
            let reason = reason.lines().next().unwrap_or_default();
            println!("  {:<24} {reason}", p["file"].as_str().unwrap_or("?"));
        }
    }
}
