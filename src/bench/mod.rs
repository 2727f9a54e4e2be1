//! `btw bench`: the performance harness. It starts its own sandboxes (in memory, port 0, on their
//! own runtime), runs the scenarios of the performance issue, prints a table and writes
//! BENCHMARKS.md with the machine and the command.
//!
//! 1. throughput: provide journeys (`scripts/bench_provide.rhai`, no completion wait) through
//!    `runner::run` at concurrency C, with and without the SQLite store;
//! 2. overhead: the same HTTP calls in plain reqwest + serde_json, in the same run;
//! 3. latency-bound bulk: 200 ms added to every call, 500 journeys at C = 50, against the ideal;
//! 4. start-up: `btw run` of a one-line script and `btw check` of the shipped recipes;
//! 5. `batch::run` from one script, and peak RSS at C = 100 in a child process.

mod journeys;
mod micro;
mod persisted;
mod report;
mod server;

use crate::cli::BenchArgs;
use crate::runner::{self, Script};
use crate::store::Store;
use journeys::{Baseline, Measured, CALLS_PER_JOURNEY};
use report::{Machine, Row, Startup, Target};
use serde_json::{json, Map, Value};
use server::BenchSandbox;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        let mut latencies = client.take_latencies();
        latencies.sort_unstable();
        let (failed, first_error) = match &outcome.result {
            Ok(Value::Number(k)) => (k.as_u64().unwrap_or(0) as usize, None),
            Ok(other) => (n, Some(format!("unexpected result {other}"))),
            Err(f) => (n, Some(f.render())),
        };
        Ok(Measured {
            journeys: n,
            failed,
            first_error,
            wall: outcome.elapsed,
            calls: client.calls_made() - before,
            latencies,
        })
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
    if let Some(s) = &args.scenario {
        say(format!("unknown scenario {s:?} (there is: rss)"));
        return runner::exit::USAGE;
    }
    match run_all(&args).await {
        Ok(()) => runner::exit::OK,
        Err(e) => {
            eprintln!("error: bench: {e}");
            runner::exit::INTERNAL
        }
    }
}

