//! `btw run`: one recipe, with its parameters (or a failed run resumed), over one session.

use super::{code, store_flag, usage, Outcome};
use crate::cli::RunArgs;
use crate::config::{Overrides, Settings};
use crate::engine::{Cancel, LogLevel, StdOutput};
use crate::runner::{self, Failure, RunContext, Script};
use crate::session::Session;
use crate::store::Store;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) async fn command(overrides: &Overrides, args: RunArgs) -> Outcome {
    if args.help {
        return help(&args);
    }
    let settings = Settings::load(overrides).map_err(|e| usage(e.0))?;
    // Opened by its first use: a run that never uses the store never touches it.
    let store =
        Store::open_lazy(&store_flag::store_path(&settings, &args.store, None)).map_err(usage)?;
    let (script, params) = match &args.resume {
        Some(run_id) => resumed(&store, run_id, &args)?,
        None => {
            let script = load_script(&store, &args.script.clone().unwrap_or_default())?;
            let params = collect_params(&args, &script)?;
            (script, params)
        }
    };
    let header = script.header()?;
    for note in &header.notes {
        eprintln!("note: {}: {note}", script.name);
    }
    if !params.is_empty() && header.params == crate::recipe::Declared::Nothing {
        eprintln!(
            "note: {} declares no parameters, so these were not checked: {} (declare them as `//! param NAME: TYPE — description`)",
            script.name,
            params.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        );
    }
    let session = Session::open(&settings, Some(&store)).await?;
    if let Some(path) = &args.trace_http {
        let file = crate::secrets::create_private(path)
            .map_err(|e| usage(format!("--trace-http {}: {e}", path.display())))?;
        session.client.recorder().trace_to(file);
    }
    let cancel = Cancel::default();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping the script");
            on_ctrl_c.cancel();
        }
    });
    let out = Arc::new(StdOutput {
        prints_to_stderr: args.json,
        min_level: LogLevel::Info,
    });
    let ctx = RunContext::for_settings(session.client.clone(), &settings, out)
        .with_cancel(cancel)
        .with_store(Some(store.clone()))
        .with_resume(args.resume.clone())
        .with_events(session.events.clone())
        .with_notifications(session.notifications.clone())
        .with_deferred_start(true);
    let outcome = runner::run(ctx, script, params).await;
    // A store never opened holds nothing of this run: it made no call and scheduled nothing.
    let used_store = store.is_open();
    if used_store && scheduled_a_job(&store, &outcome.run_id) {
        store_flag::warn_if_unserved(&settings, &store);
    }
    if let Err(f) = &outcome.result {
        if matches!(f, Failure::Unreachable { .. }) {
            // The shared sandbox may be gone: the next start asks it again.
            crate::sandbox_service::forget_seen(&settings);
        }
        eprintln!("{}", f.render());
        let recorded = used_store && store.run_get(&outcome.run_id).ok().flatten().is_some();
        if recorded && !matches!(f, Failure::Usage { .. } | Failure::Compile { .. }) {
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
    session.close().await;
    if used_store {
        // What is queued is committed; the writer thread ends and the connection closes.
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
    Ok(code(outcome.exit_code()))
}

/// Whether the run added a scheduled job (a `schedule::at`/`cron` step in its ledger).
fn scheduled_a_job(store: &Store, run_id: &str) -> bool {
    store
        .ledger_steps(run_id)
        .map(|steps| steps.iter().any(|s| s.operation == "schedule job"))
        .unwrap_or(false)
}

/// `btw run --help`, or with a recipe, the recipe's own help.
fn help(args: &RunArgs) -> Outcome {
    let Some(path) = &args.script else {
        let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        if let Some(run) = cmd.find_subcommand_mut("run") {
            let _ = run.print_long_help();
        }
        return Ok(code(0));
    };
    let script = Script::from_file(path)?;
    println!(
        "{}",
        crate::recipe::help_text(&script.name, &script.header()?)
    );
    Ok(code(0))
}

/// The script to run: a file, `-` for standard input, or a pipe (`btw run <(…)`). A script
/// that is not a file is kept in the store (once per content) and recorded as
/// `stdin:<version>`, so `--resume` finds its text again.
fn load_script(store: &Store, path: &Path) -> Result<Script, Failure> {
    // A pipe (`<(…)`, /dev/stdin) is read to its end; devices and other files that are not
    // regular are refused as before.
    let piped = path.as_os_str() == "-"
        || std::fs::metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
        });
    if !piped {
        return Script::from_file(path);
    }
    let source = if path.as_os_str() == "-" {
        crate::engine::limits::read_script_stream(std::io::stdin().lock(), "standard input")
    } else {
        std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|f| crate::engine::limits::read_script_stream(f, &path.display().to_string()))
    }
    .map_err(usage)?;
    let version = store.recipe_version_put("stdin", &source).map_err(usage)?;
    Ok(Script {
        name: format!("stdin:{version}"),
        source,
        dir: Some(PathBuf::from(".")),
        path: None,
    })
}

