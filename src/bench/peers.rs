//! The peers comparison: the guide's seven calls (token, verify, qualify, ringfence, address,
//! create, submit; `bench/peers/`) by btw, Hurl and newman, each a whole process against one
//! running sandbox, timed by wall clock and by the CPU the child used (getrusage of children).

use super::server::BenchSandbox;
use super::{btw_command, say, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Journeys of the throughput row, and how many run at once.
pub const BATCH_N: usize = 200;
pub const BATCH_C: usize = 16;
/// The sandbox's number pools: journeys spread over them.
const AREAS: [&str; 12] = [
    "020", "0113", "0114", "0115", "0116", "0117", "0118", "0121", "0131", "0141", "0151", "0161",
];

/// One line of the peers table: a tool doing one kind of run, medians over `runs`.
#[derive(Clone, Debug)]
pub struct PeerRow {
    pub tool: String,
    pub what: String,
    pub journeys: usize,
    pub concurrency: usize,
    pub runs: usize,
    pub wall_ms: f64,
    pub cpu_ms: f64,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// What the scenario measured, and what it could not (a missing prerequisite, with how to
/// install it).
#[derive(Clone, Debug, Default)]
pub struct Peers {
    pub rows: Vec<PeerRow>,
    pub missing: Vec<String>,
    /// btw ÷ Hurl on one journey: (wall, CPU).
    pub single: Option<(f64, f64)>,
    /// btw ÷ Hurl on 200 journeys at C = 16: (wall, CPU).
    pub batch: Option<(f64, f64)>,
    pub versions: Vec<String>,
}

/// How much of the scenario to run.
#[derive(Clone, Copy, Debug)]
pub struct Reps {
    pub single: usize,
    pub newman: usize,
    pub batch: usize,
}

/// CPU time (user + system) of this process's waited-for children so far.
fn children_cpu() -> Duration {
    #[cfg(unix)]
    {
        super::cpu_used(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap_or_default()
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

/// One whole-process run: wall time, the child's CPU, and why it failed.
struct Proc {
    wall: Duration,
    cpu: Duration,
    error: Option<String>,
}

fn timed(mut cmd: Command) -> Proc {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let cpu0 = children_cpu();
    let started = Instant::now();
    let out = cmd.output();
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu0);
    let error = match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Some(format!(
                "exit {:?}: {}",
                o.status.code(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ))
        }
        Err(e) => Some(e.to_string()),
    };
    Proc { wall, cpu, error }
}

/// The first line `cmd --version` prints, or why it cannot run.
fn version(program: &str) -> Result<String, String> {
    match Command::new(program).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()),
        Ok(o) => Err(format!(
            "`{program} --version` exited {:?}",
            o.status.code()
        )),
        Err(e) => Err(format!("`{program}` cannot run: {e}")),
    }
}

/// The median of each of wall and CPU, and the failures, of repeated runs.
fn summarise(tool: &str, what: &str, journeys: usize, c: usize, runs: Vec<Proc>) -> PeerRow {
    let median = |mut v: Vec<Duration>| {
        v.sort_unstable();
        v.get(v.len() / 2)
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    let ok: Vec<&Proc> = runs.iter().filter(|p| p.error.is_none()).collect();
    PeerRow {
        tool: tool.into(),
        what: what.into(),
        journeys,
        concurrency: c,
        runs: runs.len(),
        wall_ms: median(ok.iter().map(|p| p.wall).collect()),
        cpu_ms: median(ok.iter().map(|p| p.cpu).collect()),
        failed: runs.len() - ok.len(),
        first_error: runs.iter().find_map(|p| p.error.clone()),
    }
}

/// The files of the comparison, in the repository.
fn peers_dir() -> PathBuf {
    let here = PathBuf::from("bench/peers");
    if here.join("journey.hurl").is_file() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/peers")
    }
}

/// Builds each side's command lines; every journey gets a fresh company name.
struct Sides {
    exe: PathBuf,
    home: PathBuf,
    port: u16,
    url: String,
    dir: PathBuf,
    next: usize,
}

impl Sides {
    fn fresh(&mut self) -> (String, &'static str) {
        self.next += 1;
        (format!("{:06}", self.next), AREAS[self.next % AREAS.len()])
    }

    fn btw(&self, recipe: &str, params: &[String]) -> Command {
        let mut c = btw_command(&self.exe, &self.home, self.port);
        c.arg("run").arg(self.dir.join(recipe));
        for p in params {
            c.arg("--param").arg(p);
        }
        c
    }

    /// Hurl over `files` (their company and area written in: `--variable` would read
    /// `0121` as a number).
    fn hurl(&self, files: &[PathBuf], jobs: usize) -> Command {
        let mut c = Command::new("hurl");
        c.env("HOME", &self.home)
            .args(["--test", "--jobs", &jobs.to_string()])
            .args(["--variable", &format!("base={}", self.url)])
            .args(files);
        c
    }

    fn newman(&mut self) -> Command {
        let (suffix, area) = self.fresh();
        let mut c = Command::new("newman");
        c.env("HOME", &self.home)
            .arg("run")
            .arg(self.dir.join("journey.postman_collection.json"))
            .args(["--env-var", &format!("base={}", self.url)])
            .args(["--env-var", &format!("suffix={suffix}")])
            .args(["--env-var", &format!("area={area}")]);
        c
    }

    /// `n` copies of journey.hurl, each with its own company and area, for `hurl --jobs`.
    fn hurl_files(&mut self, n: usize, into: &Path) -> std::io::Result<Vec<PathBuf>> {
        let text = std::fs::read_to_string(self.dir.join("journey.hurl"))?;
        let dir = into.join(format!("hurl-{}", self.next));
        std::fs::create_dir_all(&dir)?;
        (0..n)
            .map(|i| {
                let (suffix, area) = self.fresh();
                let path = dir.join(format!("journey-{i:03}.hurl"));
                let body = text
                    .replace("{{suffix}}", &suffix)
                    .replace("{{area}}", area);
                std::fs::write(&path, body).map(|_| path)
            })
            .collect()
    }
}

/// Runs the comparison against one in-process sandbox on port 0 (the same for all three).
pub async fn run(reps: Reps) -> Result<Peers, String> {
    let sb = BenchSandbox::start(0).map_err(|e| format!("sandbox: {e}"))?;
    let url = sb.url.clone();
    let result = tokio::task::spawn_blocking(move || measure(&url, reps))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    sb.stop().await;
    result
}

fn measure(url: &str, reps: Reps) -> Result<Peers, String> {
    let mut peers = Peers::default();
    let hurl = version("hurl");
    let newman = version("newman");
    for (tool, v, how) in [
        ("Hurl", &hurl, "`cargo install hurl@8.0.1 --locked` (after `apt-get install libcurl4-openssl-dev libxml2-dev libclang-dev pkg-config`)"),
        ("newman", &newman, "`npm install -g newman`"),
    ] {
        match v {
            Ok(v) => peers.versions.push(format!("{tool}: {v}")),
            Err(e) => {
                let line = format!("{tool} is not installed ({e}): its rows are missing; install it with {how}");
                say(&line);
                peers.missing.push(line);
            }
        }
    }
    let scratch = Scratch::new("peers").map_err(|e| e.to_string())?;
    let mut sides = Sides {
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        home: scratch.0.clone(),
        port: url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or("the sandbox has no port")?,
        url: url.to_string(),
        dir: std::fs::canonicalize(peers_dir()).map_err(|e| format!("bench/peers: {e}"))?,
        next: 0,
    };
    single(
        &mut sides,
        &mut peers,
        reps,
        (hurl.is_ok(), newman.is_ok()),
        &scratch.0,
    )?;
    batch(&mut sides, &mut peers, reps, hurl.is_ok(), &scratch.0)?;
    Ok(peers)
}

fn ratios(btw: &PeerRow, hurl: &PeerRow) -> Option<(f64, f64)> {
    (btw.failed < btw.runs && hurl.failed < hurl.runs)
        .then(|| (btw.wall_ms / hurl.wall_ms, btw.cpu_ms / hurl.cpu_ms))
}

/// One journey, whole process, interleaved so a noisy moment hits every side alike.
fn single(
    sides: &mut Sides,
    peers: &mut Peers,
    reps: Reps,
    (hurl, newman): (bool, bool),
    scratch: &Path,
) -> Result<(), String> {
    // Untimed: the first start of each pays for the page cache.
    let _ = timed(sides.btw("journey.rhai", &[]));
    let files = match hurl {
        true => sides
            .hurl_files(reps.single + 1, scratch)
            .map_err(|e| format!("writing the Hurl files: {e}"))?,
        false => Vec::new(),
    };
    if let Some(f) = files.first() {
        let _ = timed(sides.hurl(std::slice::from_ref(f), 1));
    }
    let (mut b, mut h) = (Vec::new(), Vec::new());
    for i in 0..reps.single {
        b.push(timed(sides.btw("journey.rhai", &[])));
        if let Some(f) = files.get(i + 1) {
            h.push(timed(sides.hurl(std::slice::from_ref(f), 1)));
        }
    }
    let what = "one journey, whole process";
    let btw_row = summarise("btw run journey.rhai", what, 1, 1, b);
    if hurl {
        let hurl_row = summarise("hurl --test journey.hurl", what, 1, 1, h);
        peers.single = ratios(&btw_row, &hurl_row);
        peers.rows.push(btw_row);
        peers.rows.push(hurl_row);
    } else {
        peers.rows.push(btw_row);
    }
    if newman {
        let _ = timed(sides.newman());
        let runs = (0..reps.newman).map(|_| timed(sides.newman())).collect();
        peers.rows.push(summarise(
            "newman run journey.postman_collection.json",
            what,
            1,
            1,
            runs,
        ));
    }
    for r in &peers.rows {
        say(format!(
            "peers: {:<44} wall {:>7.1} ms, CPU {:>7.1} ms, {} failed",
            r.tool, r.wall_ms, r.cpu_ms, r.failed
        ));
    }
    Ok(())
}

/// 200 journeys at C = 16: `batch::run` in one btw script against `hurl --jobs 16` over 200 files.
fn batch(
    sides: &mut Sides,
    peers: &mut Peers,
    reps: Reps,
    hurl: bool,
    scratch: &Path,
) -> Result<(), String> {
    let areas = serde_json::to_string(&AREAS).unwrap_or_default();
    let params = [
        format!("n={BATCH_N}"),
        format!("c={BATCH_C}"),
        format!("area_codes={areas}"),
    ];
    let (mut b, mut h) = (Vec::new(), Vec::new());
    for _ in 0..reps.batch {
        b.push(timed(sides.btw("batch.rhai", &params)));
        if hurl {
            let files = sides
                .hurl_files(BATCH_N, scratch)
                .map_err(|e| format!("writing the Hurl files: {e}"))?;
            h.push(timed(sides.hurl(&files, BATCH_C)));
        }
    }
    let what = format!("{BATCH_N} journeys at C = {BATCH_C}");
    let btw_row = summarise(
        "btw run batch.rhai (`batch::run`)",
        &what,
        BATCH_N,
        BATCH_C,
        b,
    );
    let mut rows = vec![btw_row];
    if hurl {
        let hurl_row = summarise(
            &format!("hurl --test --jobs {BATCH_C} (200 files)"),
            &what,
            BATCH_N,
            BATCH_C,
            h,
        );
        peers.batch = ratios(&rows[0], &hurl_row);
        rows.push(hurl_row);
    }
    for r in &rows {
        say(format!(
            "peers: {:<44} wall {:>7.1} ms, CPU {:>7.1} ms, {} failed",
            r.tool, r.wall_ms, r.cpu_ms, r.failed
        ));
    }
    peers.rows.extend(rows);
    Ok(())
}

/// The peers table, in Markdown.
pub fn table(p: &Peers) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "| Tool | Run | Journeys | C | Runs | Median wall ms | Median CPU ms (child) | Failed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &p.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} |",
            r.tool, r.what, r.journeys, r.concurrency, r.runs, r.wall_ms, r.cpu_ms, r.failed
        );
    }
    for r in p.rows.iter().filter(|r| r.failed > 0) {
        let _ = writeln!(
            s,
            "\n{} failed {} of {} runs; first error: {}",
            r.tool,
            r.failed,
            r.runs,
            r.first_error.as_deref().unwrap_or("?")
        );
    }
    for m in &p.missing {
        let _ = writeln!(s, "\n**Not measured:** {m}.");
    }
    s
}
