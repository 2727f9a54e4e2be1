//! The bench's results: table rows, the machine they ran on, and BENCHMARKS.md.

use super::journeys::Measured;
use std::fmt::Write as _;
use std::time::Duration;

/// One line of the results table.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub scenario: String,
    pub side: String,
    pub journeys: usize,
    pub concurrency: usize,
    pub wall_s: f64,
    pub journeys_per_s: f64,
    pub calls_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mb: Option<f64>,
    pub failed: usize,
    pub first_error: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Row {
    pub fn of(scenario: &str, side: &str, c: usize, m: &Measured) -> Row {
        Row {
            scenario: scenario.into(),
            side: side.into(),
            journeys: m.journeys,
            concurrency: c,
            wall_s: m.wall.as_secs_f64(),
            journeys_per_s: m.journeys_per_s(),
            calls_per_s: m.calls_per_s(),
            p50_ms: ms(m.latency(0.50)),
            p95_ms: ms(m.latency(0.95)),
            p99_ms: ms(m.latency(0.99)),
            peak_rss_mb: None,
            failed: m.failed,
            first_error: m.first_error.clone(),
        }
    }
}

/// Start-up timings of one command line, over repetitions.
#[derive(Clone, Debug)]
pub struct Startup {
    pub what: String,
    pub runs: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub failed: usize,
}

/// One target of the issue and how the run did against it.
#[derive(Clone, Debug)]
pub struct Target {
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
    pub margin: String,
}

/// The machine and conditions of a run.
#[derive(Clone, Debug)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub rustc: String,
    pub os: String,
    pub load_before: String,
    pub load_after: String,
}

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Machine {
    pub fn probe() -> Machine {
        let memory = first_line_with("/proc/meminfo", "MemTotal")
            .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown (rustc not on PATH)".into());
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| format!("{} {}", std::env::consts::OS, r.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.into());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: first_line_with("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| "unknown".into()),
            memory,
            rustc,
            os,
            load_before: load_average(),
            load_after: String::new(),
        }
    }
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mb() -> Option<f64> {
    first_line_with("/proc/self/status", "VmHWM")
        .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1}"))
}

/// The results table, in Markdown (it reads as plain text too).
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| Scenario | Side | Journeys | C | Wall s | Journeys/s | API calls/s | p50 ms | p95 ms | p99 ms | Peak RSS MB | Failed |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            r.scenario,
            r.side,
            r.journeys,
            r.concurrency,
            r.wall_s,
            r.journeys_per_s,
            r.calls_per_s,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            opt(r.peak_rss_mb),
            r.failed
        );
    }
    s
}

pub fn startup_table(rows: &[Startup]) -> String {
    let mut s = String::new();
    s.push_str("| Command (whole process) | Runs | Median ms | p95 ms | Failed |\n");
    s.push_str("|---|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {} |",
            r.what, r.runs, r.median_ms, r.p95_ms, r.failed
        );
    }
    s
}

pub fn micro_table(rows: &[super::micro::Micro]) -> String {
    let mut s = String::new();
    s.push_str("| Cost | Before | µs | After | µs | Saved µs |\n|---|---|---:|---|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} | {:.1} | {:.1} |",
            r.what,
            r.old,
            r.old_us,
            r.new,
            r.new_us,
            r.old_us - r.new_us
        );
    }
    s
}

pub fn targets_table(targets: &[Target]) -> String {
    let mut s = String::new();
    s.push_str("| Target | Goal | Measured | Met | Margin |\n|---|---|---|---|---|\n");
    for t in targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            t.what,
            t.goal,
            t.measured,
            if t.met { "yes" } else { "**no**" },
            t.margin
        );
    }
    s
}

/// Where the hand-written part of BENCHMARKS.md starts; it is kept when the file is rewritten.
pub const NOTES_MARKER: &str = "<!-- notes: everything below this line is kept by `btw bench` -->";

/// Writes the generated results, keeping the notes section of an existing file.
pub fn write_markdown(path: &std::path::Path, generated: &str) -> std::io::Result<()> {
    let notes = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| old.find(NOTES_MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_else(|| format!("{NOTES_MARKER}\n\n## Notes\n\n(none yet)\n"));
    std::fs::write(path, format!("{generated}\n{notes}"))
}

/// The machine section.
pub fn machine_section(m: &Machine, command: &str, date: &str, elapsed: Duration) -> String {
    format!(
        "- Date: {date}\n- Command: `{command}` (took {:.0} s, release build not included)\n\
         - CPU: {} × {}\n- Memory: {}\n- OS: {}\n- Compiler: {}\n\
         - Load average (1/5/15 min) before: {}, after: {}\n",
        elapsed.as_secs_f64(),
        m.cpus,
        m.cpu_model,
        m.memory,
        m.os,
        m.rustc,
        m.load_before,
        m.load_after
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_a_rewrite() {
        let dir = std::env::temp_dir().join(format!("btw-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        write_markdown(&path, "# first\n").unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.starts_with("# first\n") && first.contains(NOTES_MARKER));
        let edited = first.replace("(none yet)", "hand-written");
        std::fs::write(&path, edited).unwrap();
        write_markdown(&path, "# second\n").unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(second.starts_with("# second\n"), "{second}");
        assert!(second.contains("hand-written") && !second.contains("# first"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn table_has_a_line_per_row() {
        let rows = vec![Row::default(), Row::default()];
        assert_eq!(table(&rows).lines().count(), 4);
    }
}
