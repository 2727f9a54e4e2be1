//! `btw repl`: the interactive prompt over one session.

use super::{code, usage, Outcome};
use crate::config::{Overrides, Settings};
use crate::session::Session;
use crate::store::Store;

pub(super) async fn command(overrides: &Overrides) -> Outcome {
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    // Without the store the prompt still works; notifications are then not listened for.
    let store = Store::open(&settings.data_dir.join("btw.db")).ok();
    let session = Session::open(&settings, store.as_ref()).await?;
    let exit = crate::repl::run(&settings, &session, None).await;
    session.close().await;
    Ok(code(exit))
}
