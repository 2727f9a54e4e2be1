//! The script surface: one Rhai module per API family, each function documented with an example.
//!
//! Helpers here turn script maps into typed requests, run async calls from the script's thread,
//! and turn BT errors into catchable script errors.

mod address;
mod btw;
mod numbers;
mod order;
mod util;
mod whc;

use super::convert::{to_dynamic, to_json};
use super::Runtime;
use crate::api::ApiError;
use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext, Position};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Every script module, as (name, module). The REPL and `btw defs` read this list too.
pub fn modules() -> Vec<(&'static str, rhai::Module)> {
    vec![
        ("btw", rhai::exported_module!(btw::btw_module)),
        ("whc", rhai::exported_module!(whc::whc_module)),
        ("numbers", rhai::exported_module!(numbers::numbers_module)),
        ("address", rhai::exported_module!(address::address_module)),
        ("order", rhai::exported_module!(order::order_module)),
        ("log", rhai::exported_module!(util::log_module)),
        ("json", rhai::exported_module!(util::json_module)),
        ("time", rhai::exported_module!(util::time_module)),
    ]
}

pub fn register_all(engine: &mut Engine) {
    for (name, module) in modules() {
        engine.register_static_module(name, module.into());
    }
}

/// The run's runtime, or a clear error where none is attached.
pub(crate) fn runtime(ctx: &NativeCallContext) -> RhaiResult<Arc<Runtime>> {
    ctx.tag()
        .and_then(|t| t.clone().try_cast::<Arc<Runtime>>())
        .ok_or_else(|| {
            script_error(
                ctx,
                "this function calls BT, and no BT connection is attached here (use btw run, btw repl or btw serve)",
            )
        })
}

/// A plain script error at the call site.
pub(crate) fn script_error(ctx: &NativeCallContext, msg: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), ctx.call_position()).into()
}

/// Runs an async BT call from the script's (blocking) thread; a cancel stops the wait.
pub(crate) fn block_on<T>(
    ctx: &NativeCallContext,
    rt: &Runtime,
    op: &str,
    fut: impl Future<Output = Result<T, ApiError>>,
) -> RhaiResult<T> {
    let cancel = rt.cancel.clone();
    let result = rt.handle.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = cancel.cancelled() => Err(ApiError::Cancelled { operation: op.to_string() }),
        }
    });
    result.map_err(|e| api_error(ctx.call_position(), e))
}

/// A failed BT call as a script error: a map a `catch` can read
/// (`kind`, `status`, `code`, `reason`, `message`, `operation`, `summary`).
pub(crate) fn api_error(pos: Position, e: ApiError) -> Box<EvalAltResult> {
    let mut m = Map::new();
    let summary = e.to_string();
    let kind = match &e {
        ApiError::Bt(bt) => {
            m.insert("status".into(), Dynamic::from_int(bt.status as i64));
            m.insert("code".into(), bt.code.clone().into());
            m.insert("reason".into(), bt.reason.clone().into());
            m.insert("message".into(), bt.message.clone().into());
            m.insert("operation".into(), bt.operation.clone().into());
            if !bt.errors.is_empty() {
                m.insert(
                    "errors".into(),
                    to_dynamic(&Value::Array(bt.errors.clone())),
                );
            }
            "bt"
        }
        ApiError::Transport { operation, .. } => {
            m.insert("operation".into(), operation.clone().into());
            "transport"
        }
        ApiError::Timeout { operation, .. } => {
            m.insert("operation".into(), operation.clone().into());
            "timeout"
        }
        ApiError::Decode { operation, .. } => {
            m.insert("operation".into(), operation.clone().into());
            "decode"
        }
        ApiError::Refused { operation, .. } => {
            m.insert("operation".into(), operation.clone().into());
            "refused"
        }
        ApiError::Cancelled { operation } => {
            m.insert("operation".into(), operation.clone().into());
            "cancelled"
        }
    };
    m.insert("kind".into(), kind.into());
    m.entry("message".into())
        .or_insert_with(|| summary.clone().into());
    m.insert("outcome_unknown".into(), e.outcome_unknown().into());
    m.insert("summary".into(), summary.into());
    EvalAltResult::ErrorRuntime(Dynamic::from_map(m), pos).into()
}

/// Reads a script map into a typed argument; unknown keys and wrong types are errors naming the function.
pub(crate) fn arg<T: DeserializeOwned>(
    ctx: &NativeCallContext,
    func: &str,
    map: Map,
) -> RhaiResult<T> {
    let json =
        to_json(&Dynamic::from_map(map)).map_err(|e| script_error(ctx, format!("{func}: {e}")))?;
    serde_json::from_value(json).map_err(|e| script_error(ctx, format!("{func}: {e}")))
}

/// A JSON answer from BT as a script value with snake_case keys.
pub(crate) fn snake(v: Value) -> Dynamic {
    to_dynamic(&crate::api::snake::snake_keys(v))
}

/// Signatures of the script surface, e.g. `whc::company(name: &str) -> Dynamic`, for messages and help.
pub fn signatures(engine: &Engine) -> Vec<String> {
    engine
        .gen_fn_signatures(false)
        .into_iter()
        .filter(|s| s.contains("::"))
        .map(|s| tidy_signature(&s))
        .collect()
}

/// `-> RhaiResult<Map>` is how the Rust side says it; scripts see `-> Map`.
fn tidy_signature(sig: &str) -> String {
    match sig.split_once(" -> RhaiResult<") {
        Some((head, ret)) => format!("{head} -> {}", ret.strip_suffix('>').unwrap_or(ret)),
        None => sig.to_string(),
    }
}
