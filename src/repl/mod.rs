//! `btw repl`: an interactive session on the same engine as `btw run`, with completion, hints,
//! help from the engine's metadata, multi-line input, history, Ctrl-C cancelling the running call,
//! and notifications printed above the prompt. `btw defs` writes editor definition files.
//!
//! - [`helper`]: the rustyline helper (completion, hints, validator, highlighting);
//! - [`help`]: signatures, docs and examples read from the engine;
//! - [`render`]: values as coloured, indented text (`table`: lists of maps as tables);
//! - [`keep`]: which statements `:save` keeps;
//! - [`meta`]: `:help`, `:profile`, `:calls`, `:last`, `:curl`, `:resend`, `:load`, `:save`,
//!   `:reset`, `:quit`;
//! - [`calls`]: the session's BT calls as a list, in full, or as curl commands;
//! - [`rewrite`]: `_` for the last result, and a lone `try` showing its value;
//! - [`waiting`]: a slow call named with its elapsed time; [`pager`]: long output paged;
//! - [`endpoints`]: which BT endpoint each function calls (`:help`);
//! - [`session`]: one persistent scope and the evaluation of each input.

mod calls;
pub mod defs;
mod endpoints;
pub mod help;
pub mod helper;
mod keep;
pub mod meta;
mod pager;
pub mod render;
mod rewrite;
mod save_params;
mod scan;
mod session;
mod table;
mod waiting;

use crate::config::Settings;
use crate::engine::Cancel;
use crate::runner::{exit, Failure};
use help::Docs;
use helper::{ReplHelper, Snapshot};
use meta::Meta;
use render::Paint;
use rustyline::error::ReadlineError;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter as _};
use session::Session;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub use defs::defs_command;

/// A channel of ready-to-print lines (order notifications) for a REPL session: give the receiver
/// to [`run`], keep the sender for whoever produces the lines (the callback listener). Lines
/// arriving while the user types are printed above the prompt, leaving the edited line intact.
pub fn notification_sink() -> (mpsc::Sender<String>, mpsc::Receiver<String>) {
    mpsc::channel()
}

/// Whether a notification is about an order this session made (its externalId is the session's,
/// `btw-<run id>-<step>`; other processes' orders are not this session's business).
fn of_session(n: &crate::store::Notification, run_id: &str) -> bool {
    n.body
        .pointer("/event/productOrder/externalId")
        .and_then(serde_json::Value::as_str)
        .and_then(|ext| ext.strip_prefix("btw-"))
        .and_then(|ext| ext.strip_prefix(run_id))
        .is_some_and(|rest| rest.starts_with('-'))
}

/// Runs an interactive session over `session` until `:quit` or Ctrl-D; returns the exit code.
/// `notifications`, when given, are printed as they arrive; otherwise the session's own
/// notifications are (they also feed `order::wait`/`events::wait`).
pub async fn run(
    settings: &Settings,
    session: &crate::session::Session,
    notifications: Option<mpsc::Receiver<String>>,
) -> i32 {
    let client = session.client.clone();
    // Without a registered listener, waits poll.
    let listening = session
        .notifications
        .as_ref()
        .is_none_or(|n| n.is_registered());
    let events = session.events.clone().filter(|_| listening);
    let mut notifications = notifications;
    // The session's orders carry its run id in their externalId: only their events are shown.
    let run_id = format!("repl-{}", crate::runner::new_run_id());
    if let (None, Some(hub)) = (&notifications, &events) {
        let (tx, rx) = notification_sink();
        let mut feed = hub.subscribe();
        let mine = run_id.clone();
        tokio::spawn(async move {
            while let Ok(n) = feed.recv().await {
                if !of_session(&n, &mine) {
                    continue;
                }
                let state = n.state.as_deref().unwrap_or("");
                if tx
                    .send(format!(
                        "[notification] {} {} {state}",
                        n.order_id, n.event_type
                    ))
                    .is_err()
                {
                    break;
                }
            }
        });
        notifications = Some(rx);
    }
    let cancel = Cancel::default();
    let evaluating = Arc::new(AtomicBool::new(false));
    // Ctrl-C while a script runs cancels it. At the prompt the line editor reads Ctrl-C as a key
    // (the terminal is in raw mode), so the signal only arrives during evaluation.
    let sigint = {
        let cancel = cancel.clone();
        let evaluating = evaluating.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if evaluating.load(Ordering::SeqCst) {
                    cancel.cancel();
                } else if !std::io::stdin().is_terminal() {
                    // Input from a pipe has no line editor to read Ctrl-C as a key: leave.
                    std::process::exit(exit::INTERRUPTED);
                }
            }
        })
    };
    let session = Session::new(
        settings,
        client,
        tokio::runtime::Handle::current(),
        cancel,
        evaluating,
        events,
        run_id,
    );
    let settings = settings.clone();
    let code = tokio::task::spawn_blocking(move || interact(session, &settings, notifications))
        .await
        .unwrap_or_else(|e| {
            eprintln!("error: the REPL thread failed: {e}");
            exit::INTERNAL
        });
    sigint.abort();
    code
}

