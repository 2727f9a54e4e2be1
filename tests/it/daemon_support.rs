//! What the daemon tests share: `btw serve` started as an operator would (real binary, real
//! folder, real store), its log, its reports, and the sandbox's clock.

use crate::common::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A daemon's folders under one temporary root: its data folder, its recipes (with an empty
/// inbox) and its store.
pub struct Folder {
    _root: tempfile::TempDir,
    pub data: PathBuf,
    pub recipes: PathBuf,
    pub store: PathBuf,
}

impl Folder {
    pub fn new() -> Folder {
        let root = tempfile::tempdir().unwrap();
        let recipes = root.path().join("recipes");
        std::fs::create_dir_all(recipes.join("inbox")).unwrap();
        Folder {
            data: root.path().join("data"),
            store: root.path().join("btw.db"),
            recipes,
            _root: root,
        }
    }

    /// `serve`'s flags naming this folder's recipes and store, then `extra`.
    pub fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--recipes".to_string(),
            self.recipes.display().to_string(),
            "--store".to_string(),
            self.store.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }
}

/// Borrows owned arguments as [`serve`] takes them.
pub fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

pub struct Serve {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

/// Starts `btw serve ARGS` with `data` as btw's data folder, its stderr in a log file there.
pub fn serve(url: &str, data: &Path, args: &[&str]) -> Serve {
    serve_env(url, data, args, &[])
}

/// The credentials the tests' notification listener takes (as BT is given at onboarding).
pub const CALLBACK_USER: &str = "bt-test";
pub const CALLBACK_PASSWORD: &str = "callback-secret-for-tests";

/// `btw serve` whose listener takes [`CALLBACK_USER`]'s notifications, so a test can post
/// them as the sandbox (or BT) would.
pub fn serve_listening(url: &str, data: &Path, args: &[&str]) -> Serve {
    serve_env(
        url,
        data,
        args,
        &[
            ("BTW_CALLBACK_USERNAME", CALLBACK_USER),
            ("BTW_CALLBACK_PASSWORD", CALLBACK_PASSWORD),
        ],
    )
}

/// Starts `btw serve ARGS` with extra environment variables.
pub fn serve_env(url: &str, data: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
    std::fs::create_dir_all(data).unwrap();
    let n = std::fs::read_dir(data).map(|d| d.count()).unwrap_or(0);
    let log = data.join(format!("serve-{n}-{}.log", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = btw(url, data);
    cmd.envs(env.iter().copied())
        .arg("serve")
        .args(["--debounce-ms", "150"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(file);
    Serve {
        child: cmd.spawn().unwrap(),
        log,
    }
}

impl Serve {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_log(&self, needle: &str, count: usize) {
        let log = self.log.clone();
        wait_for(&format!("{count}× {needle:?} in the log"), 30, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches(needle)
                .count()
                >= count
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
    }

    /// The URL its listener takes notifications on (from its log).
    pub async fn listener_url(&self) -> String {
        self.wait_log("notifications on ", 1).await;
        let log = self.log();
        let at = log.find("notifications on ").unwrap() + "notifications on ".len();
        log[at..]
            .split(|c: char| c.is_whitespace() || c == ')')
            .next()
            .unwrap()
            .to_string()
    }

    /// The URL its console serves on (from its log; started with `--http`).
    pub async fn console_url(&self) -> String {
        self.wait_log("console on http://", 1).await;
        let log = self.log();
        let at = log.find("console on ").unwrap() + "console on ".len();
        log[at..].split_whitespace().next().unwrap().to_string()
    }

    /// Its `/metrics` text.
    pub async fn metrics(&self) -> String {
        let base = self.console_url().await;
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL: no shutdown, nothing flushed; waits until it is gone.
    pub async fn kill9(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        self.log()
    }

    /// SIGTERM, then wait for it to stop; its log.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        self.log()
    }
}

/// Polls `cond` until it holds or `secs` pass.
pub async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("waited {secs} s for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The reports in `recipes/runs`, oldest first.
pub fn reports(recipes: &Path) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(recipes.join("runs"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a: &Value, b: &Value| a["started_at"].as_str().cmp(&b["started_at"].as_str()));
    out
}

pub async fn sandbox_now(url: &str) -> DateTime<Utc> {
    let v: Value = reqwest::get(format!("{url}/__sandbox/clock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["now"].as_str().unwrap().parse().unwrap()
}

/// Moves the sandbox clock to `local` (UK time) on `date` (YYYY-MM-DD).
pub async fn advance_to_uk(url: &str, date: &str, hh: u32) {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let t = chrono_tz::Europe::London
        .from_local_datetime(&day.and_hms_opt(hh, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let secs = (t - sandbox_now(url).await).num_milliseconds() as f64 / 1000.0;
    assert!(secs > 0.0, "the sandbox is already past {date} {hh}:00");
    advance(url, secs).await;
}

/// Posts an order notification to a listener as BT would: the status it answered (0: no answer).
pub async fn post_event(
    client: &reqwest::Client,
    listener: &str,
    event_id: &str,
    order_id: &str,
    event_type: &str,
    state: &str,
) -> u16 {
    let body = serde_json::json!({
        "eventId": event_id,
        "eventTime": chrono::Utc::now().to_rfc3339(),
        "eventType": event_type,
        "event": {"productOrder": {"id": order_id, "state": state}},
    });
    match client
        .post(listener)
        .basic_auth(CALLBACK_USER, Some(CALLBACK_PASSWORD))
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// The resident memory of a process, in KB (Linux).
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until every stored event is dispatched and every daemon run has finished.
pub async fn wait_settled(store: &Path, secs: u64) {
    let store = btw::store::Store::open(store).unwrap();
    wait_for(
        "every event dispatched and every run finished",
        secs,
        || {
            store.undispatched(1).unwrap().is_empty()
                && store.daemon_unfinished().unwrap().is_empty()
        },
    )
    .await
    .unwrap();
}

/// The journey the capacity soaks run: `scripts/bench_provide.rhai` (9 BT calls), then a wait
/// for the order to complete.
pub fn waiting_journey() -> String {
    let text = include_str!("../../scripts/bench_provide.rhai");
    assert!(text.contains("#{order_id: o.id,"));
    text.replace(
        "#{order_id: o.id,",
        "order::wait(o.id, \"completed\", 120);\n#{order_id: o.id, n: params.n,",
    )
    .replace("//! trigger: manual", "//! trigger: manual\n//! param n: integer? — the job's number\n//! param dropped_ms: integer? — when the job was dropped")
}

/// A sandbox whose orders complete about two `step_secs` after they are submitted.
pub async fn four_second_sandbox(step_secs: f64) -> btw_sandbox::SandboxHandle {
    sandbox_with(btw_sandbox::SandboxConfig {
        order_step_secs: step_secs,
        ..Default::default()
    })
    .await
}

pub fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}
