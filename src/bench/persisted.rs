//! A journey on a sandbox with a long persisted history against one on a fresh persistent
//! sandbox: the state file's cost must stay flat with history (goal: at most 1.1× the CPU); and
//! a persistent sandbox's throughput against an in-memory one's, now that every change is
//! committed before it is answered (goal: at least 0.8×). CPU is this process's (client and
//! sandbox), to the microsecond; each side's figure is the median of several windows taken in
//! turn with the other sides'.

use super::journeys::{self, Baseline, Measured};
use super::report::Row;
use super::server::BenchSandbox;
use std::path::Path;
use std::time::Duration;

/// Journeys run before measuring, to give the sandbox its history.
pub const HISTORY: usize = 1000;

/// Long enough for every submitted order to complete (two order steps of 0.5 s, see
/// `server.rs`) and the clock's tick to see it.
const SETTLE: Duration = Duration::from_millis(1500);

/// Measured windows per side; each side reports its median window.
pub const REPS: usize = 5;

/// What the scenario measured: the median window on each side and the CPU each journey cost;
/// the median throughput of a fresh persistent sandbox and of an in-memory one.
pub struct Persisted {
    pub fresh: Measured,
    pub after: Measured,
    pub memory: Measured,
    pub fresh_cpu_per_journey: Duration,
    pub after_cpu_per_journey: Duration,
    pub fresh_journeys_per_s: f64,
}

impl Persisted {
    /// CPU per journey after the history, over CPU per journey on a fresh sandbox.
    pub fn cpu_ratio(&self) -> f64 {
        self.after_cpu_per_journey.as_secs_f64()
            / self.fresh_cpu_per_journey.as_secs_f64().max(1e-9)
    }

    /// Journeys per second on a fresh persistent sandbox over those on an in-memory one.
    pub fn throughput_ratio(&self) -> f64 {
        self.fresh_journeys_per_s / self.memory.journeys_per_s().max(1e-9)
    }
}