/// The script and parameters of a recorded run (the script argument, when given, wins),
/// with `--param` corrections over the recorded parameters.
fn resumed(
    store: &Store,
    run_id: &str,
    args: &RunArgs,
) -> Result<(Script, Map<String, Value>), Failure> {
    let r = store
        .run_get(run_id)
        .map_err(usage)?
        .ok_or_else(|| usage(format!("no run {run_id} in {}", store.path().display())))?;
    if r.outcome == "ok" {
        eprintln!(
            "note: run {run_id} already succeeded; re-running it repeats nothing it recorded"
        );
    }
    let script = match (&args.script, r.script.strip_prefix("stdin:")) {
        (Some(path), _) => load_script(store, path)?,
        (None, Some(version)) => {
            let source = store
                .recipe_version(version)
                .map_err(usage)?
                .ok_or_else(|| usage(format!("run {run_id}: its script (read from standard input, version {version}) is no longer in the store")))?;
            Script {
                name: r.script.clone(),
                source,
                dir: Some(PathBuf::from(".")),
                path: None,
            }
        }
        (None, None) => Script::from_file(Path::new(&r.script))?,
    };
    let mut params = r.params.as_object().cloned().unwrap_or_default();
    let corrections = given_params(&args.params, &script)?;
    if r.outcome == "ok" && !corrections.is_empty() {
        return Err(usage(format!(
            "run {run_id} already succeeded: a corrected parameter would only change what it did; start a new run with btw run"
        )));
    }
    for (k, v) in &corrections {
        eprintln!("note: run {run_id}: parameter {k} corrected for this attempt");
        params.insert(k.clone(), v.clone());
    }
    Ok((script, params))
}

/// `--param k=v`: text for a recipe with typed declarations (the declaration types it), a
/// guessed JSON value for one without.
fn given_params(given: &[String], script: &Script) -> Result<Map<String, Value>, Failure> {
    let typed = script.header()?.params.typed().is_some();
    runner::parse_params(given, typed).map_err(usage)
}

/// Reads `--params FILE` then `--param k=v` (which win).
fn collect_params(args: &RunArgs, script: &Script) -> Result<Map<String, Value>, Failure> {
    let mut params = Map::new();
    if let Some(path) = &args.params_file {
        let text =
            crate::engine::limits::read_regular_file(path, crate::engine::limits::MAX_JSON_BYTES)
                .map_err(|e| usage(format!("--params: {e}")))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => params.extend(m),
            Ok(_) => {
                return Err(usage(format!(
                    "--params {}: expected a JSON object",
                    path.display()
                )))
            }
            Err(e) => return Err(usage(format!("--params {}: {e}", path.display()))),
        }
    }
    params.extend(given_params(&args.params, script)?);
    Ok(params)
}
