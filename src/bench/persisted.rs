//! A journey on a sandbox with a long persisted history against one on a fresh persistent
//! sandbox: the state file's cost must stay flat with history (goal: at most 1.1× the CPU).

use super::journeys::{self, Baseline, Measured};
use super::report::Row;
use super::server::BenchSandbox;
use std::path::Path;
use std::time::Duration;

/// Journeys run before measuring, to give the sandbox its history.
pub const HISTORY: usize = 1000;

/// Long enough for every submitted order to complete (two order steps of 0.5 s, see
/// `server.rs`), the clock's tick to see it and the state file's save delay to pass.
const SETTLE: Duration = Duration::from_millis(1500);

/// What the scenario measured: journeys on each sandbox and the CPU each journey cost.
pub struct Persisted {
    pub fresh: Measured,
    pub after: Measured,
    pub fresh_cpu_per_journey: Duration,
    pub after_cpu_per_journey: Duration,
}

impl Persisted {
    /// CPU per journey after the history, over CPU per journey on a fresh sandbox.
    pub fn cpu_ratio(&self) -> f64 {
        self.after_cpu_per_journey.as_secs_f64()
            / self.fresh_cpu_per_journey.as_secs_f64().max(1e-9)
    }
}

/// This process's CPU time (user + system) from `/proc/self/stat`, in clock ticks of 10 ms.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start past its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `n` journeys (plain reqwest, so the sandbox's share of the CPU shows) after `history` ones,
/// on a sandbox keeping its state in `state_file`; the measurement and its CPU per journey.
async fn on_sandbox(
    state_file: &Path,
    history: usize,
    n: usize,
    c: usize,
) -> Result<(Measured, Duration), String> {
    let sb = BenchSandbox::start_with(0, Some(state_file.to_path_buf()))
        .map_err(|e| format!("sandbox: {e}"))?;
    let result = async {
        let base = Baseline::connect(&sb.url).await?;
        let warm = journeys::baseline_journeys(&base, history.max(c), c).await;
        if warm.failed > 0 {
            return Err(format!(
                "history: {} journeys failed: {}",
                warm.failed,
                warm.first_error.unwrap_or_default()
            ));
        }
        // The history's last orders complete and are saved before the window opens, and the
        // measured ones inside it: each side pays for its own journeys, completion and saves
        // included, and for the same idle time.
        tokio::time::sleep(SETTLE).await;
        let before = cpu_time().ok_or("no /proc/self/stat")?;
        let m = journeys::baseline_journeys(&base, n, c).await;
        tokio::time::sleep(SETTLE).await;
        let cpu = cpu_time()
            .ok_or("no /proc/self/stat")?
            .saturating_sub(before);
        Ok((m, cpu / n.max(1) as u32))
    }
    .await;
    sb.stop().await;
    result
}

/// Fresh against after `history` journeys, each on its own persistent sandbox in `dir`.
pub async fn measure(dir: &Path, history: usize, n: usize, c: usize) -> Result<Persisted, String> {
    let (fresh, fresh_cpu) = on_sandbox(&dir.join("fresh.db"), 0, n, c).await?;
    let (after, after_cpu) = on_sandbox(&dir.join("history.db"), history, n, c).await?;
    Ok(Persisted {
        fresh,
        after,
        fresh_cpu_per_journey: fresh_cpu,
        after_cpu_per_journey: after_cpu,
    })
}

/// Runs the scenario in a scratch folder, adds its two rows; the CPU ratio.
pub async fn rows(rows: &mut Vec<Row>, n: usize, c: usize) -> Result<f64, String> {
    let scratch = super::Scratch::new("persisted").map_err(|e| e.to_string())?;
    let p = measure(&scratch.0, HISTORY, n, c).await?;
    super::say(format!(
        "persisted state: fresh {:.1} journeys/s, {:.2} ms CPU each; after {HISTORY}: {:.1} journeys/s, {:.2} ms CPU each ({:.3}×)",
        p.fresh.journeys_per_s(),
        p.fresh_cpu_per_journey.as_secs_f64() * 1000.0,
        p.after.journeys_per_s(),
        p.after_cpu_per_journey.as_secs_f64() * 1000.0,
        p.cpu_ratio()
    ));
    let what = "6. Persistent sandbox (plain reqwest)";
    rows.push(Row::of(what, "fresh state file", c, &p.fresh));
    rows.push(Row::of(
        what,
        &format!("after {HISTORY} persisted journeys"),
        c,
        &p.after,
    ));
    Ok(p.cpu_ratio())
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
        let p = measure(dir.path(), 6, 4, 2).await.unwrap();
        assert_eq!(
            (p.fresh.failed, p.after.failed),
            (0, 0),
            "{:?}",
            p.after.first_error
        );
        assert_eq!(p.after.journeys, 4);
        assert!(p.cpu_ratio().is_finite());
        // The history is in the state file: reopened, it has every journey's order.
        let sb = BenchSandbox::start_with(0, Some(dir.path().join("history.db"))).unwrap();
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
        assert_eq!(orders, 10, "{journal}");
    }
}
