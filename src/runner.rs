//! Runs one script as a run: takes the run id's lease, records the run's start and end in the
//! store, applies the run's time limit, and evaluates the script on a blocking thread through
//! the engine's one assembly of a run ([`engine::evaluate`]).
//!
//! `btw run` and the daemon come through here, so leases, records, limits, error locations and
//! exit codes are the same everywhere; `batch::run` items and the REPL share the assembly.

use crate::config::{Limits, Profile};
use crate::engine::{self, Cancel, Runtime};
use crate::store::Store;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

pub use crate::engine::{check, classify, compile, exit, Failure, Location, RunContext, Script};

/// The result of a run.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub script: String,
    pub elapsed: Duration,
    /// HTTP calls made during the run (token calls included).
    pub api_calls: u64,
    pub result: Result<Value, Failure>,
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        match &self.result {
            Ok(_) => exit::OK,
            Err(f) => f.exit_code(),
        }
    }

    /// One JSON object: the result's own fields (when it is a map) plus the run's.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Ok(Value::Object(m)) = &self.result {
            out.extend(m.clone());
        }
        out.insert("ok".into(), json!(self.result.is_ok()));
        out.insert("run_id".into(), json!(self.run_id));
        out.insert("script".into(), json!(self.script));
        out.insert("elapsed_ms".into(), json!(self.elapsed.as_millis() as u64));
        out.insert("api_calls".into(), json!(self.api_calls));
        match &self.result {
            Ok(v) => {
                out.insert("result".into(), v.clone());
            }
            Err(f) => {
                out.insert("error".into(), f.to_json());
            }
        }
        Value::Object(out)
    }
}

/// A recorded run's parameters as they may be shown: its report's (secrets already hidden),
/// or, while it runs, the recorded ones with secret names and the script's declared secrets
/// hidden. The store keeps them whole, only so a resume can use them.
pub fn shown_params(run: &crate::store::RunRecord) -> Value {
    if let Some(p) = run.report.as_ref().and_then(|r| r.get("params")) {
        return p.clone();
    }
    let declared = engine::limits::read_script_file(std::path::Path::new(&run.script))
        .map(|source| Script::inline(&run.script, &source).secret_params())
        .unwrap_or_default();
    crate::secrets::masked(&run.params, &declared)
}

/// A scheduled job's parameters as they may be shown: secret names and the secrets its pinned
/// recipe version declares hidden.
pub fn shown_job_params(store: &Store, job: &crate::jobs::Job) -> Value {
    let declared = job
        .recipe_hash
        .as_deref()
        .and_then(|h| store.recipe_version(h).ok().flatten())
        .map(|source| Script::inline(&job.recipe, &source).secret_params())
        .unwrap_or_default();
    crate::secrets::masked(&job.params, &declared)
}

/// A new run id: time-ordered and unique enough to prefix external ids.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &rand[..6])
}

/// A short, stable fingerprint of a script's text (FNV-1a), recorded with each run: the store's
/// recipe hash, so a run, its job and the stored version name one text by one hash.
pub fn script_hash(source: &str) -> String {
    crate::store::recipe_hash(source)
}

/// The outcome of a run refused before it started (nothing recorded, no call made).
fn not_started(run_id: String, script: String, started: Instant, failure: Failure) -> RunOutcome {
    RunOutcome {
        run_id,
        script,
        elapsed: started.elapsed(),
        api_calls: 0,
        result: Err(failure),
    }
}

/// Where a run's lease comes from: the caller (the daemon, which records the end itself),
/// this runner, or the run's first use of the store.
enum Lease {
    HeldByCaller,
    /// Taken with the run's start record, before the run (or none: no store).
    Taken(Option<crate::store::HeldLease>),
    /// Taken with the start record by the run's first use of the store, if it makes one.
    Deferred(LeaseSlot),
}

type LeaseSlot = std::sync::Arc<std::sync::Mutex<Option<crate::store::HeldLease>>>;

/// What a run's start records, owned, for a start taken later or elsewhere.
struct Start {
    script: String,
    hash: String,
    params: Value,
    profile: &'static str,
}

