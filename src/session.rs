//! One connection for a command: the BT client, the embedded sandbox when the profile needs one,
//! and the notification listener — opened once and closed once for `run`, `repl` and `serve`.

use crate::api::{BtClient, ClientOptions};
use crate::callbacks::{self, CallbackConfig, CallbackListener};
use crate::config::{Settings, Target, SANDBOX_PORT};
use crate::runner::Failure;
use crate::store::{EventHub, Store};
use btw_sandbox::{self as sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;
use std::time::Duration;

/// An open connection; [`Session::close`] stops what it started.
pub struct Session {
    pub client: BtClient,
    /// Notifications received by the listener (none when waits poll).
    pub events: Option<EventHub>,
    listener: Option<CallbackListener>,
    sandbox: Option<SandboxHandle>,
}

impl Session {
    /// Connects (starting the embedded sandbox when needed) and, with a store to record them
    /// in, listens for order notifications. Failing to listen is not fatal: waits poll.
    pub async fn open(settings: &Settings, store: Option<&Store>) -> Result<Session, Failure> {
        let (client, sandbox) = connect(settings).await?;
        let (events, listener) = match store {
            Some(store) => match listen_for_notifications(settings, &client, store).await {
                Some((hub, l)) => (Some(hub), Some(l)),
                None => (None, None),
            },
            None => (None, None),
        };
        Ok(Session {
            client,
            events,
            listener,
            sandbox,
        })
    }

    /// Where notifications are received, when they are.
    pub fn listener_url(&self) -> Option<String> {
        self.listener.as_ref().map(|l| l.url())
    }

    /// Stops the listener, then the embedded sandbox this session started (if it did).
    pub async fn close(self) {
        if let Some(l) = self.listener {
            l.shutdown().await;
        }
        if let Some(h) = self.sandbox {
            h.shutdown().await;
        }
    }
}

/// A BT client for the settings; for the embedded sandbox, the shared one on the well-known
/// port, started here (and kept alive by the returned handle) when none is listening.
async fn connect(settings: &Settings) -> Result<(BtClient, Option<SandboxHandle>), Failure> {
    let (base_url, handle) = match &settings.target {
        Target::Url(url) => (url.clone(), None),
        Target::EmbeddedSandbox => {
            let port = match crate::config::process_env("BTW_SANDBOX_PORT") {
                Some(p) => p.trim().parse().map_err(|_| Failure::Usage {
                    message: format!("BTW_SANDBOX_PORT = {p:?} is not a port (0 to 65535)"),
                })?,
                None => SANDBOX_PORT,
            };
            let (url, handle) = embedded_sandbox(settings, port).await?;
            (url, handle)
        }
    };
    let mut opts = ClientOptions::new(base_url, settings.credentials.clone());
    opts.call_timeout = settings.call_timeout;
    opts.refuse_mutations = settings.mutation_refusal();
    let client = BtClient::new(opts).map_err(|e| Failure::Internal {
        message: e.to_string(),
    })?;
    Ok((client, handle))
}

async fn sandbox_listening(url: &str) -> bool {
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build();
    let Ok(probe) = probe else { return false };
    match probe.get(format!("{url}/__sandbox/health")).send().await {
        Ok(r) => r
            .json::<Value>()
            .await
            .map(|v| v.get("service").and_then(Value::as_str) == Some("btw-sandbox"))
            .unwrap_or(false),
        Err(_) => false,
    }
}

async fn embedded_sandbox(
    settings: &Settings,
    port: u16,
) -> Result<(String, Option<SandboxHandle>), Failure> {
    let url = format!("http://127.0.0.1:{port}");
    if sandbox_listening(&url).await {
        tracing::info!(%url, "using the sandbox already running");
        return Ok((url, None));
    }
    let config = SandboxConfig {
        state_file: Some(settings.data_dir.join("sandbox-state.json")),
        ..SandboxConfig::default()
    };
    if let Err(e) = std::fs::create_dir_all(&settings.data_dir) {
        return Err(Failure::Usage {
            message: format!(
                "cannot create btw's data folder {}: {e}",
                settings.data_dir.display()
            ),
        });
    }
    match sandbox::start_on(&format!("127.0.0.1:{port}"), config).await {
        Ok(h) => {
            tracing::info!(url = %h.base_url(), "started the embedded sandbox");
            Ok((h.base_url(), Some(h)))
        }
        // Another btw started one between our probe and our bind: use it.
        Err(_) if sandbox_listening(&url).await => Ok((url, None)),
        Err(e) => Err(Failure::Usage {
            message: format!(
                "cannot start the embedded sandbox on 127.0.0.1:{port}: {e} (another program has the port? set BTW_SANDBOX_PORT, or BTW_BASE_URL to a running sandbox)"
            ),
        }),
    }
}

/// With the sandbox profile: a callback listener on loopback, registered with the sandbox, so
/// waits follow notifications. With BT (test, live), the callback URL and its credentials are
/// given to BT at onboarding: the listener runs when `BTW_CALLBACK_BIND`, `BTW_CALLBACK_USERNAME`
/// and `BTW_CALLBACK_PASSWORD` say where and how, with a five-minute replay window; otherwise
/// waits poll. Failing to listen is not fatal: waits fall back to polling.
async fn listen_for_notifications(
    settings: &Settings,
    client: &BtClient,
    store: &Store,
) -> Option<(EventHub, CallbackListener)> {
    if settings.profile != crate::config::Profile::Sandbox {
        let env = crate::config::process_env;
        let (bind, username, password) = (
            env("BTW_CALLBACK_BIND")?,
            env("BTW_CALLBACK_USERNAME")?,
            env("BTW_CALLBACK_PASSWORD")?,
        );
        let hub = EventHub::new(store.clone());
        let config = CallbackConfig {
            bind,
            username,
            password: crate::api::Secret::new(password),
            max_body_bytes: 64 * 1024,
            replay_window: Some(Duration::from_secs(300)),
        };
        return match callbacks::start(config, hub.clone()).await {
            Ok(l) => Some((hub, l)),
            Err(e) => {
                tracing::warn!("no notification listener ({e}); waits will poll");
                None
            }
        };
    }
    let hub = EventHub::new(store.clone());
    let config = CallbackConfig::for_sandbox();
    let (user, password) = (config.username.clone(), config.password.clone());
    let listener = match callbacks::start(config, hub.clone()).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("no notification listener ({e}); waits will poll");
            return None;
        }
    };
    match client
        .sandbox_register_callback(&listener.url(), &user, password.expose())
        .await
    {
        Ok(()) => Some((hub, listener)),
        Err(e) => {
            tracing::warn!(
                "the sandbox did not take the callback registration ({e}); waits will poll"
            );
            listener.shutdown().await;
            None
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
