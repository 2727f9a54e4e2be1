//! Never a silent wait: while an input runs, a BT call taking longer than a second is named on
//! the terminal with its elapsed time (`… 2.4 s  waiting for BT: GET /bt-wholesale/v1/… (get
//! order)`); an input running longer than a second between calls (`time::sleep`,
//! `events::wait`) shows its own time. The line is cleared when the call or input ends, and
//! before the script prints ([`quiet`]). `order::wait` and `batch::run` draw their own
//! lines, and this one stays away while they do.

use crate::api::BtClient;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Whether the waiting line is on the terminal now.
static SHOWN: AtomicBool = AtomicBool::new(false);
/// Held while the line is drawn, and while the script prints ([`quiet`]).
static TERMINAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` (which prints a line) with the waiting line cleared and not redrawn meanwhile.
pub fn quiet<R>(f: impl FnOnce() -> R) -> R {
    let _held = TERMINAL.lock().unwrap_or_else(|p| p.into_inner());
    clear_line();
    f()
}

/// Clears the waiting line, if it is shown.
fn clear_line() {
    if SHOWN.swap(false, Ordering::SeqCst) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// How long a call runs before it is shown.
const SHOW_AFTER: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

/// The watcher of one input; stops (and clears its line) when dropped.
pub struct Waiting {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Waiting {
    /// Watches `client`'s calls in flight; nothing is drawn when stderr is not a terminal.
    pub fn start(client: &BtClient) -> Waiting {
        if !std::io::stderr().is_terminal() {
            return Waiting {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let client = client.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            // Until told to stop (or the sender is dropped), every tick.
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                let call = client
                    .recorder()
                    .oldest_in_flight()
                    .filter(|(_, running)| *running >= SHOW_AFTER);
                let line = match call {
                    Some((call, running)) => Some(line_for(&call, running)),
                    None if started.elapsed() >= SHOW_AFTER
                        && !crate::engine::progress::drawing() =>
                    {
                        Some(cut(format!(
                            "… {:.1} s  running  Ctrl-C stops it",
                            started.elapsed().as_secs_f64()
                        )))
                    }
                    None => None,
                };
                let _held = TERMINAL.lock().unwrap_or_else(|p| p.into_inner());
                match line {
                    Some(l) => {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2K{l}");
                        let _ = err.flush();
                        SHOWN.store(true, Ordering::SeqCst);
                    }
                    None => clear_line(),
                }
            }
            clear_line();
        });
        Waiting {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

/// `… 2.4 s  waiting for BT: GET /path (get order)`, cut to a terminal's width.
fn line_for(call: &crate::api::recorder::CallRecord, running: Duration) -> String {
    cut(format!(
        "… {:.1} s  waiting for BT: {} {} ({})  Ctrl-C stops it",
        running.as_secs_f64(),
        call.method,
        call.path(),
        call.operation
    ))
}

/// `text` cut to the terminal's width, so it never wraps (a wrapped line would not be cleared).
fn cut(text: String) -> String {
    let width = terminal_size::terminal_size()
        .map(|(terminal_size::Width(w), _)| w as usize)
        .unwrap_or(80);
    text.chars().take(width.saturating_sub(1)).collect()
}

impl Drop for Waiting {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
