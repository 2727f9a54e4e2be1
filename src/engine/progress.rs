//! Progress on long work, drawn on stderr only when a person watches it (a terminal, not
//! `--json`): `batch::run` items done and failed with a rate and ETA, and a line while
//! `order::wait` waits. Nothing is drawn on a pipe, in a report or in a test buffer.

use super::Output;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Bars and spinners on the terminal now (the REPL draws its own line only when none is).
static DRAWN: AtomicUsize = AtomicUsize::new(0);

/// Whether a bar or spinner is on the terminal.
pub(crate) fn drawing() -> bool {
    DRAWN.load(Ordering::Relaxed) > 0
}

fn drawn(bar: ProgressBar) -> Option<ProgressBar> {
    DRAWN.fetch_add(1, Ordering::Relaxed);
    Some(bar)
}

/// A bar or a spinner, or nothing when progress is not shown; cleared when dropped.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    failed: u64,
}

impl Progress {
    fn none() -> Progress {
        Progress {
            bar: None,
            failed: 0,
        }
    }

    /// `total` items of `what`: `batch::run whc_provide  ███░░ 3/10 done, 1 failed · 2.1/s · ETA 3s`.
    pub fn items(out: &dyn Output, what: &str, total: u64) -> Progress {
        if !out.shows_progress() || total < 2 {
            return Progress::none();
        }
        let style = ProgressStyle::with_template(
            "{prefix} {wide_bar} {pos}/{len} done{msg} · {per_sec} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(total)
            .with_style(style)
            .with_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress {
            bar: drawn(bar),
            failed: 0,
        }
    }

    /// A waiting line: `⠋ order BTWKN123: waiting for completed (now acknowledged) 12s`.
    pub fn waiting(out: &dyn Output, what: String) -> Progress {
        if !out.shows_progress() {
            return Progress::none();
        }
        let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::new_spinner()
            .with_style(style)
            .with_message(what);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: drawn(bar),
            failed: 0,
        }
    }

    /// One item finished.
    pub fn item_done(&mut self, ok: bool) {
        let Some(bar) = &self.bar else { return };
        if !ok {
            self.failed += 1;
            bar.set_message(format!(", {} failed", self.failed));
        }
        bar.inc(1);
    }

    /// Runs `f` (which writes a line to stderr) with the bar lifted, so the line is not drawn over.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    pub fn set_message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            DRAWN.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
