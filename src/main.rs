//! The `btw` binary: parse the command line, dispatch, exit with the command's code.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    match btw::cli::Cli::try_parse() {
        Ok(cli) => btw::commands::dispatch(cli),
        Err(e) => btw::commands::parse_error(e),
    }
}
