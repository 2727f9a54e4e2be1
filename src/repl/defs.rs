//! `btw defs [dir]`: Rhai definition files of the whole script surface, for editors
//! (the Rhai language server and VS Code extension read them).

use crate::engine::{build_engine, Cancel, EngineOptions, VecOutput};
use crate::runner::exit;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes the definition files into `dir` (created if needed); returns their names.
pub fn write_defs(dir: &Path) -> std::io::Result<Vec<String>> {
    let engine = build_engine(
        &EngineOptions::default(),
        Arc::new(VecOutput::default()),
        Cancel::default(),
    );
    let defs = engine.definitions();
    defs.write_to_dir(dir)?;
    let mut names: Vec<String> = defs.iter_files().map(|(name, _)| name).collect();
    names.sort();
    Ok(names)
}

/// The `btw defs` command: default folder `./defs`.
pub fn defs_command(dir: Option<PathBuf>) -> i32 {
    let dir = dir.unwrap_or_else(|| PathBuf::from("defs"));
    match write_defs(&dir) {
        Ok(names) => {
            println!(
                "wrote {} definition files to {}: {}",
                names.len(),
                dir.display(),
                names.join(", ")
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write definitions to {}: {e}", dir.display());
            exit::USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repl_defs_cover_every_module() {
        let dir = tempfile::tempdir().unwrap();
        let names = super::write_defs(dir.path()).unwrap();
        for (module, _) in crate::engine::bindings::modules() {
            let file = names
                .iter()
                .find(|n| n.starts_with(module))
                .unwrap_or_else(|| panic!("no definitions for {module}: {names:?}"));
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            assert!(text.contains(&format!("module {module}")), "{text}");
        }
        let whc = std::fs::read_to_string(dir.path().join("whc.d.rhai")).unwrap();
        assert!(whc.contains("fn qualify_company("), "{whc}");
    }
}
