//! The whole `btw bench` run: every scenario in turn, then the table, the targets and
//! BENCHMARKS.md.

use super::journeys::{Measured, CALLS_PER_JOURNEY};
use super::report::{self, Machine, Row, Startup, Target};
use super::{
    batch_scenario, max_target, measure, median, micro, peers, persisted, ratio_target, rss_child,
    say, scripts_dir, startup, Scratch, Side,
};
use crate::cli::BenchArgs;
use std::time::{Duration, Instant};

/// How much of each scenario a run does (`--quick` makes every one smaller).
struct Sizes {
    n: usize,
    c: usize,
    reps: usize,
    bulk_n: usize,
    rss_n: usize,
    startup_reps: usize,
}

impl Sizes {
    fn of(args: &BenchArgs) -> Sizes {
        let quick = args.quick;
        Sizes {
            n: args
                .journeys
                .unwrap_or(if quick { 150 } else { 400 })
                .max(1),
            c: args.concurrency.max(1),
            reps: args.reps.unwrap_or(if quick { 1 } else { 5 }).max(1),
            bulk_n: if quick { 100 } else { 500 },
            rss_n: if quick { 200 } else { 400 },
            startup_reps: if quick { 5 } else { 20 },
        }
    }
}

/// Repetitions of the peers scenario (`--quick`: fewer).
pub(super) fn peer_reps(quick: bool) -> peers::Reps {
    match quick {
        true => peers::Reps {
            single: 5,
            newman: 2,
            batch: 1,
        },
        false => peers::Reps {
            single: 15,
            newman: 5,
            batch: 3,
        },
    }
}

/// Throughput and overhead (scenarios 1 and 2): the sides interleaved, so a noisy moment hits
/// every side alike; the median of each side.
struct Throughput {
    ratio_nostore: f64,
    ratio_store: f64,
}

async fn throughput(sz: &Sizes, rows: &mut Vec<Row>) -> Result<Throughput, String> {
    let sides = [Side::Baseline, Side::BtwNoStore, Side::BtwStore];
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); sides.len()];
    for rep in 1..=sz.reps {
        for (i, side) in sides.iter().enumerate() {
            let m = measure(*side, 0, sz.n, sz.c).await?;
            say(format!(
                "throughput {rep}/{}: {:<36} {:>7.1} journeys/s, {} failed",
                sz.reps,
                side.label(),
                m.journeys_per_s(),
                m.failed
            ));
            runs[i].push(m);
        }
    }
    let medians: Vec<Measured> = runs.into_iter().map(median).collect();
    for (side, m) in sides.iter().zip(&medians) {
        rows.push(Row::of("1. Throughput", side.label(), sz.c, m));
    }
    let base_jps = medians[0].journeys_per_s();
    Ok(Throughput {
        ratio_nostore: medians[1].journeys_per_s() / base_jps,
        ratio_store: medians[2].journeys_per_s() / base_jps,
    })
}

/// Latency-bound bulk (scenario 3): 200 ms added to every call, against the ideal wall time.
struct LatencyBound {
    btw: Duration,
    baseline: Duration,
    ideal: Duration,
}

impl LatencyBound {
    const CONCURRENCY: usize = 50;

    fn ratio(&self) -> f64 {
        self.btw.as_secs_f64() / self.ideal.as_secs_f64()
    }
}

