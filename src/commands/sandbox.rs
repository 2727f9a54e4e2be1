//! `btw sandbox`: the BT sandbox on its own (in the foreground until Ctrl-C or SIGTERM, or as the
//! shared background service btw starts), and `btw sandbox status|stop` to manage the latter.

use super::{code, usage, Outcome};
use crate::cli::{SandboxAction, SandboxArgs};
use crate::config::{Overrides, Settings};
use crate::runner::{exit, Failure};
use crate::sandbox_service::{self as service, Files};
use btw_sandbox::{self as sandbox, SandboxConfig, SandboxHandle};
use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(super) async fn command(overrides: &Overrides, args: SandboxArgs) -> Outcome {
    match args.action {
        Some(SandboxAction::Status { port }) => status(overrides, port).await,
        Some(SandboxAction::Stop { port }) => stop(overrides, port).await,
        None if args.background => background(overrides, args).await,
        None => foreground(overrides, args).await,
    }
}

fn settings(overrides: &Overrides) -> Result<Settings, Failure> {
    Settings::load(overrides).map_err(|e| usage(e.0))
}

fn config(args: &SandboxArgs, state_file: Option<PathBuf>) -> Result<SandboxConfig, Failure> {
    check_numbers(args)?;
    let mut faults = Vec::new();
    for spec in &args.faults {
        let fault = sandbox::faults::parse_fault(spec)
            .map_err(|e| usage(format!("--fault {spec:?}: {e}")))?;
        faults.push(fault);
    }
    Ok(SandboxConfig {
        faults,
        lcp_decision_secs: args.lcp_delay,
        credentials: args.client_key.clone().zip(args.client_secret.clone()),
        clock_speed: args.speed,
        order_step_secs: args.order_step,
        state_file,
        idle_timeout: args.idle_timeout.map(Duration::from_secs),
        ..SandboxConfig::default()
    })
}

