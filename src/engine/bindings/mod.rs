//! The script surface: one Rhai module per API family, each function documented with an example.
//!
//! Helpers here turn script maps into typed requests, run async calls from the script's thread,
//! and turn BT errors into catchable script errors.

mod address;
mod adopt;
mod batch;
mod bt;
mod btw;
mod ethernet;
mod events;
mod numbers;
mod order;
mod port;
mod request_error;
mod schedule;
mod util;
mod wait;
mod whc;

use super::convert::{to_dynamic, to_json};
use super::Runtime;
use crate::api::{ApiError, Operation};
use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext, Position};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Every script module, as (name, module). The REPL and `btw defs` read this list too.
pub(crate) fn modules() -> Vec<(&'static str, rhai::Module)> {
    vec![
        ("btw", rhai::exported_module!(btw::btw_module)),
        ("bt", rhai::exported_module!(bt::bt_module)),
        ("whc", rhai::exported_module!(whc::whc_module)),
        ("bt", rhai::exported_module!(bt::bt_module)),
        ("numbers", rhai::exported_module!(numbers::numbers_module)),
        ("address", rhai::exported_module!(address::address_module)),
        ("order", rhai::exported_module!(order::order_module)),
        ("port", rhai::exported_module!(port::port_module)),
        (
            "ethernet",
            rhai::exported_module!(ethernet::ethernet_module),
        ),
        ("events", rhai::exported_module!(events::events_module)),
        (
            "schedule",
            rhai::exported_module!(schedule::schedule_module),
        ),
        ("batch", rhai::exported_module!(batch::batch_module)),
        ("log", rhai::exported_module!(util::log_module)),
        ("json", rhai::exported_module!(util::json_module)),
        ("time", rhai::exported_module!(util::time_module)),
    ]
}

/// Registers every script module. They are built and indexed once per process and shared by
/// every engine (an engine per run, so this keeps a run's set-up cheap).
pub(crate) fn register_all(engine: &mut Engine) {
    static BUILT: std::sync::OnceLock<Vec<(&'static str, rhai::Shared<rhai::Module>)>> =
        std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        modules()
            .into_iter()
            .map(|(name, mut module)| {
                module.set_id(name);
                module.build_index();
                (name, module.into())
            })
            .collect()
    });
    for (name, module) in built {
        engine.register_static_module(*name, module.clone());
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

/// A BT call that failed, kept typed until it becomes a script error: the ledger reads from it
/// whether the call may have taken effect. `?` turns it into the script error [`api_error`] makes.
#[derive(Debug)]
pub(crate) struct BtFailure(Box<(ApiError, Position)>);

impl From<BtFailure> for Box<EvalAltResult> {
    fn from(f: BtFailure) -> Self {
        let (e, pos) = *f.0;
        api_error(pos, e)
    }
}

/// Runs an async BT call from the script's (blocking) thread; a cancel stops the wait.
pub(crate) fn block_on<T>(
    ctx: &NativeCallContext,
    rt: &Runtime,
    op: impl Into<String>,
    fut: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, BtFailure> {
    let cancel = rt.cancel.clone();
    // Cancellation is looked at first: once a run is cancelled its runtime may be shutting
    // down, and polling a new timer or connection on it would panic instead of ending the call.
    let result = if cancel.is_cancelled() {
        Err(ApiError::Cancelled {
            operation: op.into(),
        })
    } else {
        rt.handle.block_on(async {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(ApiError::Cancelled { operation: op.into() }),
                r = fut => r,
            }
        })
    };
    result.map_err(|e| BtFailure(Box::new((e, ctx.call_position()))))
}

/// A failed BT call as a script error: a map a `catch` can read
/// (`kind`, `status`, `code`, `reason`, `message`, `operation`, `summary`, and for BT's
/// answers `tracking_id` and validation `errors` with each wire `field` and script `key`).
pub(crate) fn api_error(pos: Position, e: ApiError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from_map(api_error_map(&e)), pos).into()
}

