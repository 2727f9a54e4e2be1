//! The inbox under hostile files and bursts: only jobs naming a recipe inside the folder run,
//! everything else lands in `failed/` with its reason; runs are capped; a replaced inbox is
//! watched again; the listener's idle connections starve nothing.

use crate::common::*;
use crate::daemon_support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const JOB: &str = "//! trigger: manual\n#{n: params.n}\n";

fn folder() -> Folder {
    let f = Folder::new();
    std::fs::write(f.recipes.join("job.rhai"), JOB).unwrap();
    f
}

impl Folder {
    /// Drops a job file in the inbox as an operator's tool would (written aside, renamed in).
    fn drop_job(&self, name: &str, bytes: &[u8]) {
        let tmp = self.recipes.join("inbox").join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, self.recipes.join("inbox").join(name)).unwrap();
    }

    fn count(&self, sub: &str, suffix: &str) -> usize {
        std::fs::read_dir(self.recipes.join("inbox").join(sub))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                    .count()
            })
            .unwrap_or(0)
    }

    fn error_of(&self, name: &str) -> String {
        std::fs::read_to_string(
            self.recipes
                .join("inbox/failed")
                .join(format!("{name}.error.txt")),
        )
        .unwrap_or_else(|_| panic!("no failed/{name}.error.txt"))
    }
}

