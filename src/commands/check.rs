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
        match Script::from_file(path).and_then(|s| runner::check(&s, &limits)) {
            Ok(()) => println!("ok: {}", path.display()),
            Err(f) => {
                eprintln!("{}", f.render());
                worst = worst.max(f.exit_code());
            }
        }
    }
    Ok(code(worst))
}