impl Start {
    fn of(script: &Script, params: &Value, profile: Profile) -> Start {
        Start {
            script: script
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| script.name.clone()),
            hash: script_hash(&script.source),
            params: params.clone(),
            profile: profile.name(),
        }
    }

    /// Takes the run id's lease and records the start in one transaction (one execution per
    /// run id); should another process take the lease over while the run goes on, the run is
    /// cancelled. Synchronous: off the async workers.
    fn begin(
        &self,
        store: &Store,
        handle: &tokio::runtime::Handle,
        run_id: &str,
        cancel: &Cancel,
    ) -> Result<crate::store::HeldLease, Failure> {
        let on_lost = cancel.clone();
        let start = crate::store::RunStart {
            script: &self.script,
            script_hash: &self.hash,
            params: &self.params,
            profile: self.profile,
        };
        match crate::store::HeldLease::begin_run(store, handle, run_id, &start, move || {
            on_lost.lose_lease()
        }) {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(message)) => Err(Failure::Refused {
                message,
                location: None,
            }),
            Err(e) => Err(Failure::Internal {
                message: format!("cannot record the run, so it was not started: {e}"),
            }),
        }
    }
}

/// Runs `script` with `params` on a blocking thread, while its BT calls run on the tokio runtime.
/// With a store, the run is recorded and its mutating calls go through the ledger, each write
/// fenced by the run's lease. With `ctx.fence`, the caller holds the lease and records the
/// run's end itself (the daemon, in one transaction with its own records); else the run takes
/// the lease with its start record (at once, or with `ctx.defer_start` on the run's first use
/// of the store), and records its end, giving the lease up, while the lease is still its own.
pub async fn run(mut ctx: RunContext, script: Script, params: Map<String, Value>) -> RunOutcome {
    let run_id = ctx.resume.clone().unwrap_or_else(new_run_id);
    let started = Instant::now();
    let calls_before = ctx.client.calls_made();
    let name = script.name.clone();
    let client = ctx.client.clone();
    let store = ctx.store.clone();
    let cancel = ctx.cancel.clone();
    if let Err(message) = engine::limits::check_params(&params, &ctx.limits) {
        let refused = Failure::Limit {
            message,
            location: None,
        };
        return not_started(run_id, name, started, refused);
    }
    // The recipe's parameter contract, before the lease, the record or any call to BT.
    let declared = match script.header() {
        Ok(h) => h.params,
        Err(f) => return not_started(run_id, name, started, f),
    };
    let params = match declared.check(&script.name, &params, ctx.supplied) {
        Ok(p) => p,
        Err(e) => {
            let f = Failure::Usage {
                message: e.to_string(),
            };
            return not_started(run_id, name, started, f);
        }
    };
    let params_json = Value::Object(params.clone());
    let secrets = declared.secret_names();
    let start = Start::of(&script, &params_json, ctx.profile);
    let handle = tokio::runtime::Handle::current();
    let lease = match &store {
        _ if ctx.fence.is_some() => {
            if let Some(store) = &store {
                if let Err(f) =
                    record_start(store, ctx.fence.as_ref(), &cancel, &run_id, start).await
                {
                    return not_started(run_id, name, started, f);
                }
            }
            Lease::HeldByCaller
        }
        None => Lease::Taken(None),
        // A resumed run's records are there already: it takes its lease before it goes on.
        Some(store) if ctx.defer_start && ctx.resume.is_none() => {
            let slot = LeaseSlot::default();
            let (store, id, c, h, kept) = (
                store.clone(),
                run_id.clone(),
                cancel.clone(),
                handle.clone(),
                slot.clone(),
            );
            let begin = engine::Begin::new(move || {
                let lease = start.begin(&store, &h, &id, &c).map_err(|f| f.message())?;
                let fence = lease.fence();
                *kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
                Ok(fence)
            });
            ctx.begin = Some(std::sync::Arc::new(begin));
            Lease::Deferred(slot)
        }
        Some(store) => {
            let (s, id, c, h) = (
                store.clone(),
                run_id.clone(),
                cancel.clone(),
                handle.clone(),
            );
            let begun = tokio::task::spawn_blocking(move || start.begin(&s, &h, &id, &c)).await;
            match begun {
                Ok(Ok(lease)) => {
                    ctx.fence = Some(lease.fence());
                    Lease::Taken(Some(lease))
                }
                Ok(Err(f)) => return not_started(run_id, name, started, f),
                Err(e) => {
                    let f = Failure::Internal {
                        message: format!("cannot record the run, so it was not started: {e}"),
                    };
                    return not_started(run_id, name, started, f);
                }
            }
        }
    };
    let timer = time_limit(&ctx.limits, &cancel);
    let rt = Runtime::new(&ctx, handle, run_id.clone(), script.dir.clone());
    let joined = on_script_thread(move || engine::evaluate(rt, &script, params)).await;
    if let Some(t) = timer {
        t.abort();
    }
    let mut result = joined.unwrap_or_else(|e| {
        Err(Failure::Internal {
            message: format!("the script thread failed: {e}"),
        })
    });
    if let Err(Failure::Cancelled { location }) = &result {
        if let Some(why) = cancel.store_lost().filter(|_| !cancel.is_lease_lost()) {
            // Stopped because the store could not record a step: the run is unfinished, and
            // its ledger makes resuming it safe.
            result = Err(Failure::Script {
                message: format!(
                    "{why}; the run stopped unfinished: resume it with `btw run --resume {run_id}` once the store answers"
                ),
                location: location.clone(),
                value: None,
            });
        } else if cancel.is_timed_out() {
            result = Err(Failure::Limit {
                message: "run timed out: the script ran longer than the run time limit (limits.timeout_secs / BTW_TIMEOUT_SECS)".into(),
                location: location.clone(),
            });
        }
    }
    let outcome = RunOutcome {
        run_id,
        script: name,
        elapsed: started.elapsed(),
        api_calls: client.calls_made() - calls_before,
        result,
    };
    let held = match lease {
        Lease::HeldByCaller => return outcome,
        Lease::Taken(held) => held,
        // Not begun: the run never used the store, and is not recorded.
        Lease::Deferred(slot) => slot.lock().unwrap_or_else(|p| p.into_inner()).take(),
    };
    let (Some(store), Some(lease)) = (&store, held) else {
        return outcome;
    };
    if cancel.is_lease_lost() {
        tracing::warn!(
            "run {}: its lease was taken over by another process; its end is left to it",
            outcome.run_id
        );
        lease.forget();
    } else {
        let params = crate::secrets::masked(&params_json, &secrets);
        record_end(store, lease, &outcome, params).await;
    }
    outcome
}

