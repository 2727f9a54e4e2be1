//! The shared embedded sandbox as a background service: found on its loopback port, or started
//! as a process of its own (this binary, `btw sandbox --background`) that outlives its starter,
//! keeps a lock, a pid file and a log in the data folder, and stops after an idle period.
//!
//! A btw of another build (a copy of the binary, an upgrade) never stops a sandbox that is in
//! use (see [`in_use`]): it runs its own beside it, on one of the next nine ports, with its own
//! files, and says so. One that is not in use it stops and replaces.

use crate::config::Settings;
use crate::runner::Failure;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a starter waits for a background sandbox to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports after `BTW_SANDBOX_PORT` a sandbox of another build may run on, beside it.
pub const BESIDE_PORTS: u16 = 9;

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

    /// The files of this build's sandbox when it runs beside another build's: a folder of its
    /// own, as the data folder's are locked by the one in use.
    pub fn beside(data_dir: &Path, build: &str) -> Files {
        Files::in_dir(&Self::beside_dir(data_dir, build))
    }

    pub fn beside_dir(data_dir: &Path, build: &str) -> PathBuf {
        data_dir.join("sandboxes").join(build)
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
    /// The idle timeout it runs under; `None` when it has none or does not say (an older one).
    pub idle_timeout: Option<Duration>,
    /// Its live subscribers (a daemon, a REPL, a run); `None` from an older sandbox.
    pub subscribers: Option<u64>,
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
        idle_timeout: v
            .get("idleTimeoutSecs")
            .and_then(Value::as_u64)
            .map(Duration::from_secs),
        subscribers: v.get("subscribers").and_then(Value::as_u64),
    })
}

/// What a sandbox is doing that another build must not cut off.
#[derive(Debug, Clone, PartialEq)]
pub enum InUse {
    /// Live subscriptions: a daemon, a REPL or a run listening for its notifications.
    Subscribers(u64),
    /// A request within its idle timeout (this btw's, `BTW_SANDBOX_IDLE_SECS`, when it runs
    /// without one or does not say).
    /// `own`: whether the window is its own idle timeout.
    Requests {
        idle: Duration,
        window: Duration,
        own: bool,
    },
    /// Run clocks with open objects.
    Clocks(usize),
}

impl std::fmt::Display for InUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InUse::Subscribers(1) => write!(f, "a daemon, REPL or run is subscribed to it"),
            InUse::Subscribers(n) => write!(f, "{n} daemons, REPLs or runs are subscribed to it"),
            InUse::Requests { idle, window, own } => write!(
                f,
                "its last request was {} s ago, within {} {} s idle timeout",
                idle.as_secs(),
                if *own { "its" } else { "this btw's" },
                window.as_secs()
            ),
            InUse::Clocks(1) => write!(f, "a run clock has open objects"),
            InUse::Clocks(n) => write!(f, "{n} run clocks have open objects"),
        }
    }
}

/// Whether a sandbox is in use, judged by its health, its subscriptions when its health does not
/// count them (`subscribers`) and its clocks with open objects. A sandbox that gives no idle
/// timeout (a foreground one, an older one) is judged by `idle_timeout`, this btw's own.
pub fn judge(
    h: &Health,
    subscribers: Option<u64>,
    open_clocks: usize,
    idle_timeout: Duration,
) -> Option<InUse> {
    if let Some(n) = h.subscribers.or(subscribers).filter(|n| *n > 0) {
        return Some(InUse::Subscribers(n));
    }
    if open_clocks > 0 {
        return Some(InUse::Clocks(open_clocks));
    }
    let window = h.idle_timeout.unwrap_or(idle_timeout);
    (h.idle < window).then_some(InUse::Requests {
        idle: h.idle,
        window,
        own: h.idle_timeout.is_some(),
    })
}

