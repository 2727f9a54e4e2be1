//! `btw serve`: the daemon (see [`crate::serve`]), with its options from the command line.

use super::{code, store_flag, usage, Outcome};
use crate::cli::ServeArgs;
use crate::config::{Overrides, Settings};
use crate::runner::exit;
use crate::serve::{self, ServeOptions};
use std::time::Duration;

pub(super) async fn command(overrides: &Overrides, args: ServeArgs) -> Outcome {
    let mut settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    // The flags win over btw.toml and the environment; a burst alone limits at the default rate.
    if args.calls_per_sec.is_some() || args.call_burst.is_some() {
        let was = settings.rate;
        settings.rate = Some(crate::api::RateLimit {
            per_sec: args
                .calls_per_sec
                .or(was.map(|r| r.per_sec))
                .unwrap_or(crate::config::DEFAULT_CALLS_PER_SEC),
            burst: args
                .call_burst
                .or(was.map(|r| r.burst))
                .unwrap_or(crate::config::DEFAULT_CALL_BURST),
        });
    }
    crate::store::set_lease_ttl(Duration::from_secs(args.run_lease));
    let opts = ServeOptions {
        store: store_flag::store_path(&settings, &args.store, Some(&args.state)),
        recipes: args
            .recipes
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("recipes")),
        grace: Duration::from_secs(args.grace),
        catch_up: Duration::from_secs(args.catch_up),
        debounce: Duration::from_millis(args.debounce_ms.max(10)),
        max_runs: args.max_runs as usize,
        lease: Duration::from_secs(args.job_lease),
        rescan: Duration::from_secs(args.rescan),
        retention: serve::Retention {
            max_age: Duration::from_secs(args.keep_for),
            keep: args.keep_runs as usize,
        },
        http: args.http,
    };
    serve::serve(&settings, opts).await?;
    Ok(code(exit::OK))
}
