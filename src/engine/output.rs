//! Where a script's `print` and `log::*` lines go: the terminal, a buffer, a run report.

use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A sink for script output. Implementations must be cheap and never fail loudly.
pub trait Output: Send + Sync {
    fn print(&self, line: &str);
    fn log(&self, level: LogLevel, msg: &str);
    /// Whether progress bars may be drawn: only on a terminal a person watches.
    fn shows_progress(&self) -> bool {
        false
    }
}

/// Prints to the terminal: `print` to stdout (or stderr, to keep stdout for `--json`), logs to stderr.
pub struct StdOutput {
    pub prints_to_stderr: bool,
    pub min_level: LogLevel,
}

impl Output for StdOutput {
    fn print(&self, line: &str) {
        if self.prints_to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
    /// Prints going to stderr means `--json` (stdout is for the machine): no bars then either.
    fn shows_progress(&self) -> bool {
        !self.prints_to_stderr && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }
    fn log(&self, level: LogLevel, msg: &str) {
        if level >= self.min_level {
            let _ = writeln!(std::io::stderr().lock(), "[{}] {msg}", level.label());
        }
    }
}

/// Keeps every line, for tests and run reports.
#[derive(Default)]
pub struct VecOutput {
    pub lines: Mutex<Vec<String>>,
}

impl VecOutput {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Output for VecOutput {
    fn print(&self, line: &str) {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.to_string());
    }
    fn log(&self, level: LogLevel, msg: &str) {
        self.print(&format!("[{}] {msg}", level.label()));
    }
}