/// Whether the sandbox at `url` (which answered `h`) is in use (see [`judge`]). What cannot be
/// read counts as in use: stopping a sandbox somebody needs costs more than running a second one.
/// The health answer is asked first, and the admin reads only when it does not settle it: they
/// count as requests, so asking them of a sandbox in use would keep it in use.
pub async fn in_use(url: &str, h: &Health, idle_timeout: Duration) -> Option<InUse> {
    if let Some(why) = judge(h, None, 0, idle_timeout) {
        return Some(why);
    }
    let subscribers = match h.subscribers {
        Some(_) => None,
        None => Some(live_subscriptions(url).await.unwrap_or(1)),
    };
    let clocks = open_clocks(url).await.unwrap_or(1);
    judge(h, subscribers, clocks, idle_timeout)
}

/// A GET of an admin path: `Ok(None)` when the sandbox has no such route (404).
async fn admin_get(url: &str, path: &str) -> Result<Option<Value>, ()> {
    let client = http(Duration::from_secs(2)).ok_or(())?;
    let r = client
        .get(format!("{url}{path}"))
        .send()
        .await
        .map_err(drop)?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !r.status().is_success() {
        return Err(());
    }
    r.json().await.map(Some).map_err(drop)
}

/// A sandbox's clocks, as `GET /__sandbox/clocks` answers (`None` from one without run clocks).
pub async fn clocks(url: &str) -> Option<Value> {
    admin_get(url, "/__sandbox/clocks").await.ok().flatten()
}

/// Subscriptions whose deliveries are not failing, from a sandbox whose health does not count them.
async fn live_subscriptions(url: &str) -> Result<u64, ()> {
    let Some(v) = admin_get(url, "/__sandbox/subscriptions").await? else {
        return Ok(0);
    };
    let subs = v["subscriptions"].as_array().ok_or(())?;
    Ok(subs
        .iter()
        .filter(|s| s["failures"].as_u64().unwrap_or(0) == 0)
        .count() as u64)
}

/// Run clocks with open objects (`GET /__sandbox/clocks`; none from a sandbox without clocks).
async fn open_clocks(url: &str) -> Result<usize, ()> {
    match admin_get(url, "/__sandbox/clocks").await? {
        None => Ok(0),
        Some(v) => open_clock_count(&v).ok_or(()),
    }
}

/// The clocks with open objects in a `GET /__sandbox/clocks` answer; `None` when it is not one.
fn open_clock_count(v: &Value) -> Option<usize> {
    let clocks = v.get("clocks")?.as_array()?;
    Some(
        clocks
            .iter()
            .filter(|c| c["openObjects"].as_u64().unwrap_or(0) > 0)
            .count(),
    )
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
/// in the background now. A sandbox of another build is stopped and replaced when it is not in
/// use; when it is, this btw uses (or starts) one of its own beside it, and says so.
pub async fn ensure(settings: &Settings) -> Result<String, Failure> {
    let port = settings.sandbox_port;
    let url = url(port);
    let seen = seen_file(settings);
    if seen_recently(&seen) {
        return Ok(url);
    }
    if let Some(h) = probe(&url).await {
        if h.is_this_build() {
            tracing::info!(%url, "using the sandbox already running");
            remember(&seen, &h);
            return Ok(url);
        }
        if let Some(why) = in_use(&url, &h, settings.sandbox_idle).await {
            return beside(settings, &h, &why).await;
        }
        if !stop(&url).await {
            return Err(usage(format!(
                "the sandbox on 127.0.0.1:{port} is version {} (pid {}), this btw is {}, and it did not stop: stop it with `btw sandbox stop --port {port}`, or set BTW_SANDBOX_PORT to another port",
                h.described(),
                h.pid.map_or("?".to_string(), |p| p.to_string()),
                this_build()
            )));
        }
        tracing::info!(
            "stopped a sandbox of version {} that was not in use",
            h.described()
        );
    } else if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        // Maybe a sandbox that is just starting: give it a moment before blaming the port.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if probe(&url).await.is_none() {
            return Err(port_taken(port));
        }
        return Ok(url);
    }
    start_and_wait(settings, port, &settings.data_dir).await
}

