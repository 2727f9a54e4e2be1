//! Three `btw serve` on one PostgreSQL server of the test's own (started in a temp folder on a
//! port of its own, so restarting it disturbs no other test), the same recipes in folders at
//! three paths, under faults: one daemon SIGSTOPped past its leases, PostgreSQL restarted
//! meanwhile, another daemon SIGKILLed, and each order's three completing events posted
//! round-robin to the three listeners. Every job and every order's `completed` trigger runs once
//! and is reported once, no run that finished is recorded `cancelled`, and no run is run again
//! after its end: a stalled daemon whose runs were taken over stops them and writes nothing more
//! for them (run leases are fences), and a run ending while PostgreSQL restarts records its end
//! once the store answers.
//!
//! Needs PostgreSQL's server programs (`initdb`, `pg_ctl` under `/usr/lib/postgresql/*/bin`, or
//! on `PATH`): skipped with a note when they are absent. The CI form takes well under a minute;
//! the long form (`--ignored`) is described in docs/development.md.

use crate::common::*;
use crate::daemon_support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A PostgreSQL server of the test's own, stopped when dropped.
struct OwnPg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: the server is then run as the `postgres` user.
    as_postgres: bool,
}

/// Where `initdb` and `pg_ctl` are, if anywhere.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    if let Some(b) = found.pop() {
        return Some(b);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl OwnPg {
    fn start() -> Option<OwnPg> {
        let Some(bin) = pg_bin() else {
            eprintln!(
                "skipped: PostgreSQL's server programs (initdb, pg_ctl) are not installed; the chaos test starts a server of its own"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand the server's folder to the postgres user");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = OwnPg {
            data: dir.path().join("data"),
            _dir: dir,
            bin,
            port,
            as_postgres,
        };
        pg.run(
            "initdb",
            &[
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ],
            Some(&pg.data),
        );
        pg.start_server();
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str], last: Option<&Path>) {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        if let Some(p) = last {
            cmd.arg(p);
        }
        // To a file, not a pipe: the server pg_ctl starts keeps its output open, and a pipe
        // would then never end.
        let out = self._dir.path().join(format!("{program}.out"));
        let file = std::fs::File::create(&out).unwrap();
        let status = cmd
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "{program} {args:?}: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        self._dir.path().join("server.log").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: connections are terminated, as by an administrator).
    fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-w", "-m", "fast", "stop", "-D"],
            Some(&self.data),
        );
    }

    /// Starts the server (again, after [`OwnPg::stop`]) on its port.
    fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self._dir.path().display()
        );
        let log = self.log();
        self.run(
            "pg_ctl",
            &["-w", "-l", &log, "-o", &opts, "start", "-D"],
            Some(&self.data),
        );
    }

    /// Restarts the server (fast: connections are terminated, as by an administrator).
    fn restart(&self) {
        let log = self.log();
        self.run(
            "pg_ctl",
            &["-w", "-m", "fast", "-l", &log, "restart", "-D"],
            Some(&self.data),
        );
    }
}

