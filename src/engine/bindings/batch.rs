//! `batch::` — run one recipe over many parameter maps, a bounded number at a time.
//!
//! Each item runs in its own engine and [`Runtime`] on the blocking pool, sharing the calling
//! run's BT client (one token, one connection pool), cancel and ledger. Items get run ids
//! derived from the caller's (`<run id>-<n>`, n from 1), so their ledger steps are their own and
//! a resumed run (`btw run --resume`) replays what its items already did.

use crate::engine::bindings::{script_error, RhaiResult};
use crate::engine::convert::{to_dynamic, to_json};
use crate::engine::{self, Failure, Runtime, Script};
use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, Map};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Most items in flight at once (each holds a thread of the blocking pool while it runs).
pub const MAX_CONCURRENCY: i64 = 256;
/// In flight when the script does not say.
pub const DEFAULT_CONCURRENCY: i64 = 8;
/// Most `batch::run` calls nested in each other: a recipe that runs itself would otherwise use
/// up the blocking pool and wait for good.
pub const MAX_NESTING: usize = 4;

/// Finds a recipe like `import` does: a relative name, in the calling script's folder.
fn find_recipe(rt: &Runtime, name: &str) -> Result<PathBuf, String> {
    let rel = Path::new(name);
    let plain = !name.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "batch::run: recipe {name:?} refused: name a recipe in the script's folder, like \"whc_provide\" (no .., no absolute paths)"
        ));
    }
    let file = if name.ends_with(".rhai") {
        rel.to_path_buf()
    } else {
        PathBuf::from(format!("{name}.rhai"))
    };
    let dirs = if rt.dirs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        rt.dirs.clone()
    };
    dirs.iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "batch::run: no recipe {} in {}",
                file.display(),
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// A failed item's error: the run's own classification ([`Failure::to_json`]: `kind`, `message`,
/// `file`, `line`), with a BT error's fields (`status`, `code`, `reason`, `tracking_id`, …) at
/// the top as a `catch` would see them.
fn item_error(f: &Failure) -> Map {
    let mut v = f.to_json();
    if let Some(serde_json::Value::Object(bt)) = v.get("bt").cloned() {
        if let Some(top) = v.as_object_mut() {
            for (k, val) in bt {
                top.entry(k).or_insert(val);
            }
        }
    }
    to_dynamic(&v).try_cast::<Map>().unwrap_or_default()
}

/// Runs one item as a run of its own ([`Runtime::run_child`]): the shared client and ledger,
/// its own run id and steps.
fn run_item(parent: &Runtime, run_id: String, script: &Script, params: Map) -> Map {
    let params = match to_json(&Dynamic::from_map(params)) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mut out = Map::new();
    match parent.run_child(run_id, script, params) {
        Ok(v) => {
            out.insert("ok".into(), true.into());
            out.insert("result".into(), to_dynamic(&v));
        }
        Err(f) => {
            out.insert("ok".into(), false.into());
            out.insert("error".into(), item_error(&f).into());
        }
    }
    out
}

/// The nesting limit's error: kind `limit`, which every enclosing `batch::run` passes up, so the
/// run itself fails instead of reporting it as one failed item.
fn nesting_error(ctx: &NativeCallContext) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), "limit".into());
    let message = format!(
        "batch::run nested more than {MAX_NESTING} deep (does a recipe run itself through batch::run?)"
    );
    m.insert("message".into(), message.into());
    EvalAltResult::ErrorRuntime(m.into(), ctx.call_position()).into()
}

/// An item's limit error, which fails the whole batch (see [`nesting_error`]).
fn limit_error(results: &[Option<Map>]) -> Option<Dynamic> {
    results.iter().flatten().find_map(|r| {
        let e = r.get("error")?.read_lock::<Map>()?.clone();
        let kind = e.get("kind")?.clone().into_string().ok()?;
        (kind == "limit").then(|| e.into())
    })
}

/// Runs the items one after another on this thread, until the run is cancelled.
fn run_in_turn(rt: &Runtime, script: &Script, all: Vec<Map>) -> Vec<Option<Map>> {
    let mut results: Vec<Option<Map>> = vec![None; all.len()];
    for (i, params) in all.into_iter().enumerate() {
        if rt.cancel.is_cancelled() {
            break;
        }
        let run_id = format!("{}-{}", rt.run_id, i + 1);
        results[i] = Some(run_item(rt, run_id, script, params));
    }
    results
}