fn start(sb_url: &str, f: &Folder, extra: &[&str]) -> Serve {
    let args = f.args(extra);
    serve_listening(sb_url, &f.data, &as_strs(&args))
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[tokio::test]
async fn a_burst_of_200_jobs_with_20_hostile_leaves_180_runs_and_20_failed_with_reasons() {
    let sb = sandbox().await;
    let f = folder();
    let outside = f.recipes.parent().unwrap().join("outside.rhai");
    std::fs::write(&outside, "//! trigger: manual\n#{escaped: true}\n").unwrap();
    std::os::unix::fs::symlink(&outside, f.recipes.join("link.rhai")).unwrap();
    let d = start(&sb.base_url(), &f, &["--max-runs", "3"]);
    d.wait_log("job.rhai: loaded", 1).await;
    let mut hostile: Vec<(String, &str)> = Vec::new();
    for i in 0..180 {
        if i % 9 == 0 && hostile.len() < 20 {
            let k = hostile.len();
            let name = format!("hostile-{k:02}.json");
            let reason = match k % 7 {
                0 => {
                    f.drop_job(
                        &name,
                        json!({"recipe": "../outside.rhai"}).to_string().as_bytes(),
                    );
                    "refused"
                }
                1 => {
                    let abs = outside.display().to_string();
                    f.drop_job(&name, json!({"recipe": abs}).to_string().as_bytes());
                    "refused"
                }
                2 => {
                    f.drop_job(&name, json!({"recipe": "link.rhai"}).to_string().as_bytes());
                    "refused"
                }
                3 => {
                    mkfifo(&f.recipes.join("inbox").join(&name));
                    "not a regular file"
                }
                4 => {
                    std::fs::create_dir(f.recipes.join("inbox").join(&name)).unwrap();
                    "not a regular file"
                }
                5 => {
                    f.drop_job(
                        &name,
                        b"{\"recipe\": \"job.rhai\", \"params\": {\"n\": \"\xff\xfe\"}}",
                    );
                    "not UTF-8"
                }
                _ => {
                    let job = json!({"recipe": "job.rhai", "when": "2099-01-01 10:00"});
                    f.drop_job(&name, job.to_string().as_bytes());
                    "unknown key \"when\""
                }
            };
            hostile.push((name, reason));
        }
        let job = json!({"recipe": "job.rhai", "params": {"n": i}});
        f.drop_job(&format!("job-{i:03}.json"), job.to_string().as_bytes());
    }
    assert_eq!(hostile.len(), 20);
    wait_for("180 jobs in done/ and 20 in failed/", 120, || {
        f.count("done", ".json") == 180 && f.count("failed", ".json") == 20
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    wait_settled(&f.store, 60).await;
    for (name, reason) in &hostile {
        let why = f.error_of(name);
        assert!(why.contains(reason), "{name}: {why}");
    }
    let all = reports(&f.recipes);
    assert_eq!(all.len(), 180, "one run per good job");
    let mut ns: Vec<i64> = all
        .iter()
        .map(|r| r["result"]["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, (0..180).collect::<Vec<_>>());
    assert!(all.iter().all(|r| r["outcome"] == "ok"));
    for r in &all {
        let name = r["origin"]
            .as_str()
            .unwrap()
            .strip_prefix("inbox:")
            .unwrap();
        let note =
            std::fs::read_to_string(f.recipes.join("inbox/done").join(format!("{name}.run.txt")))
                .unwrap();
        assert!(note.contains(r["run_id"].as_str().unwrap()), "{note}");
    }
    let log = d.stop().await;
    assert!(!log.contains("escaped"), "the outside recipe never ran");
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn strict_jobs_failed_runs_and_a_replaced_inbox() {
    let sb = sandbox().await;
    let f = folder();
    std::fs::write(
        f.recipes.join("boom.rhai"),
        "//! trigger: manual\nthrow \"out of stock\";\n",
    )
    .unwrap();
    std::fs::write(f.recipes.join("notes.txt"), "secret line one\n").unwrap();
    let d = start(&sb.base_url(), &f, &["--rescan", "1"]);
    d.wait_log("boom.rhai: loaded", 1).await;
    f.drop_job(
        "past.json",
        br#"{"recipe": "job.rhai", "at": "2001-01-01 10:00"}"#,
    );
    f.drop_job("boom.json", br#"{"recipe": "boom.rhai"}"#);
    f.drop_job("notes.json", br#"{"recipe": "notes.txt"}"#);
    wait_for("three jobs in failed/", 30, || {
        f.count("failed", ".json") == 3
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(f.error_of("past.json").contains("in the past"));
    let boom = f.error_of("boom.json");
    let run: Vec<Value> = reports(&f.recipes);
    assert_eq!(run.len(), 1);
    assert!(boom.contains(run[0]["run_id"].as_str().unwrap()), "{boom}");
    assert!(boom.contains("out of stock"), "{boom}");
    assert!(f.error_of("notes.json").contains("refused"));
    assert!(!d.log().contains("secret line one"));

    // The inbox replaced under the daemon: jobs dropped in the new one still run.
    let inbox = f.recipes.join("inbox");
    std::fs::rename(&inbox, f.recipes.join("inbox.old")).unwrap();
    std::fs::create_dir(&inbox).unwrap();
    f.drop_job(
        "after.json",
        br#"{"recipe": "job.rhai", "params": {"n": 7}}"#,
    );
    wait_for("the job in the new inbox run", 30, || {
        reports(&f.recipes).iter().any(|r| r["result"]["n"] == 7)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.stop().await;
}

#[tokio::test]
async fn idle_connections_to_the_listener_starve_neither_the_inbox_nor_notifications() {
    let sb = sandbox().await;
    let f = folder();
    let d = start(&sb.base_url(), &f, &[]);
    d.wait_log("job.rhai: loaded", 1).await;
    let listener = d.listener_url().await;
    let addr = listener
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
            idle.push(s);
        }
    }
    f.drop_job(
        "during.json",
        br#"{"recipe": "job.rhai", "params": {"n": 1}}"#,
    );
    wait_for("the job run while 300 connections sit idle", 30, || {
        reports(&f.recipes).len() == 1
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    // The idle ones are closed by the header timeout; a notification then gets through.
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = post_event(
            &client,
            &listener,
            "ev-idle",
            "ORD-1",
            "orderAcknowledged",
            "acknowledged",
        )
        .await;
        if s == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no answer: {s}");
    }
    drop(idle);
    let log = d.stop().await;
    assert!(!log.contains("panicked"), "{log}");
}

/// The most runs in flight at any run's start, from the reports' start and end times (UTC RFC
/// 3339: text order is time order), with those spans.
fn most_at_once(recipes: &std::path::Path) -> (usize, Vec<(String, String)>) {
    let spans: Vec<(String, String)> = reports(recipes)
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().to_string(),
                r["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let most = spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap();
    (most, spans)
}

#[tokio::test]
async fn jobs_dropped_at_once_run_at_most_max_runs_at_a_time() {
    let sb = sandbox().await;
    let f = folder();
    // Script work (a waiting run would give its slot back).
    std::fs::write(
        f.recipes.join("wait.rhai"),
        "//! trigger: manual\nlet x = 0;\nfor i in 0..30000 { x += i; }\n#{n: params.n}\n",
    )
    .unwrap();
    let d = start(&sb.base_url(), &f, &["--max-runs", "2"]);
    d.wait_log("wait.rhai: loaded", 1).await;
    for i in 0..8 {
        let job = json!({"recipe": "wait.rhai", "params": {"n": i}});
        f.drop_job(&format!("w{i}.json"), job.to_string().as_bytes());
    }
    wait_for("8 runs", 60, || reports(&f.recipes).len() == 8)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let (most, spans) = most_at_once(&f.recipes);
    assert!(most <= 2, "{most} at once: {spans:?}");
    d.stop().await;
}

#[tokio::test]
async fn waiting_runs_hold_no_slot() {
    let sb = sandbox().await;
    let f = folder();
    std::fs::write(
        f.recipes.join("nap.rhai"),
        "//! trigger: manual\ntime::sleep(2);\n#{n: params.n}\n",
    )
    .unwrap();
    let d = start(&sb.base_url(), &f, &["--max-runs", "1"]);
    d.wait_log("nap.rhai: loaded", 1).await;
    for i in 0..6 {
        let job = json!({"recipe": "nap.rhai", "params": {"n": i}});
        f.drop_job(&format!("n{i}.json"), job.to_string().as_bytes());
    }
    wait_for("6 runs", 60, || reports(&f.recipes).len() == 6)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let (most, spans) = most_at_once(&f.recipes);
    // With one slot held through the wait they would run one after another (12 s).
    assert!(most >= 3, "only {most} at once with one slot: {spans:?}");
    d.stop().await;
}

#[tokio::test]
async fn unreadable_recipes_are_reported_broken_with_the_reason() {
    let sb = sandbox().await;
    let f = folder();
    let d = start(&sb.base_url(), &f, &[]);
    d.wait_log("job.rhai: loaded", 1).await;
    std::fs::write(
        f.recipes.join("latin1.rhai"),
        b"//! trigger: manual\n\"caf\xe9\"\n",
    )
    .unwrap();
    mkfifo(&f.recipes.join("pipe.rhai"));
    d.wait_log("latin1.rhai: broken edit", 1).await;
    d.wait_log("pipe.rhai: broken edit", 1).await;
    let log = d.log();
    assert!(log.contains("not UTF-8"), "{log}");
    assert!(log.contains("not a regular file"), "{log}");
    // The FIFO wedges nothing: a job still runs, and SIGTERM still stops the daemon.
    f.drop_job(
        "after.json",
        br#"{"recipe": "job.rhai", "params": {"n": 3}}"#,
    );
    wait_for("the job run", 30, || reports(&f.recipes).len() == 1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;
    assert!(log.contains("stopped"), "{log}");
}

/// `slow_cmd > inbox/x.json`: the shell makes the file at once and the JSON comes seconds later.
/// The job runs once its writer is done, instead of being refused as "not JSON" while empty; a
/// file that stays bad after its writer closed it is still refused.
#[tokio::test]
async fn a_job_written_by_a_slow_redirect_runs_once_its_writer_is_done() {
    let sb = sandbox().await;
    let f = folder();
    let d = start(&sb.base_url(), &f, &[]);
    d.wait_log("job.rhai: loaded", 1).await;
    let inbox = f.recipes.join("inbox");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("(sleep 4; echo '{\"recipe\": \"job.rhai\", \"params\": {\"n\": 42}}') > slow.json &")
        .current_dir(&inbox)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(inbox.join("bad.json"), "{\"recipe\": ").unwrap();
    wait_for("the slow job's run", 40, || {
        reports(&f.recipes).iter().any(|r| r["result"]["n"] == 42)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    wait_for("the bad job refused", 20, || {
        f.count("failed", ".json") == 1
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(f.error_of("bad.json").contains("not JSON"));
    assert_eq!(f.count("failed", "slow.json"), 0, "{}", d.log());
    assert_eq!(
        reports(&f.recipes)
            .iter()
            .filter(|r| r["result"]["n"] == 42)
            .count(),
        1
    );
    d.stop().await;
}
