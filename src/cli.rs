//! The command line (clap derive): the doc comments here are the help text.

use crate::config::Profile;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// btw — script BT Wholesale's ordering APIs (WHC hosted voice, number porting, Ethernet).
///
/// With no configuration, every command talks to the embedded BT sandbox on loopback,
/// so journeys can be tried offline. Point it at BT with --profile test or live.
///
/// Exit codes: 0 ok · 1 internal error · 2 usage or configuration · 3 script error
/// (syntax, runtime, limits) · 4 BT answered an error · 5 BT unreachable or no answer ·
/// 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "btw", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Where calls go: sandbox (default, embedded), test (BT's test environment) or live.
    #[arg(long, global = true, value_enum, env = "BTW_PROFILE")]
    pub profile: Option<Profile>,
    /// Configuration file (default: ./btw.toml, then the user's config folder).
    #[arg(long, global = true, value_name = "FILE", env = "BTW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Allow calls that change anything at BT on the live profile (real orders).
    #[arg(long, global = true)]
    pub confirm_live: bool,
    /// More diagnostic output on stderr (-v: one line per BT call, -vv: debug, -vvv: trace with
    /// each call's headers and bodies). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a recipe script.
    ///
    /// The script's parameters arrive as the map `params`; its result is the value of its
    /// last expression. Example: btw run scripts/whc_provide.rhai --param company_name="The Fun Network"
    Run(RunArgs),
    /// Compile scripts without running them: syntax errors are shown with file:line:column.
    Check {
        /// The scripts to check.
        #[arg(required = true, value_name = "SCRIPT")]
        scripts: Vec<PathBuf>,
    },
    /// The daemon: watch a recipes folder, run on-drop recipes and inbox jobs, fire scheduled
    /// jobs, run recipes on order notifications, and write a report for every run.
    ///
    /// Folder layout: DIR/*.rhai recipes (their `//! trigger:` header says when they run),
    /// DIR/inbox/*.json jobs ({"recipe", "params", "at"}), DIR/runs/<run_id>.json reports.
    /// Stop with Ctrl-C or SIGTERM: runs in flight get --grace seconds, then are interrupted
    /// and resumed on the next start.
    Serve(ServeArgs),
    /// Run the BT sandbox on its own, for curl, Postman or other btw processes.
    Sandbox(SandboxArgs),
    /// Explore the API interactively: a Rhai prompt with the whole script surface.
    ///
    /// Tab completes modules, functions and map keys; `:help` lists the modules and
    /// `:help whc::company` shows a function's doc and example; open brackets continue on the
    /// next line; Ctrl-C stops a running call; `:save FILE` writes the session as a recipe.
    /// History is kept in btw's data folder (repl_history).
    Repl,
    /// Write Rhai definition files of the script surface, for editors (rhai-lsp, VS Code).
    Defs {
        /// Where to write them (created if missing).
        #[arg(value_name = "DIR", default_value = "defs")]
        dir: Option<std::path::PathBuf>,
    },
    /// Measure btw against the sandbox: journeys/s, per-call latency, overhead against plain
    /// reqwest, latency-bound bulk, start-up and peak RSS; prints a table and writes BENCHMARKS.md.
    ///
    /// Run it from the repository with a release build: cargo run --release -- bench
    /// (about three minutes on 2 cores; --quick for a smoke test).
    Bench(BenchArgs),
    /// Scheduled jobs: list, add (--at WHEN or --cron EXPR, in UK time) and cancel recipes that
    /// `btw serve` runs at a set time. Works on the daemon's store while it runs.
    Schedule(ScheduleArgs),
    /// Print a shell completion script: btw completions bash > /etc/bash_completion.d/btw,
    /// btw completions zsh > "${fpath[1]}/_btw", btw completions fish > ~/.config/fish/completions/btw.fish
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe script (.rhai). Not needed with --resume.
    #[arg(value_name = "SCRIPT", required_unless_present = "resume")]
    pub script: Option<PathBuf>,
    /// Re-run a run that crashed or failed, with its recorded script and parameters: steps it
    /// completed return their recorded results without calling BT again.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["params", "params_file"])]
    pub resume: Option<String>,
    /// A parameter, key=value. The value is JSON when it is a number, true/false, null, an array
    /// or an object; otherwise a string (so 0121 stays "0121"). Repeatable; wins over --params.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Parameters from a JSON object file.
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Print one JSON object (the result's fields, ok, run_id, error) as the last line of stdout;
    /// the script's own print lines go to stderr.
    #[arg(long)]
    pub json: bool,
    /// Write every HTTP request and response of the run to FILE as JSON lines (method, URL,
    /// headers, bodies, status, duration, tracking id), secrets redacted.
    #[arg(long, value_name = "FILE")]
    pub trace_http: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = crate::config::SANDBOX_PORT)]
    pub port: u16,
    /// Address to listen on. Keep loopback unless you mean to share it.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Where the sandbox keeps its state between runs (default: the user's data folder).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Keep no state on disk: start from the seed data and forget everything on exit.
    #[arg(long, conflicts_with = "state")]
    pub memory: bool,
    /// Start afresh: discard the saved state first.
    #[arg(long)]
    pub reset: bool,
    /// Sandbox clock speed relative to real time (e.g. 60: a minute per second).
    #[arg(long, default_value_t = 1.0, value_parser = crate::config::secs_in(0.001..=100_000.0))]
    pub speed: f64,
    /// Sandbox-clock seconds between order states (acknowledged → inProgress → completed).
    #[arg(long, default_value_t = 2.0, value_name = "SECS", value_parser = crate::config::secs_in(0.0..=86_400.0))]
    pub order_step: f64,
    /// Accept only this client key (with --client-secret); by default any key and secret get a token.
    #[arg(long, requires = "client_secret", env = "BTW_SANDBOX_CLIENT_KEY")]
    pub client_key: Option<String>,
    /// Inject a fault (repeatable), e.g. `status=503,count=3,path=/bt-wholesale/v1/whc`,
    /// `latency=200`, `path=/bt-wholesale/v1/order/productOrder,method=POST,drop=after,count=1`.
    /// Keys: method, path, latency, jitter (ms), status, rate, retry_after, drop (before|after), count.
    /// Faults can also be changed at run time: POST/DELETE /__sandbox/faults.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Sandbox-clock seconds before the losing provider accepts or rejects a port.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = crate::config::secs_in(0.0..=86_400.0))]
    pub lcp_delay: f64,
    /// The secret that goes with --client-key.
    #[arg(
        long,
        requires = "client_key",
        env = "BTW_SANDBOX_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The recipes folder to watch (created if missing).
    #[arg(long, value_name = "DIR")]
    pub recipes: PathBuf,
    /// The store (SQLite: ledger, runs, scheduled jobs, notifications); default: the data folder's btw.db.
    /// `btw schedule --state FILE` works on the same file while the daemon runs.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seconds in-flight runs get to finish on shutdown before they are interrupted.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub grace: u64,
    /// A scheduled job missed while the daemon was down runs (once) if it is at most this late;
    /// later, it is marked missed.
    #[arg(long, default_value_t = 3600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=366 * 86_400))]
    pub catch_up: u64,
    /// Milliseconds a file must stay unchanged before it is read.
    #[arg(long, default_value_t = 300, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub debounce_ms: u64,
}