async fn foreground(overrides: &Overrides, args: SandboxArgs) -> Outcome {
    let (state_file, _lock) = state_file(overrides, &args)?;
    let config = config(&args, state_file.clone())?;
    let handle = sandbox::start_on(&format!("{}:{}", args.host, args.port), config)
        .await
        .map_err(|e| usage(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
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
    run_until_stopped(&handle, args.idle_timeout.map(Duration::from_secs)).await;
    handle.shutdown().await;
    Ok(code(exit::OK))
}

/// Until Ctrl-C or SIGTERM, `POST /__sandbox/shutdown`, or `idle` without a request.
async fn run_until_stopped(handle: &SandboxHandle, idle: Option<Duration>) {
    let idle_out = async {
        let Some(limit) = idle else {
            return std::future::pending().await;
        };
        loop {
            let left = limit.saturating_sub(handle.idle_for());
            if left.is_zero() {
                println!("idle for {} s: stopping", limit.as_secs());
                return;
            }
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
    };
    tokio::select! {
        _ = crate::session::wait_for_shutdown() => {}
        _ = handle.stop_requested() => println!("stop requested"),
        _ = idle_out => {}
    }
}

/// The sandbox's files in `dir` (the data folder, unless told otherwise), which is created if
/// missing.
fn data_files(dir: &std::path::Path) -> Result<Files, Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    Ok(Files::in_dir(dir))
}

/// Takes the data folder's sandbox lock: `None` when another sandbox holds it.
fn lock(files: &Files) -> Result<Option<File>, Failure> {
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&files.lock)
        .map_err(|e| usage(format!("cannot open {}: {e}", files.lock.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(usage(format!("cannot lock {}: {e}", files.lock.display())))
        }
    }
}

/// The shared background sandbox: one per folder (the lock: the data folder's, or the one a
/// sandbox started beside another build's has) and port (the bind). A loser of either race exits
/// quietly: its starter uses the winner.
async fn background(overrides: &Overrides, args: SandboxArgs) -> Outcome {
    let settings = settings(overrides)?;
    let dir = args.service_dir.clone().unwrap_or(settings.data_dir);
    let files = data_files(&dir)?;
    let Some(lock) = lock(&files)? else {
        println!("another sandbox uses {}", dir.display());
        return Ok(code(exit::OK));
    };
    let state = files
        .state_file()
        .map_err(|e| usage(format!("cannot use {}: {e}", files.state.display())))?;
    let idle = args
        .idle_timeout
        .unwrap_or(crate::config::SANDBOX_IDLE_DEFAULT_SECS);
    let mut config = config(&args, Some(state))?;
    config.idle_timeout = Some(Duration::from_secs(idle));
    let Some(handle) = bind(args.port, config).await? else {
        println!("another sandbox serves 127.0.0.1:{}", args.port);
        return Ok(code(exit::OK));
    };
    let pid = std::process::id();
    // The pid file says who holds the lock; it goes when the sandbox stops.
    if let Err(e) = std::fs::write(&files.pid, format!("{pid}\n{}\n", args.port)) {
        tracing::warn!("cannot write {}: {e}", files.pid.display());
    }
    println!(
        "{} BT sandbox {} listening on {} (pid {pid}, state {}, stops after {} s idle)",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        sandbox::build_id(),
        handle.base_url(),
        files.state.display(),
        idle
    );
    run_until_stopped(&handle, Some(Duration::from_secs(idle))).await;
    handle.shutdown().await;
    let _ = std::fs::remove_file(&files.pid);
    drop(lock);
    println!(
        "{} stopped",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(code(exit::OK))
}

/// Binds the port, retrying for a moment while it is held by something that is not a btw
/// sandbox (a starter checking the port, a sandbox going away); `None` when a btw sandbox
/// serves it.
async fn bind(port: u16, config: SandboxConfig) -> Result<Option<SandboxHandle>, Failure> {
    let url = service::url(port);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match sandbox::start_on(&format!("127.0.0.1:{port}"), config.clone()).await {
            Ok(h) => return Ok(Some(h)),
            Err(_) if service::probe(&url).await.is_some() => return Ok(None),
            Err(e) if Instant::now() >= deadline => {
                return Err(usage(format!(
                    "cannot listen on 127.0.0.1:{port}: {e} (set BTW_SANDBOX_PORT to a free port)"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The sandbox on the port, and any of other builds beside it on the next ports.
async fn status(overrides: &Overrides, port: Option<u16>) -> Outcome {
    let settings = settings(overrides)?;
    let base = port.unwrap_or(settings.sandbox_port);
    let url = service::url(base);
    match service::probe(&url).await {
        None => println!("no sandbox running on {url}"),
        Some(h) => {
            println!("sandbox running on {url}");
            describe(&settings, &url, &h).await;
            if !h.is_this_build() {
                println!(
                    "this btw is {}: while that one is in use it runs its own beside it, else it replaces it",
                    service::this_build()
                );
            }
        }
    }
    for port in (1..=service::BESIDE_PORTS).filter_map(|i| base.checked_add(i)) {
        let url = service::url(port);
        if let Some(h) = service::probe(&url).await {
            println!();
            println!("beside it: sandbox running on {url} (stop it with `btw sandbox stop --port {port}`)");
            describe(&settings, &url, &h).await;
        }
    }
    Ok(code(exit::OK))
}

/// The shared clock and each live run clock (a sandbox older than run clocks shows neither).
async fn print_clocks(url: &str) {
    let Some(v) = service::clocks(url).await else {
        return;
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    if let Some(shared) = v.get("shared") {
        println!("shared clock: {}", text(shared, "now"));
    }
    let clocks = v
        .get("clocks")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!("run clocks: {}", clocks.len());
    for c in &clocks {
        let ahead = c.get("aheadSecs").and_then(serde_json::Value::as_f64);
        let open = c.get("openObjects").and_then(serde_json::Value::as_u64);
        println!(
            "  {}  {}  {} ahead  {} open",
            text(c, "id"),
            text(c, "now"),
            ahead.map_or("?".to_string(), ahead_text),
            open.map_or("?".to_string(), |n| n.to_string())
        );
    }
}

/// A running sandbox's version, pid, idle time, whether it is in use and, when this data folder
/// holds them, its files.
async fn describe(settings: &Settings, url: &str, h: &service::Health) {
    println!("version: {}", h.described());
    if let Some(pid) = h.pid {
        println!("pid: {pid}");
    }
    match h.idle_timeout {
        Some(t) => println!(
            "idle: {} s (stops after {} s idle)",
            h.idle.as_secs(),
            t.as_secs()
        ),
        None => println!("idle: {} s", h.idle.as_secs()),
    }
    match service::in_use(url, h, settings.sandbox_idle).await {
        Some(why) => println!("in use: {why}"),
        None => println!("in use: no"),
    }
    print_clocks(url).await;
    let mut candidates = vec![Files::in_dir(&settings.data_dir)];
    if let Some(build) = &h.build {
        candidates.push(Files::beside(&settings.data_dir, build));
    }
    for files in candidates {
        let holder = std::fs::read_to_string(&files.pid)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u64>().ok()));
        if holder.is_some() && holder == h.pid {
            println!("state: {}", files.state.display());
            println!("log: {}", files.log.display());
        }
    }
}

async fn stop(overrides: &Overrides, port: Option<u16>) -> Outcome {
    let settings = settings(overrides)?;
    let url = service::url(port.unwrap_or(settings.sandbox_port));
    if service::probe(&url).await.is_none() {
        println!("no sandbox running on {url}");
        return Ok(code(exit::OK));
    }
    if service::stop(&url).await {
        println!("stopped the sandbox on {url}");
        Ok(code(exit::OK))
    } else {
        Err(Failure::Internal {
            message: format!(
                "the sandbox on {url} did not save its state and exit within {} s: it may still be saving; see `btw sandbox status`",
                service::STOP_TIMEOUT.as_secs()
            ),
        })
    }
}

fn check_numbers(args: &SandboxArgs) -> Result<(), Failure> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(usage("--speed must be a positive number"));
    }
    if !(args.order_step.is_finite() && args.order_step >= 0.0) {
        return Err(usage("--order-step must be zero or more seconds"));
    }
    if !(args.lcp_delay.is_finite() && args.lcp_delay >= 0.0) {
        return Err(usage("--lcp-delay must be zero or more seconds"));
    }
    Ok(())
}

/// Where the state lives (none with `--memory`): its folder made, and emptied with `--reset`.
/// The data folder's own state file is locked, so no background sandbox shares it.
fn state_file(
    overrides: &Overrides,
    args: &SandboxArgs,
) -> Result<(Option<PathBuf>, Option<File>), Failure> {
    if args.memory {
        return Ok((None, None));
    }
    let (path, lock) = match &args.state {
        Some(p) => (p.clone(), None),
        None => {
            let settings = settings(overrides)?;
            let files = data_files(&settings.data_dir)?;
            let Some(lock) = lock(&files)? else {
                return Err(usage(format!(
                    "a background sandbox uses {}: stop it with `btw sandbox stop`, or use --state FILE or --memory",
                    settings.data_dir.display()
                )));
            };
            let path = files
                .state_file()
                .map_err(|e| usage(format!("cannot use {}: {e}", files.state.display())))?;
            (path, Some(lock))
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    if args.reset {
        // The write-ahead log goes with the file: left behind, it would be replayed into the new one.
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(usage(format!("cannot remove {}: {e}", file.display())));
                }
                _ => {}
            }
        }
    }
    Ok((Some(path), lock))
}

/// How far a run clock is ahead of the shared one, in the largest whole unit.
fn ahead_text(secs: f64) -> String {
    let s = secs.max(0.0);
    if s >= 86_400.0 {
        format!("{:.1} d", s / 86_400.0)
    } else if s >= 3_600.0 {
        format!("{:.1} h", s / 3_600.0)
    } else {
        format!("{s:.0} s")
    }
}
