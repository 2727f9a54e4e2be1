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
    Repl(ReplArgs),
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
    /// Scheduled jobs: list, add (--at WHEN or --cron EXPR, in UK time), cancel, retry, run now
    /// and repin recipes that `btw serve` runs at a set time. Works on the daemon's store while
    /// it runs.
    Schedule(ScheduleArgs),
    /// The runs recorded in the store, newest first: `runs list [--failed] [--recipe R]`,
    /// `runs show RUN_ID`. Works while the daemon runs.
    Runs(RunsArgs),
    /// The daemon's heartbeat, the next scheduled jobs and the recent failures, from the store.
    Status(StatusArgs),
    /// Print a shell completion script: btw completions bash > /etc/bash_completion.d/btw,
    /// btw completions zsh > "${fpath[1]}/_btw", btw completions fish > ~/.config/fish/completions/btw.fish
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// Options of `btw runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Runs newest first.
    List {
        /// Only runs that failed (any outcome but ok and running).
        #[arg(long)]
        failed: bool,
        /// Only runs of this recipe (its file name or path).
        #[arg(long, value_name = "R")]
        recipe: Option<String>,
        /// How many runs to show.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run: params, outcome, error (with BT's code and tracking id), steps, result.
    Show {
        #[arg(value_name = "RUN_ID")]
        run_id: String,
        /// The run's record as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `btw status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How the daemon writes its log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, with its time.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The store every command shares: runs, ledger, scheduled jobs, recipe versions.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArg {
    /// The store (runs, ledger, scheduled jobs): a SQLite file, or a PostgreSQL URL
    /// (postgres://user@host:5432/db) that several `btw serve` share; default: `store` in
    /// btw.toml, else btw.db in btw's data folder. `btw run`, `repl`, `schedule` and `serve`
    /// share it.
    // Env values hidden: a URL may carry a password, which `--help` must not print.
    #[arg(
        long,
        global = true,
        value_name = "PATH|URL",
        env = "BTW_STORE",
        hide_env_values = true
    )]
    pub store: Option<PathBuf>,
}

