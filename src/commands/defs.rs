//! `btw defs`: Rhai definition files of the script surface, for editors.

use super::{code, Outcome};
use std::path::PathBuf;

pub(super) fn command(dir: Option<PathBuf>) -> Outcome {
    Ok(code(crate::repl::defs_command(dir)))
}
