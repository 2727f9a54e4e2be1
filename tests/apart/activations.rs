//! 200 scheduled port activations due at the same moment, each waiting for its order to
//! complete: all are done within 2× one activation's time alone (the daemon's waits hold no run
//! slot). The CI size: 200 jobs whose orders complete ~16 s after submission (a real activation
//! waits up to an hour, so the 200 runs' script work — ~6 s in a debug build on 2 cores — counts
//! far less than here).
//!
//! The target is about waiting, not CPU: each backend's form is a test binary of its own
//! (`tests/activations_on_sqlite.rs`, `tests/activations_on_postgres.rs`), which cargo runs one
//! after another and apart from the main suite, so neither measures the machine's other work.

use crate::daemon_support::*;
use serde_json::json;

/// 200 scheduled jobs due at one moment, each activating (here: submitting) an order and
/// waiting for it to complete: all done within 2× one alone. `store`: a PostgreSQL URL, or
/// none for SQLite.
pub async fn activations_at_once(store: Option<&str>) {
    use btw::jobs::{JobKind, NewJob};
    let sb = four_second_sandbox(8.0).await;
    let url = sb.base_url();
    let f = Folder::new();
    let recipe = f.recipes.join("activate.rhai");
    std::fs::write(&recipe, waiting_journey()).unwrap();
    let store_arg = store
        .map(str::to_string)
        .unwrap_or_else(|| f.store.display().to_string());
    let args = [
        "--recipes",
        f.recipes.to_str().unwrap(),
        "--store",
        &store_arg,
    ];
    let d = serve_listening(&url, &f.data, &args);
    d.wait_log("activate.rhai: loaded", 1).await;
    let s = btw::store::Store::open(std::path::Path::new(&store_arg)).unwrap();
    // One alone first: the time an activation takes when nothing else runs.
    let due = sandbox_now(&url).await;
    let job = |i: usize, due| NewJob {
        id: Some(format!("activate-{i:03}")),
        kind: JobKind::At,
        at: Some(due),
        cron: None,
        tz: "Europe/London".into(),
        recipe: recipe.display().to_string(),
        params: json!({ "n": i }),
        next_run_at: due,
        catch_up_secs: None,
        recipe_hash: None,
        owner_recipe: None,
        clock: None,
    };
    s.job_add(&job(999, due), chrono::Utc::now()).unwrap();
    wait_for("the lone activation", 60, || reports(&f.recipes).len() == 1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let lone = &reports(&f.recipes)[0];
    assert_eq!(lone["outcome"], "ok", "{lone}");
    let alone = millis(lone["finished_at"].as_str().unwrap())
        - millis(lone["started_at"].as_str().unwrap());
    let due = sandbox_now(&url).await + chrono::Duration::seconds(3);
    let wall_due = chrono::Utc::now().timestamp_millis() + 3000;
    for i in 0..200 {
        s.job_add(&job(i, due), chrono::Utc::now()).unwrap();
    }
    wait_for("200 activations", 120, || reports(&f.recipes).len() == 201)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let all = reports(&f.recipes);
    assert!(all.iter().all(|r| r["outcome"] == "ok"), "{}", d.log());
    let last = all
        .iter()
        .map(|r| millis(r["finished_at"].as_str().unwrap()))
        .max()
        .unwrap();
    let span = last - wall_due;
    let first_start = all
        .iter()
        .map(|r| millis(r["started_at"].as_str().unwrap()))
        .filter(|t| *t >= wall_due - 1000)
        .min()
        .unwrap();
    let last_start = all
        .iter()
        .map(|r| millis(r["started_at"].as_str().unwrap()))
        .max()
        .unwrap();
    eprintln!(
        "starts from {} ms to {} ms after due",
        first_start - wall_due,
        last_start - wall_due
    );
    eprintln!(
        "200 activations ({}): one alone {alone} ms; all 200 done {span} ms after they were due",
        if store.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    assert!(
        span <= 2 * alone,
        "200 activations took {span} ms, one alone {alone} ms"
    );
    let log = d.stop().await;
    assert_eq!(
        log.matches("running scheduled job").count(),
        201,
        "each once"
    );
    assert!(!log.contains("panicked"), "{log}");
}
