//! One store: `btw run` schedules into the store `btw serve` (no flags) reads, and the port is
//! activated on its date exactly once — with the daemon up all along, and with it down from
//! 09:00 to 14:00 of the port date (past the daemon-wide one-hour catch-up).

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
async fn btw_run_then_btw_serve_activates_the_port_once_on_its_date() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (job_id, port_date) = port_scheduled(&url, &data).await;
    let d = serve(&url, &data, &[]);
    d.wait_log("scheduler started", 1).await;
    let store = Store::open(&data.join("btw.db")).unwrap();
    assert!(activations(&data).is_empty());
    advance_to_uk(&url, &port_date, 10).await;
    activated_once(&store, &job_id, &data, &d).await;
    d.stop().await;
}

#[tokio::test]
async fn btw_run_then_btw_serve_activates_the_port_once_after_downtime_past_ten() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (job_id, port_date) = port_scheduled(&url, &data).await;
    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert!(o.stdout.contains(&job_id), "{}", o.stdout);

    // Up until 09:00 on the port date, then down until 14:00.
    let d = serve(&url, &data, &[]);
    d.wait_log("scheduler started", 1).await;
    advance_to_uk(&url, &port_date, 9).await;
    d.stop().await;
    advance_to_uk(&url, &port_date, 14).await;
    let d = serve(&url, &data, &[]);
    let store = Store::open(&data.join("btw.db")).unwrap();
    activated_once(&store, &job_id, &data, &d).await;
    d.stop().await;

    // Started again on the same day: nothing runs twice.
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
