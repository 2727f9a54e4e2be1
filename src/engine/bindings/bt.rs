//! `bt::` — requests by path, for the endpoints the typed functions do not cover and for trying
//! BT's API out: the session's token, tracking header, clock and record, BT's errors raised as
//! the typed functions raise them. Reads may retry (and a recipe's ledger replays them on
//! resume); a mutating request is sent once, from `btw repl` only: a recipe's ledger cannot make
//! it exactly-once, so recipes keep to the typed functions for changes.

use crate::api::Operation;
use crate::engine::bindings::{block_on, read, runtime, script_error, RhaiResult};
use crate::engine::convert::{to_dynamic, to_json};
use rhai::plugin::*;
use rhai::Dynamic;
use serde_json::{json, Value};

/// The answer as a script map: `#{status, headers, body}`.
fn answer(page: crate::api::Page) -> Value {
    let headers: serde_json::Map<String, Value> = page
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({"status": page.status, "headers": headers, "body": page.body})
}

/// A read (`GET`): retried on transient failures, recorded by a recipe's ledger.
fn get_path(ctx: &NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
    let rt = runtime(ctx)?;
    crate::api::raw::check_path(path).map_err(|m| script_error(ctx, format!("bt::get: {m}")))?;
    let v = read(
        ctx,
        &rt,
        Operation::Raw,
        json!({"method": "GET", "path": path}),
        async { Ok(answer(rt.client.raw("GET", path, None).await?)) },
    )?;
    Ok(to_dynamic(&v))
}

/// A mutating request: sent once, in the REPL only.
fn change(
    ctx: &NativeCallContext,
    method: &str,
    path: &str,
    body: Option<&Dynamic>,
) -> RhaiResult<Dynamic> {
    let rt = runtime(ctx)?;
    let func = format!("bt::{}", method.to_ascii_lowercase());
    if !rt.interactive {
        return Err(script_error(
            ctx,
            format!(
                "{func} is refused in a recipe: a raw {method} cannot be made exactly-once by the run's ledger (a resumed run could send it twice); use the typed functions for changes, or send it from btw repl"
            ),
        ));
    }
    crate::api::raw::check_path(path).map_err(|m| script_error(ctx, format!("{func}: {m}")))?;
    let body = match body {
        Some(b) if !b.is_unit() => {
            Some(to_json(b).map_err(|e| script_error(ctx, format!("{func}: the body: {e}")))?)
        }
        _ => None,
    };
    rt.before_mutating();
    let page = block_on(ctx, &rt, Operation::Raw, rt.client.raw(method, path, body))?;
    Ok(to_dynamic(&answer(page)))
}

#[export_module]
pub mod bt_module {
    use super::{change, get_path};
    use crate::engine::bindings::RhaiResult;
    use rhai::Dynamic;

    /// `GET path` (relative to the profile's base URL, query string included): `#{status, headers, body}`,
    /// the body as BT sent it. A non-2xx answer raises BT's error, as the typed functions do.
    ///
    /// ```rhai
    /// let me = bt::get(`/bt-wholesale/v1/whc/resourceInventory/resellers/${whc::reseller().cug_id}`);
    /// print(me.status);
    /// print(me.headers["content-type"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        get_path(&ctx, path)
    }

    /// `POST path` with `body` as JSON (keys as BT spells them): `#{status, headers, body}`.
    /// Sent once, never retried: an interrupted call's outcome is unknown and says so. From
    /// `btw repl` only; a recipe refuses it (its ledger cannot make it exactly-once).
    ///
    /// ```rhai
    /// // In btw repl this asks BT to qualify a company; a recipe refuses it.
    /// try {
    ///     let r = bt::post("/bt-wholesale/v1/whc/productOfferingQualification", #{productOfferingQualificationItem: []});
    ///     print(r.status);
    /// } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn post(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        change(&ctx, "POST", path, Some(&body))
    }

    /// `PUT path` with `body` as JSON: like [`post`], once, from `btw repl` only.
    ///
    /// ```rhai
    /// try { print(bt::put("/bt-wholesale/v1/order/BTWKN1", #{note: "x"}).status); } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn put(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        change(&ctx, "PUT", path, Some(&body))
    }

    /// `PATCH path` with `body` as JSON: like [`post`], once, from `btw repl` only.
    ///
    /// ```rhai
    /// try { print(bt::patch("/bt-wholesale/v1/order/BTWKN1", #{note: "x"}).status); } catch (e) { print(e); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn patch(ctx: NativeCallContext, path: &str, body: Dynamic) -> RhaiResult<Dynamic> {
        change(&ctx, "PATCH", path, Some(&body))
    }

    /// `DELETE path`: like [`post`], once, from `btw repl` only.
    ///
    /// ```rhai
    /// try { print(bt::delete("/bt-wholesale/v1/order/BTWKN1").status); } catch (e) { print(e); }
    /// ```
    #[rhai_fn(name = "delete", return_raw)]
    pub fn delete_path(ctx: NativeCallContext, path: &str) -> RhaiResult<Dynamic> {
        change(&ctx, "DELETE", path, None)
    }
}