async fn latency_bound(sz: &Sizes, rows: &mut Vec<Row>) -> Result<LatencyBound, String> {
    let bulk_c = LatencyBound::CONCURRENCY;
    let ideal =
        Duration::from_secs_f64(sz.bulk_n as f64 * CALLS_PER_JOURNEY as f64 * 0.2 / bulk_c as f64);
    let btw = measure(Side::BtwStore, 200, sz.bulk_n, bulk_c).await?;
    say(format!(
        "latency-bound: btw {:.2} s (ideal {:.2} s)",
        btw.wall.as_secs_f64(),
        ideal.as_secs_f64()
    ));
    let base = measure(Side::Baseline, 200, sz.bulk_n, bulk_c).await?;
    say(format!(
        "latency-bound: baseline {:.2} s",
        base.wall.as_secs_f64()
    ));
    let scenario = "3. Latency-bound (+200 ms/call)";
    rows.push(Row::of(scenario, Side::BtwStore.label(), bulk_c, &btw));
    rows.push(Row::of(scenario, Side::Baseline.label(), bulk_c, &base));
    Ok(LatencyBound {
        btw: btw.wall,
        baseline: base.wall,
        ideal,
    })
}

/// `batch::run` from one script, and peak RSS at C = 100 in a child (scenario 5); the RSS in MB.
async fn batch_and_rss(sz: &Sizes, rows: &mut Vec<Row>) -> Result<f64, String> {
    let batch = batch_scenario(sz.n, sz.c).await?;
    say(format!(
        "batch::run: {:.1} journeys/s, {} failed",
        batch.journeys_per_s(),
        batch.failed
    ));
    rows.push(Row::of(
        "5. `batch::run` in one script",
        "btw + SQLite ledger",
        sz.c,
        &batch,
    ));
    let rss = rss_child(sz.rss_n).await?;
    say(format!("RSS at C = 100: {:?} MB", rss.peak_rss_mb));
    let rss_mb = rss.peak_rss_mb.unwrap_or(f64::NAN);
    rows.push(rss);
    Ok(rss_mb)
}

/// A btw ÷ Hurl ratio against its ceiling; not met when Hurl was not measured.
fn peer_target(what: &str, goal: f64, measured: Option<f64>) -> Target {
    match measured {
        Some(m) => max_target(what, goal, m, "×"),
        None => Target {
            what: what.into(),
            goal: format!("≤ {goal}×"),
            measured: "not measured (Hurl missing: see Peers)".into(),
            met: false,
            margin: "–".into(),
        },
    }
}

/// The targets first (in its order), then the earlier ones that still hold.
fn targets(r: &Measurements, sz: &Sizes) -> Vec<Target> {
    let c = sz.c;
    let (single, batch) = (r.peers.single, r.peers.batch);
    let pc = peers::BATCH_C;
    vec![
        peer_target("one journey, whole process, sandbox running: btw ÷ Hurl wall", 0.6, single.map(|s| s.0)),
        peer_target("one journey, whole process, sandbox running: btw ÷ Hurl CPU", 0.6, single.map(|s| s.1)),
        peer_target(&format!("{} journeys at C = {pc} (`batch::run` vs `hurl --jobs {pc}`): btw ÷ Hurl CPU", peers::BATCH_N), 0.5, batch.map(|b| b.1)),
        peer_target(&format!("{} journeys at C = {pc} (`batch::run` vs `hurl --jobs {pc}`): btw ÷ Hurl wall", peers::BATCH_N), 0.7, batch.map(|b| b.0)),
        ratio_target(
            &format!("btw ÷ baseline throughput at C = {c}, with the SQLite ledger"),
            0.85,
            r.throughput.ratio_store,
        ),
        max_target("peak RSS of the btw client at C = 100", 40.0, r.rss_mb, " MB"),
        max_target(
            &format!(
                "CPU per journey after {} persisted journeys ÷ on a fresh persistent sandbox",
                persisted::HISTORY
            ),
            1.10,
            r.persisted.cpu_ratio(),
            "×",
        ),
        ratio_target(
            &format!(
                "throughput of a persistent sandbox (fresh state file) ÷ an in-memory one at C = {c}"
            ),
            0.80,
            r.persisted.throughput_ratio(),
        ),
        Target {
            what: "the first `btw run` that has to start the background sandbox (median wall; a one-off)".into(),
            goal: "report it".into(),
            measured: format!("{:.1} ms", r.starts[1].median_ms),
            met: r.starts[1].failed == 0,
            margin: "–".into(),
        },
        ratio_target(
            &format!("btw ÷ baseline throughput at C = {c}, no store"),
            0.85,
            r.throughput.ratio_nostore,
        ),
        max_target(
            &format!(
                "latency-bound bulk: wall ÷ ideal ({} × {CALLS_PER_JOURNEY} × 200 ms ÷ {} = {:.1} s)",
                sz.bulk_n,
                LatencyBound::CONCURRENCY,
                r.bulk.ideal.as_secs_f64()
            ),
            1.10,
            r.bulk.ratio(),
            "×",
        ),
        max_target(
            "`btw run` of a trivial script, sandbox running (median wall)",
            50.0,
            r.starts[0].median_ms,
            " ms",
        ),
    ]
}

