//! Whether the notification listener the profile expects is up, for `/healthz`: the sandbox
//! profile always has one, BT's profiles when `BTW_CALLBACK_BIND` asks for one. Up means it
//! accepts connections now, so a listener that died after the start shows too.

use crate::config::{Profile, Settings};
use std::time::Duration;

/// The listener the daemon should have and where it listens.
#[derive(Clone, Debug)]
pub(super) struct ListenerHealth {
    expected: bool,
    url: Option<String>,
}

/// How long a connection to the listener may take before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl ListenerHealth {
    pub(super) fn new(settings: &Settings, url: Option<String>) -> Self {
        let expected = settings.profile == Profile::Sandbox
            || crate::config::process_env("BTW_CALLBACK_BIND").is_some();
        ListenerHealth { expected, url }
    }

    /// Whether the daemon has a listener (for the health report).
    pub(super) fn running(&self) -> bool {
        self.url.is_some()
    }

    /// `None` when fine (or none is expected), else why not.
    pub(super) async fn problem(&self) -> Option<String> {
        let Some(url) = &self.url else {
            return self
                .expected
                .then(|| "the notification listener did not start".to_string());
        };
        match probe(url).await {
            Ok(()) => None,
            Err(e) => Some(format!("the notification listener on {url} is down: {e}")),
        }
    }
}

/// Connects to the listener's address (and hangs up).
async fn probe(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let addrs = parsed.socket_addrs(|| None).map_err(|e| e.to_string())?;
    let addr = addrs.first().ok_or("no address")?;
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(expected: bool, url: Option<String>) -> ListenerHealth {
        ListenerHealth { expected, url }
    }

    #[tokio::test]
    async fn up_when_it_accepts_down_when_gone_or_missing() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bt-notifications", l.local_addr().unwrap());
        assert_eq!(health(true, Some(url.clone())).problem().await, None);
        drop(l);
        let down = health(true, Some(url)).problem().await.unwrap();
        assert!(down.contains("is down"), "{down}");
        let missing = health(true, None).problem().await.unwrap();
        assert!(missing.contains("did not start"), "{missing}");
        assert_eq!(health(false, None).problem().await, None);
    }
}