/// The map a `catch` reads for a failed BT call (see [`api_error`]).
fn api_error_map(e: &ApiError) -> Map {
    let mut m = Map::new();
    let summary = e.to_string();
    let (kind, operation) = match e {
        ApiError::Bt(bt) => {
            m.insert("status".into(), Dynamic::from_int(bt.status as i64));
            m.insert("code".into(), bt.code.clone().into());
            m.insert("reason".into(), bt.reason.clone().into());
            m.insert("message".into(), bt.message.clone().into());
            if !bt.errors.is_empty() {
                m.insert(
                    "errors".into(),
                    to_dynamic(&Value::Array(bt.errors.clone())),
                );
            }
            if let Some(t) = &bt.tracking_id {
                m.insert("tracking_id".into(), t.clone().into());
            }
            ("bt", &bt.operation)
        }
        ApiError::Transport { operation, .. } => ("transport", operation),
        ApiError::Timeout { operation, .. } => ("timeout", operation),
        ApiError::Decode { operation, .. } => ("decode", operation),
        ApiError::Refused { operation, .. } => ("refused", operation),
        ApiError::Cancelled { operation } => ("cancelled", operation),
    };
    m.insert("operation".into(), operation.clone().into());
    m.insert("kind".into(), kind.into());
    m.entry("message".into())
        .or_insert_with(|| summary.clone().into());
    m.insert("outcome_unknown".into(), e.outcome_unknown().into());
    m.insert("summary".into(), summary.into());
    m
}

/// Reads a script map into a typed argument; unknown keys and wrong types are errors naming the
/// function, the key path and what was given (see [`request_error`]).
pub(crate) fn arg<T: DeserializeOwned>(
    ctx: &NativeCallContext,
    func: &str,
    map: Map,
) -> RhaiResult<T> {
    let json =
        to_json(&Dynamic::from_map(map)).map_err(|e| script_error(ctx, format!("{func}: {e}")))?;
    request_error::decode(func, json).map_err(|msg| script_error(ctx, msg))
}

/// A JSON answer from BT as a script value with snake_case keys.
pub(crate) fn snake(v: Value) -> Dynamic {
    to_dynamic(&crate::api::snake::snake_keys(v))
}

/// [`snake`] for an answer that is already a script value.
pub(crate) fn snake_of(v: &Dynamic) -> Dynamic {
    snake(to_json(v).unwrap_or(Value::Null))
}

/// The filter of `order::list` and `port::list`, `#{state, external_id, offset, limit}` (all
/// optional; limit defaults to 20), and the request it is recorded as.
pub(crate) fn list_filter(
    ctx: &NativeCallContext,
    func: &str,
    filter: Map,
) -> RhaiResult<(crate::api::order::OrderFilter, Value)> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        state: Option<String>,
        external_id: Option<String>,
        #[serde(default)]
        offset: u32,
        limit: Option<u32>,
    }
    let a: Args = arg(ctx, func, filter)?;
    let f = crate::api::order::OrderFilter {
        state: a.state,
        external_id: a.external_id,
        offset: a.offset,
        limit: a.limit.unwrap_or(20),
    };
    let request = serde_json::json!({"state": f.state, "external_id": f.external_id, "offset": f.offset, "limit": f.limit});
    Ok((f, request))
}

/// Signatures of the script surface, e.g. `whc::company(name: &str) -> Dynamic`, for messages and help.
pub(crate) fn signatures(engine: &Engine) -> Vec<String> {
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

/// How a ledgered step failed: a BT call (typed, so the ledger knows whether its outcome is
/// unknown) or the script's own error around it.
#[derive(Debug)]
pub(crate) enum StepError {
    Bt(BtFailure),
    Script(Box<EvalAltResult>),
}

impl From<BtFailure> for StepError {
    fn from(f: BtFailure) -> Self {
        StepError::Bt(f)
    }
}

impl From<Box<EvalAltResult>> for StepError {
    fn from(e: Box<EvalAltResult>) -> Self {
        StepError::Script(e)
    }
}

impl From<StepError> for Box<EvalAltResult> {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Bt(f) => f.into(),
            StepError::Script(e) => e,
        }
    }
}

