//! `btw serve` on a real temporary folder: the real binary, real file watching, a sandbox on
//! loopback.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Daemon {
    child: tokio::process::Child,
    recipes: PathBuf,
    log: PathBuf,
}

fn start(url: &str, root: &Path, extra: &[&str]) -> Daemon {
    let recipes = root.join("recipes");
    std::fs::create_dir_all(recipes.join("inbox")).unwrap();
    let log = root.join(format!("serve-{}.log", uuid_like()));
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = btw(url, &root.join("data"));
    cmd.args(["serve", "--recipes"])
        .arg(&recipes)
        .args(["--store"])
        .arg(root.join("data/btw.db"))
        .args(["--debounce-ms", "150"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(file);
    Daemon {
        child: cmd.spawn().unwrap(),
        recipes,
        log,
    }
}

fn uuid_like() -> String {
    format!("{:?}", Instant::now())
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>()
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "waited for {count}× {needle:?} in:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn reports(&self) -> Vec<Value> {
        let mut out: Vec<Value> = std::fs::read_dir(self.recipes.join("runs"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .filter_map(|e| {
                        serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a: &Value, b: &Value| a["started_at"].as_str().cmp(&b["started_at"].as_str()));
        out
    }

    async fn wait_reports(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.reports();
            if r.len() >= n {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} reports, have {}:\n{}",
                r.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes through a temporary file and a rename, as editors save.
    fn save(&self, name: &str, text: &str) {
        let tmp = self.recipes.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.recipes.join(name)).unwrap();
    }

    async fn stop(mut self) -> String {
        // SIGTERM: a graceful stop.
        let pid = self.child.id().unwrap() as i32;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        self.log()
    }
}

const HELLO: &str = "//! name: hello\n//! trigger: on-drop\nprint(\"hello v1\");\n#{version: 1, reseller: whc::reseller().reseller_id}\n";

#[tokio::test]
async fn on_drop_runs_once_per_content_and_half_written_files_never_run() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let d = start(&sb.base_url(), root.path(), &[]);
    d.wait_log("serving", 1).await;

    d.save("hello.rhai", HELLO);
    let r = d.wait_reports(1).await;
    assert_eq!(r[0]["outcome"], "ok");
    assert_eq!(r[0]["result"]["version"], 1);
    assert_eq!(r[0]["origin"], "on-drop");
    assert!(r[0]["api_calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["operation"] == "get reseller data"));

    // Saved again, unchanged (write-temp-then-rename): reloaded, not re-run.
    d.save("hello.rhai", HELLO);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(d.reports().len(), 1, "same content never runs twice");

    // A half-written file: written in pieces, slowly; only the complete version runs.
    let v2 = HELLO
        .replace("version: 1", "version: 2")
        .replace("v1", "v2");
    let path = d.recipes.join("hello.rhai");
    let cut = v2.len() / 2;
    std::fs::write(&path, &v2[..cut]).unwrap();
    for piece in v2.as_bytes()[cut..].chunks(8) {
        tokio::time::sleep(Duration::from_millis(40)).await;
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(piece).unwrap();
    }
    let r = d.wait_reports(2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r2 = d.reports();
    assert_eq!(r2.len(), 2, "exactly one run for the new content: {r:#?}");
    assert_eq!(r2[1]["result"]["version"], 2);
    let log = d.stop().await;
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_broken_edit_is_reported_and_the_previous_version_keeps_serving() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let d = start(&sb.base_url(), root.path(), &[]);
    d.wait_log("serving", 1).await;
    d.save(
        "greet.rhai",
        "//! name: greet\n//! trigger: manual\n#{greeting: `hello ${params.who}`}\n",
    );
    d.wait_log("greet.rhai: loaded", 1).await;
    d.save(
        "greet.rhai",
        "//! name: greet\n//! trigger: manual\n#{greeting: `hello ${params.who}`\n",
    );
    d.wait_log(
        "greet.rhai: broken edit; the previous version stays active",
        1,
    )
    .await;
    let log = d.log();
    assert!(
        log.contains("greet.rhai:4:1: Expecting '}'"),
        "file:line:column in the report: {log}"
    );

    // An inbox job runs the last good version, and its report lands in runs/.
    std::fs::write(
        d.recipes.join("inbox/job1.json"),
        json!({"recipe": "greet.rhai", "params": {"who": "ops"}}).to_string(),
    )
    .unwrap();
    let r = d.wait_reports(1).await;
    assert_eq!(r[0]["outcome"], "ok", "{:#}", r[0]);
    assert_eq!(r[0]["result"]["greeting"], "hello ops");
    assert_eq!(r[0]["params"]["who"], "ops");
    assert!(d.recipes.join("inbox/done/job1.json").exists());

    // A job file that is not JSON is refused with a reason, never run.
    std::fs::write(d.recipes.join("inbox/bad.json"), "{\"recipe\": ").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.recipes.join("inbox/failed/bad.json.error.txt").exists() {
        assert!(Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.reports().len(), 1);
    d.stop().await;
}

#[tokio::test]
async fn a_recipe_runs_when_an_order_completes() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let d = start(&sb.base_url(), root.path(), &[]);
    d.wait_log("notifications on", 1).await;
    d.save(
        "on_complete.rhai",
        // Typed: the trigger's keys count as declared, and the declared default is filled in.
        "//! name: tell ops\n//! param channel: [ops|sales] = ops — who to tell\n//! trigger: on order.state=completed\nprint(`order ${params.order_id} completed`);\n#{seen: params.order_id, type: params.event_type, channel: params.channel}\n",
    );
    d.wait_log("on_complete.rhai: loaded", 1).await;
    std::fs::copy(
        repo().join("scripts/whc_provide.rhai"),
        d.recipes.join("whc_provide.rhai"),
    )
    .unwrap();
    d.wait_log("whc_provide.rhai: loaded", 1).await;
    std::fs::write(
        d.recipes.join("inbox/provide.json"),
        json!({"recipe": "whc_provide.rhai"}).to_string(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reports = d.reports();
        let provide = reports
            .iter()
            .find(|r| r["recipe"].as_str().unwrap().ends_with("whc_provide.rhai"));
        let triggered = reports
            .iter()
            .find(|r| r["recipe"].as_str().unwrap().ends_with("on_complete.rhai"));
        if let (Some(p), Some(t)) = (provide, triggered) {
            assert_eq!(t["result"]["seen"], p["result"]["order_id"], "{t:#}");
            assert_eq!(t["result"]["channel"], "ops", "{t:#}");
            assert!(
                t["origin"].as_str().unwrap().starts_with("event:order"),
                "{t:#}"
            );
            // Several events carry the completed state (each line, then the order): one run.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let runs = d
                .reports()
                .iter()
                .filter(|r| r["recipe"].as_str().unwrap().ends_with("on_complete.rhai"))
                .count();
            assert_eq!(runs, 1, "{}", d.log());
            break;
        }
        assert!(Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.stop().await;
}

async fn sandbox_now(url: &str) -> chrono::DateTime<chrono::Utc> {
    let v: Value = reqwest::get(format!("{url}/__sandbox/clock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["now"].as_str().unwrap().parse().unwrap()
}

/// Schedule a job for T; kill the daemon (SIGKILL) before T; restart after T.
async fn killed_then_restarted_after(
    late_secs: f64,
    catch_up: &str,
) -> (Value, Vec<Value>, String) {
    let sb = crate::common::frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let mut d = start(&url, root.path(), &["--catch-up", catch_up]);
    d.wait_log("serving", 1).await;
    std::fs::write(
        d.recipes.join("job.rhai"),
        "//! name: scheduled\n#{reseller: whc::reseller().reseller_id}\n",
    )
    .unwrap();
    d.wait_log("job.rhai: loaded", 1).await;
    let t = sandbox_now(&url).await + chrono::Duration::seconds(60);
    let when = t.to_rfc3339();
    let o = output(
        btw(&url, &root.path().join("data"))
            .args(["schedule", "add", "--at", &when, "--store"])
            .arg(root.path().join("data/btw.db"))
            .arg(d.recipes.join("job.rhai")),
    )
    .await;
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    d.child.start_kill().unwrap(); // SIGKILL, before T
    d.child.wait().await.unwrap();
    assert!(d.reports().is_empty(), "nothing ran before T");

    advance(&url, 60.0 + late_secs).await;
    let d2 = start(&url, root.path(), &["--catch-up", catch_up]);
    d2.wait_log("serving", 1).await;
    // The job ends (run, or marked missed) once the restarted daemon reaches it.
    let db = root.path().join("data/btw.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let jobs = btw::store::Store::open(&db).unwrap().job_list(&[]).unwrap();
        if !jobs.is_empty() && jobs.iter().all(|j| !j.state.is_live()) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", d2.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let o = output(
        btw(&url, &root.path().join("data"))
            .args(["schedule", "list", "--all", "--store"])
            .arg(root.path().join("data/btw.db")),
    )
    .await;
    let runs = output(
        btw(&url, &root.path().join("data"))
            .args(["runs", "list", "--store"])
            .arg(root.path().join("data/btw.db")),
    )
    .await;
    let reports = d2.reports();
    let log = d2.stop().await;
    (
        json!({"list": o.stdout, "code": o.code, "runs": runs.stdout}),
        reports,
        log,
    )
}

#[tokio::test]
async fn a_job_missed_while_killed_runs_once_inside_the_catch_up_window() {
    let (list, reports, log) = killed_then_restarted_after(30.0, "600").await;
    assert_eq!(reports.len(), 1, "exactly one run: {reports:#?}\n{log}");
    assert_eq!(reports[0]["outcome"], "ok");
    assert!(list["list"].as_str().unwrap().contains("done"), "{list}");
}

#[tokio::test]
async fn a_job_missed_beyond_the_catch_up_window_is_marked_missed() {
    let (list, reports, log) = killed_then_restarted_after(7200.0, "600").await;
    // Not run; the miss has a report of its own, saying what to do.
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0]["outcome"], "missed", "not run: {reports:#?}");
    assert!(
        reports[0]["next"]
            .as_str()
            .unwrap()
            .contains("btw schedule retry"),
        "{reports:#?}"
    );
    assert!(
        list["list"].as_str().unwrap().contains("missed"),
        "{list}\n{log}"
    );
    // `btw runs list` shows the miss too; the lateness reads in words; one clock in the report.
    assert!(
        list["runs"].as_str().unwrap().contains("missed"),
        "{list}\n{log}"
    );
    let message = reports[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2 h") && message.contains("late"),
        "{message}"
    );
    let at = |k: &str| {
        reports[0][k]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(at("started_at") > at("due_at"), "{:#}", reports[0]);
}

#[tokio::test]
async fn a_run_cut_short_by_shutdown_is_resumed_on_restart() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let d = start(&sb.base_url(), root.path(), &["--grace", "1"]);
    d.wait_log("serving", 1).await;
    d.save(
        "slow.rhai",
        "//! name: slow\n//! trigger: on-drop\nlet q = whc::reseller();\nprint(\"nap\" + \"ping\");\ntime::sleep(4);\n#{done: true, reseller: q.reseller_id}\n",
    );
    // Stopped while the run sleeps.
    d.wait_log("napping", 1).await;
    let log = d.stop().await;
    assert!(
        log.contains("interrupted; it resumes on the next start"),
        "{log}"
    );

    let d2 = start(&sb.base_url(), root.path(), &["--grace", "1"]);
    d2.wait_log("resuming run", 1).await;
    d2.wait_log("run", 2).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done: Vec<Value> = d2
            .reports()
            .into_iter()
            .filter(|r| r["outcome"] == "ok")
            .collect();
        if let Some(r) = done.first() {
            assert_eq!(r["result"]["done"], true);
            assert_eq!(r["origin"], "on-drop");
            break;
        }
        assert!(Instant::now() < deadline, "{}", d2.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The interrupted run was resumed under its own run id (one report), and the recipe's
    // content was not run afresh on reload.
    assert_eq!(d2.reports().len(), 1, "{}", d2.log());
    let log = d2.stop().await;
    assert!(
        log.contains("slow.rhai: this content already ran; not running it again"),
        "{log}"
    );
}

#[tokio::test]
async fn an_at_header_in_the_spring_gap_is_scheduled_when_the_gap_ends_with_a_warning() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let d = start(&sb.base_url(), root.path(), &[]);
    d.wait_log("serving", 1).await;
    d.save(
        "gap.rhai",
        "//! name: gap\n//! trigger: at 2099-03-29 01:30\n1\n",
    );
    d.wait_log("gap.rhai: scheduled job", 1).await;
    let log = d.stop().await;
    assert!(
        log.contains("gap.rhai: line 2: 2099-03-29 01:30 does not exist in Europe/London"),
        "{log}"
    );
    assert!(log.contains("for 2099-03-29T01:00:00Z"), "{log}");
}

/// The daemon's log is one format: every line starts with its time and level, a failed run's
/// multi-line error included, and a recipe's `log::warn`/`log::error` come out at WARN/ERROR
/// with the recipe named; `--log-format json` gives the same events as one object a line.
#[tokio::test]
async fn every_line_of_the_log_has_its_time_and_level_and_recipe_warnings_are_warnings() {
    let sb = sandbox().await;
    for json in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let extra: &[&str] = if json { &["--log-format", "json"] } else { &[] };
        let d = start(&sb.base_url(), root.path(), extra);
        d.wait_log("serving", 1).await;
        d.save(
            "act.rhai",
            "//! name: act\n//! trigger: on-drop\nlog::warn(\"ACT-WARNS\");\nlog::error(\"ACT-ERRS\");\nlet x = 1;\nthrow \"BOOM\";\n",
        );
        d.wait_log("BOOM", 1).await;
        let log = d.stop().await;
        let stamped = |line: &str| {
            line.len() > 27
                && line.as_bytes()[4] == b'-'
                && line.contains('T')
                && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                    .iter()
                    .any(|l| line[..40.min(line.len())].contains(l))
        };
        for line in log.lines().filter(|l| !l.is_empty()) {
            if json {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(
                    v["timestamp"].is_string() && v["level"].is_string(),
                    "{line}"
                );
            } else {
                assert!(
                    stamped(line),
                    "a line without its time and level: {line:?}\n{log}"
                );
            }
        }
        let at_level = |needle: &str, level: &str| {
            log.lines().any(|l| {
                l.contains(needle)
                    && if json {
                        let v: Value = serde_json::from_str(l).unwrap();
                        v["level"] == level && v["fields"]["recipe"] == "act.rhai"
                    } else {
                        l.contains(level) && l.contains("recipe=act.rhai")
                    }
            })
        };
        assert!(at_level("ACT-WARNS", "WARN"), "{log}");
        assert!(at_level("ACT-ERRS", "ERROR"), "{log}");
    }
}
