//! Recipe names for jobs a folder hands in (an inbox job, `schedule::at`/`cron` in a script):
//! like `import`, a relative name inside the folder — no `..`, no absolute path, no link
//! leading out — and one error whatever the reason, so nothing tells whether a file exists.

use super::ScheduleError;
use std::path::{Component, Path, PathBuf};

/// The recipe `name` names inside `folder` (canonical, absolute), if it is a regular file there.
pub fn resolve_within(name: &str, folder: &Path) -> Result<PathBuf, ScheduleError> {
    let refused = || {
        ScheduleError::Invalid(format!(
            "recipe {name:?} refused: name a recipe file inside {} (no .., no absolute paths, no links leading out)",
            folder.file_name().and_then(|n| n.to_str()).map(|n| format!("the {n} folder")).unwrap_or_else(|| "the folder".into())
        ))
    };
    let rel = Path::new(name.trim());
    let plain = name.trim().ends_with(".rhai")
        && name.len() <= 1024
        && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(refused());
    }
    let root = std::fs::canonicalize(folder).map_err(|_| refused())?;
    let abs = std::fs::canonicalize(root.join(rel)).map_err(|_| refused())?;
    let regular = std::fs::metadata(&abs)
        .map(|m| m.is_file())
        .unwrap_or(false);
    if !abs.starts_with(&root) || !regular {
        return Err(refused());
    }
    Ok(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_folder_and_one_error_for_all_else() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("recipes");
        std::fs::create_dir_all(dir.join("team")).unwrap();
        std::fs::write(dir.join("a.rhai"), "1").unwrap();
        std::fs::write(dir.join("team/b.rhai"), "1").unwrap();
        std::fs::write(root.path().join("outside.rhai"), "1").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("outside.rhai"), dir.join("link.rhai"))
            .unwrap();
        assert!(resolve_within("a.rhai", &dir).is_ok());
        assert!(resolve_within("team/b.rhai", &dir).is_ok());
        let err = |n: &str| {
            resolve_within(n, &dir)
                .unwrap_err()
                .to_string()
                .replace(n, "N")
        };
        let outside = root.path().join("outside.rhai").display().to_string();
        let first = err("../outside.rhai");
        for n in [
            "../nope.rhai",
            outside.as_str(),
            "/etc/passwd",
            "team",
            "missing.rhai",
            "./a.rhai",
        ] {
            assert_eq!(err(n), first, "{n}");
        }
        #[cfg(unix)]
        assert_eq!(err("link.rhai"), first);
    }
}
