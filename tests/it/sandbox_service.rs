//! The shared sandbox as a background service, through the real binary: it outlives the runs
//! that start it, several runs side by side all succeed, it stops after its idle period, and a
//! `btw serve` keeps receiving notifications while other sessions come and go, and gets what it
//! missed while it was down. Each test has its own port and data folders and stops what it started.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A port and a folder for one test's background sandbox; dropping it stops the sandbox.
pub(crate) struct Service {
    port: u16,
    idle_secs: u64,
    root: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Service {
    pub(crate) fn new(idle_secs: u64) -> Service {
        Service {
            port: free_port(),
            idle_secs,
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn data(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `btw` with the embedded sandbox on this test's port, and its own data folder.
    pub(crate) fn btw(&self, data: &str) -> tokio::process::Command {
        let mut cmd = btw(&self.url(), &self.data(data));
        cmd.env_remove("BTW_BASE_URL")
            .env("BTW_SANDBOX_PORT", self.port.to_string())
            .env("BTW_SANDBOX_IDLE_SECS", self.idle_secs.to_string());
        cmd
    }

    /// As [`Service::btw`], with another btw executable (see [`other_build`]).
    fn btw_as(&self, exe: &Path, data: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.data(data))
            .env("BTW_DATA_DIR", self.data(data))
            .env("BTW_SANDBOX_PORT", self.port.to_string())
            .env("BTW_SANDBOX_IDLE_SECS", self.idle_secs.to_string())
            .current_dir(repo())
            .kill_on_drop(true);
        cmd
    }

    pub(crate) async fn provide(&self, data: &str) -> Output {
        output(self.btw(data).args(["run", "scripts/whc_provide.rhai"])).await
    }

    async fn health(&self) -> Option<Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let r = client
            .get(format!("{}/__sandbox/health", self.url()))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn subscriptions(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/__sandbox/subscriptions", self.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["subscriptions"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_btw"))
            .args(["sandbox", "stop"])
            .env("BTW_SANDBOX_PORT", self.port.to_string())
            .env("BTW_DATA_DIR", self.root.path())
            .env_remove("BTW_BASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Whatever still holds a pid file under this test's folder goes too, the sandboxes
        // started beside another build's included.
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(self.root.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            dirs.push(entry.path());
            for beside in std::fs::read_dir(entry.path().join("sandboxes"))
                .into_iter()
                .flatten()
                .flatten()
            {
                dirs.push(beside.path());
            }
        }
        for dir in dirs {
            let pid_file = dir.join("sandbox.pid");
            if let Some(pid) = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            {
                let _ = std::process::Command::new("kill").arg(&pid).status();
            }
        }
    }
}

pub(crate) fn ok(o: &Output, what: &str) {
    assert_eq!(o.code, 0, "{what}:\n{}\n{}", o.stdout, o.stderr);
}

fn order_id(o: &Output) -> String {
    let start = o.stdout.find("\n{").map(|i| i + 1).unwrap_or(0);
    let v: Value = serde_json::from_str(&o.stdout[start..]).unwrap_or_default();
    v["order_id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn staggered_runs_all_succeed_and_the_sandbox_outlives_them_until_idle() {
    let svc = Service::new(6);
    let mut runs = Vec::new();
    for i in 0..3 {
        let cmd = svc
            .btw(&format!("run{i}"))
            .args(["run", "scripts/whc_provide.rhai"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        runs.push(cmd);
        // As in a shell: the next one starts 1.5 s after the previous.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    for (i, run) in runs.into_iter().enumerate() {
        let o = tokio::time::timeout(Duration::from_secs(90), run.wait_with_output())
            .await
            .expect("a run did not finish")
            .unwrap();
        let out = Output {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        ok(&out, &format!("run {i}"));
    }
    let health = svc
        .health()
        .await
        .expect("the sandbox outlives its starter");
    assert_eq!(health["version"], btw_sandbox::VERSION);
    // Its files are in the data folder of the run that started it.
    let pid = std::fs::read_to_string(svc.data("run0").join("sandbox.pid")).unwrap();
    assert_eq!(pid.lines().next().unwrap(), health["pid"].to_string());
    let status = output(svc.btw("run1").args(["sandbox", "status"])).await;
    assert!(
        status.stdout.contains("sandbox running"),
        "{}",
        status.stdout
    );
    // Idle: it stops by itself, and says so in its log.
    let deadline = Instant::now() + Duration::from_secs(40);
    while svc.health().await.is_some() {
        assert!(
            Instant::now() < deadline,
            "still running after its idle period"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The listener closes first; the pid file goes as the process ends.
    let pid_file = svc.data("run0").join("sandbox.pid");
    while pid_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the pid file outlived the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(svc.data("run0").join("sandbox.log")).unwrap();
    assert!(log.contains("idle for 6 s: stopping"), "{log}");
}

#[tokio::test]
async fn ten_runs_started_together_all_succeed() {
    let svc = Service::new(60);
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut cmd = svc.btw(&format!("run{i}"));
        runs.spawn(async move {
            let o = tokio::time::timeout(
                Duration::from_secs(120),
                cmd.args(["run", "scripts/whc_provide.rhai"]).output(),
            )
            .await
            .expect("a run did not finish")
            .unwrap();
            (
                i,
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        });
    }
    while let Some(r) = runs.join_next().await {
        let (i, code, stderr) = r.unwrap();
        assert_eq!(code, Some(0), "run {i}:\n{stderr}");
    }
    assert!(
        svc.health().await.is_some(),
        "the sandbox outlives its starters"
    );
    // Exactly one sandbox won: one pid file among the ten data folders.
    let pid_files = (0..10)
        .filter(|i| svc.data(&format!("run{i}")).join("sandbox.pid").exists())
        .count();
    assert_eq!(pid_files, 1);
    assert!(
        svc.subscriptions().await.is_empty(),
        "runs unsubscribe on exit"
    );
    let stop = output(svc.btw("run0").args(["sandbox", "stop"])).await;
    ok(&stop, "sandbox stop");
    assert!(svc.health().await.is_none());
}

#[tokio::test]
async fn a_port_held_by_another_program_is_named() {
    let svc = Service::new(60);
    let _other = std::net::TcpListener::bind(("127.0.0.1", svc.port)).unwrap();
    let dir = svc.data("x");
    std::fs::create_dir_all(&dir).unwrap();
    let o = output(svc.btw("x").args(["run", "scripts/whc_provide.rhai"])).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("BTW_SANDBOX_PORT"), "{}", o.stderr);
    assert!(o.stderr.contains("BTW_BASE_URL"), "{}", o.stderr);
    let o = output(svc.btw("x").env("BTW_SANDBOX_PORT", "0").arg("repl")).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("BTW_SANDBOX_PORT"), "{}", o.stderr);
}

#[tokio::test]
async fn stop_returns_once_the_state_is_saved_and_the_process_has_exited() {
    let svc = Service::new(60);
    let o = svc.provide("a").await;
    ok(&o, "run");
    let order = order_id(&o);
    assert!(!order.is_empty(), "{}", o.stdout);
    let pid_file = svc.data("a").join("sandbox.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.lines().next().unwrap().trim().to_string();
    let stop = output(svc.btw("a").args(["sandbox", "stop"])).await;
    ok(&stop, "sandbox stop");
    // The pid file goes after the final save; the process is gone (or a zombie of no one here).
    assert!(
        !pid_file.exists(),
        "stop returned before the shutdown finished"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start().chars().next());
    assert!(matches!(state, None | Some(Some('Z' | 'X'))), "{stat}");
    // What it saved holds the order: opened at once, with nothing else running on the file.
    let config = btw_sandbox::SandboxConfig {
        state_file: Some(svc.data("a").join("sandbox-state.db")),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = btw_sandbox::start(listener, config).await.unwrap();
    let journal: Value = reqwest::get(format!("{}/__sandbox/journal", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sb.shutdown().await;
    let created = journal["created"].as_array().cloned().unwrap_or_default();
    assert!(
        created.iter().any(|c| c["id"] == order.as_str()),
        "{journal}"
    );
}

/// A copy of the btw binary: another build of the same version, as its build id counts the
/// executable's modification time (set far in the past here, so it differs for sure).
fn other_build(svc: &Service) -> PathBuf {
    let dir = svc.data("other-build");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("btw");
    std::fs::copy(env!("CARGO_BIN_EXE_btw"), &exe).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&exe)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    exe
}

/// The port of the sandbox a btw says it runs beside the shared one.
fn beside_port(stderr: &str) -> u16 {
    let line = stderr
        .lines()
        .find(|l| l.contains("a sandbox of its own build on 127.0.0.1:"))
        .unwrap_or_else(|| panic!("no word of a sandbox beside the shared one:\n{stderr}"));
    let rest = line.split("of its own build on 127.0.0.1:").nth(1).unwrap();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A REPL session that asks the sandbox one thing and quits.
async fn repl_once(mut cmd: tokio::process::Command) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = cmd
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"whc::reseller()\n:quit\n").await.unwrap();
    drop(stdin);
    let o = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the REPL did not finish")
        .unwrap();
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[tokio::test]
async fn another_build_runs_beside_a_sandbox_in_use_and_then_reuses_its_own() {
    let svc = Service::new(60);
    // This test binary runs a sandbox: same version as the btw binary, another executable; it
    // was just asked something, so it is in use (a request within btw's idle timeout).
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", svc.port))
        .await
        .unwrap();
    let sb = btw_sandbox::start(listener, btw_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    reqwest::get(format!("{}/__sandbox/clock", svc.url()))
        .await
        .unwrap();
    let o = repl_once(svc.btw("b")).await;
    ok(&o, "a REPL beside another build's sandbox");
    let port = beside_port(&o.stderr);
    assert_ne!(port, svc.port);
    assert!(
        o.stderr
            .contains(&format!("btw sandbox stop --port {port}")),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("its last request was"), "{}", o.stderr);
    // Its files are a folder of their own, not the data folder's.
    assert!(!svc.data("b").join("sandbox.pid").exists());
    let beside_dirs: Vec<_> = std::fs::read_dir(svc.data("b").join("sandboxes"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(beside_dirs.len(), 1);
    assert!(beside_dirs[0].path().join("sandbox.pid").exists());
    // The next one uses it rather than starting another.
    let o = repl_once(svc.btw("c")).await;
    ok(&o, "a second REPL");
    assert_eq!(beside_port(&o.stderr), port);
    assert!(o.stderr.contains("this btw uses a sandbox"), "{}", o.stderr);
    assert!(!svc.data("c").join("sandboxes").exists());
    // Status shows both; stop --port stops the one beside.
    let status = output(svc.btw("b").args(["sandbox", "status"])).await;
    ok(&status, "status");
    assert!(
        status
            .stdout
            .contains(&format!("sandbox running on {}", svc.url()))
            && status.stdout.contains(&format!(
                "beside it: sandbox running on http://127.0.0.1:{port}"
            )),
        "{}",
        status.stdout
    );
    let stop = output(
        svc.btw("b")
            .args(["sandbox", "stop", "--port"])
            .arg(port.to_string()),
    )
    .await;
    ok(&stop, "stop --port");
    // Nobody asked the shared one to stop, and it still answers.
    assert!(
        tokio::time::timeout(Duration::ZERO, sb.stop_requested())
            .await
            .is_err(),
        "another build asked the sandbox in use to stop"
    );
    let h = svc.health().await.expect("the shared one still answers");
    assert_eq!(h["pid"], std::process::id());
    sb.shutdown().await;
}

#[tokio::test]
async fn another_build_never_stops_a_sandbox_a_quiet_repl_session_uses() {
    use tokio::io::AsyncWriteExt;
    let svc = Service::new(60);
    // An engineer's REPL: it qualifies a company (and so subscribes), then sits quiet.
    let mut repl = svc
        .btw("engineer")
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = repl.stdin.take().unwrap();
    let name = format!("Quiet Looms {}", std::process::id());
    let domain = format!("quietlooms{}.co.uk", std::process::id());
    stdin
        .write_all(
            format!("let q = whc::qualify_company(#{{name: \"{name}\", domain: \"{domain}\"}})\nq.result\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // Quiet for longer than the 10 s that used to be enough to take the sandbox away.
    let deadline = Instant::now() + Duration::from_secs(40);
    let before = loop {
        let h = svc.health().await;
        if let Some(h) = h.as_ref().filter(|h| {
            h["subscribers"].as_u64() == Some(1) && h["idleSecs"].as_u64().unwrap() > 10
        }) {
            break h.clone();
        }
        assert!(
            Instant::now() < deadline,
            "never quiet with a subscriber: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(before["idleTimeoutSecs"], 60, "{before}");
    // A copy of btw (another build) runs a recipe: on a sandbox of its own, beside.
    let other = other_build(&svc);
    let o = output(
        svc.btw_as(&other, "other")
            .args(["run", "scripts/whc_provide.rhai"]),
    )
    .await;
    ok(&o, "the other build's run");
    let port = beside_port(&o.stderr);
    assert!(o.stderr.contains("subscribed to it"), "{}", o.stderr);
    // The shared sandbox is the same process, and the session goes on with its qualification.
    let after = svc.health().await.expect("the shared sandbox is still up");
    assert_eq!(after["pid"], before["pid"]);
    stdin
        .write_all(
            b"let r = numbers::ringfence(#{area_code: \"0121\", quantity: 1, service_id: q.service_id, qualification_id: q.id})\nr.status\n:quit\n",
        )
        .await
        .unwrap();
    drop(stdin);
    let done = tokio::time::timeout(Duration::from_secs(30), repl.wait_with_output())
        .await
        .expect("the REPL did not finish")
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr),
    );
    assert_eq!(done.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("\"Qualified\"") && out.contains("\"RINGFENCED\""),
        "{out}\n{err}"
    );
    assert!(!err.contains("of its own build"), "{err}");
    let stop = output(
        svc.btw_as(&other, "other")
            .args(["sandbox", "stop", "--port"])
            .arg(port.to_string()),
    )
    .await;
    ok(&stop, "stop the one beside");
}

#[tokio::test]
async fn a_sandbox_of_another_build_not_in_use_is_replaced() {
    // This btw counts 2 s without a request as unused, for a sandbox with no idle timeout.
    let svc = Service::new(2);
    let other = other_build(&svc);
    let mut fg = svc
        .btw_as(&other, "fg")
        .args(["sandbox", "--memory", "--port"])
        .arg(svc.port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let idle = svc.health().await.and_then(|h| h["idleSecs"].as_u64());
        if idle.is_some_and(|s| s >= 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other build's sandbox: {idle:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let o = repl_once(svc.btw("a")).await;
    ok(&o, "a REPL");
    assert!(!o.stderr.contains("of its own build"), "{}", o.stderr);
    let status = tokio::time::timeout(Duration::from_secs(20), fg.wait())
        .await
        .expect("the unused sandbox was not stopped")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(svc.data("a").join("sandbox.log")).unwrap();
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{}", svc.port)),
        "{log}"
    );
}

/// A `btw serve` on the service, with a recipe that runs when an order completes.
struct Daemon {
    child: tokio::process::Child,
    recipes: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(svc: &Service, n: usize) -> Daemon {
        let root = svc.data("serve");
        let recipes = root.join("recipes");
        std::fs::create_dir_all(&recipes).unwrap();
        let log = root.join(format!("serve-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = svc
            .btw("serve")
            .args(["serve", "--recipes"])
            .arg(&recipes)
            .args(["--debounce-ms", "150"])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon {
            child,
            recipes,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The orders the trigger recipe ran for.
    fn seen(recipes: &Path) -> Vec<String> {
        std::fs::read_dir(recipes.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
                v["result"]["seen"].as_str().map(str::to_string)
            })
            .collect()
    }

    async fn wait_seen(&self, order: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Self::seen(&self.recipes).iter().any(|s| s == order) {
            assert!(
                Instant::now() < deadline,
                "the trigger did not run for {order}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

#[tokio::test]
async fn the_daemon_hears_every_order_while_sessions_come_and_go_and_after_a_stop() {
    let svc = Service::new(120);
    let d = Daemon::start(&svc, 1);
    d.wait_log("notifications on").await;
    std::fs::write(
        d.recipes.join("on_complete.rhai"),
        "//! name: tell ops\n//! trigger: on order.state=completed\n#{seen: params.order_id}\n",
    )
    .unwrap();
    d.wait_log("on_complete.rhai: loaded").await;
    let subs = svc.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["kind"], "durable");
    let durable_id = subs[0]["id"].clone();

    // A run in another shell, then a REPL session, then another run.
    let a = svc.provide("a").await;
    ok(&a, "run a");
    d.wait_seen(&order_id(&a)).await;
    let mut repl = svc.btw("b");
    repl.arg("repl").stdin(Stdio::piped());
    let mut child = repl
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"whc::reseller()\n:quit\n").await.unwrap();
    }
    let o = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = svc.provide("c").await;
    ok(&c, "run c");
    d.wait_seen(&order_id(&c)).await;

    // The daemon stops; an order goes all the way meanwhile; its events wait for the daemon.
    d.stop().await;
    let e = svc.provide("e").await;
    ok(&e, "run e");
    let subs = svc.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert!(subs[0]["queued"].as_u64().unwrap() > 0, "{subs:?}");
    assert!(!Daemon::seen(&svc.data("serve/recipes")).contains(&order_id(&e)));
    let d = Daemon::start(&svc, 2);
    d.wait_seen(&order_id(&e)).await;
    let subs = svc.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["id"], durable_id, "the same subscription");
    d.stop().await;
}

/// A listener subscribed to the sandbox at `url`: its feed (taken before subscribing, so no event
/// is missed), the listener and the subscription id.
async fn listen(
    url: &str,
    durable: bool,
    id: Option<&str>,
) -> (
    tokio::sync::broadcast::Receiver<btw::store::Notification>,
    btw::callbacks::CallbackListener,
    String,
) {
    let hub = btw::store::EventHub::new(btw::store::Store::in_memory());
    let feed = hub.subscribe();
    let config = btw::callbacks::CallbackConfig::for_sandbox();
    let (user, pass) = (config.username.clone(), config.password.clone());
    let listener = btw::callbacks::start(config, hub).await.unwrap();
    let me = btw::api::SandboxListener {
        url: &listener.url(),
        username: &user,
        password: pass.expose(),
    };
    let id = client(url)
        .sandbox_subscribe(&me, durable, id)
        .await
        .unwrap();
    (feed, listener, id)
}

async fn wait_complete(
    feed: &mut tokio::sync::broadcast::Receiver<btw::store::Notification>,
    order: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = tokio::time::timeout_at(deadline, feed.recv())
            .await
            .unwrap_or_else(|_| panic!("no orderComplete for {order}"))
            .unwrap();
        if n.order_id == order && n.event_type == "orderComplete" {
            return;
        }
    }
}

async fn provide(url: &str) -> String {
    let (ctx, out) = context(client(url));
    let (result, _) = completed_recipe(ctx, &out, "whc_provide.rhai").await;
    result["order_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_subscriber_hears_every_order_and_a_durable_one_catches_up() {
    let sb = sandbox().await;
    let url = sb.base_url();
    // The reseller's callback and two subscriptions, side by side: none displaces another.
    let (cb_hub, _cb) = notifications(&url).await;
    let mut cb_feed = cb_hub.subscribe();
    let (mut feed_a, listener_a, id_a) = listen(&url, false, None).await;
    let (mut feed_b, listener_b, id_b) = listen(&url, true, Some("daemon-1")).await;
    assert_eq!(id_b, "daemon-1");
    let first = provide(&url).await;
    for feed in [&mut cb_feed, &mut feed_a, &mut feed_b] {
        wait_complete(feed, &first).await;
    }
    // The ephemeral one leaves; the durable one is down while the next order goes through.
    client(&url).sandbox_unsubscribe(&id_a).await.unwrap();
    listener_a.shutdown().await;
    listener_b.shutdown().await;
    let second = provide(&url).await;
    wait_complete(&mut cb_feed, &second).await;
    let subs: Value = reqwest::get(format!("{url}/__sandbox/subscriptions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subs = subs["subscriptions"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["id"], "daemon-1");
    assert!(!subs[0].to_string().contains("password"), "{subs:?}");
    // Back under the same id (new address, new credentials): what it missed arrives, in order.
    let (mut feed_b, _listener_b, id) = listen(&url, true, Some("daemon-1")).await;
    assert_eq!(id, "daemon-1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut states = Vec::new();
    while !states.iter().any(|t: &String| t == "orderComplete") {
        let n = tokio::time::timeout_at(deadline, feed_b.recv())
            .await
            .expect("the queued events did not arrive")
            .unwrap();
        assert_eq!(n.order_id, second);
        states.push(n.event_type);
    }
    assert_eq!(
        states.first().map(String::as_str),
        Some("orderAcknowledged"),
        "{states:?}"
    );
    // Bad requests are refused with the sandbox's errors.
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{url}/__sandbox/subscriptions"))
        .json(&serde_json::json!({"url": "ftp://x", "username": "u", "password": "p", "kind": "forever"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .delete(format!("{url}/__sandbox/subscriptions/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    sb.shutdown().await;
}
