//! Shared test plumbing: a sandbox on port 0, clients and run contexts pointed at it, the binary.

#![allow(dead_code)]

use btw::api::{BtClient, ClientOptions, Credentials, Secret};
use btw::config::Profile;
use btw::engine::VecOutput;
use btw::runner::{self, RunContext, RunOutcome, Script};
use btw_sandbox::{self as sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const CUG: &str = "CUG5019851064";
pub const BILLING: &str = "GB01234567";

/// A fresh in-memory sandbox on a free loopback port, with fast order progress.
pub async fn sandbox() -> SandboxHandle {
    sandbox_with(SandboxConfig {
        order_step_secs: 0.2,
        ..SandboxConfig::default()
    })
    .await
}

/// A sandbox whose porting moves along quickly: orders step every 0.2 s, the losing
/// provider decides in 0.5 s.
pub async fn port_sandbox() -> SandboxHandle {
    sandbox_with(SandboxConfig {
        order_step_secs: 0.2,
        lcp_decision_secs: 0.5,
        ..Default::default()
    })
    .await
}

pub async fn sandbox_with(config: SandboxConfig) -> SandboxHandle {
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sandbox::start(listener, config).await.unwrap();
    keep_clear_of_midnight(&handle.base_url()).await;
    handle
}

/// A sandbox whose clock stands still: only explicit advances move orders and jobs along.
pub async fn frozen_sandbox() -> SandboxHandle {
    sandbox_with(SandboxConfig {
        clock_speed: 0.0,
        ..SandboxConfig::default()
    })
    .await
}

/// Qualifications expire at 23:59 UK time on the day they are made, as at BT, so a journey
/// started in the last minutes of a day fails for real. Tests must pass whenever they run: a
/// sandbox whose clock is within `MIDNIGHT_GUARD_MINS` of midnight (London) is moved on to 09:00
/// the next day before any test uses it.
const MIDNIGHT_GUARD_MINS: i64 = 30;

async fn keep_clear_of_midnight(url: &str) {
    use chrono::{Duration as Span, TimeZone, Timelike};
    use chrono_tz::Europe::London;
    let clock: Value = reqwest::get(format!("{url}/__sandbox/clock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: chrono::DateTime<chrono::Utc> = clock["now"].as_str().unwrap().parse().unwrap();
    let local = now.with_timezone(&London);
    let mins_to_midnight = 24 * 60 - (local.hour() as i64 * 60 + local.minute() as i64);
    if mins_to_midnight > MIDNIGHT_GUARD_MINS {
        return;
    }
    let tomorrow = local.date_naive() + Span::days(1);
    let nine = London
        .from_local_datetime(&tomorrow.and_hms_opt(9, 0, 0).unwrap())
        .earliest()
        .unwrap();
    let secs = (nine.with_timezone(&chrono::Utc) - now).num_seconds() as f64;
    advance(url, secs).await;
}

pub fn client(url: &str) -> BtClient {
    client_with(url, "test-key", "test-secret")
}

pub fn client_with(url: &str, key: &str, secret: &str) -> BtClient {
    let mut opts = ClientOptions::new(
        url,
        Credentials {
            client_key: key.into(),
            client_secret: Secret::new(secret),
        },
    );
    opts.call_timeout = Duration::from_secs(10);
    BtClient::new(opts).unwrap()
}

pub fn context(client: BtClient) -> (RunContext, Arc<VecOutput>) {
    let out = Arc::new(VecOutput::default());
    let ctx = RunContext::new(client, Profile::Sandbox, out.clone())
        .with_account(CUG, BILLING)
        .with_poll_interval(Duration::from_millis(50));
    (ctx, out)
}

/// A script's parameters from name-value pairs.
pub fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Runs script text against a client; returns the outcome and every printed or logged line.
pub async fn run_text(client: BtClient, src: &str) -> (RunOutcome, Vec<String>) {
    run_text_with(client, src, Map::new()).await
}

pub async fn run_text_with(
    client: BtClient,
    src: &str,
    params: Map<String, Value>,
) -> (RunOutcome, Vec<String>) {
    let (ctx, out) = context(client);
    let mut script = Script::inline("test.rhai", src);
    script.dir = Some(repo().join("scripts"));
    let outcome = runner::run(ctx, script, params).await;
    (outcome, out.take())
}

/// Runs recipe `name` with no params; its result and every line it printed. A failed run
/// panics, showing the failure and the lines.
pub async fn completed_recipe(
    ctx: RunContext,
    out: &VecOutput,
    name: &str,
) -> (Value, Vec<String>) {
    let outcome = runner::run(ctx, recipe(name), Map::new()).await;
    let lines = out.take();
    let result = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    (result, lines)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn recipe(name: &str) -> Script {
    Script::from_file(&repo().join("scripts").join(name)).unwrap()
}

/// The sandbox's journal (requests and created resources).
pub async fn journal(url: &str) -> Value {
    reqwest::get(format!("{url}/__sandbox/journal"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Ids of orders the sandbox created, per its journal.
pub async fn orders_created(url: &str) -> Vec<String> {
    journal(url).await["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "order")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The `btw` binary with its environment pointed at `url` and a private data folder.
/// A loopback URL nothing listens on: a port the system gave out, then released.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

pub fn btw(url: &str, data_dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_btw"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data_dir)
        .env("BTW_BASE_URL", url)
        .env("BTW_DATA_DIR", data_dir)
        .envs(std::env::var("BTW_LOG").ok().map(|v| ("BTW_LOG", v)))
        .current_dir(repo())
        .kill_on_drop(true);
    cmd
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn output(cmd: &mut tokio::process::Command) -> Output {
    let o = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("btw did not finish in 60 s")
        .unwrap();
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A callback listener on loopback with an in-memory store, registered with the sandbox at `url`.
pub async fn notifications(url: &str) -> (btw::store::EventHub, btw::callbacks::CallbackListener) {
    let hub = btw::store::EventHub::new(btw::store::Store::in_memory());
    let config = btw::callbacks::CallbackConfig::for_sandbox();
    let (user, pass) = (config.username.clone(), config.password.clone());
    let listener = btw::callbacks::start(config, hub.clone()).await.unwrap();
    client(url)
        .sandbox_register_callback(&listener.url(), &user, pass.expose())
        .await
        .unwrap();
    (hub, listener)
}

/// Moves the sandbox clock forward.
pub async fn advance(url: &str, secs: f64) {
    let r = reqwest::Client::new()
        .post(format!("{url}/__sandbox/clock"))
        .json(&serde_json::json!({"advance_secs": secs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// With `BTW_LOG` set (as CI does, at `trace`), tests log like the binary, so a secret that
/// reached a log line would show in the output CI checks.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("BTW_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