impl Drop for OwnPg {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd
            .args(["-m", "immediate", "stop", "-D"])
            .arg(&self.data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// How hard the test is.
struct Plan {
    jobs: usize,
    /// Orders whose completion is posted (three events each).
    orders: usize,
    /// How long the stalled daemon stays stopped (past its leases).
    stall: Duration,
    /// Seconds to wait for every job at the end.
    settle: u64,
}

/// Each job places one order and then takes a while, so the faults find some in flight.
const JOB: &str = "//! name: chaos job\n//! trigger: manual\n\
let o = ethernet::order(#{quote_id: params.quote});\ntime::sleep(3.0);\n\
print(`job ${params.n} placed ${o.id}`);\n#{job: params.n, order: o.id}\n";

/// Runs once per order reaching `completed`, whichever of the three events saying so arrives,
/// at whichever daemon.
const ON_DONE: &str = "//! name: on completed\n//! trigger: on order.state=completed\n\
print(`order ${params.order_id} completed (${params.event_type})`);\ntime::sleep(1.0);\n\
#{completed: params.order_id}\n";

/// The events BT sends when an order completes: each carries the state `completed`.
const COMPLETING: [&str; 3] = ["orderComplete", "orderMilestone", "orderLineComplete"];

/// Seconds a run's and a job's lease last in the test: the stall is well past them.
const LEASE: &str = "3";

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// Continues a stopped process when dropped, whether the test goes on or fails meanwhile.
struct Woken(u32);

impl Drop for Woken {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// The runs a daemon's log shows started and not ended.
fn in_flight(log: &str) -> Vec<String> {
    let started = log.lines().filter_map(|l| {
        let at = l.find("job.rhai: run ")? + "job.rhai: run ".len();
        let rest = &l[at..];
        rest.contains(" started (")
            .then(|| rest.split(' ').next().unwrap_or("").to_string())
    });
    started
        .filter(|id| {
            !log.contains(&format!("run {id} ok")) && !log.contains(&format!("run {id} failed"))
        })
        .collect()
}

/// Trigger reports per order, all folders together.
fn per_order(folders: &[PathBuf]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in folders {
        for r in reports(f) {
            if let Some(o) = r["result"]["completed"].as_str() {
                out.entry(o.to_string()).or_default().push(r);
            }
        }
    }
    out
}

/// Reports per job number, all folders together.
fn per_job(folders: &[PathBuf]) -> BTreeMap<u64, Vec<Value>> {
    let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for f in folders {
        for r in reports(f) {
            if let Some(n) = r["result"]["job"].as_u64() {
                out.entry(n).or_default().push(r);
            }
        }
    }
    out
}

async fn chaos(plan: Plan) {
    let Some(pg) = OwnPg::start() else { return };
    let store = pg.url();
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    // The same recipes, in folders at three paths.
    let folders: Vec<PathBuf> = (0..3)
        .map(|i| {
            let r = root.path().join(format!("site-{i}/daemon/recipes"));
            std::fs::create_dir_all(r.join("inbox")).unwrap();
            std::fs::write(r.join("job.rhai"), JOB).unwrap();
            std::fs::write(r.join("on_done.rhai"), ON_DONE).unwrap();
            r
        })
        .collect();
    let src = format!(
        "let ids = []; for i in 0..{} {{ ids.push(ethernet::quote(#{{product: \"EtherflowInternet\", bandwidth: 100, term: 12, a_end: \"LS1 5HD\"}}).id); }} ids",
        plan.jobs
    );
    let (outcome, lines) = run_text(client(&url), &src).await;
    let quotes: Vec<String> = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut daemons: Vec<Option<Serve>> = folders
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let data = root.path().join(format!("site-{i}/data"));
            let r = f.display().to_string();
            let args = [
                "--recipes",
                &r,
                "--store",
                &store,
                "--job-lease",
                LEASE,
                "--run-lease",
                LEASE,
                "--max-runs",
                "8",
            ];
            Some(serve_listening(&url, &data, &args))
        })
        .collect();
    let mut listeners = Vec::new();
    for d in daemons.iter().flatten() {
        d.wait_log("job.rhai: loaded", 1).await;
        d.wait_log("on_done.rhai: loaded", 1).await;
        listeners.push(d.listener_url().await);
    }
    // Each order's three completing events, spread over the three listeners.
    let web = reqwest::Client::new();
    for i in 0..plan.orders {
        for (k, kind) in COMPLETING.iter().enumerate() {
            let (event, order) = (format!("done-{i:03}-{k}"), format!("CH-{i:03}"));
            let l = &listeners[(i + k) % listeners.len()];
            let status = post_event(&web, l, &event, &order, kind, "completed").await;
            assert_eq!(status, 200, "{event} to {l}");
        }
    }
    // The jobs, due over a few seconds from the sandbox's now.
    let start = sandbox_now(&url).await + chrono::Duration::seconds(4);
    let inbox = folders[0].join("inbox");
    for (n, quote) in quotes.iter().enumerate() {
        let at = start + chrono::Duration::milliseconds(250 * n as i64);
        let job = json!({"recipe": "job.rhai", "params": {"quote": quote, "n": n}, "at": at.to_rfc3339()});
        let tmp = inbox.join(format!(".{n}.tmp"));
        std::fs::write(&tmp, job.to_string()).unwrap();
        std::fs::rename(&tmp, inbox.join(format!("job-{n:03}.json"))).unwrap();
    }
    // The sandbox completes the jobs' orders too, and tells every daemon: those trigger as well.
    let posted = |f: &[PathBuf]| per_order(f).keys().filter(|o| o.starts_with("CH-")).count();
    let all_done = || per_job(&folders).len() == plan.jobs && posted(&folders) == plan.orders;
    let busy = |d: &Option<Serve>| !in_flight(&d.as_ref().unwrap().log()).is_empty();
    // Whichever daemon runs jobs first stalls (on a loaded machine one daemon may claim them all).
    let mut first_busy = None;
    wait_for("a daemon running jobs", 60, || {
        first_busy = (0..daemons.len()).find(|i| busy(&daemons[*i]));
        first_busy.is_some()
    })
    .await
    .unwrap();
    let stalled_at = first_busy.unwrap();
    // It stalls past its leases, with runs in flight; PostgreSQL restarts meanwhile.
    let stalled = daemons[stalled_at].as_ref().unwrap().pid();
    signal(stalled, "-STOP");
    let woken = Woken(stalled);
    let stall_started = std::time::Instant::now();
    tokio::time::sleep(plan.stall / 2).await;
    pg.restart();
    tokio::time::sleep(plan.stall.saturating_sub(stall_started.elapsed())).await;
    drop(woken);
    // Then another daemon dies, runs in flight (a busy one if any; when none has any left to
    // run, the kill comes when everything is done).
    let others: Vec<usize> = (0..daemons.len()).filter(|i| *i != stalled_at).collect();
    let mut victim = others[0];
    let _ = wait_for("another daemon running jobs", 30, || {
        if let Some(i) = others.iter().find(|i| busy(&daemons[**i])) {
            victim = *i;
            return true;
        }
        all_done()
    })
    .await;
    let killed_log = daemons[victim].take().unwrap().kill9().await;
    let settled = wait_for("every job and trigger run", plan.settle, all_done).await;
    let mut logs = killed_log;
    for d in daemons.into_iter().flatten() {
        logs.push_str(&d.stop().await);
    }
    settled.unwrap_or_else(|e| {
        let notable: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        panic!(
            "{e}: {} of {} jobs and {} of {} orders reported\n{}",
            per_job(&folders).len(),
            plan.jobs,
            posted(&folders),
            plan.orders,
            notable.join("\n")
        )
    });
    assert!(!logs.contains("panicked"), "{logs}");
    if let Some(to) = std::env::var_os("BTW_CHAOS_LOGS") {
        std::fs::write(to, &logs).unwrap();
    }
    // What the faults did, for whoever reads the test's output.
    for what in [
        "was taken over by another process",
        "another process took the run over",
        "lost its lease",
        "trying again",
        "already ended",
        "is running elsewhere",
    ] {
        eprintln!("chaos: {:>4}× {what:?}", logs.matches(what).count());
    }
    // Every job once: one report, ok, for one run.
    let jobs = per_job(&folders);
    let twice: Vec<_> = jobs.iter().filter(|(_, r)| r.len() != 1).collect();
    assert!(twice.is_empty(), "jobs reported more than once: {twice:#?}");
    // Once per order and state, across the three events and the three daemons (the posted
    // orders and the sandbox's own alike).
    let orders = per_order(&folders);
    let again: Vec<_> = orders.iter().filter(|(_, r)| r.len() != 1).collect();
    assert!(
        again.is_empty(),
        "orders triggered more than once: {again:#?}"
    );
    let mut per_run: HashMap<String, usize> = HashMap::new();
    for f in &folders {
        for r in reports(f) {
            *per_run
                .entry(r["run_id"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
    }
    let doubled: Vec<_> = per_run.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "runs with two reports: {doubled:?}");
    let s = btw::store::Store::open(Path::new(&store)).unwrap();
    let runs = jobs.values().chain(orders.values()).map(|r| &r[0]);
    for r in runs {
        let n = &r["result"];
        assert_eq!(r["outcome"], "ok", "{n}: {r:#}");
        let id = r["run_id"].as_str().unwrap();
        let run = s.run_get(id).unwrap().unwrap();
        assert_eq!(
            run.outcome, "ok",
            "{n}: run {id} is recorded {}",
            run.outcome
        );
        // Never run again after its end: one `ok` in all the daemons' logs (none when its
        // daemon was killed between the end record and the log line).
        let oks = logs.matches(&format!("run {id} ok")).count();
        assert!(oks <= 1, "run {id} ran to its end {oks} times\n{logs}");
    }
    assert!(s.daemon_unfinished().unwrap().is_empty());
    // The sandbox placed one order per quote.
    let o = output(
        btw(&url, &root.path().join("site-0/data"))
            .args(["schedule", "list", "--all", "--json", "--store", &store]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let listed: Vec<Value> = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(listed.len(), plan.jobs);
    let not_done: Vec<_> = listed.iter().filter(|j| j["state"] != "done").collect();
    assert!(not_done.is_empty(), "{not_done:#?}");
    let orders: std::collections::HashSet<&str> = jobs
        .values()
        .filter_map(|r| r[0]["result"]["order"].as_str())
        .collect();
    assert_eq!(orders.len(), plan.jobs, "one order per job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_on_their_own_postgres_through_a_stall_a_restart_and_a_kill() {
    chaos(Plan {
        jobs: 24,
        orders: 8,
        stall: Duration::from_secs(8),
        settle: 40,
    })
    .await;
}

/// The long form: more jobs, a stall past the daemons' heartbeats too (so its unfinished runs
/// are adopted while it sleeps).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: over a minute; see docs/development.md"]
async fn three_daemons_on_their_own_postgres_under_long_faults() {
    chaos(Plan {
        jobs: 150,
        orders: 30,
        stall: Duration::from_secs(42),
        settle: 240,
    })
    .await;
}

/// Places one order, waits, places another: the store stops during the wait.
const TWO_ORDERS: &str = "//! name: two orders\n//! trigger: manual\n\
let a = ethernet::order(#{quote_id: params.q1});\nprint(`first placed ${a.id}`);\n\
time::sleep(3.0);\nlet b = ethernet::order(#{quote_id: params.q2});\n#{first: a.id, second: b.id}\n";

/// A run whose ledger record meets a stopped store is not failed: it stops unfinished, the
/// daemon resumes it under its run id once the store answers, the ledger replays the order
/// already placed, and the run ends `ok` with two orders at BT, not three.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_ledger_record_meets_a_stopped_store_resumes_when_it_answers() {
    let Some(pg) = OwnPg::start() else { return };
    let store = pg.url();
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    std::fs::write(f.recipes.join("two.rhai"), TWO_ORDERS).unwrap();
    let src = "let a = []; for i in 0..2 { a.push(ethernet::quote(#{product: \"EtherflowInternet\", bandwidth: 100, term: 12, a_end: \"LS1 5HD\"}).id); } a";
    let (outcome, _) = run_text(client(&url), src).await;
    let quotes = outcome.result.unwrap();
    let args = ["--recipes", f.recipes.to_str().unwrap(), "--store", &store];
    let d = serve_listening(&url, &f.data, &args);
    d.wait_log("two.rhai: loaded", 1).await;
    let job = json!({"recipe": "two.rhai", "params": {"q1": quotes[0], "q2": quotes[1]}});
    std::fs::write(f.recipes.join("inbox/.j.tmp"), job.to_string()).unwrap();
    std::fs::rename(
        f.recipes.join("inbox/.j.tmp"),
        f.recipes.join("inbox/j.json"),
    )
    .unwrap();
    // The run's line, not the recipe's text (which a trace-level log of the store shows too).
    d.wait_log("first placed EOR", 1).await;
    // The store goes away while the run sleeps: its second order's record meets it stopped.
    pg.stop();
    d.wait_log("resuming it from its ledger once the store answers", 1)
        .await;
    pg.start_server();
    wait_for("the run's report", 30, || !reports(&f.recipes).is_empty())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;
    let all = reports(&f.recipes);
    assert_eq!(all.len(), 1, "{log}");
    let r = &all[0];
    assert_eq!(r["outcome"], "ok", "{r:#}\n{log}");
    assert!(r["result"]["second"].is_string(), "{r:#}");
    let placed = journal(&url).await["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "ethernetOrder")
        .count();
    assert_eq!(placed, 2, "the first order is not placed again\n{log}");
    assert!(log.contains("was done in an earlier attempt"), "{log}");
    let s = btw::store::Store::open(Path::new(&store)).unwrap();
    let id = r["run_id"].as_str().unwrap();
    assert_eq!(s.run_get(id).unwrap().unwrap().outcome, "ok");
    assert!(!log.contains("panicked"), "{log}");
}