/// How long a sandbox of this build that answered its health check is taken to be there
/// without asking again, while its process runs.
const SEEN_FOR: Duration = Duration::from_secs(300);

/// Where a `btw` process notes that this build's sandbox on the settings' port answered: its
/// pid and build, in the data folder.
fn seen_file(settings: &Settings) -> PathBuf {
    settings
        .data_dir
        .join(format!("sandbox-{}.seen", settings.sandbox_port))
}

/// Whether this build's sandbox answered within [`SEEN_FOR`] and its process is still running:
/// then a command uses it without a health check (a round trip on every start). A run that
/// then cannot connect forgets it ([`forget_seen`]), so the next start checks again.
fn seen_recently(seen: &Path) -> bool {
    let fresh = std::fs::metadata(seen)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < SEEN_FOR);
    if !fresh {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(seen) else {
        return false;
    };
    let mut words = text.split_whitespace();
    let (Some(pid), Some(build)) = (words.next(), words.next()) else {
        return false;
    };
    build == btw_sandbox::build_id()
        && pid.parse::<u32>().is_ok()
        && Path::new(&format!("/proc/{pid}")).exists()
}

/// Notes that `h`, this build's sandbox, answered (best effort: without the note, the next
/// start checks again).
fn remember(seen: &Path, h: &Health) {
    if let Some(pid) = h.pid {
        let _ = std::fs::write(seen, format!("{pid} {}\n", btw_sandbox::build_id()));
    }
}

/// Forgets that the sandbox answered (a run could not reach it): the next start checks again.
pub fn forget_seen(settings: &Settings) {
    let _ = std::fs::remove_file(seen_file(settings));
}

/// This build's sandbox beside `shared` (in use, of another build) on the first of the next
/// [`BESIDE_PORTS`] ports: one already running there, else one started on the first free port.
/// Either way the user hears, in one line, where and why, and how to go back to one sandbox.
async fn beside(settings: &Settings, shared: &Health, why: &InUse) -> Result<String, Failure> {
    let base = settings.sandbox_port;
    let mut free = None;
    for port in (1..=BESIDE_PORTS).filter_map(|i| base.checked_add(i)) {
        match probe(&url(port)).await {
            Some(h) if h.is_this_build() => {
                tell_beside(base, shared, why, port, "uses");
                return Ok(url(port));
            }
            Some(_) => {}
            None if free.is_none() && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() => {
                free = Some(port);
            }
            None => {}
        }
    }
    let Some(port) = free else {
        return Err(usage(format!(
            "the sandbox on 127.0.0.1:{base} is version {} and in use ({why}), and no port from {} to {} is free for one of this build ({}): stop a sandbox there with `btw sandbox stop --port N`, or set BTW_SANDBOX_PORT to another port",
            shared.described(),
            base.saturating_add(1),
            base.saturating_add(BESIDE_PORTS),
            this_build()
        )));
    };
    let dir = Files::beside_dir(&settings.data_dir, btw_sandbox::build_id());
    let url = start_and_wait(settings, port, &dir).await?;
    tell_beside(base, shared, why, port, "started");
    Ok(url)
}

/// The one line that says this btw is not on the shared sandbox.
fn tell_beside(base: u16, shared: &Health, why: &InUse, port: u16, verb: &str) {
    eprintln!(
        "btw: the sandbox on 127.0.0.1:{base} is version {} and in use ({why}), so this btw {verb} a sandbox of its own build on 127.0.0.1:{port}, with its own state; to go back to one, once that work is done: `btw sandbox stop --port {base}` and `btw sandbox stop --port {port}`",
        shared.described()
    );
}

