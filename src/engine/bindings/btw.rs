//! `btw::` — the profile the run talks to and its defaults.

use rhai::plugin::*;

#[export_module]
pub mod btw_module {
    use crate::engine::bindings::{runtime, RhaiResult};

    /// The profile this run talks to: `"sandbox"`, `"test"` or `"live"`.
    ///
    /// ```rhai
    /// if btw::profile() == "live" { log::warn("placing real orders"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn profile(ctx: NativeCallContext) -> RhaiResult<String> {
        Ok(runtime(&ctx)?.profile.name().to_string())
    }

    /// The profile's CUG id (your reseller's closed user group), used by default in every call.
    ///
    /// ```rhai
    /// print(`ordering as ${btw::cug()}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cug(ctx: NativeCallContext) -> RhaiResult<String> {
        Ok(runtime(&ctx)?.cug.clone())
    }

    /// The profile's billing account, used by default when qualifying and ordering.
    ///
    /// ```rhai
    /// print(btw::billing_account());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn billing_account(ctx: NativeCallContext) -> RhaiResult<String> {
        Ok(runtime(&ctx)?.billing_account.clone())
    }

    /// The id of the current run (also the prefix of the `externalId`s it generates).
    ///
    /// ```rhai
    /// print(btw::run_id());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run_id(ctx: NativeCallContext) -> RhaiResult<String> {
        Ok(runtime(&ctx)?.run_id.clone())
    }

    /// A short random suffix (6 letters and digits) for names that must be new, like a test company's.
    ///
    /// ```rhai
    /// let name = `The Fun Network ${btw::unique_suffix()}`;
    /// ```
    pub fn unique_suffix() -> String {
        use rand::Rng;
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::rng();
        (0..6)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}