/// Runs the items on the blocking pool, `concurrency` at a time, until the run is cancelled.
fn run_concurrently(
    rt: &Arc<Runtime>,
    recipe: &str,
    script: &Script,
    all: Vec<Map>,
    concurrency: usize,
) -> Vec<Option<Map>> {
    let n = all.len();
    let cancel = rt.cancel.clone();
    rt.handle.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let mut set = tokio::task::JoinSet::new();
        for (i, params) in all.into_iter().enumerate() {
            let permit = tokio::select! {
                p = sem.clone().acquire_owned() => p,
                () = cancel.cancelled() => break,
            };
            let Ok(permit) = permit else {
                break;
            };
            let (rt, script) = (rt.clone(), script.clone());
            let run_id = format!("{}-{}", rt.run_id, i + 1);
            set.spawn_blocking(move || {
                let r = run_item(&rt, run_id, &script, params);
                drop(permit);
                (i, r)
            });
        }
        let mut results: Vec<Option<Map>> = vec![None; n];
        let mut progress = crate::engine::progress::Progress::items(
            rt.out.as_ref(),
            &format!("batch::run {recipe}"),
            n as u64,
        );
        loop {
            // Stop waiting when the run is cancelled or times out: items not started yet are
            // dropped, running ones stop at their next operation.
            let joined = tokio::select! {
                j = set.join_next() => j,
                () = cancel.cancelled() => {
                    set.abort_all();
                    break;
                }
            };
            match joined {
                Some(Ok((i, r))) => {
                    let ok = r.get("ok").and_then(|v| v.as_bool().ok()) == Some(true);
                    progress.item_done(ok);
                    results[i] = Some(r);
                }
                Some(Err(_)) => {}
                None => break,
            }
        }
        results
    })
}

fn run_batch(
    ctx: &NativeCallContext,
    recipe: &str,
    items: Array,
    concurrency: i64,
) -> RhaiResult<Array> {
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(script_error(
            ctx,
            format!(
                "batch::run: concurrency must be from 1 to {MAX_CONCURRENCY} (got {concurrency})"
            ),
        ));
    }
    let rt = crate::engine::bindings::runtime(ctx)?;
    if rt.batch_depth >= MAX_NESTING {
        return Err(nesting_error(ctx));
    }
    let all_params = item_params(ctx, items)?;
    let path = find_recipe(&rt, recipe).map_err(|m| script_error(ctx, m))?;
    let source = engine::limits::read_script_file(&path)
        .map_err(|e| script_error(ctx, format!("batch::run: {e}")))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    // Compiled here so a recipe that does not compile fails the call, not each item; the items
    // reuse this compilation (see `compile_cached`).
    engine::compile_cached(ctx.engine(), &source).map_err(|e| {
        script_error(
            ctx,
            format!(
                "batch::run: {} does not compile: {} at {}",
                path.display(),
                e.err_type(),
                e.position()
            ),
        )
    })?;
    let script = Script {
        name: path.display().to_string(),
        path: std::fs::canonicalize(&path).ok(),
        source,
        dir: Some(dir),
    };
    let all_params = checked_rows(ctx, &script, all_params)?;
    let cancel = rt.cancel.clone();
    // A nested batch runs its items one by one on its own thread: threads stay bounded by the
    // top-level batch's concurrency, so nested batches cannot use up the pool and wait for good.
    let results = if rt.batch_depth > 0 {
        run_in_turn(&rt, &script, all_params)
    } else {
        run_concurrently(&rt, recipe, &script, all_params, concurrency as usize)
    };
    if cancel.is_cancelled() {
        let token = if cancel.is_timed_out() {
            engine::TIMED_OUT
        } else {
            engine::CANCELLED
        };
        return Err(EvalAltResult::ErrorTerminated(token.into(), ctx.call_position()).into());
    }
    if let Some(e) = limit_error(&results) {
        return Err(EvalAltResult::ErrorRuntime(e, ctx.call_position()).into());
    }
    Ok(results
        .into_iter()
        .map(|r| Dynamic::from_map(r.unwrap_or_else(thread_failed)))
        .collect())
}