impl crate::ledger::StepFailure for StepError {
    fn outcome_unknown(&self) -> bool {
        match self {
            StepError::Bt(f) => crate::ledger::StepFailure::outcome_unknown(&f.0 .0),
            // The run was stopped while the script was inside the step.
            StepError::Script(e) => matches!(**e, EvalAltResult::ErrorTerminated(..)),
        }
    }
    fn detail(&self) -> Value {
        match self {
            StepError::Bt(f) => {
                to_json(&Dynamic::from_map(api_error_map(&f.0 .0))).unwrap_or(Value::Null)
            }
            StepError::Script(e) => match &**e {
                EvalAltResult::ErrorRuntime(v, _) => to_json(v).unwrap_or(Value::Null),
                other => Value::String(other.to_string()),
            },
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Bt(b) => b.0 .0.fmt(f),
            StepError::Script(e) => e.fmt(f),
        }
    }
}

/// A step's ledger error as a script error at the call site. A step refused because the run's
/// lease is gone stops the run at once (the cancel is not a script error a `try` could catch).
fn ledger_error(
    ctx: &NativeCallContext,
    rt: &Runtime,
    e: crate::ledger::LedgerError<StepError>,
) -> Box<EvalAltResult> {
    if e.lease_lost() {
        rt.cancel.lose_lease();
    } else if let crate::ledger::LedgerError::Store { .. } = &e {
        // Not a script error a `try` could catch and go on from unrecorded: the run stops,
        // unfinished, to be resumed from its ledger.
        rt.cancel.lose_store(e.to_string());
    }
    match e {
        crate::ledger::LedgerError::Call(e) => e.into(),
        other => script_error(ctx, other.to_string()),
    }
}

/// The run's records could not be started at its first use of the store (`e` says why): no
/// call is made.
pub(crate) fn begin_error(ctx: &NativeCallContext, e: String) -> Box<EvalAltResult> {
    script_error(ctx, e)
}

/// Runs one mutating call through the ledger ([`crate::ledger::Step::mutate`]). `request`
/// builds the request for the step number (creates put it in their `externalId`); `call` sends
/// it; `recover` asks BT whether an interrupted attempt took effect.
pub(crate) fn ledgered(
    ctx: &NativeCallContext,
    rt: &Runtime,
    operation: Operation,
    request: impl FnOnce(u64) -> Value,
    call: impl FnOnce(&Value) -> Result<Value, StepError>,
    recover: impl FnOnce(&Value) -> Result<Option<Value>, StepError>,
) -> RhaiResult<Dynamic> {
    use crate::engine::LogLevel;
    rt.before_mutating();
    let step = rt.next_step();
    let request = request(step);
    rt.ledger_step(step, operation)
        .map_err(|e| begin_error(ctx, e))?
        .mutate(request, call, recover, |notice| {
            let level = match notice {
                crate::ledger::Notice::Reused => LogLevel::Info,
                crate::ledger::Notice::Interrupted => LogLevel::Warn,
            };
            rt.out.log(level, &notice.describe(step, operation));
        })
        .map(|v| to_dynamic(&v))
        .map_err(|e| ledger_error(ctx, rt, e))
}

/// Runs one read-only BT call through the ledger ([`crate::ledger::Step::read`]): a resumed run
/// replays what it saw the first time, then carries on live.
pub(crate) fn recorded_read(
    ctx: &NativeCallContext,
    rt: &Runtime,
    operation: Operation,
    request: Value,
    call: impl FnOnce() -> RhaiResult<Value>,
) -> RhaiResult<Value> {
    let step = rt.next_step();
    rt.ledger_step(step, operation)
        .map_err(|e| begin_error(ctx, e))?
        .read(&request, || call().map_err(StepError::Script))
        .map_err(|e| ledger_error(ctx, rt, e))
}

/// A read-only BT call from a script: sent (or replayed on resume) through the ledger.
pub(crate) fn read(
    ctx: &NativeCallContext,
    rt: &Runtime,
    operation: Operation,
    request: Value,
    fut: impl Future<Output = Result<Value, ApiError>>,
) -> RhaiResult<Value> {
    recorded_read(ctx, rt, operation, request, || {
        Ok(block_on(ctx, rt, operation, fut)?)
    })
}
