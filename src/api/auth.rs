//! OAuth 2 client credentials: the secret type that never prints, and the shared token cache.

use std::fmt;
use std::time::{Duration, Instant};

/// A string that must never be printed: client secrets and bearer tokens.
/// `Debug` and `Display` show `***`; only [`Secret::expose`] gives the value, for the wire.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The raw value, for building a request header. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The app's consumer key and secret, exchanged for bearer tokens.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub client_key: String,
    pub client_secret: Secret,
}

/// A bearer token with the instant after which it must not be used.
#[derive(Clone, Debug)]
pub(crate) struct CachedToken {
    pub token: Secret,
    pub refresh_after: Instant,
    /// Bumped on every fetch, so a caller can tell whether the token it used is still the cached one.
    pub generation: u64,
}

/// How long before the token's expiry we stop using it: BT's tokens live 899 s, and a call sent
/// at second 898 may arrive after it.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// When a token with this `expiresIn` should be refreshed. Very short-lived tokens (tests, odd
/// gateways) are used for half their life rather than not at all.
pub(crate) fn refresh_after(now: Instant, expires_in_secs: u64) -> Instant {
    let life = Duration::from_secs(expires_in_secs);
    let usable = if life > REFRESH_MARGIN * 2 {
        life - REFRESH_MARGIN
    } else {
        life / 2
    };
    now + usable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = Credentials {
            client_key: "key".into(),
            client_secret: s,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn tokens_are_refreshed_a_minute_early() {
        let now = Instant::now();
        assert_eq!(refresh_after(now, 899), now + Duration::from_secs(839));
        assert_eq!(refresh_after(now, 10), now + Duration::from_secs(5));
    }
}
