//! Never a silent wait: while an input runs, a BT call taking longer than a second is named on
//! the terminal with its elapsed time (`… 2.4 s  GET /bt-wholesale/v1/… (get order)`), and the
//! line is cleared when the call ends. `order::wait` draws its own waiting line.

use crate::api::BtClient;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

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
            let mut drawn = false;
            // Until told to stop (or the sender is dropped), every tick.
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                let line = client
                    .recorder()
                    .oldest_in_flight()
                    .filter(|(_, running)| *running >= SHOW_AFTER)
                    .map(|(call, running)| line_for(&call, running));
                let mut err = std::io::stderr().lock();
                match line {
                    Some(l) => {
                        let _ = write!(err, "\r\x1b[2K{l}");
                        drawn = true;
                    }
                    None if drawn => {
                        let _ = write!(err, "\r\x1b[2K");
                        drawn = false;
                    }
                    None => {}
                }
                let _ = err.flush();
            }
            if drawn {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        });
        Waiting {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

/// `… 2.4 s  waiting for BT: GET /path (get order)`, cut to a terminal's width.
fn line_for(call: &crate::api::recorder::CallRecord, running: Duration) -> String {
    let width = terminal_size::terminal_size()
        .map(|(terminal_size::Width(w), _)| w as usize)
        .unwrap_or(80);
    let text = format!(
        "… {:.1} s  waiting for BT: {} {} ({})  Ctrl-C stops it",
        running.as_secs_f64(),
        call.method,
        call.path(),
        call.operation
    );
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