/// What the runs table keeps of a run's end: its outcome's kind and its JSON with `params`.
pub fn end_record(outcome: &RunOutcome, params: Value) -> (&'static str, Value) {
    let kind = match &outcome.result {
        Ok(_) => "ok",
        Err(f) => f.kind(),
    };
    let mut report = outcome.to_json();
    report["params"] = params;
    (kind, report)
}

/// Runs a script on a thread of its own, not on the runtime's blocking pool: a run waiting
/// hours for BT parks its thread, and hundreds of waiting runs must never leave the store's
/// calls (which use the pool) without a thread. `Err`: the thread died (a panic) or could not
/// start.
async fn on_script_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("btw-run".into())
        .spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
                let why = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                format!("it panicked: {why}")
            });
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start the script's thread: {e}"))?;
    rx.await
        .map_err(|_| "the script's thread stopped before the script ended".to_string())?
}

/// The time limit also stops a script blocked in a BT call or a wait, where the progress
/// callback does not run.
fn time_limit(limits: &Limits, cancel: &Cancel) -> Option<tokio::task::JoinHandle<()>> {
    (limits.timeout_secs > 0).then(|| {
        let cancel = cancel.clone();
        let limit = Duration::from_secs(limits.timeout_secs);
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            cancel.time_out();
        })
    })
}

