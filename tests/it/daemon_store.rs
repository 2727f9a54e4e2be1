//! One store: `btw run` schedules into the store `btw serve` (no flags) reads, and the port is
//! activated on its date exactly once — also when the daemon was down from 09:00 to 14:00.

use crate::common::*;
use crate::daemon_support::*;
use btw::store::{JobState, Store};
use serde_json::Value;

#[tokio::test]
async fn btw_run_then_btw_serve_activates_the_port_once_after_downtime_past_ten() {
    let sb = sandbox_with(btw::sandbox::SandboxConfig {
        order_step_secs: 0.2,
        lcp_decision_secs: 0.5,
        ..Default::default()
    })
    .await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let o =
        output(btw(&url, &data).args(["run", "scripts/whc_port_scheduled.rhai", "--json"])).await;
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let result: Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    let job_id = result["activation_job"].as_str().unwrap().to_string();
    let port_date = result["port_date"].as_str().unwrap().to_string();
    assert!(
        o.stderr.contains("no btw serve has run on the store") && o.stderr.contains("btw serve"),
        "the operator is told no daemon serves the store: {}",
        o.stderr
    );

    // The daemon is down from before 09:00 until 14:00 on the port date.
    advance_to_uk(&url, &port_date, 14).await;
    let d = serve(&url, &data, &[]);
    let store = Store::open(&data.join("btw.db")).unwrap();
    wait_for("the activation job to end", 60, || {
        store
            .job_get(&job_id)
            .unwrap()
            .is_some_and(|j| !j.state.is_live())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let job = store.job_get(&job_id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Done, "{job:#?}\n{}", d.log());
    let recipes = data.join("recipes");
    let activations = |recipes: &std::path::Path| {
        reports(recipes)
            .into_iter()
            .filter(|r| {
                r["recipe"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("whc_port_activate.rhai")
            })
            .collect::<Vec<_>>()
    };
    let runs = activations(&recipes);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["outcome"], "ok", "{:#}", runs[0]);
    assert_eq!(runs[0]["result"]["state"], "completed");
    d.stop().await;

    // Started again on the same day: nothing runs twice.
    let d = serve(&url, &data, &[]);
    d.wait_log("scheduler started", 1).await;
    let log = d.stop().await;
    assert_eq!(activations(&recipes).len(), 1, "{log}");
    assert_eq!(
        store.job_get(&job_id).unwrap().unwrap().state,
        JobState::Done
    );
}
