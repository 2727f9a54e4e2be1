//! `btw bench`: the performance harness. It starts its own sandboxes (in memory, port 0, on their
//! own runtime), runs the scenarios of the performance issue, prints a table and writes
//! BENCHMARKS.md with the machine and the command.
//!
//! 1. throughput: provide journeys (`scripts/bench_provide.rhai`, no completion wait) through
//!    `runner::run` at concurrency C, with and without the SQLite store;
//! 2. overhead: the same HTTP calls in plain reqwest + serde_json, in the same run;
//! 3. latency-bound bulk: 200 ms added to every call, 500 journeys at C = 50, against the ideal;
//! 4. start-up: `btw run` of a one-line script and `btw check` of the shipped recipes;
//! 5. `batch::run` from one script, and peak RSS at C = 100 in a child process;
//! 6. peers: the guide's seven calls by btw, Hurl and newman, whole processes (`peers.rs`).

mod journeys;
mod micro;
mod peers;
mod persisted;
mod report;
mod server;
mod suite;

use crate::cli::BenchArgs;
use crate::runner::{self, Script};
use crate::store::Store;
use journeys::{Baseline, Measured};
use report::{Row, Startup, Target};
use serde_json::{json, Map, Value};
use server::BenchSandbox;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// CPU time (user + system) used so far by this process, every thread (`RUSAGE_SELF`), or by its
/// waited-for children (`RUSAGE_CHILDREN`), to the microsecond.
#[cfg(unix)]
fn cpu_used(who: nix::sys::resource::UsageWho) -> Option<std::time::Duration> {
    use std::time::Duration;
    let usage = nix::sys::resource::getrusage(who).ok()?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    Some(tv(usage.user_time()) + tv(usage.system_time()))
}

fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

/// The folder of the shipped recipes: ./scripts when run from the repository, else the crate's.
fn scripts_dir() -> PathBuf {
    let here = PathBuf::from("scripts");
    if here.join("bench_provide.rhai").is_file() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
    }
}

/// A private scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> std::io::Result<Scratch> {
        let p = std::env::temp_dir().join(format!(
            "btw-bench-{}-{tag}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which way a throughput measurement runs its journeys.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    Baseline,
    BtwNoStore,
    BtwStore,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Baseline => "plain reqwest baseline",
            Side::BtwNoStore => "btw, no store",
            Side::BtwStore => "btw + SQLite ledger (as `btw run`)",
        }
    }
}

/// One measurement on a fresh sandbox: a warm-up of `c` journeys (not timed), then `n`.
async fn measure(side: Side, latency_ms: u64, n: usize, c: usize) -> Result<Measured, String> {
    let sb = BenchSandbox::start(latency_ms).map_err(|e| format!("sandbox: {e}"))?;
    let result = async {
        let warm = c.min(n);
        match side {
            Side::Baseline => {
                let base = Baseline::connect(&sb.url).await?;
                journeys::baseline_journeys(&base, warm, c).await;
                Ok(journeys::baseline_journeys(&base, n, c).await)
            }
            Side::BtwNoStore | Side::BtwStore => {
                let scratch = Scratch::new("store").map_err(|e| e.to_string())?;
                let store = match side {
                    Side::BtwStore => {
                        Some(Store::open(&scratch.0.join("btw.db")).map_err(|e| e.to_string())?)
                    }
                    _ => None,
                };
                let ctx = journeys::run_context(journeys::bt_client(&sb.url), store);
                let script = Script::from_file(&scripts_dir().join("bench_provide.rhai"))
                    .map_err(|f| f.render())?;
                journeys::btw_journeys(&ctx, &script, warm, c).await;
                Ok(journeys::btw_journeys(&ctx, &script, n, c).await)
            }
        }
    }
    .await;
    sb.stop().await;
    result
}

/// The median (by journeys/s) of repeated measurements.
fn median(mut ms: Vec<Measured>) -> Measured {
    ms.sort_by(|a, b| a.journeys_per_s().total_cmp(&b.journeys_per_s()));
    ms.swap_remove(ms.len() / 2)
}

