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
/// recipe a header trigger starts with nothing to supply a required parameter refused. Returns
/// the header's notes (a deprecated `params:` line).
fn check_header(script: &Script) -> Result<Vec<String>, runner::Failure> {
    use crate::recipe::Trigger;
    let header = script.header()?;
    let started_alone = matches!(
        header.trigger,
        Trigger::Cron { .. } | Trigger::At(_) | Trigger::OnDrop
    );
    if let (true, Some(specs)) = (started_alone, header.params.typed()) {
        let required: Vec<&str> = specs
            .iter()
            .filter(|s| s.required)
            .map(|s| s.name.as_str())
            .collect();
        if !required.is_empty() {
            return Err(runner::Failure::Usage {
                message: format!(
                    "{}: its trigger ({}) starts it with no parameters, but it requires {}: give each a default (`param NAME: TYPE = VALUE`) or make it optional (`TYPE?`)",
                    script.name,
                    header.trigger.describe(),
                    required.join(", ")
                ),
            });
        }
    }
    Ok(header.notes)
}
