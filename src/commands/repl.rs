//! `btw repl`: the interactive prompt over one session.

use super::{code, store_flag, usage, Outcome};
use crate::cli::ReplArgs;
use crate::config::{Overrides, Settings};
use crate::session::Session;
use crate::store::Store;

pub(super) async fn command(overrides: &Overrides, args: ReplArgs) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    let trace = match &args.trace_http {
        Some(path) => Some(
            crate::secrets::create_private(path)
                .map_err(|e| usage(format!("--trace-http {}: {e}", path.display())))?,
        ),
        None => None,
    };
    // Without the store the prompt still works; notifications are then not listened for.
    let store = match Store::open(&store_flag::store_path(&settings, &args.store, None)) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("warning: {e}; the prompt runs without it (no ledger, no notifications)");
            None
        }
    };
    let session = Session::open(&settings, store.as_ref()).await?;
    // On before the first call, so the token call is listed (`:calls`) and traced too.
    session.client.recorder().enable();
    if let Some(file) = trace {
        session.client.recorder().trace_to(file);
    }
    // The prompt shows notifications as they arrive: it listens from the start.
    if let Some(n) = &session.notifications {
        n.ensure().await;
    }
    let exit = crate::repl::run(&settings, &session, None).await;
    session.close().await;
    if let Some(store) = store {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
    Ok(code(exit))
}