/// Runs `cmd` `reps` times; median and p95 of the whole-process wall time.
fn time_command(
    what: &str,
    reps: usize,
    mut cmd: impl FnMut() -> std::process::Command,
) -> Startup {
    let mut times = Vec::new();
    let mut failed = 0;
    for _ in 0..reps {
        // Building the command may prepare the run (e.g. stop a sandbox): not timed.
        let mut command = cmd();
        let started = Instant::now();
        let out = command.output();
        let took = started.elapsed();
        match out {
            Ok(o) if o.status.success() => times.push(took),
            Ok(o) => {
                failed += 1;
                say(format!(
                    "{what}: exit {:?}: {}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Err(e) => {
                failed += 1;
                say(format!("{what}: {e}"));
            }
        }
    }
    times.sort_unstable();
    let ms = |q: f64| journeys::quantile(&times, q).as_secs_f64() * 1000.0;
    Startup {
        what: what.into(),
        runs: reps,
        median_ms: ms(0.5),
        p95_ms: ms(0.95),
        failed,
    }
}

/// A `btw` process with a clean environment: its own data folder and no user configuration.
fn btw_command(exe: &Path, home: &Path, sandbox_port: u16) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("BTW_DATA_DIR", home)
        .env("BTW_SANDBOX_PORT", sandbox_port.to_string())
        .current_dir(home)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Stops the background sandbox a measured `btw run` started on `port`, if one runs.
fn stop_sandbox(exe: &Path, home: &Path, port: u16) {
    let mut c = btw_command(exe, home, port);
    let _ = c
        .args(["sandbox", "stop"])
        .stdout(std::process::Stdio::null())
        .status();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_099)
}

async fn startup(reps: usize) -> Result<Vec<Startup>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let home = Scratch::new("startup").map_err(|e| e.to_string())?;
    let one = home.0.join("one.rhai");
    std::fs::write(&one, "1 + 1\n").map_err(|e| e.to_string())?;
    let recipes: Vec<PathBuf> = std::fs::read_dir(scripts_dir())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    let running = BenchSandbox::start(0).map_err(|e| e.to_string())?;
    let running_port: u16 = running
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let (exe2, home2, one2) = (exe.clone(), home.0.clone(), one.clone());
    let rows = tokio::task::spawn_blocking(move || {
        let (exe, home, one) = (exe2, home2, one2);
        let cold_port = free_port();
        vec![
            time_command(
                "`btw run one.rhai` (`1 + 1`), sandbox already running",
                reps,
                || {
                    let mut c = btw_command(&exe, &home, running_port);
                    c.arg("run").arg(&one);
                    c
                },
            ),
            time_command(
                "`btw run one.rhai` (`1 + 1`), no sandbox: starts the background one",
                reps,
                || {
                    stop_sandbox(&exe, &home, cold_port);
                    let mut c = btw_command(&exe, &home, cold_port);
                    c.arg("run").arg(&one);
                    c
                },
            ),
            {
                stop_sandbox(&exe, &home, cold_port);
                time_command(
                    &format!("`btw check scripts/*.rhai` ({} recipes)", recipes.len()),
                    reps,
                    || {
                        let mut c = btw_command(&exe, &home, cold_port);
                        c.arg("check").args(&recipes);
                        c
                    },
                )
            },
        ]
    })
    .await
    .map_err(|e| e.to_string())?;
    running.stop().await;
    drop(home);
    Ok(rows)
}

/// The C = 100 scenario in a child process (its own VmHWM), against a sandbox here.
async fn rss_child(n: usize) -> Result<Row, String> {
    let sb = BenchSandbox::start(0).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = tokio::process::Command::new(exe)
        .args(["bench", "--scenario", "rss", "--concurrency", "100"])
        .args(["--journeys", &n.to_string(), "--url", &sb.url])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| e.to_string());
    sb.stop().await;
    let out = out?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str::<Row>(line).map_err(|e| format!("child said {text:?}: {e}"))
}

/// The child side of [`rss_child`]: journeys with the store, as `btw run` does, then VmHWM.
async fn rss_scenario(args: &BenchArgs) -> i32 {
    let Some(url) = &args.url else {
        say("--scenario rss needs --url");
        return runner::exit::USAGE;
    };
    let n = args.journeys.unwrap_or(300);
    let c = args.concurrency;
    let Ok(scratch) = Scratch::new("rss") else {
        return runner::exit::INTERNAL;
    };
    let store = match Store::open(&scratch.0.join("btw.db")) {
        Ok(s) => s,
        Err(e) => {
            say(e.to_string());
            return runner::exit::INTERNAL;
        }
    };
    let ctx = journeys::run_context(journeys::bt_client(url), Some(store));
    let script = match Script::from_file(&scripts_dir().join("bench_provide.rhai")) {
        Ok(s) => s,
        Err(f) => {
            say(f.render());
            return runner::exit::USAGE;
        }
    };
    let m = journeys::btw_journeys(&ctx, &script, n, c).await;
    let mut row = Row::of(
        "RSS at C = 100 (child process)",
        Side::BtwStore.label(),
        c,
        &m,
    );
    row.peak_rss_mb = report::peak_rss_mb();
    println!("{}", serde_json::to_string(&row).unwrap_or_default());
    runner::exit::OK
}

