//! One store: `btw run` schedules into the store `btw serve` (no flags) reads, and the port is
//! activated on its date exactly once, on the scheduling run's own sandbox clock (which the
//! daemon moves to the port date at once) — also when an operator moved the shared clock past
//! the port date meanwhile, and across daemon restarts.

use crate::common::*;
use crate::daemon_support::*;
use btw::jobs::JobState;
use btw::store::Store;
use serde_json::Value;
use std::path::Path;

/// `btw run scripts/whc_port_scheduled.rhai` with `data` as the data folder: the activation
/// job's id and the port date.
async fn port_scheduled(url: &str, data: &Path) -> (String, String) {
    let o = output(btw(url, data).args(["run", "scripts/whc_port_scheduled.rhai", "--json"])).await;
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let result: Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    (
        result["activation_job"].as_str().unwrap().to_string(),
        result["port_date"].as_str().unwrap().to_string(),
    )
}

/// The activation runs' reports.
fn activations(data: &Path) -> Vec<Value> {
    reports(&data.join("recipes"))
        .into_iter()
        .filter(|r| {
            r["recipe"]
                .as_str()
                .unwrap_or("")
                .ends_with("whc_port_activate.rhai")
        })
        .collect()
}

/// Waits for the job to end; checks it is done, with one activation that completed the port.
async fn activated_once(store: &Store, job_id: &str, data: &Path, d: &Serve) {
    wait_for("the activation job to end", 60, || {
        store
            .job_get(job_id)
            .unwrap()
            .is_some_and(|j| !j.state.is_live())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let job = store.job_get(job_id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Done, "{job:#?}\n{}", d.log());
    let runs = activations(data);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["outcome"], "ok", "{:#}", runs[0]);
    assert_eq!(runs[0]["result"]["state"], "completed");
}

#[tokio::test]
async fn btw_run_then_btw_serve_activates_the_port_once_on_its_own_clock() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (job_id, _port_date) = port_scheduled(&url, &data).await;
    let store = Store::open(&data.join("btw.db")).unwrap();
    let job = store.job_get(&job_id).unwrap().unwrap();
    assert!(
        job.clock.is_some(),
        "the job keeps its run's clock: {job:#?}"
    );
    // Nobody moves any clock: the daemon moves the job's own to the port date and fires it.
    let d = serve(&url, &data, &[]);
    activated_once(&store, &job_id, &data, &d).await;
    let drift = (sandbox_now(&url).await - chrono::Utc::now())
        .num_seconds()
        .abs();
    if drift >= 60 {
        let clocks = reqwest::get(format!("{url}/__sandbox/clocks"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!(
            "the shared clock moved by {drift} s\nclocks: {clocks}\n{}",
            d.log()
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn the_activation_is_not_missed_when_the_shared_clock_jumps_and_runs_once_across_restarts() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (job_id, port_date) = port_scheduled(&url, &data).await;
    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert!(o.stdout.contains(&job_id), "{}", o.stdout);

    // An operator moves the shared clock past the whole port date while no daemon runs: the
    // job is on its run's clock, so this is not downtime for it.
    advance_to_uk(&url, &port_date, 23).await;
    advance(&url, 2.0 * 86_400.0).await;
    let d = serve(&url, &data, &[]);
    let store = Store::open(&data.join("btw.db")).unwrap();
    activated_once(&store, &job_id, &data, &d).await;
    d.stop().await;

    // Started again: nothing runs twice.
    let d = serve(&url, &data, &[]);
    d.wait_log("scheduler started", 1).await;
    let log = d.stop().await;
    assert_eq!(activations(&data).len(), 1, "{log}");
    assert_eq!(
        store.job_get(&job_id).unwrap().unwrap().state,
        JobState::Done
    );
}

#[tokio::test]
async fn btw_run_warns_when_no_daemon_serves_its_store() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let store = root.path().join("elsewhere.db");
    let o = output(btw(&url, &data).args([
        "run",
        "scripts/whc_port_scheduled.rhai",
        "--store",
        store.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("no btw serve has run on the store")
            && o.stderr
                .contains(&format!("btw serve --store {}", store.display())),
        "{}",
        o.stderr
    );
    assert_eq!(
        Store::open(&store).unwrap().job_list(&[]).unwrap().len(),
        1,
        "the job is in the store named"
    );
}