/// Records that a run whose lease the caller holds starts, while that lease holds (checked in
/// the same statement, so a caller that stalled past its lease never marks a run another
/// finished `running` again). A refusal stops the run: for a lost lease, as taken over; for a
/// store that does not answer, as unfinished, which the caller (the daemon) resumes once it
/// answers. SQLite work waits on the store's lock: it runs off the async workers, which serve
/// every BT call.
async fn record_start(
    store: &Store,
    fence: Option<&crate::store::Fence>,
    cancel: &Cancel,
    run_id: &str,
    start: Start,
) -> Result<(), Failure> {
    let (s, f, id) = (store.clone(), fence.cloned(), run_id.to_string());
    let recorded = tokio::task::spawn_blocking(move || {
        s.run_started_under(
            f.as_ref(),
            &id,
            &start.script,
            &start.hash,
            &start.params,
            start.profile,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err(crate::store::StoreError {
            path: String::new(),
            detail: e.to_string(),
        })
    });
    recorded.map_err(|e| {
        if e.is_lease_lost() {
            cancel.lose_lease();
        } else {
            cancel.lose_store(format!("cannot record the run's start: {e}"));
        }
        Failure::Internal {
            message: format!("cannot record the run, so it was not started: {e}"),
        }
    })
}

/// Records how the run ended, with its params, and gives its lease up, in one write committed
/// after the run's queued read records; a failure to record is logged, not raised (and the
/// lease then given up on its own).
async fn record_end(
    store: &Store,
    lease: crate::store::HeldLease,
    outcome: &RunOutcome,
    params: Value,
) {
    let (kind, report) = end_record(outcome, params);
    let (s, f) = (store.clone(), lease.fence());
    // The renewer is not to take the lease gone by this write for a takeover.
    lease.ending();
    let ended = tokio::task::spawn_blocking(move || s.run_ended(&f, kind, &report)).await;
    match ended {
        Ok(Ok(())) => lease.forget(),
        Ok(Err(e)) if e.is_lease_lost() => {
            tracing::warn!(
                "run {}: its lease was taken over by another process; its end is left to it",
                outcome.run_id
            );
            lease.forget();
        }
        failed => {
            if let Ok(Err(e)) = failed {
                tracing::error!("cannot record the end of run {}: {e}", outcome.run_id);
            }
            lease.release().await;
        }
    }
}

/// Reads repeated `--param key=value`s: for a recipe with typed declarations (`typed`) each value
/// is its text, which the declaration then types; without, a guessed JSON value
/// ([`parse_param`]). A key given twice is refused rather than the last one silently winning.
pub fn parse_params(given: &[String], typed: bool) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    for p in given {
        let (k, v) = parse_param(p)?;
        if params.contains_key(&k) {
            return Err(format!(
                "--param {k} is given twice: say which value you mean"
            ));
        }
        let v = match (typed, p.split_once('=')) {
            (true, Some((_, raw))) => Value::String(raw.to_string()),
            _ => v,
        };
        params.insert(k, v);
    }
    Ok(params)
}

/// Parses `--param key=value`: the value is JSON when it is a JSON number, boolean, null, array
/// or object, and a string otherwise (so `0121` and `The Fun Network` stay strings).
pub fn parse_param(text: &str) -> Result<(String, Value), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("--param {text:?}: expected key=value"))?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "--param {text:?}: the key must be letters, digits and _ (got {k:?})"
        ));
    }
    let value = match serde_json::from_str::<Value>(v.trim()) {
        Ok(
            j @ (Value::Number(_)
            | Value::Bool(_)
            | Value::Null
            | Value::Array(_)
            | Value::Object(_)),
        ) => j,
        _ => Value::String(v.to_string()),
    };
    Ok((k.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_strings_strings() {
        assert_eq!(parse_param("area_code=0121").unwrap().1, json!("0121"));
        assert_eq!(parse_param("users=2").unwrap().1, json!(2));
        assert_eq!(
            parse_param("name=The Fun Network").unwrap().1,
            json!("The Fun Network")
        );
        assert_eq!(parse_param("x=[1,2]").unwrap().1, json!([1, 2]));
        assert_eq!(parse_param("e=").unwrap().1, json!(""));
        assert_eq!(parse_param("eq=a=b").unwrap().1, json!("a=b"));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=x").is_err());
        assert!(parse_param("bad key=x").is_err());
    }

    #[test]
    fn arbitrary_param_text_never_panics() {
        let samples = [
            "",
            "=",
            "==",
            "a=\u{0}",
            "k=\"unterminated",
            "k={\"a\":",
            "ü=1",
            "k=1e999",
            "k=-0",
        ];
        for s in samples {
            let _ = parse_param(s);
        }
        let mut seed: u32 = 12345;
        for _ in 0..5000 {
            let s: String = (0..(seed % 16))
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    char::from_u32((seed >> 16) % 0x250).unwrap_or('=')
                })
                .collect();
            let _ = parse_param(&s);
        }
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let s = Script::inline("x.rhai", "let a = 1;\nlet b = ;\n");
        let f = check(&s, &Limits::default()).unwrap_err();
        let l = f.location().unwrap();
        assert_eq!((l.line, l.file.as_str()), (2, "x.rhai"));
        assert!(f.render().contains("let b = ;"), "{}", f.render());
        assert_eq!(f.exit_code(), exit::SCRIPT);
    }
}