async fn run_all(args: &BenchArgs) -> Result<(), String> {
    let began = Instant::now();
    let mut machine = Machine::probe();
    let quick = args.quick;
    let n = args
        .journeys
        .unwrap_or(if quick { 150 } else { 400 })
        .max(1);
    let c = args.concurrency.max(1);
    let reps = args.reps.unwrap_or(if quick { 1 } else { 5 }).max(1);
    let bulk_n = if quick { 100 } else { 500 };
    let rss_n = if quick { 200 } else { 400 };
    let startup_reps = if quick { 5 } else { 20 };
    let mut rows = Vec::new();

    // What each optimisation moved, per run, old way against new.
    let recipe_text = std::fs::read_to_string(scripts_dir().join("bench_provide.rhai"))
        .map_err(|e| format!("scripts/bench_provide.rhai: {e}"))?;
    let micro_dir = Scratch::new("micro").map_err(|e| e.to_string())?;
    let micros = micro::measure(&recipe_text, &micro_dir.0);
    drop(micro_dir);

    // 1 and 2: throughput and overhead, interleaved so a noisy moment hits every side alike.
    let sides = [Side::Baseline, Side::BtwNoStore, Side::BtwStore];
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); sides.len()];
    for rep in 1..=reps {
        for (i, side) in sides.iter().enumerate() {
            let m = measure(*side, 0, n, c).await?;
            say(format!(
                "throughput {rep}/{reps}: {:<36} {:>7.1} journeys/s, {} failed",
                side.label(),
                m.journeys_per_s(),
                m.failed
            ));
            runs[i].push(m);
        }
    }
    let medians: Vec<Measured> = runs.into_iter().map(median).collect();
    for (side, m) in sides.iter().zip(&medians) {
        rows.push(Row::of("1. Throughput", side.label(), c, m));
    }
    let base_jps = medians[0].journeys_per_s();
    let ratio_nostore = medians[1].journeys_per_s() / base_jps;
    let ratio_store = medians[2].journeys_per_s() / base_jps;

    // 3: latency-bound bulk.
    let bulk_c = 50;
    let ideal =
        Duration::from_secs_f64(bulk_n as f64 * CALLS_PER_JOURNEY as f64 * 0.2 / bulk_c as f64);
    let bulk_btw = measure(Side::BtwStore, 200, bulk_n, bulk_c).await?;
    say(format!(
        "latency-bound: btw {:.2} s (ideal {:.2} s)",
        bulk_btw.wall.as_secs_f64(),
        ideal.as_secs_f64()
    ));
    let bulk_base = measure(Side::Baseline, 200, bulk_n, bulk_c).await?;
    say(format!(
        "latency-bound: baseline {:.2} s",
        bulk_base.wall.as_secs_f64()
    ));
    rows.push(Row::of(
        "3. Latency-bound (+200 ms/call)",
        Side::BtwStore.label(),
        bulk_c,
        &bulk_btw,
    ));
    rows.push(Row::of(
        "3. Latency-bound (+200 ms/call)",
        Side::Baseline.label(),
        bulk_c,
        &bulk_base,
    ));
    let bulk_ratio = bulk_btw.wall.as_secs_f64() / ideal.as_secs_f64();

    // 5: batch::run from one script, and peak RSS at C = 100 in a child.
    let batch = batch_scenario(n, c).await?;
    say(format!(
        "batch::run: {:.1} journeys/s, {} failed",
        batch.journeys_per_s(),
        batch.failed
    ));
    rows.push(Row::of(
        "5. `batch::run` in one script",
        "btw + SQLite ledger",
        c,
        &batch,
    ));
    let rss = rss_child(rss_n).await?;
    say(format!("RSS at C = 100: {:?} MB", rss.peak_rss_mb));
    let rss_mb = rss.peak_rss_mb.unwrap_or(f64::NAN);
    rows.push(rss);
    let persisted_ratio = persisted::rows(&mut rows, n, c).await?;

    // 4: start-up.
    let starts = startup(startup_reps).await?;
    for s in &starts {
        say(format!(
            "{}: median {:.1} ms, p95 {:.1} ms",
            s.what, s.median_ms, s.p95_ms
        ));
    }

    machine.load_after = report::load_average();
    let failures: usize = rows.iter().map(|r| r.failed).sum();
    let targets = vec![
        ratio_target(
            &format!("btw ÷ baseline throughput at C = {c}, with the SQLite ledger"),
            0.85,
            ratio_store,
        ),
        ratio_target(
            &format!("btw ÷ baseline throughput at C = {c}, no store"),
            0.85,
            ratio_nostore,
        ),
        max_target(
            &format!("latency-bound bulk: wall ÷ ideal ({bulk_n} × {CALLS_PER_JOURNEY} × 200 ms ÷ {bulk_c} = {:.1} s)", ideal.as_secs_f64()),
            1.10,
            bulk_ratio,
            "×",
        ),
        max_target(
            "`btw run` of a trivial script, sandbox running (median wall)",
            50.0,
            starts[0].median_ms,
            " ms",
        ),
        max_target(
            "`btw run` of a trivial script, embedded sandbox started (median wall)",
            50.0,
            starts[1].median_ms,
            " ms",
        ),
        max_target("peak RSS at C = 100", 60.0, rss_mb, " MB"),
        max_target(
            &format!(
                "CPU per journey after {} persisted journeys ÷ on a fresh persistent sandbox",
                persisted::HISTORY
            ),
            1.10,
            persisted_ratio,
            "×",
        ),
    ];

    let command = std::iter::once("btw".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z").to_string();
    let mut md = String::from("# btw benchmarks\n\n");
    md.push_str("Generated by `cargo run --release -- bench` (`btw bench --help`); the notes at the end are written by hand.\n\n");
    md.push_str("## Machine and command\n\n");
    md.push_str(&report::machine_section(
        &machine,
        &format!(
            "cargo run --release -- {}",
            command.trim_start_matches("btw ")
        ),
        &date,
        began.elapsed(),
    ));
    md.push_str(&format!(
        "\nJourney: `scripts/bench_provide.rhai` — reseller (token reuse), verify name, domain and username, qualify, ringfence, address search, create, submit: {CALLS_PER_JOURNEY} API calls, no completion wait. \
         Throughput rows are the median of {reps} run(s) of {n} journeys, each on a fresh in-memory sandbox after an untimed warm-up of {} journeys; the sandbox runs in the same process on its own 2-thread runtime, so client and server share the CPUs. \
         Latency is per API call, from send to body read.\n\n",
        c.min(n)
    ));
    md.push_str("## Results\n\n");
    md.push_str(&report::table(&rows));
    md.push_str(&format!(
        "\nOverhead: btw ÷ baseline throughput = **{ratio_store:.3}** with the SQLite ledger, **{ratio_nostore:.3}** without it.  \n\
         Latency-bound bulk: btw {:.2} s, baseline {:.2} s, ideal {:.2} s: btw at **{bulk_ratio:.3} ×** the ideal.\n\n",
        bulk_btw.wall.as_secs_f64(),
        bulk_base.wall.as_secs_f64(),
        ideal.as_secs_f64()
    ));
    md.push_str("## Per-run costs: before and after each change\n\n");
    md.push_str(&report::micro_table(&micros));
    md.push_str("\n## Start-up\n\n");
    md.push_str(&report::startup_table(&starts));
    md.push_str("\n## Targets\n\n");
    md.push_str(&report::targets_table(&targets));
    if failures > 0 {
        md.push_str(&format!(
            "\n**{failures} journeys failed**; first errors:\n\n"
        ));
        for r in rows.iter().filter(|r| r.failed > 0) {
            md.push_str(&format!(
                "- {} / {}: {}\n",
                r.scenario,
                r.side,
                r.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
    println!("\n{}", report::table(&rows));
    println!("{}", report::startup_table(&starts));
    println!("{}", report::micro_table(&micros));
    println!("{}", report::targets_table(&targets));
    report::write_markdown(&args.out, &md).map_err(|e| format!("{}: {e}", args.out.display()))?;
    say(format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        began.elapsed().as_secs_f64()
    ));
    Ok(())
}