/// `batch::run` from one script: the same journeys, their concurrency in the script's hands.
async fn batch_scenario(n: usize, c: usize) -> Result<Measured, String> {
    let sb = BenchSandbox::start(0).map_err(|e| format!("sandbox: {e}"))?;
    let result = async {
        let scratch = Scratch::new("batch").map_err(|e| e.to_string())?;
        let store = Store::open(&scratch.0.join("btw.db")).map_err(|e| e.to_string())?;
        let ctx = journeys::run_context(journeys::bt_client(&sb.url), Some(store));
        let mut script = Script::inline(
            "bench_batch.rhai",
            "let items = [];\nfor i in 0..params.n { items.push(#{}); }\n\
             let results = batch::run(\"bench_provide\", items, params.c);\n\
             results.filter(|r| !r.ok).len()\n",
        );
        script.dir = Some(scripts_dir());
        let client = ctx.client.clone();
        let run = |n: usize| {
            let (ctx, script) = (ctx.clone(), script.clone());
            let mut params = Map::new();
            params.insert("n".into(), json!(n));
            params.insert("c".into(), json!(c));
            async move { runner::run(ctx, script, params).await }
        };
        run(c).await;
        client.take_latencies();
        client.record_latencies(true);
        let before = client.calls_made();
        let outcome = run(n).await;
        client.record_latencies(false);
        let latencies = client.take_latencies();
        let (failed, first_error) = match &outcome.result {
            Ok(Value::Number(k)) => (k.as_u64().unwrap_or(0) as usize, None),
            Ok(other) => (n, Some(format!("unexpected result {other}"))),
            Err(f) => (n, Some(f.render())),
        };
        let timed = (outcome.elapsed, failed, first_error);
        let calls = client.calls_made() - before;
        Ok(Measured::new(n, timed, calls, latencies))
    }
    .await;
    sb.stop().await;
    result
}

fn ratio_target(what: &str, goal: f64, measured: f64) -> Target {
    Target {
        what: what.into(),
        goal: format!("≥ {goal:.2}"),
        measured: format!("{measured:.3}"),
        met: measured >= goal,
        margin: format!("{:+.1} %", (measured / goal - 1.0) * 100.0),
    }
}

fn max_target(what: &str, goal: f64, measured: f64, unit: &str) -> Target {
    Target {
        what: what.into(),
        goal: format!("≤ {goal}{unit}"),
        measured: format!("{measured:.2}{unit}"),
        met: measured <= goal,
        margin: format!("{:+.1} %", (measured / goal - 1.0) * 100.0),
    }
}

/// `btw bench`.
pub async fn main(args: BenchArgs) -> i32 {
    if args.scenario.as_deref() == Some("rss") {
        return rss_scenario(&args).await;
    }
    if args.scenario.as_deref() == Some("persisted") {
        // The state file's cost with history, alone (it is also part of the whole run).
        let mut rows = Vec::new();
        let n = args.journeys.unwrap_or(200).max(1);
        return match persisted::rows(&mut rows, n, args.concurrency.max(1)).await {
            Ok(p) => {
                println!("{}", report::table(&rows));
                println!(
                    "CPU per journey after {} persisted journeys ÷ fresh: {:.3}×",
                    persisted::HISTORY,
                    p.cpu_ratio()
                );
                println!(
                    "throughput of a persistent sandbox ÷ an in-memory one: {:.3}×",
                    p.throughput_ratio()
                );
                runner::exit::OK
            }
            Err(e) => {
                eprintln!("error: bench: {e}");
                runner::exit::INTERNAL
            }
        };
    }
    if args.scenario.as_deref() == Some("peers") {
        return match peers::run(suite::peer_reps(args.quick)).await {
            Ok(p) => {
                println!("{}", peers::table(&p));
                runner::exit::OK
            }
            Err(e) => {
                eprintln!("error: bench: {e}");
                runner::exit::INTERNAL
            }
        };
    }
    if let Some(s) = &args.scenario {
        say(format!(
            "unknown scenario {s:?} (there are: rss, persisted, peers)"
        ));
        return runner::exit::USAGE;
    }
    match suite::run_all(&args).await {
        Ok(()) => runner::exit::OK,
        Err(e) => {
            eprintln!("error: bench: {e}");
            runner::exit::INTERNAL
        }
    }
}
