//! `btw check`: compile scripts without running them.

use super::{code, usage, Outcome};
use crate::config::{Overrides, Settings};
use crate::runner::{self, exit, Script};
use std::path::PathBuf;

/// Checks every script, reporting each failure; the exit code is the worst of them.
pub(super) fn command(overrides: &Overrides, scripts: &[PathBuf]) -> Outcome {
    let limits = Settings::load(overrides).map_err(|e| usage(e.0))?.limits;
    let mut worst = exit::OK;
    for path in scripts {
        match Script::from_file(path).and_then(|s| {
            runner::check(&s, &limits)?;
            check_header(&s)
        }) {
            Ok(notes) => {
                println!("ok: {}", path.display());
                for note in notes {
                    eprintln!("note: {}: {note}", path.display());
                }
            }
            Err(f) => {
                eprintln!("{}", f.render());
                worst = worst.max(f.exit_code());
            }
        }
    }
    Ok(code(worst))
}

/// The recipe's header: its declarations read (each with a type, defaults that fit it), and a
/// recipe its trigger would start without what it requires refused. Returns the header's notes
/// (a deprecated `params:` line).
fn check_header(script: &Script) -> Result<Vec<String>, runner::Failure> {
    let header = script.header()?;
    match crate::recipe::trigger_problem(&header) {
        Some(problem) => Err(runner::Failure::Usage {
            message: format!("{}: {problem}", script.name),
        }),
        None => Ok(header.notes),
    }
}
