//! Long output through a pager, as psql and git do: only when stdout is a terminal and the text
//! is taller than it. `BTW_PAGER` names the pager (`off` prints directly), else `PAGER`, else
//! `less -FRX`; a pager that cannot start (or is not installed) means printing directly.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

/// The pager command, or `None` when paging is off.
fn pager_command() -> Option<String> {
    let pick = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match pick("BTW_PAGER").or_else(|| pick("PAGER")) {
        Some(v) if is_off(&v) => None,
        Some(v) => Some(v),
        None => Some("less -FRX".into()),
    }
}

fn is_off(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "off" | "0" | "false" | "no" | "never" | "cat"
    )
}

/// Prints `text` (and a newline), through the pager when it would not fit the terminal.
pub fn show(text: &str) {
    if !std::io::stdout().is_terminal() || !taller_than_terminal(text) {
        return println!("{text}");
    }
    match pager_command() {
        Some(cmd) if page(&cmd, text) => {}
        _ => println!("{text}"),
    }
}

fn taller_than_terminal(text: &str) -> bool {
    let rows = terminal_size::terminal_size()
        .map(|(_, terminal_size::Height(h))| h as usize)
        .unwrap_or(24);
    text.lines().count() + 1 >= rows
}

/// Runs the pager on `text`; false when it could not start.
fn page(cmd: &str, text: &str) -> bool {
    let child = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The reader may quit early (`q` in less): a broken pipe is not an error here.
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    // 127: the shell found no such pager (no `less` installed): the caller prints instead.
    !matches!(child.wait().map(|s| s.code()), Ok(Some(127)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_values() {
        for v in ["off", "OFF", " 0 ", "never", "cat"] {
            assert!(is_off(v), "{v}");
        }
        assert!(!is_off("less -R"));
    }
}
