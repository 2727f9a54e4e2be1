//! The shared embedded sandbox as a background service: found on its loopback port, or started
//! as a process of its own (this binary, `btw sandbox --background`) that outlives its starter,
//! keeps a lock, a pid file and a log in the data folder, and stops after an idle period.

use crate::config::Settings;
use crate::runner::Failure;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a starter waits for a background sandbox to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// A sandbox of another version is restarted only when it has been idle this long.
const RESTART_WHEN_IDLE: Duration = Duration::from_secs(10);

/// The background sandbox's files in the data folder.
pub struct Files {
    pub state: PathBuf,
    pub lock: PathBuf,
    pub pid: PathBuf,
    pub log: PathBuf,
}

impl Files {
    pub fn in_dir(data_dir: &Path) -> Files {
        Files {
            state: data_dir.join("sandbox-state.db"),
            lock: data_dir.join("sandbox.lock"),
            pid: data_dir.join("sandbox.pid"),
            log: data_dir.join("sandbox.log"),
        }
    }

    /// The state file; a state file of the old JSON form is moved here to be migrated.
    pub fn state_file(&self) -> std::io::Result<PathBuf> {
        let legacy = self.state.with_file_name("sandbox-state.json");
        if !self.state.exists() && legacy.exists() {
            std::fs::rename(&legacy, &self.state)?;
        }
        Ok(self.state.clone())
    }
}

/// What a running sandbox says about itself.
#[derive(Debug, Clone)]
pub struct Health {
    pub version: String,
    /// The build ([`btw_sandbox::build_id`]); `None` from a sandbox older than build ids.
    pub build: Option<String>,
    pub pid: Option<u64>,
    pub idle: Duration,
}

impl Health {
    /// Whether the sandbox runs this very build of btw (same version, same executable).
    pub fn is_this_build(&self) -> bool {
        self.version == btw_sandbox::VERSION
            && self.build.as_deref() == Some(btw_sandbox::build_id())
    }

    /// Its version, with its build when that is all that differs.
    pub fn described(&self) -> String {
        match &self.build {
            Some(b) if self.version == btw_sandbox::VERSION => {
                format!("{} (build {b})", self.version)
            }
            Some(_) => self.version.clone(),
            None if self.version == btw_sandbox::VERSION => {
                format!("{} (an earlier build)", self.version)
            }
            None => self.version.clone(),
        }
    }
}

/// This btw's version, with its build.
pub fn this_build() -> String {
    format!(
        "{} (build {})",
        btw_sandbox::VERSION,
        btw_sandbox::build_id()
    )
}

pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn http(timeout: Duration) -> Option<reqwest::Client> {
    reqwest::Client::builder().timeout(timeout).build().ok()
}

