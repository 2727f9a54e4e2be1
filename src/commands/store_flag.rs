//! What `run`, `repl`, `schedule` and `serve` share about the store and time: which store
//! (`--store`, `BTW_STORE`, the old `--state`), whether a daemon serves it, and the one clock
//! jobs are judged by (the sandbox's under the sandbox profile, real time otherwise).

use crate::api::{BtClient, ClientOptions};
use crate::cli::{StateAlias, StoreArg};
use crate::config::{Profile, Settings, Target};
use crate::session::Session;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A daemon that has not beaten for this long is taken to be gone.
pub(super) const HEARTBEAT_FRESH: Duration = Duration::from_secs(120);

/// The store: `--store` (or `BTW_STORE`), then the old `--state` (with a notice), then `store`
/// in btw.toml, then btw.db in the data folder. A `postgres://` URL names a PostgreSQL store.
pub(super) fn store_path(
    settings: &Settings,
    store: &StoreArg,
    state: Option<&StateAlias>,
) -> PathBuf {
    if let Some(p) = &store.store {
        return p.clone();
    }
    if let Some(p) = state.and_then(|s| s.state.clone()) {
        eprintln!("notice: --state is now --store (or BTW_STORE); --state will be removed in a later release");
        return p;
    }
    if let Some(p) = &settings.store {
        return p.clone();
    }
    default_store(settings)
}

fn default_store(settings: &Settings) -> PathBuf {
    settings.data_dir.join("btw.db")
}

/// Warns when no `btw serve` has beaten on `store` lately: a job only fires while one runs.
pub(super) fn warn_if_unserved(settings: &Settings, store: &Store) {
    let fresh = store.last_heartbeat().ok().flatten().is_some_and(|h| {
        (Utc::now() - h.beat_at)
            .to_std()
            .map(|age| age <= HEARTBEAT_FRESH)
            .unwrap_or(true)
    });
    if fresh {
        return;
    }
    let flag = if same_file(store.path(), &default_store(settings)) {
        String::new()
    } else {
        format!(" --store {}", store.path().display())
    };
    eprintln!(
        "warning: no btw serve has run on the store {} in the last 2 minutes; scheduled jobs fire only while one does. Start one with: btw serve{flag}",
        store.path().display()
    );
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Now, on the clock the daemon judges jobs by: the sandbox's under the sandbox profile (read
/// from `/__sandbox/clock`; real time, with a warning, when no sandbox answers), real time
/// otherwise.
pub(super) async fn clock_now(settings: &Settings) -> DateTime<Utc> {
    if settings.profile != Profile::Sandbox {
        return Utc::now();
    }
    let read = async {
        let text = match &settings.target {
            Target::Url(url) => {
                let mut opts = ClientOptions::new(url.clone(), settings.credentials.clone());
                opts.call_timeout = Duration::from_secs(3);
                let client = BtClient::new(opts).map_err(|e| e.to_string())?;
                client.sandbox_now().await.map_err(|e| e.to_string())?
            }
            // The embedded sandbox keeps its clock in its state file: start it (or use the one
            // running) to read it, as every other command would.
            Target::EmbeddedSandbox => {
                let session = Session::open(settings, None)
                    .await
                    .map_err(|f| f.message())?;
                let now = session
                    .client
                    .sandbox_now()
                    .await
                    .map_err(|e| e.to_string());
                session.close().await;
                now?
            }
        };
        DateTime::parse_from_rfc3339(&text)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| e.to_string())
    };
    match read.await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warning: cannot read the sandbox's clock ({e}); using the machine's");
            Utc::now()
        }
    }
}