/// Options of `btw bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Journeys per throughput measurement (default 400; 150 with --quick).
    #[arg(long, value_name = "N")]
    pub journeys: Option<usize>,
    /// Journeys in flight at once in the throughput scenario.
    #[arg(long, value_name = "C", default_value_t = 32)]
    pub concurrency: usize,
    /// A smaller, faster run (one repetition, fewer journeys): a smoke test, not the numbers.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the results (the notes section of an existing file is kept).
    #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// Repetitions of each throughput measurement; the median is reported (default 5; 1 with --quick).
    #[arg(long, value_name = "R")]
    pub reps: Option<usize>,
    /// Internal: run one scenario in this process and print it as JSON (`rss`).
    #[arg(long, hide = true)]
    pub scenario: Option<String>,
    /// Internal: the sandbox a child scenario talks to.
    #[arg(long, hide = true)]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The store file (default: btw.db in btw's data folder), as given to `btw serve --state`.
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Print JSON instead of a table or a sentence.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List jobs still to run (scheduled or running), soonest first; times shown in UK time.
    List {
        /// Also jobs that have ended: done, missed, cancelled, failed.
        #[arg(long)]
        all: bool,
    },
    /// Schedule a recipe: once (--at) or on a cron expression (--cron), in UK time by default.
    ///
    /// Examples: btw schedule add --at "2026-12-01 10:00" scripts/port_activate.rhai --param port_id=PO123
    ///           btw schedule add --cron "0 10 * * 1-5" scripts/daily_report.rhai
    Add(AddArgs),
    /// Cancel a job so it never fires again (a run in progress finishes).
    Cancel {
        /// The job id, as `btw schedule list` shows it.
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// When to run once: RFC 3339 (2026-12-01T10:00:00Z) or local time ("2026-12-01 10:00").
    /// A local time in the spring-forward gap runs when the gap ends; in the repeated autumn
    /// hour, at its first occurrence.
    #[arg(
        long,
        value_name = "WHEN",
        conflicts_with = "cron",
        required_unless_present = "cron"
    )]
    pub at: Option<String>,
    /// A cron expression (minute hour day month weekday), e.g. "0 10 * * 1-5": 10:00 local time
    /// on weekdays, all year.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The recipe script to run (stored as an absolute path; it must exist now).
    #[arg(value_name = "RECIPE")]
    pub recipe: PathBuf,
    /// A parameter for the recipe, key=value (as for `btw run`). Repeatable.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// The time zone for --at local times and --cron.
    #[arg(long, value_name = "ZONE", default_value = "Europe/London")]
    pub tz: String,
    /// Run it anyway if the daemon reaches it this many seconds late (after downtime);
    /// later than that it is marked missed. Default: the daemon's window (1 hour).
    #[arg(long, value_name = "SECS")]
    pub catch_up: Option<u64>,
}
