//! One connection for a command: the BT client, the embedded sandbox when the profile needs one,
//! and the notification listener — opened once and closed once for `run`, `repl` and `serve`.

use crate::api::{BtClient, ClientOptions};
use crate::callbacks::{self, CallbackConfig, OnDemand, Registered};
use crate::config::{Settings, Target};
use crate::runner::Failure;
use crate::store::{EventHub, Store};
use btw_sandbox::{self as sandbox, SandboxConfig, SandboxHandle};
use std::time::Duration;

/// An open connection; [`Session::close`] stops what it started.
pub struct Session {
    pub client: BtClient,
    /// Notifications received by the listener (none when waits poll).
    pub events: Option<EventHub>,
    /// The listener, started and registered on a run's first mutating call or wait (at once
    /// for a durable subscriber).
    pub notifications: Option<OnDemand>,
    /// Whether the subscription ends on close (an ephemeral one).
    ephemeral: bool,
    sandbox: Option<SandboxHandle>,
}

/// How a session's listener subscribes to the sandbox's notifications.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Subscriber {
    /// Until the session closes (`btw run`, `btw repl`).
    #[default]
    Ephemeral,
    /// Kept, under this id, across restarts: events that arrive while away are queued (`btw serve`).
    Durable(String),
}

impl Session {
    /// Connects (starting the shared sandbox when needed) and, with a store to record them in,
    /// prepares to listen for order notifications: the listener starts and registers on the
    /// first mutating call or wait. Failing to listen is not fatal: waits poll.
    pub async fn open(settings: &Settings, store: Option<&Store>) -> Result<Session, Failure> {
        Self::open_as(settings, store, Subscriber::Ephemeral).await
    }

    /// [`Session::open`], subscribing to the sandbox's notifications as `subscriber`; a durable
    /// subscriber registers at once.
    pub async fn open_as(
        settings: &Settings,
        store: Option<&Store>,
        subscriber: Subscriber,
    ) -> Result<Session, Failure> {
        let (client, sandbox) = connect(settings).await?;
        let ephemeral = subscriber == Subscriber::Ephemeral;
        let (events, notifications) = match store {
            Some(store) => {
                let hub = EventHub::new(store.clone());
                let start = Box::pin(listen_for_notifications(
                    settings.clone(),
                    client.clone(),
                    hub.clone(),
                    subscriber,
                ));
                if ephemeral {
                    (Some(hub), Some(OnDemand::new(start)))
                } else {
                    let on_demand = OnDemand::eager(start).await;
                    // As before: without a listener, the daemon's waits poll.
                    match on_demand.is_registered() {
                        true => (Some(hub), Some(on_demand)),
                        false => (None, None),
                    }
                }
            }
            None => (None, None),
        };
        Ok(Session {
            client,
            events,
            notifications,
            ephemeral,
            sandbox,
        })
    }

    /// Where notifications are received, once the listener is registered.
    pub fn listener_url(&self) -> Option<String> {
        self.notifications.as_ref().and_then(|n| n.url())
    }

    /// Ends an ephemeral subscription, stops the listener (if either was started), then the
    /// in-process sandbox this session started (if it did; a background sandbox keeps running).
    pub async fn close(self) {
        let registered = self.notifications.as_ref().and_then(|n| n.take());
        if let Some(r) = registered {
            if let Some(id) = r.subscription.as_deref().filter(|_| self.ephemeral) {
                let done = self.client.sandbox_unsubscribe(id);
                if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), done).await {
                    tracing::debug!("could not end the sandbox subscription: {e}");
                }
            }
            r.listener.shutdown().await;
        }
        if let Some(h) = self.sandbox {
            h.shutdown().await;
        }
    }
}

/// A BT client for the settings; for the embedded sandbox, the shared one on its port (started
/// in the background when none is listening; in-process when this is not the btw binary).
async fn connect(settings: &Settings) -> Result<(BtClient, Option<SandboxHandle>), Failure> {
    let (base_url, handle) = match &settings.target {
        Target::Url(url) => (url.clone(), None),
        Target::EmbeddedSandbox if crate::sandbox_service::can_start_background() => {
            (crate::sandbox_service::ensure(settings).await?, None)
        }
        Target::EmbeddedSandbox => embedded_sandbox(settings, settings.sandbox_port).await?,
    };
    let mut opts = ClientOptions::new(base_url, settings.credentials.clone());
    opts.call_timeout = settings.call_timeout;
    opts.refuse_mutations = settings.mutation_refusal();
    opts.rate = settings.rate;
    let client = BtClient::new(opts).map_err(|e| Failure::Internal {
        message: e.to_string(),
    })?;
    Ok((client, handle))
}