/// This process's CPU time (user + system, every thread), to the microsecond.
fn cpu_time() -> Option<Duration> {
    super::cpu_used(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// Starts a sandbox on `state_file` (in memory when `None`), runs `f` against it, and stops it
/// (saving its state).
async fn with_sandbox<T, F, Fut>(state_file: Option<&Path>, f: F) -> Result<T, String>
where
    F: FnOnce(journeys::Baseline) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let sb = BenchSandbox::start_with(0, state_file.map(Path::to_path_buf))
        .map_err(|e| format!("sandbox: {e}"))?;
    let result = match Baseline::connect(&sb.url).await {
        Ok(base) => f(base).await,
        Err(e) => Err(e),
    };
    sb.stop().await;
    result
}

/// `n` journeys at `c`, failing the scenario if any journey failed.
async fn journeys_ok(base: &Baseline, n: usize, c: usize, what: &str) -> Result<Measured, String> {
    let m = journeys::baseline_journeys(base, n, c).await;
    if m.failed > 0 {
        return Err(format!(
            "{what}: {} journeys failed: {}",
            m.failed,
            m.first_error.clone().unwrap_or_default()
        ));
    }
    Ok(m)
}

/// Gives `state_file` a history of `history` journeys, all completed and saved.
async fn build_history(state_file: &Path, history: usize, c: usize) -> Result<(), String> {
    with_sandbox(Some(state_file), |base| async move {
        journeys_ok(&base, history, c, "history").await?;
        tokio::time::sleep(SETTLE).await;
        Ok(())
    })
    .await
}

/// One measured window on the sandbox kept in `state_file` (in memory when `None`): a warm-up of
/// `c` journeys, then `n` journeys whose CPU is counted, their completions and saves included
/// (each side pays for its own journeys and for the same idle time).
async fn window(
    state_file: Option<&Path>,
    n: usize,
    c: usize,
) -> Result<(Measured, Duration), String> {
    with_sandbox(state_file, |base| async move {
        journeys_ok(&base, c, c, "warm-up").await?;
        tokio::time::sleep(SETTLE).await;
        let before = cpu_time().ok_or("cannot read this process's CPU time")?;
        let m = journeys_ok(&base, n, c, "measured").await?;
        tokio::time::sleep(SETTLE).await;
        let cpu = cpu_time()
            .ok_or("cannot read this process's CPU time")?
            .saturating_sub(before);
        Ok((m, cpu / n.max(1) as u32))
    })
    .await
}

/// A copy of a stopped sandbox's state file (with its write-ahead log, if one was left).
fn copy_state(from: &Path, to: &Path) -> Result<(), String> {
    let wal = |p: &Path| std::path::PathBuf::from(format!("{}-wal", p.display()));
    let copy = |a: &Path, b: &Path| {
        std::fs::copy(a, b)
            .map(drop)
            .map_err(|e| format!("copying {}: {e}", a.display()))
    };
    copy(from, to)?;
    if wal(from).exists() {
        copy(&wal(from), &wal(to))?;
    }
    Ok(())
}

/// The window whose CPU per journey is the median.
fn median(mut windows: Vec<(Measured, Duration)>) -> (Measured, Duration) {
    windows.sort_by_key(|w| w.1);
    windows.swap_remove(windows.len() / 2)
}

/// The window whose throughput is the median.
fn median_rate(mut windows: Vec<Measured>) -> Measured {
    windows.sort_by(|a, b| a.journeys_per_s().total_cmp(&b.journeys_per_s()));
    windows.swap_remove(windows.len() / 2)
}

/// Fresh against after `history` journeys against in memory, `reps` windows each, taken in turn
/// so that a change in the machine's load falls on every side: each fresh window on a new state
/// file, each "after" window on a copy of one state file built with the history once.
pub async fn measure(
    dir: &Path,
    history: usize,
    n: usize,
    c: usize,
    reps: usize,
) -> Result<Persisted, String> {
    let built = dir.join("history.db");
    build_history(&built, history, c).await?;
    let (mut fresh, mut after, mut memory) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..reps.max(1) {
        memory.push(window(None, n, c).await?.0);
        fresh.push(window(Some(&dir.join(format!("fresh-{r}.db"))), n, c).await?);
        let copy = dir.join(format!("history-{r}.db"));
        copy_state(&built, &copy)?;
        after.push(window(Some(&copy), n, c).await?);
    }
    let fresh_journeys_per_s =
        median_rate(fresh.iter().map(|w| w.0.clone()).collect()).journeys_per_s();
    let (fresh, fresh_cpu) = median(fresh);
    let (after, after_cpu) = median(after);
    Ok(Persisted {
        fresh,
        after,
        memory: median_rate(memory),
        fresh_cpu_per_journey: fresh_cpu,
        after_cpu_per_journey: after_cpu,
        fresh_journeys_per_s,
    })
}

/// Runs the scenario in a scratch folder, adds its three rows; what it measured.
pub async fn rows(rows: &mut Vec<Row>, n: usize, c: usize) -> Result<Persisted, String> {
    let scratch = super::Scratch::new("persisted").map_err(|e| e.to_string())?;
    let p = measure(&scratch.0, HISTORY, n, c, REPS).await?;
    super::say(format!(
        "persisted state (median of {REPS} windows each): fresh {:.1} journeys/s, {:.3} ms CPU each; after {HISTORY}: {:.1} journeys/s, {:.3} ms CPU each ({:.3}×)",
        p.fresh.journeys_per_s(),
        p.fresh_cpu_per_journey.as_secs_f64() * 1000.0,
        p.after.journeys_per_s(),
        p.after_cpu_per_journey.as_secs_f64() * 1000.0,
        p.cpu_ratio()
    ));
    super::say(format!(
        "throughput (median of {REPS} windows each): fresh state file {:.1} journeys/s, in memory {:.1} journeys/s ({:.3}×)",
        p.fresh_journeys_per_s,
        p.memory.journeys_per_s(),
        p.throughput_ratio()
    ));
    let what = "6. Persistent sandbox (plain reqwest)";
    rows.push(Row::of(what, "in memory (no state file)", c, &p.memory));
    rows.push(Row::of(what, "fresh state file", c, &p.fresh));
    rows.push(Row::of(
        what,
        &format!("after {HISTORY} persisted journeys"),
        c,
        &p.after,
    ));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_reads() {
        assert!(cpu_time().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scenario_runs_and_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let p = measure(dir.path(), 6, 4, 2, 2).await.unwrap();
        assert_eq!(
            (p.fresh.failed, p.after.failed),
            (0, 0),
            "{:?}",
            p.after.first_error
        );
        assert_eq!(
            (p.after.journeys, p.memory.journeys, p.memory.failed),
            (4, 4, 0)
        );
        assert!(p.cpu_ratio().is_finite() && p.throughput_ratio() > 0.0);
        // A measured copy of the history is in its state file: reopened, it has the history's
        // orders, the warm-up's and the window's.
        let sb = BenchSandbox::start_with(0, Some(dir.path().join("history-1.db"))).unwrap();
        let journal: serde_json::Value = reqwest::get(format!("{}/__sandbox/journal", sb.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sb.stop().await;
        let orders = journal["created"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "order")
            .count();
        assert_eq!(orders, 6 + 2 + 4, "{journal}");
    }
}