/// The read-eval-print loop, on a blocking thread.
fn interact(
    mut session: Session,
    settings: &Settings,
    notifications: Option<mpsc::Receiver<String>>,
) -> i32 {
    let paint = Paint::detect();
    session.paint = paint;
    let docs = Arc::new(Docs::from_engine(&session.engine));
    let snapshot = Arc::new(Mutex::new(Snapshot::default()));
    let mut editor = match new_editor(ReplHelper::new(docs.clone(), snapshot.clone(), paint)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return exit::INTERNAL;
        }
    };
    let history = settings.data_dir.join("repl_history");
    let _ = std::fs::create_dir_all(&settings.data_dir);
    let _ = editor.load_history(&history);
    let notify_tx = start_printer(&mut editor, notifications);

    println!("{}", session.banner());
    let prompt = format!("btw:{}> ", settings.profile.name());
    loop {
        session.refresh(&snapshot);
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt clears the line.
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: reading input: {e}");
                break;
            }
        };
        let _ = editor.save_history(&history);
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match meta::parse(text) {
            Some(Meta::Quit) => break,
            Some(meta) => run_meta(&mut session, meta, &docs, paint, &notify_tx),
            None => session.eval_and_print(&line),
        }
    }
    let _ = editor.save_history(&history);
    exit::OK
}

type LineEditor = Editor<ReplHelper, rustyline::history::DefaultHistory>;

fn new_editor(helper: ReplHelper) -> rustyline::Result<LineEditor> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(true)
        .history_ignore_space(true)
        .max_history_size(5000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: LineEditor = Editor::with_config(config)?;
    editor.set_helper(Some(helper));
    Ok(editor)
}

/// Notifications (and `:notify`) reach the terminal through rustyline's external printer,
/// which redraws the line being edited below them; the sender feeds it.
fn start_printer(
    editor: &mut LineEditor,
    notifications: Option<mpsc::Receiver<String>>,
) -> mpsc::Sender<String> {
    let (notify_tx, notify_rx) = notification_sink();
    if let Some(external) = notifications {
        let tx = notify_tx.clone();
        std::thread::spawn(move || {
            for line in external {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let printer = editor.create_external_printer().ok();
    std::thread::spawn(move || {
        let mut printer = printer;
        for line in notify_rx {
            let text = if line.ends_with('\n') {
                line
            } else {
                format!("{line}\n")
            };
            let printed = printer
                .as_mut()
                .is_some_and(|p| p.print(text.clone()).is_ok());
            if !printed {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    });
    notify_tx
}

/// Carries out a `:` command other than `:quit`.
fn run_meta(
    session: &mut Session,
    meta: Meta,
    docs: &Docs,
    paint: Paint,
    notify_tx: &mpsc::Sender<String>,
) {
    match meta {
        Meta::Quit => {}
        Meta::Help(name) => {
            let out = match name {
                Some(n) => docs.help(&n, paint),
                None => docs.overview(paint),
            };
            pager::show(&out);
        }
        Meta::Profile => println!("{}", session.profile_text()),
        Meta::Vars => pager::show(&session.vars_text()),
        Meta::Calls(n) => pager::show(&session.calls_text(n)),
        Meta::Last(n) => match session.last_text(n) {
            Ok(text) => pager::show(&text),
            Err(e) => println!("{e}"),
        },
        // Never paged: a command line is for copying.
        Meta::Curl(n) => match session.curl_text(n) {
            Ok(text) => println!("{text}"),
            Err(e) => println!("{e}"),
        },
        Meta::Resend(n) => session.resend(n),
        Meta::Reset => {
            session.reset();
            println!("session reset: no variables or functions");
        }
        Meta::Load(path) => session.load(&path),
        Meta::Save(path) => session.save(&path),
        Meta::Notify(text) => notify_later(notify_tx, &text),
        Meta::Bad(msg) => eprintln!("{}", paint.red(&msg)),
    }
}

/// `:notify [+SECS] text`: sends `text` through the notification path, after SECS when given
/// (so it arrives while the next line is being typed).
fn notify_later(tx: &mpsc::Sender<String>, text: &str) {
    let (delay, msg) = match text.strip_prefix('+').and_then(|t| t.split_once(' ')) {
        Some((secs, rest)) => match secs.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => {
                (Duration::from_secs_f64(s), rest.to_string())
            }
            _ => (Duration::ZERO, text.to_string()),
        },
        None => (Duration::ZERO, text.to_string()),
    };
    let tx = tx.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = tx.send(msg);
    });
}

/// Shown when a failure is rendered: the REPL's name for the input it came from.
pub(crate) const INPUT_NAME: &str = "<repl>";

/// A failure as the REPL prints it (like `btw run`, with `<repl>:line:col`).
pub(crate) fn render_failure(f: &Failure, paint: Paint) -> String {
    match f {
        Failure::Cancelled { .. } => {
            paint.yellow("interrupted: back at the prompt (variables kept)")
        }
        _ => {
            let text = f.render();
            match text.strip_prefix("error:") {
                Some(rest) => format!("{}{rest}", paint.red("error:")),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_sessions_orders_are_shown() {
        let event = |ext: &str| {
            crate::store::Notification::from_envelope(json!({
                "eventId": "e1", "eventTime": "2026-11-22T10:00:02Z", "eventType": "orderComplete",
                "event": {"productOrder": {"id": "BTWKN1", "externalId": ext, "state": "completed"}}
            }))
            .unwrap()
        };
        assert!(of_session(&event("btw-repl-abc-3"), "repl-abc"));
        assert!(!of_session(&event("btw-repl-abcd-3"), "repl-abc"));
        assert!(!of_session(&event("btw-20261130-x-1"), "repl-abc"));
    }
}