/// The shared sandbox in this process, kept alive by the returned handle.
async fn embedded_sandbox(
    settings: &Settings,
    port: u16,
) -> Result<(String, Option<SandboxHandle>), Failure> {
    let url = crate::sandbox_service::url(port);
    if crate::sandbox_service::probe(&url).await.is_some() {
        tracing::info!(%url, "using the sandbox already running");
        return Ok((url, None));
    }
    if let Err(e) = std::fs::create_dir_all(&settings.data_dir) {
        return Err(Failure::Usage {
            message: format!(
                "cannot create btw's data folder {}: {e}",
                settings.data_dir.display()
            ),
        });
    }
    let state_file = crate::sandbox_service::Files::in_dir(&settings.data_dir)
        .state_file()
        .map_err(|e| Failure::Usage {
            message: format!("cannot use the sandbox state file: {e}"),
        })?;
    let config = SandboxConfig {
        state_file: Some(state_file),
        ..SandboxConfig::default()
    };
    match sandbox::start_on(&format!("127.0.0.1:{port}"), config).await {
        Ok(h) => {
            tracing::info!(url = %h.base_url(), "started the embedded sandbox");
            Ok((h.base_url(), Some(h)))
        }
        // Another btw started one between our probe and our bind: use it.
        Err(_) if crate::sandbox_service::probe(&url).await.is_some() => Ok((url, None)),
        Err(e) => Err(Failure::Usage {
            message: format!(
                "cannot start the embedded sandbox on 127.0.0.1:{port}: {e} (another program has the port? set BTW_SANDBOX_PORT, or BTW_BASE_URL to a running sandbox)"
            ),
        }),
    }
}

/// With the sandbox profile: a callback listener on loopback, subscribed to the sandbox's
/// notifications (every subscriber gets every event), so waits follow notifications. With BT
/// (test, live), the callback URL and its credentials are given to BT at onboarding: the
/// listener runs when `BTW_CALLBACK_BIND`, `BTW_CALLBACK_USERNAME` and `BTW_CALLBACK_PASSWORD`
/// say where and how, with a five-minute replay window; otherwise waits poll. Failing to
/// listen is not fatal: waits fall back to polling.
async fn listen_for_notifications(
    settings: Settings,
    client: BtClient,
    hub: EventHub,
    subscriber: Subscriber,
) -> Option<Registered> {
    if settings.profile != crate::config::Profile::Sandbox {
        let env = crate::config::process_env;
        let (bind, username, password) = (
            env("BTW_CALLBACK_BIND")?,
            env("BTW_CALLBACK_USERNAME")?,
            env("BTW_CALLBACK_PASSWORD")?,
        );
        let config = CallbackConfig {
            bind,
            username,
            password: crate::api::Secret::new(password),
            max_body_bytes: 64 * 1024,
            replay_window: Some(Duration::from_secs(300)),
        };
        return match callbacks::start(config, hub).await {
            Ok(listener) => Some(Registered {
                listener,
                subscription: None,
            }),
            Err(e) => {
                tracing::warn!("no notification listener ({e}); waits will poll");
                None
            }
        };
    }
    let config = CallbackConfig::for_sandbox();
    let (user, password) = (config.username.clone(), config.password.clone());
    let listener = match callbacks::start(config, hub).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("no notification listener ({e}); waits will poll");
            return None;
        }
    };
    let url = listener.url();
    let me = crate::api::SandboxListener {
        url: &url,
        username: &user,
        password: password.expose(),
    };
    let subscribed = match &subscriber {
        Subscriber::Ephemeral => client.sandbox_subscribe(&me, false, None).await,
        Subscriber::Durable(id) => client.sandbox_subscribe(&me, true, Some(id)).await,
    };
    match subscribed {
        Ok(id) => Some(Registered {
            listener,
            subscription: Some(id),
        }),
        Err(e) => {
            tracing::warn!("the sandbox did not take the subscription ({e}); waits will poll");
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