/// What the scenarios measured, for the targets.
struct Measurements {
    throughput: Throughput,
    bulk: LatencyBound,
    starts: Vec<Startup>,
    rss_mb: f64,
    persisted: persisted::Persisted,
    peers: peers::Peers,
}

/// Everything one run measured, for the report.
struct Results {
    machine: Machine,
    began: Instant,
    rows: Vec<Row>,
    micros: Vec<micro::Micro>,
    targets: Vec<Target>,
    m: Measurements,
}

fn markdown(sz: &Sizes, r: &Results) -> String {
    let command = std::iter::once("btw".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z").to_string();
    let mut md = String::from("# btw benchmarks\n\n");
    md.push_str("Generated by `cargo run --release -- bench` (`btw bench --help`); the notes at the end are written by hand.\n\n");
    md.push_str("## Machine and command\n\n");
    md.push_str(&report::machine_section(
        &r.machine,
        &format!(
            "cargo run --release -- {}",
            command.trim_start_matches("btw ")
        ),
        &date,
        r.began.elapsed(),
    ));
    md.push_str(&format!(
        "\nJourney: `scripts/bench_provide.rhai` — reseller (token reuse), verify name, domain and username, qualify, ringfence, address search, create, submit: {CALLS_PER_JOURNEY} API calls, no completion wait. \
         Throughput rows are the median of {} run(s) of {} journeys, each on a fresh in-memory sandbox after an untimed warm-up of {} journeys; the sandbox runs in the same process on its own 2-thread runtime, so client and server share the CPUs. \
         Latency is per API call, from send to body read.\n\n",
        sz.reps,
        sz.n,
        sz.c.min(sz.n)
    ));
    md.push_str("## Results\n\n");
    md.push_str(&report::table(&r.rows));
    md.push_str(&format!(
        "\nOverhead: btw ÷ baseline throughput = **{:.3}** with the SQLite ledger, **{:.3}** without it.  \n\
         Latency-bound bulk: btw {:.2} s, baseline {:.2} s, ideal {:.2} s: btw at **{:.3} ×** the ideal.\n\n",
        r.m.throughput.ratio_store,
        r.m.throughput.ratio_nostore,
        r.m.bulk.btw.as_secs_f64(),
        r.m.bulk.baseline.as_secs_f64(),
        r.m.bulk.ideal.as_secs_f64(),
        r.m.bulk.ratio()
    ));
    md.push_str("## Per-run costs: before and after each change\n\n");
    md.push_str(&report::micro_table(&r.micros));
    md.push_str(&peers_section(&r.m.peers));
    md.push_str("\n## Start-up\n\n");
    md.push_str(&report::startup_table(&r.m.starts));
    md.push_str("\n## Targets\n\n");
    md.push_str(&report::targets_table(&r.targets));
    md.push_str(&failures(&r.rows));
    md
}

/// The first error of every scenario where journeys failed, or nothing.
fn failures(rows: &[Row]) -> String {
    let failed: usize = rows.iter().map(|r| r.failed).sum();
    if failed == 0 {
        return String::new();
    }
    let mut md = format!("\n**{failed} journeys failed**; first errors:\n\n");
    for r in rows.iter().filter(|r| r.failed > 0) {
        md.push_str(&format!(
            "- {} / {}: {}\n",
            r.scenario,
            r.side,
            r.first_error.as_deref().unwrap_or("?")
        ));
    }
    md
}

/// The peers section: what ran, the table, and the ratios.
fn peers_section(p: &peers::Peers) -> String {
    let mut md = String::from("\n## Peers: the guide's seven calls, whole processes\n\n");
    md.push_str(
        "Token, verify the company name, qualify, ringfence, address search, create, submit (no completion wait), \
         from `bench/peers/`: `journey.rhai` (and `batch.rhai`), `journey.hurl`, `journey.postman_collection.json`. \
         Each run is a whole process against one in-process sandbox on port 0, the same for all three; \
         CPU is the child's own (getrusage of children). btw fetches one token per process and reuses it; \
         each Hurl file fetches its own. btw also registers its notification listener before the first mutating call \
         (one subscription call, and its removal at exit).\n\n",
    );
    if !p.versions.is_empty() {
        md.push_str(&format!("Versions: {}.\n\n", p.versions.join(", ")));
    }
    md.push_str(&peers::table(p));
    let ratio = |r: Option<(f64, f64)>| {
        r.map_or("not measured".to_string(), |(w, c)| {
            format!("wall **{w:.2}×**, CPU **{c:.2}×**")
        })
    };
    md.push_str(&format!(
        "\nbtw ÷ Hurl: one journey {}; {} journeys at C = {}: {}.\n",
        ratio(p.single),
        peers::BATCH_N,
        peers::BATCH_C,
        ratio(p.batch)
    ));
    md
}

pub(super) async fn run_all(args: &BenchArgs) -> Result<(), String> {
    let began = Instant::now();
    let mut machine = Machine::probe();
    let sz = Sizes::of(args);
    let mut rows = Vec::new();

    // What each optimisation moved, per run, old way against new.
    let recipe_text = std::fs::read_to_string(scripts_dir().join("bench_provide.rhai"))
        .map_err(|e| format!("scripts/bench_provide.rhai: {e}"))?;
    let micro_dir = Scratch::new("micro").map_err(|e| e.to_string())?;
    let mut micros = micro::measure(&recipe_text, &micro_dir.0);
    drop(micro_dir);
    let sb = super::server::BenchSandbox::start(0).map_err(|e| format!("sandbox: {e}"))?;
    micros.extend(micro::listener(&sb.url).await);
    sb.stop().await;

    // First: single whole-process runs are the most sensitive to what else runs.
    let peers = peers::run(peer_reps(args.quick)).await?;
    let throughput = throughput(&sz, &mut rows).await?;
    let bulk = latency_bound(&sz, &mut rows).await?;
    let rss_mb = batch_and_rss(&sz, &mut rows).await?;
    let persisted = persisted::rows(&mut rows, sz.n, sz.c).await?;
    let starts = startup(sz.startup_reps).await?;
    for s in &starts {
        say(format!(
            "{}: median {:.1} ms, p95 {:.1} ms",
            s.what, s.median_ms, s.p95_ms
        ));
    }
    machine.load_after = report::load_average();
    let m = Measurements {
        throughput,
        bulk,
        starts,
        rss_mb,
        persisted,
        peers,
    };
    let results = Results {
        machine,
        began,
        rows,
        micros,
        targets: targets(&m, &sz),
        m,
    };
    let md = markdown(&sz, &results);
    println!("\n{}", report::table(&results.rows));
    println!("{}", peers::table(&results.m.peers));
    println!("{}", report::startup_table(&results.m.starts));
    println!("{}", report::micro_table(&results.micros));
    println!("{}", report::targets_table(&results.targets));
    report::write_markdown(&args.out, &md).map_err(|e| format!("{}: {e}", args.out.display()))?;
    say(format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        began.elapsed().as_secs_f64()
    ));
    Ok(())
}
