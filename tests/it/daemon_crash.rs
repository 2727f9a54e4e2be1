//! The daemon killed with SIGKILL at varied moments: every trigger still runs exactly once, a
//! redelivered notification fires nothing twice, and an inbox job is neither lost nor repeated.

use crate::common::*;
use crate::daemon_support::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const TRIGGER: &str = "//! name: on complete\n//! trigger: on event=orderComplete\nprint(`order ${params.order_id}`);\n#{event: params.event_id}\n";

/// How many reports each event's trigger run wrote.
fn runs_per_event(recipes: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in reports(recipes) {
        if let Some(e) = r["result"]["event"].as_str() {
            *out.entry(e.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Posts every event of `todo` not yet acknowledged, 8 at a time, until `stop_after` more are
/// acknowledged (then returns, the rest left for the next daemon).
async fn post_until(
    listener: &str,
    todo: &[String],
    acked: &Arc<Mutex<HashSet<String>>>,
    stop_after: usize,
) {
    let client = reqwest::Client::new();
    let left: Vec<String> = {
        let a = acked.lock().unwrap();
        todo.iter().filter(|e| !a.contains(*e)).cloned().collect()
    };
    let next = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(left);
    let mut posters = Vec::new();
    for _ in 0..8 {
        let (client, listener, left, next, count, acked) = (
            client.clone(),
            listener.to_string(),
            left.clone(),
            next.clone(),
            count.clone(),
            acked.clone(),
        );
        posters.push(tokio::spawn(async move {
            loop {
                if count.load(Ordering::SeqCst) >= stop_after {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(e) = left.get(i) else { return };
                let order = format!("ORD-{e}");
                if post_event(&client, &listener, e, &order, "orderComplete", "completed").await
                    == 200
                {
                    acked.lock().unwrap().insert(e.clone());
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
}

#[tokio::test]
async fn sigkill_during_a_burst_of_500_notifications_runs_every_trigger_exactly_once() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = root.path().join("recipes");
    let store = root.path().join("btw.db");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("on_complete.rhai"), TRIGGER).unwrap();
    let args = [
        "--recipes",
        recipes.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    let events: Vec<String> = (0..500).map(|i| format!("ev-{i:03}")).collect();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    // Killed after 60, 150 and 140 more acknowledgements: mid-burst, with runs queued and
    // running, and while the previous crash's runs are being resumed.
    for stop_after in [60, 150, 140] {
        let d = serve_listening(&url, &data, &args);
        d.wait_log("on_complete.rhai: loaded", 1).await;
        let listener = d.listener_url().await;
        post_until(&listener, &events, &acked, stop_after).await;
        let log = d.kill9().await;
        assert!(!log.contains("panicked"), "{log}");
    }
    // The last daemon: BT redelivers what was never acknowledged, and some that were.
    let d = serve_listening(&url, &data, &args);
    d.wait_log("on_complete.rhai: loaded", 1).await;
    let listener = d.listener_url().await;
    post_until(&listener, &events, &acked, usize::MAX).await;
    assert_eq!(acked.lock().unwrap().len(), 500);
    let client = reqwest::Client::new();
    for e in events.iter().step_by(25) {
        let order = format!("ORD-{e}");
        let status = post_event(&client, &listener, e, &order, "orderComplete", "completed").await;
        assert_eq!(status, 200, "a duplicate is answered 200");
    }
    wait_settled(&store, 120).await;
    let runs = runs_per_event(&recipes);
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "run more than once: {twice:?}");
    let missing: Vec<_> = events.iter().filter(|e| !runs.contains_key(*e)).collect();
    assert!(missing.is_empty(), "never run: {missing:?}\n{}", d.log());
    let log = d.stop().await;
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains(CALLBACK_PASSWORD),
        "the secret never reaches the log"
    );
}

/// A daemon folder whose `slow.rhai` prints "begun", then sleeps `secs`.
fn slow_folder(secs: f64) -> Folder {
    let f = Folder::new();
    let text =
        format!("//! trigger: manual\nprint(\"begun\");\ntime::sleep({secs:?});\n#{{n: 1}}\n");
    std::fs::write(f.recipes.join("slow.rhai"), text).unwrap();
    f
}

#[tokio::test]
async fn an_inbox_job_killed_mid_run_resumes_once_and_lands_in_done_with_its_run() {
    let sb = sandbox().await;
    let url = sb.base_url();
    // Long enough to be killed in the middle.
    let f = slow_folder(3.0);
    let (data, recipes, store) = (f.data.clone(), f.recipes.clone(), f.store.clone());
    let args = f.args(&[]);
    let args = as_strs(&args);
    let d = serve(&url, &data, &args);
    d.wait_log("slow.rhai: loaded", 1).await;
    std::fs::write(
        recipes.join("inbox/slow.json"),
        r#"{"recipe": "slow.rhai"}"#,
    )
    .unwrap();
    d.wait_log("begun", 1).await;
    let log = d.kill9().await;
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !recipes.join("inbox/slow.json").exists(),
        "taken: never taken again"
    );
    let d = serve(&url, &data, &args);
    wait_settled(&store, 120).await;
    wait_for("the job filed in done/", 30, || {
        recipes.join("inbox/done/slow.json").exists()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let note = std::fs::read_to_string(recipes.join("inbox/done/slow.json.run.txt")).unwrap();
    let all = reports(&recipes);
    assert_eq!(all.len(), 1, "one run, resumed: {all:#?}");
    let r: &Value = &all[0];
    assert!(note.contains(r["run_id"].as_str().unwrap()), "{note}");
    assert_eq!(r["outcome"], "ok", "{r:#}");
    assert_eq!(r["attempts"], 2, "{r:#}");
    d.stop().await;
}

#[tokio::test]
async fn a_scheduled_run_killed_mid_run_is_resumed_once_through_its_lease() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = slow_folder(2.0);
    let (data, recipes, store) = (f.data.clone(), f.recipes.clone(), f.store.clone());
    let args = f.args(&["--job-lease", "3"]);
    let args = as_strs(&args);
    let d = serve(&url, &data, &args);
    d.wait_log("slow.rhai: loaded", 1).await;
    let at = (sandbox_now(&url).await + chrono::Duration::seconds(2)).to_rfc3339();
    let job = serde_json::json!({"recipe": "slow.rhai", "at": at}).to_string();
    std::fs::write(recipes.join("inbox/later.json"), job).unwrap();
    d.wait_log("begun", 1).await;
    d.kill9().await;

    let d = serve(&url, &data, &args);
    let s = btw::store::Store::open(&store).unwrap();
    wait_for("the job done", 60, || {
        s.job_list(&[]).unwrap()[0].state == btw::jobs::JobState::Done
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let job = &s.job_list(&[]).unwrap()[0];
    assert_eq!(job.attempts, 2, "{job:?}");
    let run_id = job.last_run_id.clone().unwrap();
    let log = d.stop().await;
    assert_eq!(
        log.matches(&format!("run {run_id} started")).count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("begun").count(), 1, "resumed once: {log}");
    let all = reports(&recipes);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["run_id"], run_id.as_str());
    assert_eq!(all[0]["outcome"], "ok");
    assert_eq!(all[0]["attempts"], 2);
}
