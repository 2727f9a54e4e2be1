//! `port::` — number porting: portability check, import orders, allocation, activation.

use crate::api::port::PortNumbers;
use crate::api::Operation;
use rhai::plugin::*;
use rhai::{Dynamic, Map};
use serde_json::Value;

/// Numbers from a script value: `"01914980100"`, `"01914980200-01914980299"`, an array of
/// numbers, or `#{start, end}`.
fn port_numbers(v: &Dynamic) -> Result<PortNumbers, String> {
    let clean = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    if let Ok(s) = v.clone().into_string() {
        let s = clean(&s);
        return Ok(match s.split_once('-') {
            Some((a, b)) => PortNumbers::Range {
                start: a.into(),
                end: b.into(),
            },
            None => PortNumbers::List(vec![s]),
        });
    }
    if let Some(arr) = v.clone().try_cast::<rhai::Array>() {
        let list = arr
            .into_iter()
            .map(|n| {
                n.into_string()
                    .map(|s| clean(&s))
                    .map_err(|t| format!("numbers must be strings, not {t}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("no numbers given".into());
        }
        return Ok(PortNumbers::List(list));
    }
    if let Some(m) = v.clone().try_cast::<Map>() {
        let get = |k: &str| {
            m.get(k)
                .and_then(|d| d.clone().into_string().ok())
                .map(|s| clean(&s))
        };
        if let (Some(start), Some(end)) = (get("start"), get("end")) {
            return Ok(PortNumbers::Range { start, end });
        }
        return Err("a range is #{start, end}".into());
    }
    Err(format!(
        "expected a number string, an array of numbers or #{{start, end}}, not {}",
        v.type_name()
    ))
}

fn numbers_json(n: &PortNumbers) -> (Option<Value>, Option<Value>) {
    match n {
        PortNumbers::List(l) => (Some(serde_json::json!(l)), None),
        PortNumbers::Range { start, end } => (
            None,
            Some(serde_json::json!({"startNumber": start, "endNumber": end})),
        ),
    }
}

fn import_type(
    ctx: &NativeCallContext,
    kind: Option<&Dynamic>,
) -> crate::engine::bindings::RhaiResult<&'static str> {
    let k = kind
        .and_then(|d| d.clone().into_string().ok())
        .unwrap_or_else(|| "single".into());
    match k.to_ascii_lowercase().as_str() {
        "single" | "singleline" => Ok("SingleLine"),
        "multi" | "multiline" => Ok("MultiLine"),
        other => Err(crate::engine::bindings::script_error(
            ctx,
            format!("kind {other:?}: expected \"single\" or \"multi\""),
        )),
    }
}

/// `port::import_order`'s argument map.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportArgs {
    /// Read by [`import_type`] first; listed so that it is not an unknown field.
    #[serde(default)]
    #[allow(dead_code)]
    kind: Option<String>,
    #[serde(default)]
    numbers: Option<Vec<String>>,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    range: Option<ImportRange>,
    port_date: String,
    postcode: String,
    #[serde(default)]
    losing_provider: Option<String>,
    #[serde(default)]
    company_service_id: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRange {
    start: String,
    end: String,
}

/// Reads `port::import_order`'s map: the arguments, BT's import type, and the numbers.
fn import_args(
    ctx: &NativeCallContext,
    request: Map,
) -> crate::engine::bindings::RhaiResult<(ImportArgs, &'static str, PortNumbers)> {
    let kind = import_type(ctx, request.get("kind"))?;
    let a: ImportArgs = crate::engine::bindings::arg(ctx, "port::import_order", request)?;
    let numbers = match (&a.numbers, &a.number, &a.range) {
        (Some(list), None, None) => PortNumbers::List(list.clone()),
        (None, Some(n), None) => PortNumbers::List(vec![n.clone()]),
        (None, None, Some(r)) => PortNumbers::Range {
            start: r.start.clone(),
            end: r.end.clone(),
        },
        _ => {
            return Err(crate::engine::bindings::script_error(
                ctx,
                "port::import_order: give one of numbers, number or range",
            ))
        }
    };
    Ok((a, kind, numbers))
}

/// The import order `id` when it has reached `state`: how a lost answer is recovered.
fn import_order_in(
    ctx: &NativeCallContext,
    rt: &crate::engine::Runtime,
    id: &str,
    state: &str,
) -> crate::engine::bindings::RhaiResult<Option<Value>> {
    let o = crate::engine::bindings::block_on(ctx, rt, Operation::PortGet, rt.client.port_get(id))?;
    Ok((o.get("state").and_then(Value::as_str) == Some(state)).then_some(o))
}

#[export_module]
pub mod port_module {
    use super::{import_order_in, import_type, numbers_json, port_numbers};
    use crate::api::Operation;
    use crate::engine::bindings::{
        block_on, ledgered, list_filter, read, runtime, script_error, snake, snake_of, RhaiResult,
    };
    use rhai::{Dynamic, Map};
    use serde_json::{json, Value};

    /// Whether a number can be ported in: `#{number, port_state, portable, range_holder,
    /// losing_provider, line_type, reason, earliest_port_date}`. `port_state` is `"portable"`,
    /// `"notPortable"` (see `reason`), `"alreadyPortedIn"` or `"portInProgress"`.
    /// A range (WHC only, not WHC Express) is `"01914980200-01914980299"` or `#{start, end}`.
    ///
    /// ```rhai
    /// let c = port::check("01914980100");
    /// if !c.portable { throw `cannot port: ${c.port_state} ${c.reason}`; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check(ctx: NativeCallContext, numbers: Dynamic) -> RhaiResult<Dynamic> {
        let n =
            port_numbers(&numbers).map_err(|e| script_error(&ctx, format!("port::check: {e}")))?;
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::PortCheck,
            json!({"numbers": format!("{n:?}")}),
            rt.client.port_check(&n, None),
        )?;
        Ok(snake(v))
    }

    /// Portability for a product: `"WHC"` or `"WHCExpress"` (which cannot port ranges).
    ///
    /// ```rhai
    /// let c = port::check("01914980100", "WHCExpress");
    /// ```
    #[rhai_fn(name = "check", return_raw)]
    pub fn check_product(
        ctx: NativeCallContext,
        numbers: Dynamic,
        product: &str,
    ) -> RhaiResult<Dynamic> {
        let n =
            port_numbers(&numbers).map_err(|e| script_error(&ctx, format!("port::check: {e}")))?;
        let rt = runtime(&ctx)?;
        let request = json!({"numbers": format!("{n:?}"), "product": product});
        let v = read(
            &ctx,
            &rt,
            Operation::PortCheck,
            request,
            rt.client.port_check(&n, Some(product)),
        )?;
        Ok(snake(v))
    }

    /// The earliest port date (`"YYYY-MM-DD"`) BT accepts from today for an import:
    /// `#{kind: "single"|"multi", numbers (or range), losing_provider}`. Lead times are in working
    /// days (weekends and England & Wales bank holidays excluded).
    ///
    /// ```rhai
    /// let date = port::earliest_date(#{kind: "single", numbers: ["01914980100"]});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn earliest_date(ctx: NativeCallContext, request: Map) -> RhaiResult<String> {
        let kind = import_type(&ctx, request.get("kind"))?;
        let numbers = request
            .get("numbers")
            .or_else(|| request.get("range"))
            .ok_or_else(|| script_error(&ctx, "port::earliest_date: give numbers (or range)"))?;
        let n = port_numbers(numbers)
            .map_err(|e| script_error(&ctx, format!("port::earliest_date: {e}")))?;
        let losing = request
            .get("losing_provider")
            .and_then(|d| d.clone().into_string().ok());
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::PortEarliestDate,
            json!({"kind": kind, "numbers": format!("{n:?}"), "losing_provider": losing}),
            rt.client.port_earliest_date(kind, &n, losing.as_deref()),
        )?;
        Ok(v.get("earliestPortDate")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Places a SingleLine or MultiLine import (port) order — DESIGN.md's `port::import`, which
    /// Rhai cannot parse (`import` is a keyword). BT acknowledges at once; the losing
    /// provider then accepts or rejects it (`events::wait(id, "portLcpAccepted", …)`).
    /// `#{kind: "single"|"multi", numbers: [..] (or number, or range: #{start, end}), port_date: "YYYY-MM-DD",
    /// postcode, losing_provider, company_service_id, external_id}`. Returns the order (`id`, `state`, …).
    ///
    /// ```rhai
    /// let date = port::earliest_date(#{kind: "single", numbers: ["01914980100"]});
    /// let p = port::import_order(#{kind: "single", numbers: ["01914980100"], port_date: date,
    ///                            postcode: "NE1 4ST", losing_provider: "BT"});
    /// print(`${p.id} ${p.state}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn import_order(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        let (a, kind, numbers) = super::import_args(&ctx, request)?;
        let (list, range) = numbers_json(&numbers);
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::PortImport,
            |step| {
                let mut body = json!({
                    "externalId": a.external_id.clone().unwrap_or_else(|| rt.external_id(step)),
                    "relatedParty": [{"id": rt.cug, "role": "customer", "@referredType": "BtCug"}],
                    "importType": kind,
                    "portDate": a.port_date,
                    "installationPostcode": a.postcode,
                });
                if let Some(l) = &list {
                    body["numbers"] = l.clone();
                }
                if let Some(r) = &range {
                    body["numberRange"] = r.clone();
                }
                if let Some(lp) = &a.losing_provider {
                    body["losingProvider"] = json!(lp);
                }
                if let Some(c) = &a.company_service_id {
                    body["companyServiceId"] = json!(c);
                }
                body
            },
            |body| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::PortImport,
                    rt.client.port_import(body.clone()),
                )
                .map_err(Into::into)
            },
            |recorded| {
                let ext = recorded
                    .get("externalId")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                block_on(&ctx, &rt, Operation::PortFind, rt.client.port_find(ext))
                    .map_err(Into::into)
            },
        )?;
        Ok(snake_of(&v))
    }

    /// One import order: `state` (acknowledged, inProgress, completed, rejected, cancelled),
    /// `lcp_status`, `rejection_reason`, `port_date`, `confirmed_port_date`, …
    ///
    /// ```rhai
    /// let now = port::get(p.id);
    /// print(`${now.state} ${now.lcp_status}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        Ok(snake(read(
            &ctx,
            &rt,
            Operation::PortGet,
            json!({"id": id}),
            rt.client.port_get(id),
        )?))
    }

    /// Changes an open import order: `#{port_date, numbers}` (or `range`). Changing the numbers
    /// sends the order back to the losing provider for a new decision.
    ///
    /// ```rhai
    /// // A date BT accepts from today: a fixed one would soon be in the past.
    /// let date = port::earliest_date(#{kind: "single", numbers: ["01632960123"]});
    /// port::amend(p.id, #{port_date: date});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn amend(ctx: NativeCallContext, id: &str, changes: Map) -> RhaiResult<Dynamic> {
        let mut patch = json!({});
        if let Some(d) = changes.get("port_date") {
            patch["portDate"] = json!(d.clone().into_string().map_err(|t| script_error(
                &ctx,
                format!("port::amend: port_date must be a string, not {t}")
            ))?);
        }
        if let Some(n) = changes.get("numbers").or_else(|| changes.get("range")) {
            let n = port_numbers(n).map_err(|e| script_error(&ctx, format!("port::amend: {e}")))?;
            let (list, range) = numbers_json(&n);
            if let Some(l) = list {
                patch["numbers"] = l;
            }
            if let Some(r) = range {
                patch["numberRange"] = r;
            }
        }
        for k in changes.keys() {
            if !["port_date", "numbers", "range"].contains(&k.as_str()) {
                return Err(script_error(
                    &ctx,
                    format!(
                        "port::amend: unknown field `{k}`, expected port_date, numbers or range"
                    ),
                ));
            }
        }
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::PortAmend,
            |_| json!({"id": id, "patch": patch}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::PortAmend,
                    rt.client.port_amend(id, patch.clone()),
                )
                .map_err(Into::into)
            },
            // The same PATCH again changes nothing more: send it.
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Cancels an import order that has not completed.
    ///
    /// ```rhai
    /// port::cancel(p.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::PortCancel,
            |_| json!({"id": id}),
            |_| {
                block_on(&ctx, &rt, Operation::PortCancel, rt.client.port_cancel(id))
                    .map_err(Into::into)
            },
            |_| import_order_in(&ctx, &rt, id, "cancelled").map_err(Into::into),
        )?;
        Ok(snake_of(&v))
    }

    /// Allocates (ringfences) an accepted port's numbers to a provided company (not one only
    /// qualified) ahead of the port date.
    ///
    /// ```rhai
    /// events::wait(p.id, "portLcpAccepted", 120);   // allocation needs the losing provider's yes
    /// order::submit(o.id);                           // and a company an order has provided
    /// order::wait(o.id, "completed", 60);
    /// port::allocate(p.id, q.service_id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn allocate(ctx: NativeCallContext, id: &str, service_id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::PortAllocate,
            |_| json!({"id": id, "service_id": service_id}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::PortAllocate,
                    rt.client.port_allocate(&rt.cug, id, service_id),
                )
                .map_err(Into::into)
            },
            // Allocating again to the same company gives the same answer.
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Activates an accepted port on its port date and completes the import order. Earlier than
    /// the port date, or a second time, BT refuses (`PortDateNotReached`, `PortAlreadyActivated`).
    ///
    /// ```rhai
    /// try { port::activate(p.id); } catch (e) { if e.reason == "PortDateNotReached" { log::warn(e.message); } }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn activate(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::PortActivate,
            |_| json!({"id": id}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::PortActivate,
                    rt.client.port_activate(id),
                )
                .map_err(Into::into)
            },
            |_| import_order_in(&ctx, &rt, id, "completed").map_err(Into::into),
        )?;
        Ok(snake_of(&v))
    }

    /// Import orders, newest first: `#{state, external_id, offset, limit}`.
    ///
    /// ```rhai
    /// for p in port::list(#{state: "inProgress"}) { print(p.id); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, filter: Map) -> RhaiResult<Dynamic> {
        let (f, request) = list_filter(&ctx, "port::list", filter)?;
        let rt = runtime(&ctx)?;
        let v = read(&ctx, &rt, Operation::PortList, request, async {
            Ok(rt.client.port_list(&f).await?.body)
        })?;
        Ok(snake(v))
    }
}
