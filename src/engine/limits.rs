//! Limits on what a script is given, not only what it builds: script files and parameters.

use crate::config::Limits;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;

/// The largest script (or module) file read: recipes are small; a bigger file is a mistake.
pub const MAX_SCRIPT_BYTES: u64 = 4 * 1024 * 1024;
/// The largest JSON file of parameters or jobs read.
pub const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// The one rule for symbolic links in a recipes folder (recipes, inbox jobs, imports): a link
/// whose target lies outside `folder` is refused, since saves of its target are not watched and
/// it would go stale; a link inside it is followed. Why `path` is refused, or `None`.
pub fn link_leaving(path: &Path, folder: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    match std::fs::canonicalize(path) {
        Ok(target) if target.starts_with(&folder) => None,
        Ok(target) => Some(format!(
            "{name}: a link to {}, outside the recipes folder: refused (links must stay inside the folder; copy the file in)",
            target.display()
        )),
        Err(e) => Some(format!("{name}: a link that leads nowhere ({e}): refused")),
    }
}

/// Reads a script file: only a regular file (not a device or pipe, which may never end), and
/// at most [`MAX_SCRIPT_BYTES`].
pub fn read_script_file(path: &Path) -> Result<String, String> {
    read_regular_file(path, MAX_SCRIPT_BYTES)
}

/// Reads a script from a stream (standard input, a pipe) up to the script size limit.
pub fn read_script_stream(stream: impl Read, name: &str) -> Result<String, String> {
    let max = MAX_SCRIPT_BYTES;
    let mut bytes = Vec::new();
    stream
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "cannot read {name}: more than the {max} bytes allowed"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("cannot read {name}: not UTF-8 text"))
}

/// Reads a regular file of at most `max` bytes as UTF-8 text.
pub fn read_regular_file(path: &Path, max: u64) -> Result<String, String> {
    let shown = path.display();
    // Checked before opening too: opening a FIFO waits for a writer that may never come.
    let before = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !before.is_file() {
        return Err(format!("cannot read {shown}: not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("cannot read {shown}: not a regular file"));
    }
    if meta.len() > max {
        return Err(format!(
            "cannot read {shown}: {} bytes is more than the {max} allowed",
            meta.len()
        ));
    }
    // The file may grow between the check and the read: never take more than the cap.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "cannot read {shown}: more than the {max} bytes allowed"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("cannot read {shown}: not UTF-8 text"))
}

/// Refuses parameters a script could not have built itself: the same string, array and map
/// limits, counted the way the engine counts them (totals over the whole value).
pub fn check_params(params: &Map<String, Value>, limits: &Limits) -> Result<(), String> {
    let mut sizes = Sizes::default();
    sizes.add_map(params);
    let over = |what: &str, n: usize, max: usize| {
        Err(format!(
            "the parameters are too large: {what} {n} is over the limit of {max} (limits.max_{}_size)",
            what.split(' ').next().unwrap_or(what)
        ))
    };
    if sizes.strings > limits.max_string_size {
        return over("string bytes", sizes.strings, limits.max_string_size);
    }
    if sizes.arrays > limits.max_array_size {
        return over("array items", sizes.arrays, limits.max_array_size);
    }
    if sizes.maps > limits.max_map_size {
        return over("map entries", sizes.maps, limits.max_map_size);
    }
    Ok(())
}

/// Totals as the engine's data size check counts them: array items, map entries and string bytes.
#[derive(Default)]
struct Sizes {
    arrays: usize,
    maps: usize,
    strings: usize,
}

impl Sizes {
    fn add(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.strings += s.len(),
            Value::Array(a) => {
                for item in a {
                    self.arrays += 1;
                    self.add(item);
                }
            }
            Value::Object(m) => self.add_map(m),
            _ => {}
        }
    }

    fn add_map(&mut self, m: &Map<String, Value>) {
        for item in m.values() {
            self.maps += 1;
            self.add(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_over_a_limit_are_refused_with_its_name() {
        let limits = Limits {
            max_string_size: 10,
            max_array_size: 3,
            ..Limits::default()
        };
        let ok = json!({"a": "12345", "b": [1, 2, 3]});
        assert!(check_params(ok.as_object().unwrap(), &limits).is_ok());
        let long = json!({"a": "123456", "b": "12345"});
        let e = check_params(long.as_object().unwrap(), &limits).unwrap_err();
        assert!(e.contains("max_string_size"), "{e}");
        let many = json!({"b": [[1, 2], [3]]});
        let e = check_params(many.as_object().unwrap(), &limits).unwrap_err();
        assert!(e.contains("max_array_size"), "{e}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let e = read_script_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_script_file(dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.rhai");
        std::fs::write(&big, "x").unwrap();
        assert_eq!(read_regular_file(&big, 1).unwrap(), "x");
        std::fs::write(&big, "xx").unwrap();
        assert!(read_regular_file(&big, 1).unwrap_err().contains("allowed"));
    }
}