/// Each item's parameters: a map, or `()` for none.
fn item_params(ctx: &NativeCallContext, items: Array) -> RhaiResult<Vec<Map>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_unit() {
                return Ok(Map::new());
            }
            item.try_cast::<Map>().ok_or_else(|| {
                script_error(
                    ctx,
                    format!("batch::run: item {i} is not a map of parameters"),
                )
            })
        })
        .collect()
}

/// Every row's parameters checked against the recipe's declaration before any item runs: one
/// bad row refuses the whole call, naming each bad row, and nothing is sent to BT.
fn checked_rows(ctx: &NativeCallContext, script: &Script, rows: Vec<Map>) -> RhaiResult<Vec<Map>> {
    // The header is read once for every row.
    let declared = script
        .header()
        .map_err(|f| script_error(ctx, format!("batch::run: {}", f.message())))?
        .params;
    let mut problems = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let given = match to_json(&Dynamic::from_map(row)) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        match declared.check(&script.name, &given, &[]) {
            Ok(p) => checked.push(
                to_dynamic(&serde_json::Value::Object(p))
                    .try_cast::<Map>()
                    .unwrap_or_default(),
            ),
            Err(e) => problems.push(format!("item {i}: {e}")),
        }
    }
    if problems.is_empty() {
        return Ok(checked);
    }
    Err(script_error(
        ctx,
        format!("batch::run: {}", problems.join("\n")),
    ))
}

/// The result of an item whose thread died before it could report.
fn thread_failed() -> Map {
    let mut m = Map::new();
    let mut e = Map::new();
    e.insert("kind".into(), "internal".into());
    e.insert("message".into(), "the item's thread failed".into());
    m.insert("ok".into(), false.into());
    m.insert("error".into(), e.into());
    m
}

#[export_module]
pub mod batch_module {
    use super::{run_batch, DEFAULT_CONCURRENCY};
    use crate::engine::bindings::RhaiResult;
    use rhai::Array;

    /// Runs a recipe once per parameter map, at most `concurrency` (1 to 256) at a time, and
    /// returns one `#{ok, result}` or `#{ok: false, error}` per item, in the order given.
    /// A failing item does not stop the others. The recipe is found like `import` finds modules
    /// (a name in this script's folder, `.rhai` optional) and compiled once; each item runs in its
    /// own engine with its own `params`, sharing this run's BT connection, token and ledger
    /// (item n's calls are recorded under `<run id>-n`, so `btw run --resume` repeats nothing an
    /// item completed). A recipe run this way may call `batch::run` itself, at most 4 deep; such
    /// nested items run one at a time. The run's time limit and Ctrl-C stop every item.
    ///
    /// ```rhai
    /// let companies = ["Alpha Ltd", "Beta Ltd", "Gamma Ltd"];
    /// let items = companies.map(|name| #{company_name: name});
    /// let results = batch::run("whc_provide", items, 10);
    /// for i in 0..results.len() {
    ///     let r = results[i];
    ///     if r.ok { print(`${companies[i]}: order ${r.result.order_id}`); }
    ///     else { print(`${companies[i]} failed: ${r.error.message}`); }
    /// }
    /// ```
    #[rhai_fn(name = "run", return_raw)]
    pub fn run_with(
        ctx: NativeCallContext,
        recipe: &str,
        items: Array,
        concurrency: i64,
    ) -> RhaiResult<Array> {
        run_batch(&ctx, recipe, items, concurrency)
    }

    /// `batch::run(recipe, items)` with 8 items at a time.
    ///
    /// ```rhai
    /// let results = batch::run("bench_provide", [#{}, #{}, #{}]);
    /// print(results.filter(|r| r.ok).len());
    /// ```
    #[rhai_fn(name = "run", return_raw)]
    pub fn run_default(ctx: NativeCallContext, recipe: &str, items: Array) -> RhaiResult<Array> {
        run_batch(&ctx, recipe, items, DEFAULT_CONCURRENCY)
    }
}