/// The health answer of a btw sandbox at `url`; `None` when nothing (or something else) answers.
pub async fn probe(url: &str) -> Option<Health> {
    let client = http(Duration::from_millis(800))?;
    let v: Value = client
        .get(format!("{url}/__sandbox/health"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    if v.get("service").and_then(Value::as_str) != Some("btw-sandbox") {
        return None;
    }
    Some(Health {
        version: v.get("version").and_then(Value::as_str)?.to_string(),
        build: v.get("build").and_then(Value::as_str).map(str::to_string),
        pid: v.get("pid").and_then(Value::as_u64),
        idle: Duration::from_secs(v.get("idleSecs").and_then(Value::as_u64).unwrap_or(0)),
    })
}

/// How long `stop` waits for the sandbox to save its state and exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the sandbox at `url` to stop, and waits (up to [`STOP_TIMEOUT`]) until it no longer
/// answers and its process has exited: it saves its state last, so once it is gone the state
/// file is complete.
pub async fn stop(url: &str) -> bool {
    let Some(client) = http(Duration::from_secs(2)) else {
        return false;
    };
    let pid = probe(url).await.and_then(|h| h.pid);
    if client
        .post(format!("{url}/__sandbox/shutdown"))
        .send()
        .await
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if probe(url).await.is_none() && pid.is_none_or(process_gone) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Whether process `pid` has exited. A zombie has: it only waits for its parent (e.g. the btw
/// that started it, still running) to reap it. Where there is no `/proc`, a process that no
/// longer answers counts as gone.
fn process_gone(pid: u64) -> bool {
    if !Path::new("/proc/self/stat").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

fn usage(message: String) -> Failure {
    Failure::Usage { message }
}

fn port_taken(port: u16) -> Failure {
    usage(format!(
        "127.0.0.1:{port} is held by another program, not a btw sandbox: set BTW_SANDBOX_PORT to a free port for the embedded sandbox, or BTW_BASE_URL to a sandbox (or BT host) to use instead"
    ))
}

/// The URL of the shared sandbox for `settings`: the one running on the port, or one started
/// in the background now. A sandbox of another version is restarted when idle, else refused.
pub async fn ensure(settings: &Settings) -> Result<String, Failure> {
    let port = settings.sandbox_port;
    let url = url(port);
    if let Some(h) = probe(&url).await {
        if h.is_this_build() {
            tracing::info!(%url, "using the sandbox already running");
            return Ok(url);
        }
        if h.idle < RESTART_WHEN_IDLE || !stop(&url).await {
            return Err(usage(format!(
                "the sandbox on 127.0.0.1:{port} is version {} (pid {}), this btw is {}: stop it with `btw sandbox stop` (with the same BTW_SANDBOX_PORT) once its runs are done, or set BTW_SANDBOX_PORT to another port",
                h.described(),
                h.pid.map_or("?".to_string(), |p| p.to_string()),
                this_build()
            )));
        }
        tracing::info!("stopped an idle sandbox of version {}", h.described());
    } else if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        // Maybe a sandbox that is just starting: give it a moment before blaming the port.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if probe(&url).await.is_none() {
            return Err(port_taken(port));
        }
        return Ok(url);
    }
    start_background(settings)?;
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if probe(&url).await.is_some() {
            tracing::info!(%url, "started the background sandbox");
            return Ok(url);
        }
        // Often up within a few milliseconds: look often at first.
        let pause = if started.elapsed() < Duration::from_secs(1) {
            5
        } else {
            100
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let log = Files::in_dir(&settings.data_dir).log;
    Err(usage(format!(
        "the background sandbox did not start on 127.0.0.1:{port} within {} s (see {}); set BTW_SANDBOX_PORT or BTW_BASE_URL to use another",
        START_TIMEOUT.as_secs(),
        log.display()
    )))
}

/// Starts `btw sandbox --background` detached: its own process group, no terminal, output to
/// the log. Of several started at once, one wins the port (and lock); the others exit.
fn start_background(settings: &Settings) -> Result<(), Failure> {
    let files = Files::in_dir(&settings.data_dir);
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        usage(format!(
            "cannot create btw's data folder {}: {e}",
            settings.data_dir.display()
        ))
    })?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .map_err(|e| usage(format!("cannot open {}: {e}", files.log.display())))?;
    let exe = std::env::current_exe().map_err(|e| {
        usage(format!(
            "cannot find the btw binary to start the sandbox: {e}"
        ))
    })?;
    // Absolute, as the child runs in the data folder.
    let data_dir = std::path::absolute(&settings.data_dir).map_err(|e| usage(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    // Its own settings must not fail on another profile's (e.g. BTW_PROFILE=test without keys).
    cmd.args(["--profile", "sandbox", "sandbox", "--background", "--port"])
        .arg(settings.sandbox_port.to_string())
        .arg("--idle-timeout")
        .arg(settings.sandbox_idle.as_secs().to_string())
        .env("BTW_DATA_DIR", &data_dir)
        // Not the starter's folder: a long-lived process should not keep that one busy.
        .current_dir(&data_dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| usage(e.to_string()))?)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
        .map(drop)
        .map_err(|e| usage(format!("cannot start the background sandbox: {e}")))
}

/// Whether this process can start a background sandbox: only the `btw` binary can (a test
/// harness or another program linking btw runs the sandbox in-process instead).
pub fn can_start_background() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s == "btw"))
        .unwrap_or(false)
}
