//! `btw sandbox`: the BT sandbox on its own, until Ctrl-C or SIGTERM.

use super::{code, usage, Outcome};
use crate::cli::SandboxArgs;
use crate::config::{Overrides, Settings};
use crate::runner::{exit, Failure};
use btw_sandbox::{self as sandbox, SandboxConfig};
use std::path::PathBuf;

pub(super) async fn command(overrides: &Overrides, args: SandboxArgs) -> Outcome {
    check_numbers(&args)?;
    let state_file = state_file(overrides, &args)?;
    let mut faults = Vec::new();
    for spec in &args.faults {
        let fault = sandbox::faults::parse_fault(spec)
            .map_err(|e| usage(format!("--fault {spec:?}: {e}")))?;
        faults.push(fault);
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
    crate::session::wait_for_shutdown().await;
    handle.shutdown().await;
    Ok(code(exit::OK))
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
fn state_file(overrides: &Overrides, args: &SandboxArgs) -> Result<Option<PathBuf>, Failure> {
    if args.memory {
        return Ok(None);
    }
    let path = match &args.state {
        Some(p) => p.clone(),
        None => Settings::load(overrides)
            .map_err(|e| usage(e.0))?
            .data_dir
            .join("sandbox-state.json"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    if args.reset && path.exists() {
        std::fs::remove_file(&path)
            .map_err(|e| usage(format!("cannot remove {}: {e}", path.display())))?;
    }
    Ok(Some(path))
}
