//! `btw run` registers its notification listener on the run's first mutating call or wait:
//! a read-only recipe subscribes to nothing, and a provide that waits still gets its events
//! (stored, and read back by the next open of the store).

use crate::common::{btw, output, sandbox};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn subscriptions(url: &str) -> usize {
    let v: Value = reqwest::get(format!("{url}/__sandbox/subscriptions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["subscriptions"].as_array().map_or(0, |a| a.len())
}

/// Runs `recipe` with `btw run`, watching the sandbox's subscriptions until it exits: the most
/// seen at once, and the run's output.
async fn watch_run(url: &str, recipe: &str) -> (usize, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipe.rhai");
    std::fs::write(&path, recipe).unwrap();
    let mut child = btw(url, dir.path())
        .arg("run")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    loop {
        most = most.max(subscriptions(url).await);
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "btw run did not finish in 60 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (most, child.wait_with_output().await.unwrap())
}

#[tokio::test]
async fn a_read_only_run_subscribes_to_nothing_and_a_mutating_one_before_its_first_change() {
    let sb = sandbox().await;
    let url = sb.base_url();
    // Every address search takes 1.5 s: long enough to see a subscription made before it.
    let r = reqwest::Client::new()
        .post(format!("{url}/__sandbox/faults"))
        .json(
            &json!({"method": "GET", "path_prefix": "/common/geographicAddressManagement",
                      "latency_ms": 1500}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (most, out) = watch_run(&url, "address::search(\"IP5 3RE\").len()\n").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(most, 0, "a read-only run subscribed");

    let (most, out) = watch_run(
        &url,
        "address::create(#{city: \"Ipswich\", postcode: \"IP5 3RE\", country: \"United Kingdom\"});\n\
         address::search(\"IP5 3RE\").len()\n",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        most, 1,
        "a run that changes something listens while it runs"
    );
    assert_eq!(subscriptions(&url).await, 0, "and unsubscribes at exit");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_provide_that_waits_gets_its_events() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let o = output(
        btw(&url, dir.path())
            .args(["run", "scripts/whc_provide.rhai", "--json"])
            .args(["--param", "wait_secs=60"]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let order = v["result"]["order_id"].as_str().unwrap().to_string();
    let db = dir.path().join("btw.db");
    let store = btw::store::Store::open(&db).unwrap();
    assert_eq!(
        store.order_state(&order).unwrap().as_deref(),
        Some("completed"),
        "the run's listener did not receive its order's notifications"
    );
    store.close();
    sb.shutdown().await;
}
