//! Alert triggers (`on run.failed`, `on job.missed`) through the real daemon: the alert recipe
//! gets what failed or was missed, a failing alert recipe never alerts about itself, and a
//! missed job posts one signed webhook.

use crate::common::*;
use crate::console::{alerts_config, receiver, verify, FAILING_RECIPE};
use crate::daemon_support::*;
use chrono::Duration as Span;
use serde_json::Value;

/// Fails on purpose: with two of them, a loop (one alerting about the other) would show as
/// more alert runs.
const ALERT_ON_FAILURE: &str = "//! name: page someone\n//! trigger: on run.failed\nthrow `alert for ${params.run_id} of ${params.recipe}: ${params.error}`;\n";
const ALERT_ON_MISS: &str = "//! name: missed\n//! trigger: on job.missed\n#{job: params.job_id, recipe: params.recipe, due: params.due}\n";
const PROBE: &str = "//! trigger: on-drop\n#{probe: true}\n";

fn alert_runs(recipes: &std::path::Path, origin: &str) -> Vec<Value> {
    reports(recipes)
        .into_iter()
        .filter(|r| r["origin"] == origin)
        .collect()
}

#[tokio::test]
async fn a_failed_run_runs_the_on_run_failed_recipe_once_and_a_failing_alert_never_alerts_about_itself(
) {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("alert.rhai"), ALERT_ON_FAILURE).unwrap();
    std::fs::write(recipes.join("alert2.rhai"), ALERT_ON_FAILURE).unwrap();
    let d = serve(&url, &data, &[]);
    d.wait_log("alert.rhai: loaded", 1).await;
    d.wait_log("alert2.rhai: loaded", 1).await;
    std::fs::write(recipes.join("fail.rhai"), FAILING_RECIPE).unwrap();
    wait_for("the alert runs", 30, || {
        alert_runs(&recipes, "alert:run.failed").len() >= 2
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    // A later run's report: by then an alert about the alert would have started too.
    std::fs::write(recipes.join("probe.rhai"), PROBE).unwrap();
    wait_for("the probe", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["result"]["probe"] == true)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;

    let failed = reports(&recipes)
        .into_iter()
        .find(|r| r["outcome"] == "bt")
        .unwrap_or_else(|| panic!("{log}"));
    let alerts = alert_runs(&recipes, "alert:run.failed");
    // Only the count on failure: a loop makes thousands of reports.
    assert_eq!(alerts.len(), 2, "alert runs");
    for name in ["alert.rhai", "alert2.rhai"] {
        let alert = alerts
            .iter()
            .find(|a| a["recipe"].as_str().unwrap().ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name}: {alerts:?}"));
        assert_ne!(alert["outcome"], "ok", "{alert}");
        assert_eq!(alert["params"]["run_id"], failed["run_id"], "{alert}");
        assert!(
            alert["params"]["recipe"]
                .as_str()
                .unwrap()
                .ends_with("fail.rhai"),
            "{alert}"
        );
        assert!(
            !alert["params"]["error"].as_str().unwrap().is_empty(),
            "{alert}"
        );
    }
}

#[tokio::test]
async fn a_missed_job_runs_the_on_job_missed_recipe_and_posts_one_signed_webhook() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("missed.rhai"), ALERT_ON_MISS).unwrap();
    let job_recipe = root.path().join("job.rhai");
    std::fs::write(&job_recipe, "#{ran: true}\n").unwrap();
    let when = (sandbox_now(&url).await + Span::seconds(60)).to_rfc3339();
    let o = output(
        btw(&url, &data)
            .args(["schedule", "add", "--json", "--at", &when])
            .args(["--catch-up", "10", job_recipe.to_str().unwrap()]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let job: Value = serde_json::from_str(&o.stdout).unwrap();
    advance(&url, 3600.0).await;

    let hook = closed_port_url();
    let (got, server) = receiver(hook.trim_start_matches("http://")).await;
    let config = alerts_config(root.path(), &hook, "");
    let config = config.display().to_string();
    let env = [
        ("BTW_CONFIG", config.as_str()),
        ("BTW_ALERT_SECRET", SECRET),
    ];
    let d = serve_env(&url, &data, &[], &env);
    wait_for("the alert run and the webhook", 60, || {
        !alert_runs(&recipes, "alert:job.missed").is_empty() && !got.lock().unwrap().is_empty()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.wait_log(") delivered", 1).await;
    let log = d.stop().await;
    assert!(!log.contains(SECRET), "{log}");

    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let (headers, body) = &received[0];
    assert!(verify(SECRET, headers, body), "{headers:?} {body}");
    let alert: Value = serde_json::from_str(body).unwrap();
    assert_eq!(alert["type"], "job.missed", "{alert}");
    assert_eq!(alert["data"]["job_id"], job["id"], "{alert}");

    let runs = alert_runs(&recipes, "alert:job.missed");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["outcome"], "ok", "{}", runs[0]);
    assert_eq!(runs[0]["result"]["job"], job["id"], "{}", runs[0]);
    assert!(
        runs[0]["result"]["recipe"]
            .as_str()
            .unwrap()
            .ends_with("job.rhai"),
        "{}",
        runs[0]
    );
    assert!(runs[0]["result"]["due"].is_string(), "{}", runs[0]);
    server.abort();
}