/// `--state`, the old name of `--store` on `serve` and `schedule`: kept for a release.
#[derive(Debug, Args, Clone, Default)]
pub struct StateAlias {
    /// Old name of --store (kept for one release).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        hide = true,
        conflicts_with = "store"
    )]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Write every HTTP request and response of the session to FILE as JSON lines (method, URL,
    /// headers, bodies, status, duration, tracking id), secrets redacted.
    #[arg(long, value_name = "FILE")]
    pub trace_http: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// The recipe script (.rhai); `-` reads it from standard input (`btw run <(…)` works too).
    /// Not needed with --resume.
    #[arg(value_name = "SCRIPT", required_unless_present_any = ["resume", "help"])]
    pub script: Option<PathBuf>,
    /// Re-run a run that crashed or failed, with its recorded script and parameters: steps it
    /// completed return their recorded results without calling BT again. --param corrects a
    /// recorded parameter; a completed step whose request would then change stops the run.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "params_file")]
    pub resume: Option<String>,
    /// A parameter, key=value, typed by the recipe's `//! param NAME: TYPE` declaration (so
    /// company_name=1999 is the text "1999"); a name the recipe does not declare is refused.
    /// For a recipe without typed declarations the value is JSON when it is a number,
    /// true/false, null, an array or an object, otherwise a string. Repeatable; wins over --params.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Parameters from a JSON object file.
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Print one JSON object (the result's fields, ok, run_id, error) as the last line of stdout;
    /// the script's own print lines go to stderr.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
    /// Write every HTTP request and response of the run to FILE as JSON lines (method, URL,
    /// headers, bodies, status, duration, tracking id), secrets redacted.
    #[arg(long, value_name = "FILE")]
    pub trace_http: Option<PathBuf>,
    /// Print help; with a SCRIPT, the recipe's own: what it does, its parameters and trigger.
    #[arg(short = 'h', long, action = clap::ArgAction::SetTrue)]
    pub help: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SandboxArgs {
    /// Manage the shared background sandbox instead of running one in the foreground.
    #[command(subcommand)]
    pub action: Option<SandboxAction>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = crate::config::SANDBOX_PORT, env = "BTW_SANDBOX_PORT")]
    pub port: u16,
    /// Stop after this many seconds without a request (default: run until stopped).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600))]
    pub idle_timeout: Option<u64>,
    /// Run as the shared background sandbox (how btw starts it): lock, pid file and log in
    /// the data folder.
    #[arg(long, hide = true)]
    pub background: bool,
    /// With `--background`: the folder of its lock, pid file, state and log (default: the data
    /// folder; a sandbox started beside another build's has a folder of its own).
    #[arg(long, hide = true, value_name = "DIR", requires = "background")]
    pub service_dir: Option<PathBuf>,
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

/// `btw sandbox status|stop`: the shared sandbox on BTW_SANDBOX_PORT (default 47800).
#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum SandboxAction {
    /// Whether a sandbox is running on the port (and any of other builds beside it on the next
    /// nine ports): version, pid, idle time, whether it is in use, files.
    Status {
        /// The port to look at (default: `BTW_SANDBOX_PORT`, 47800).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop the sandbox running on the port (it saves its state first).
    Stop {
        /// The port of the sandbox to stop (default: `BTW_SANDBOX_PORT`, 47800), e.g. one that
        /// a btw of another build started beside the shared one.
        #[arg(long)]
        port: Option<u16>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The recipes folder to watch (created if missing); default: `recipes` in btw's data folder.
    #[arg(long, value_name = "DIR")]
    pub recipes: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub state: StateAlias,
    /// Seconds in-flight runs get to finish on shutdown before they are interrupted.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub grace: u64,
    /// A scheduled job missed while the daemon was down runs (once) if it is at most this late;
    /// later, it is marked missed. A job's own window (a recipe's `catch-up:` header line,
    /// `schedule::at` or `btw schedule add --catch-up`) wins.
    #[arg(long, default_value_t = 3600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=366 * 86_400))]
    pub catch_up: u64,
    /// Milliseconds a file must stay unchanged before it is read.
    #[arg(long, default_value_t = 300, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub debounce_ms: u64,
    /// Runs doing script work at once — inbox, on-drop, notification and scheduled runs alike;
    /// more wait their turn. A run waiting (`order::wait`, `events::wait`, `time::sleep`,
    /// `time::sleep_until`) holds no slot: BT's rate limit (`--calls-per-sec`) paces the calls.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_runs: u64,
    /// BT's rate limit for the credential, in calls a second: every run of the daemon shares
    /// it, and daemons on one store divide it equally. Default: `calls_per_sec` of the profile
    /// in btw.toml, `BTW_CALLS_PER_SEC`, else 20 on test and live, none on the sandbox.
    #[arg(long, value_name = "N", value_parser = crate::config::secs_in(crate::config::CALLS_PER_SEC))]
    pub calls_per_sec: Option<f64>,
    /// Calls that may go at once after a quiet spell (`call_burst`, `BTW_CALL_BURST`; default 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub call_burst: Option<u32>,
    /// Seconds between full reads of the folder, which pick up any job the watcher missed.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rescan: u64,
    /// Retention: finished runs (records, ledger rows, reports), handled notifications and
    /// inbox/done and inbox/failed files older than this many seconds are pruned (default 30 days).
    #[arg(long, default_value_t = 30 * 86_400, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3650 * 86_400))]
    pub keep_for: u64,
    /// Retention: at most this many finished runs, handled notifications and inbox/done and
    /// inbox/failed jobs are kept, the newest.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub keep_runs: u64,
    /// Seconds a scheduled job's claim holds without renewal: how soon a job whose daemon
    /// died mid-run is resumed (by the next daemon's scheduler).
    #[arg(long, hide = true, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub job_lease: u64,
    /// Seconds a run's lease holds without renewal (renewed every third of it): how soon a run
    /// of a daemon that stalled or died is taken over. A taken-over run's stalled daemon stops
    /// it and writes nothing more for it.
    #[arg(long, hide = true, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub run_lease: u64,
    /// Serve the operator's console (runs, schedules, recipes, events, /healthz, /metrics) on
    /// ADDR (default 127.0.0.1:7878). Another address than loopback needs BTW_HTTP_TOKEN.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:7878")]
    pub http: Option<std::net::SocketAddr>,
    /// The log's format: text (default) or json (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
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
    /// Run one scenario alone and print it: `persisted` (a journey's CPU after 1000 persisted
    /// journeys against a fresh persistent sandbox), `peers` (btw, Hurl and newman on the
    /// guide's seven calls, from bench/peers); `rss` is internal (a child's peak memory).
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Internal: the sandbox a child scenario talks to.
    #[arg(long, hide = true)]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub state: StateAlias,
    /// Print JSON instead of a table or a sentence.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List jobs still to run (scheduled or running) and missed ones, soonest first, with their
    /// parameters (secrets hidden); times shown in UK time. A job whose recipe file changed or
    /// vanished since it was scheduled is marked (`btw schedule repin` moves it to the new one).
    List {
        /// Also jobs that have ended: done, cancelled, failed.
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
    /// Schedule a missed or failed job again, due now (within its catch-up window).
    Retry {
        /// The job id, as `btw schedule list` shows it.
        #[arg(value_name = "ID")]
        id: String,
        /// Run the recipe's current version rather than the one it was scheduled with.
        #[arg(long)]
        repin: bool,
    },
    /// Fire a job now (any job not running at the moment; a cron job then keeps its schedule).
    RunNow {
        /// The job id, as `btw schedule list` shows it.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Move a job to its recipe's current version (it runs the version it was scheduled with).
    Repin {
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
