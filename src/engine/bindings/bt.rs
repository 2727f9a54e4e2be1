//! `bt::` — requests by path, for the endpoints the typed functions do not cover and for trying
//! a request by hand: the session's token, tracking header, sandbox clock and record, BT's
//! answer as `#{status, headers, body}` (wire keys as BT sends them).
//!
//! Reads go through the ledger like every read (a resumed run replays them). A raw change is
//! allowed only at the prompt: the ledger cannot make it exactly-once, so a recipe is refused
//! one and makes its changes through the typed functions. At the prompt a change is sent once,
//! never retried once it may have reached BT, and a failure that leaves its outcome unknown
//! says so.

use super::{api_error_map, block_on, recorded_read, runtime, script_error, BtFailure, RhaiResult};
use crate::api::raw::{is_mutating, RawAnswer};
use crate::api::{ApiError, Operation};
use crate::engine::convert::{to_dynamic, to_json};
use rhai::{Dynamic, EvalAltResult, Map, NativeCallContext};
use serde_json::{json, Value};

/// `#{status, headers, body}` as JSON (what the ledger keeps of a read).
fn answer_json(a: RawAnswer) -> Value {
    let headers: serde_json::Map<String, Value> = a
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
        .collect();
    json!({"status": a.status, "headers": headers, "body": a.body})
}

/// Sends one raw request from a script.
pub(super) fn send(
    ctx: &NativeCallContext,
    method: &str,
    path: &str,
    body: Option<&Dynamic>,
) -> RhaiResult<Dynamic> {
    let rt = runtime(ctx)?;
    let func = format!("bt::{}", method.to_ascii_lowercase());
    let body = match body {
        Some(b) => Some(to_json(b).map_err(|e| script_error(ctx, format!("{func}: body: {e}")))?),
        None => None,
    };
    if let Err(e) = crate::api::raw::check_path(path) {
        return Err(script_error(ctx, format!("{func}: {e}")));
    }
    if !is_mutating(method) {
        let request = json!({"method": method, "path": path});
        let v = recorded_read(ctx, &rt, Operation::Raw, request, || {
            let a = block_on(ctx, &rt, Operation::Raw, rt.client.raw(method, path, None))?;
            Ok(answer_json(a))
        })?;
        return Ok(to_dynamic(&v));
    }
    if !rt.interactive {
        return Err(script_error(
            ctx,
            format!(
                "{func}: a raw {method} is refused in a recipe: the ledger cannot make it exactly-once. Make changes with the typed functions (order::, port::, ethernet::, address::, numbers::), or try the request in btw repl"
            ),
        ));
    }
    rt.before_mutating();
    match block_on(ctx, &rt, Operation::Raw, rt.client.raw(method, path, body)) {
        Ok(a) => Ok(to_dynamic(&answer_json(a))),
        Err(f) => Err(change_failed(f, method, path)),
    }
}

/// A raw change that failed: when it may have reached BT, the error says the outcome is
/// unknown and that it was not sent again.
fn change_failed(f: BtFailure, method: &str, path: &str) -> Box<EvalAltResult> {
    let (e, pos) = *f.0;
    let unknown = e.outcome_unknown() || matches!(e, ApiError::Cancelled { .. });
    if !unknown {
        return super::api_error(pos, e);
    }
    let mut m: Map = api_error_map(&e);
    let summary = format!(
        "{e} — outcome unknown: {method} {path} may have reached BT and taken effect; it was not sent again (look at BT's state before sending it again)"
    );
    m.insert("outcome_unknown".into(), true.into());
    m.insert("message".into(), summary.clone().into());
    m.insert("summary".into(), summary.into());
    EvalAltResult::ErrorRuntime(Dynamic::from_map(m), pos).into()
}

#[rhai::export_module]
pub mod bt_module {
    use super::send;
    use crate::engine::bindings::RhaiResult;
    use rhai::{Dynamic, NativeCallContext};

    /// GET any BT path (with its query string): `#{status, headers, body}`, the body with BT's
    /// own (camelCase) keys. A failing status raises BT's error, as the typed functions do.
    /// Reads may be retried, and are ledgered like any read.
    ///
    /// ```rhai
    /// let r = bt::get("/common/geographicAddressManagement/v1/geographicAddress?postcode=IP5%203RE");
    /// print(`${r.status}: ${r.body.len()} addresses, the first ${r.body[0].id}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        send(&ctx, "GET", path, None)
    }

    /// POST `body` (a map, sent as JSON with the keys as written) to any BT path:
    /// `#{status, headers, body}`. At the prompt only: a recipe is refused raw changes (the
    /// ledger cannot make them exactly-once). Never retried once it may have reached BT; a
    /// failure that leaves the outcome unknown says so (`outcome_unknown` in the error map).
    ///
    /// ```rhai
    /// // At the prompt; a recipe makes changes with the typed functions (address::create).
    /// try {
    ///     let r = bt::post("/common/geographicAddressManagement/v1/geographicAddress",
    ///                      #{postcode: "LS1 4AP", city: "Leeds", country: "United Kingdom"});
    ///     print(`${r.status} ${r.body.id}`);
    /// } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn post(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        send(&ctx, "POST", path, Some(&body))
    }

    /// PUT `body` to any BT path, like `bt::post`: at the prompt only, never retried.
    ///
    /// ```rhai
    /// try {
    ///     let r = bt::put("/common/appointmentManagement/v4/appointment/APPT-1", #{status: "confirmed"});
    ///     print(r.status);
    /// } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn put(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        send(&ctx, "PUT", path, Some(&body))
    }

    /// PATCH any BT path with `body`, like `bt::post`: at the prompt only, never retried.
    ///
    /// ```rhai
    /// try {
    ///     let r = bt::patch("/common/appointmentManagement/v4/appointment/APPT-1", #{status: "cancelled"});
    ///     print(r.status);
    /// } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn patch(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        send(&ctx, "PATCH", path, Some(&body))
    }

    /// DELETE any BT path, like `bt::post`: at the prompt only, never retried.
    ///
    /// ```rhai
    /// try {
    ///     print(bt::delete("/common/appointmentManagement/v4/appointment/APPT-1").status);
    /// } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn delete(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        send(&ctx, "DELETE", path, None)
    }
}
