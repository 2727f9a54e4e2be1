//! What each command does, wired from settings to runner; `main.rs` only maps the result to an exit code.

use crate::api::{BtClient, ClientOptions};
use crate::callbacks::{self, CallbackConfig, CallbackListener};
use crate::cli::{Cli, Command, RunArgs, SandboxArgs};
use crate::config::{Overrides, Settings, Target, SANDBOX_PORT};
use crate::engine::{Cancel, LogLevel, StdOutput};
use crate::runner::{self, exit, Failure, RunContext, Script};
use crate::store::{EventHub, Store};
use btw_sandbox::{self as sandbox, SandboxConfig, SandboxHandle};
use clap::Parser;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Parses the command line, runs the command, returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    init_tracing(cli.global.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    rt.block_on(dispatch(cli))
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("BTW_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

async fn dispatch(cli: Cli) -> i32 {
    let overrides = Overrides {
        profile: cli.global.profile,
        config_file: cli.global.config.clone(),
        confirm_live: cli.global.confirm_live,
    };
    match cli.command {
        Command::Check { scripts } => check(&overrides, &scripts),
        Command::Run(args) => run(&overrides, args).await,
        Command::Sandbox(args) => serve_sandbox(&overrides, args).await,
        Command::Serve(args) => match Settings::load(&overrides) {
            Ok(s) => {
                let opts = crate::serve::ServeOptions {
                    store: args
                        .state
                        .clone()
                        .unwrap_or_else(|| s.data_dir.join("btw.db")),
                    recipes: args.recipes,
                    grace: Duration::from_secs(args.grace),
                    catch_up: Duration::from_secs(args.catch_up),
                    debounce: Duration::from_millis(args.debounce_ms.max(10)),
                };
                crate::serve::serve(&s, opts).await
            }
            Err(e) => fail(&Failure::Usage { message: e.0 }),
        },
        Command::Repl => match Settings::load(&overrides) {
            Ok(s) => crate::repl::run(&s, None).await,
            Err(e) => fail(&Failure::Usage { message: e.0 }),
        },
        Command::Defs { dir } => crate::repl::defs_command(dir),
        Command::Bench(args) => crate::bench::main(args).await,
        Command::Schedule(args) => crate::schedule::cli::command(&overrides, args),
    }
}

fn fail(f: &Failure) -> i32 {
    eprintln!("{}", f.render());
    f.exit_code()
}

fn check(overrides: &Overrides, scripts: &[PathBuf]) -> i32 {
    let limits = match Settings::load(overrides) {
        Ok(s) => s.limits,
        Err(e) => return fail(&Failure::Usage { message: e.0 }),
    };
    let mut worst = exit::OK;
    for path in scripts {
        let result = Script::from_file(path).and_then(|s| runner::check(&s, &limits));
        match result {
            Ok(()) => println!("ok: {}", path.display()),
            Err(f) => worst = worst.max(fail(&f)),
        }
    }
    worst
}

/// Reads `--params FILE` then `--param k=v` (which win).
fn collect_params(args: &RunArgs) -> Result<Map<String, Value>, Failure> {
    let mut params = Map::new();
    if let Some(path) = &args.params_file {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage {
            message: format!("cannot read --params {}: {e}", path.display()),
        })?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => params.extend(m),
            Ok(_) => {
                return Err(Failure::Usage {
                    message: format!("--params {}: expected a JSON object", path.display()),
                })
            }
            Err(e) => {
                return Err(Failure::Usage {
                    message: format!("--params {}: {e}", path.display()),
                })
            }
        }
    }
    for p in &args.params {
        let (k, v) = runner::parse_param(p).map_err(|message| Failure::Usage { message })?;
        params.insert(k, v);
    }
    Ok(params)
}

