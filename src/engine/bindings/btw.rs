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

    /// A short suffix of 6 letters and digits for names that must be new, like a test company's.
    /// Random across runs, but the same sequence when a run is resumed (`btw run --resume`),
    /// so a resumed recipe makes the same names it made the first time.
    ///
    /// ```rhai
    /// let name = `The Fun Network ${btw::unique_suffix()}`;
    /// ```
    pub fn unique_suffix(ctx: NativeCallContext) -> String {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = match runtime(&ctx) {
            Ok(rt) => {
                let n = rt
                    .suffixes
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut seed = [0u8; 32];
                for (i, b) in format!("{}#{n}", rt.run_id).bytes().enumerate() {
                    seed[i % 32] = seed[i % 32].wrapping_mul(31).wrapping_add(b);
                }
                rand::rngs::StdRng::from_seed(seed)
            }
            Err(_) => rand::rngs::StdRng::from_os_rng(),
        };
        (0..6)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}