/// Starts a background sandbox on `port` with its files in `dir`, and waits until it answers.
async fn start_and_wait(settings: &Settings, port: u16, dir: &Path) -> Result<String, Failure> {
    let url = url(port);
    start_background(settings, port, dir)?;
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Some(h) = probe(&url).await {
            tracing::info!(%url, "started the background sandbox");
            if port == settings.sandbox_port && h.is_this_build() {
                remember(&seen_file(settings), &h);
            }
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
    let log = Files::in_dir(dir).log;
    Err(usage(format!(
        "the background sandbox did not start on 127.0.0.1:{port} within {} s (see {}); set BTW_SANDBOX_PORT or BTW_BASE_URL to use another",
        START_TIMEOUT.as_secs(),
        log.display()
    )))
}

/// Starts `btw sandbox --background` detached: its own process group, no terminal, output to
/// the log. Of several started at once, one wins the port (and lock); the others exit.
fn start_background(settings: &Settings, port: u16, dir: &Path) -> Result<(), Failure> {
    let files = Files::in_dir(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot create the folder {}: {e}", dir.display())))?;
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
    let dir = std::path::absolute(dir).map_err(|e| usage(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    // Its own settings must not fail on another profile's (e.g. BTW_PROFILE=test without keys).
    cmd.args(["--profile", "sandbox", "sandbox", "--background", "--port"])
        .arg(port.to_string())
        .arg("--idle-timeout")
        .arg(settings.sandbox_idle.as_secs().to_string())
        .arg("--service-dir")
        .arg(&dir)
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1800);

    fn health(idle: u64, timeout: Option<u64>, subscribers: Option<u64>) -> Health {
        Health {
            version: "0.0.0".into(),
            build: None,
            pid: Some(1),
            idle: Duration::from_secs(idle),
            idle_timeout: timeout.map(Duration::from_secs),
            subscribers,
        }
    }

    #[test]
    fn a_subscriber_or_an_open_clock_keeps_a_quiet_sandbox_in_use() {
        let quiet = health(600, Some(60), Some(1));
        assert_eq!(judge(&quiet, None, 0, T), Some(InUse::Subscribers(1)));
        let quiet = health(600, Some(60), Some(0));
        assert_eq!(judge(&quiet, None, 2, T), Some(InUse::Clocks(2)));
        assert_eq!(judge(&quiet, None, 0, T), None);
        // An older sandbox does not count them: its subscription list does.
        let old = health(600, Some(60), None);
        assert_eq!(judge(&old, Some(3), 0, T), Some(InUse::Subscribers(3)));
        assert_eq!(judge(&old, Some(0), 0, T), None);
    }

    #[test]
    fn clocks_with_open_objects_are_counted() {
        let v = serde_json::json!({"shared": {"now": "2026-12-07T20:00:00Z"}, "clocks": [
            {"id": "c1", "now": "2026-12-09T20:00:00Z", "aheadSecs": 172800, "openObjects": 2, "lastUsed": "2026-12-07T19:59:00Z"},
            {"id": "c2", "now": "2026-12-07T20:00:00Z", "aheadSecs": 0, "openObjects": 0, "lastUsed": "2026-12-07T19:00:00Z"}
        ]});
        assert_eq!(open_clock_count(&v), Some(1));
        assert_eq!(
            open_clock_count(&serde_json::json!({"clocks": []})),
            Some(0)
        );
        assert_eq!(open_clock_count(&serde_json::json!({"error": "x"})), None);
    }

    #[test]
    fn a_request_within_its_idle_timeout_is_use_not_ten_seconds_of_quiet() {
        let h = health(30, Some(1800), Some(0));
        assert!(matches!(
            judge(&h, None, 0, T),
            Some(InUse::Requests { .. })
        ));
        assert_eq!(judge(&health(5, Some(5), Some(0)), None, 0, T), None);
        // No idle timeout (a foreground sandbox, an older one): this btw's is the window.
        assert!(judge(&health(1799, None, Some(0)), None, 0, T).is_some());
        assert_eq!(judge(&health(1800, None, Some(0)), None, 0, T), None);
        let why = judge(&h, None, 0, T).unwrap().to_string();
        assert!(
            why.contains("30 s ago") && why.contains("its 1800 s"),
            "{why}"
        );
        let why = judge(&health(30, None, Some(0)), None, 0, T).unwrap();
        assert!(why.to_string().contains("this btw's 1800 s"), "{why}");
    }
}