/// A BT client for the settings; for the embedded sandbox, the shared one on the well-known
/// port, started here (and kept alive by the returned handle) when none is listening.
pub async fn connect(settings: &Settings) -> Result<(BtClient, Option<SandboxHandle>), Failure> {
    let (base_url, handle) = match &settings.target {
        Target::Url(url) => (url.clone(), None),
        Target::EmbeddedSandbox => {
            let port = std::env::var("BTW_SANDBOX_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(SANDBOX_PORT);
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

async fn run(overrides: &Overrides, args: RunArgs) -> i32 {
    let settings = match Settings::load(overrides) {
        Ok(s) => s,
        Err(e) => return fail(&Failure::Usage { message: e.0 }),
    };
    let store = match Store::open(&settings.data_dir.join("btw.db")) {
        Ok(s) => s,
        Err(e) => {
            return fail(&Failure::Usage {
                message: e.to_string(),
            })
        }
    };
    let (script_path, params) = match &args.resume {
        Some(run_id) => match store.run_get(run_id) {
            Ok(Some(r)) => {
                if r.outcome == "ok" {
                    eprintln!("note: run {run_id} already succeeded; re-running it repeats nothing it recorded");
                }
                let params = r.params.as_object().cloned().unwrap_or_default();
                (
                    args.script
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(&r.script)),
                    params,
                )
            }
            Ok(None) => {
                return fail(&Failure::Usage {
                    message: format!("no run {run_id} in {}", store.path().display()),
                })
            }
            Err(e) => {
                return fail(&Failure::Usage {
                    message: e.to_string(),
                })
            }
        },
        None => {
            let params = match collect_params(&args) {
                Ok(p) => p,
                Err(f) => return fail(&f),
            };
            (args.script.clone().unwrap_or_default(), params)
        }
    };
    let script = match Script::from_file(&script_path) {
        Ok(s) => s,
        Err(f) => return fail(&f),
    };
    let (client, sandbox) = match connect(&settings).await {
        Ok(c) => c,
        Err(f) => return fail(&f),
    };
    let (events, listener) = match listen_for_notifications(&settings, &client, &store).await {
        Some((hub, l)) => (Some(hub), Some(l)),
        None => (None, None),
    };
    let cancel = Cancel::default();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping the script");
            on_ctrl_c.cancel();
        }
    });
    let ctx = RunContext {
        client,
        profile: settings.profile,
        cug: settings.cug.clone(),
        billing_account: settings.billing_account.clone(),
        limits: settings.limits.clone(),
        out: Arc::new(StdOutput {
            prints_to_stderr: args.json,
            min_level: LogLevel::Info,
        }),
        cancel,
        poll_interval: None,
        store: Some(store),
        resume: args.resume.clone(),
        events,
    };
    let outcome = runner::run(ctx, script, params).await;
    if let Err(f) = &outcome.result {
        eprintln!("{}", f.render());
        if !matches!(f, Failure::Usage { .. } | Failure::Compile { .. }) {
            eprintln!("run id {}: fix the cause, then `btw run --resume {}` repeats nothing that completed", outcome.run_id, outcome.run_id);
        }
    }
    if args.json {
        println!("{}", outcome.to_json());
    } else if let Ok(v) = &outcome.result {
        if !v.is_null() {
            println!(
                "{}",
                serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
            );
        }
    }
    if let Some(l) = listener {
        l.shutdown().await;
    }
    if let Some(h) = sandbox {
        h.shutdown().await;
    }
    outcome.exit_code()
}

/// With the sandbox profile: a callback listener on loopback, registered with the sandbox, so
/// waits follow notifications. With BT (test, live), the callback URL and its credentials are
/// given to BT at onboarding: the listener runs when `BTW_CALLBACK_BIND`, `BTW_CALLBACK_USERNAME`
/// and `BTW_CALLBACK_PASSWORD` say where and how, with a five-minute replay window; otherwise
/// waits poll. Failing to listen is not fatal: waits fall back to polling.
pub async fn listen_for_notifications(
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

async fn serve_sandbox(overrides: &Overrides, args: SandboxArgs) -> i32 {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return fail(&Failure::Usage {
            message: "--speed must be a positive number".into(),
        });
    }
    if !(args.order_step.is_finite() && args.order_step >= 0.0) {
        return fail(&Failure::Usage {
            message: "--order-step must be zero or more seconds".into(),
        });
    }
    let state_file = if args.memory {
        None
    } else {
        match &args.state {
            Some(p) => Some(p.clone()),
            None => match Settings::load(overrides) {
                Ok(s) => Some(s.data_dir.join("sandbox-state.json")),
                Err(e) => return fail(&Failure::Usage { message: e.0 }),
            },
        }
    };
    if let Some(path) = &state_file {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return fail(&Failure::Usage {
                    message: format!("cannot create {}: {e}", dir.display()),
                });
            }
        }
        if args.reset && path.exists() {
            if let Err(e) = std::fs::remove_file(path) {
                return fail(&Failure::Usage {
                    message: format!("cannot remove {}: {e}", path.display()),
                });
            }
        }
    }
    let mut faults = Vec::new();
    for spec in &args.faults {
        match sandbox::faults::parse_fault(spec) {
            Ok(f) => faults.push(f),
            Err(e) => {
                return fail(&Failure::Usage {
                    message: format!("--fault {spec:?}: {e}"),
                })
            }
        }
    }
    if !(args.lcp_delay.is_finite() && args.lcp_delay >= 0.0) {
        return fail(&Failure::Usage {
            message: "--lcp-delay must be zero or more seconds".into(),
        });
    }
    let config = SandboxConfig {
        faults,
        lcp_decision_secs: args.lcp_delay,
        credentials: args.client_key.clone().zip(args.client_secret.clone()),
        clock_speed: args.speed,
        order_step_secs: args.order_step,
        state_file: state_file.clone(),
        ..SandboxConfig::default()
    };
    let handle = match sandbox::start_on(&format!("{}:{}", args.host, args.port), config).await {
        Ok(h) => h,
        Err(e) => {
            return fail(&Failure::Usage {
                message: format!("cannot listen on {}:{}: {e}", args.host, args.port),
            })
        }
    };
    println!("BT sandbox listening on {}", handle.base_url());
    match &state_file {
        Some(p) => println!("state: {}", p.display()),
        None => println!("state: in memory only"),
    }
    println!(
        "try: curl -s -u key:secret '{}/oauth/accesstoken?grant_type=client_credentials'",
        handle.base_url()
    );
    println!("stop with Ctrl-C");
    wait_for_shutdown().await;
    handle.shutdown().await;
    exit::OK
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
