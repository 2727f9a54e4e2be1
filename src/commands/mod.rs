//! The commands of the `btw` binary, one file each; every command returns
//! `Result<ExitCode, Failure>` and [`dispatch`] is the one place a failure becomes an exit code.

mod bench;
mod check;
mod defs;
mod log_lines;
mod repl;
mod run;
mod runs;
mod sandbox;
mod schedule;
mod serve;
mod status;
mod store_flag;

use crate::cli::{Cli, Command};
use crate::config::Overrides;
use crate::runner::{exit, Failure};
use std::process::ExitCode;

/// What a command ends with: the exit code it chose, or the failure that stopped it.
type Outcome = Result<ExitCode, Failure>;

/// An exit code from the documented numbers (all below 256).
fn code(n: i32) -> ExitCode {
    ExitCode::from(u8::try_from(n).unwrap_or(1))
}

/// A command-line parse error (or `--help`/`--version`): printed as clap formats it.
pub fn parse_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    code(if e.use_stderr() {
        exit::USAGE
    } else {
        exit::OK
    })
}

/// Runs the parsed command on a multi-threaded runtime and returns its exit code.
pub fn dispatch(cli: Cli) -> ExitCode {
    // The daemon's log is its interface: what it loads, runs and schedules shows by default.
    let daemon = matches!(cli.command, Command::Serve(_));
    if !daemon {
        // The daemon turns a panicking run into a failed run: it keeps the default hook.
        exit_quietly_on_a_closed_pipe();
    }
    let json =
        matches!(&cli.command, Command::Serve(a) if a.log_format == crate::cli::LogFormat::Json);
    // Its info level is not a request for one line per BT call, as `-v` is.
    init_tracing(
        cli.global.verbose.max(u8::from(daemon)),
        daemon && cli.global.verbose == 0,
        json,
    );
    let mut builder = match &cli.command {
        Command::Run(args) if run_needs_one_thread(args) => {
            tokio::runtime::Builder::new_current_thread()
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return code(exit::INTERNAL);
        }
    };
    let overrides = Overrides {
        profile: cli.global.profile,
        config_file: cli.global.config.clone(),
        confirm_live: cli.global.confirm_live,
    };
    let one_run = matches!(cli.command, Command::Run(_));
    let outcome = rt.block_on(async move {
        match cli.command {
            Command::Check { scripts } => check::command(&overrides, &scripts),
            Command::Run(args) => run::command(&overrides, args).await,
            Command::Sandbox(args) => sandbox::command(&overrides, args).await,
            Command::Serve(args) => serve::command(&overrides, args).await,
            Command::Repl(args) => repl::command(&overrides, args).await,
            Command::Defs { dir } => defs::command(dir),
            Command::Bench(args) => bench::command(args).await,
            Command::Schedule(args) => schedule::command(&overrides, args).await,
            Command::Runs(args) => runs::command(&overrides, args),
            Command::Status(args) => status::command(&overrides, args),
            Command::Completions { shell } => completions(shell),
        }
    });
    if one_run {
        // Everything the run started has been awaited: its idle blocking threads need not be
        // waited for on the way out.
        rt.shutdown_background();
    }
    match outcome {
        Ok(c) => c,
        Err(f) => {
            eprintln!("{}", f.render());
            code(f.exit_code())
        }
    }
}

/// Whether a `btw run` gets by with a runtime on its main thread alone: its script runs on a
/// thread of its own and makes one BT call at a time, so worker threads would only add their
/// start-up and hand-offs. A script that mentions `batch::` (many runs at once), one read from
/// standard input and a resumed run keep the multi-threaded runtime.
fn run_needs_one_thread(args: &crate::cli::RunArgs) -> bool {
    let Some(path) = args.script.as_deref().filter(|_| args.resume.is_none()) else {
        return false;
    };
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::read_to_string(path).is_ok_and(|text| !text.contains("batch::"))
}

/// `btw completions SHELL`: the completion script, generated from the clap definitions.
fn completions(shell: clap_complete::Shell) -> Outcome {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "btw", &mut std::io::stdout());
    Ok(code(exit::OK))
}

/// A usage failure (exit code 2) with this message.
fn usage(message: impl std::fmt::Display) -> Failure {
    Failure::Usage {
        message: message.to_string(),
    }
}

/// Every line has its time; `json`: one JSON object per line, for log shippers.
fn init_tracing(verbose: u8, quiet_calls: bool, json: bool) {
    use tracing_subscriber::EnvFilter;
    // The HTTP stack's own debug and trace lines say nothing about BT's API: btw's call lines
    // (and, at -vvv, each exchange whole) do.
    const QUIET: &str = "hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info,tower=info,tower_http=info,axum=info,notify=info";
    let default = match verbose {
        0 => "warn".to_string(),
        1 if quiet_calls => "info,btw::calls=warn".to_string(),
        1 => "info".to_string(),
        2 => format!("debug,{QUIET}"),
        _ => format!("trace,{QUIET}"),
    };
    let filter = EnvFilter::try_from_env("BTW_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.with_writer(std::io::stderr).json().try_init()
    } else {
        builder
            .with_writer(log_lines::StampedStderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// `btw … | head` closes btw's output early. Rust keeps SIGPIPE ignored (a network program must
/// see a reset peer as an error, not die of it), so printing then fails, and `println!` (or
/// clap's completion writer) panics; a panic over a closed pipe ends the process quietly with the
/// shell's code for one (128 + 13), as `ls | head` does. Every other panic keeps the default report.
fn exit_quietly_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe (os error 32)") || message.contains("kind: BrokenPipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
