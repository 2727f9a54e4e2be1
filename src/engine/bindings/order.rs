//! `order::` — create, submit, follow and cancel product orders (steps 6 and 7, then tracking).

use rhai::plugin::*;

#[export_module]
pub mod order_module {
    use crate::api::order::OrderSpec;
    use crate::api::snake::snake_keys;
    use crate::api::Operation;
    use crate::engine::bindings::wait::{wait_for_order, Verdict};
    use crate::engine::bindings::{
        arg, block_on, ledgered, list_filter, read, recorded_read, runtime, script_error, snake,
        RhaiResult,
    };
    use rhai::{Array, Dynamic, Map, INT};
    use serde_json::{json, Value};
    use std::time::Duration;

    /// Creates an order (not yet submitted). Returns `#{id, external_id}`.
    /// `company` is either new (`name, domain, group, service_id, qualification_id`; `group`
    /// defaults to the reseller's first customer group, as in `whc::qualify_company`) or existing
    /// (`service_id` alone, for follow-on orders; with `action: "delete"` it ceases the company);
    /// `sites: [#{name, nad_key, location_code}]`, `numbers: [#{start, end}]`,
    /// `users: [#{first_name, last_name, username, extension, email, number, licence, add_ons,
    /// site_service_id, device: #{name, mac, model}}]` (at most three users per order: BT's limit),
    /// `devices: [#{user_service_id, name, mac, model}]`, `trunks: [#{name, channels, site_service_id}]`.
    /// Every item takes a TMF622 `action`: `"add"` (the default), `"modify"` or `"delete"` with the
    /// item's `service_id` from `whc::inventory` (a number block's delete names `start`/`end`), so a
    /// provide, an add, a modify and a cease are all this one call:
    /// `users: [#{action: "modify", service_id: u.service_id, extension: "2010"}]`.
    ///
    /// ```rhai
    /// let o = order::create(#{
    ///     company: #{name: name, domain: domain, group: whc::reseller().customer_groups[0],
    ///                service_id: q.service_id, qualification_id: q.id},
    ///     sites: [#{name: `${name} HQ`, nad_key: addr.id, location_code: "THEFUNHQ01"}],
    ///     numbers: [#{start: block.start, end: block.end}],
    ///     users: [#{first_name: "Ada", last_name: "Lovelace", username: `ada@${domain}`,
    ///               extension: "2001", number: block.start}],
    /// });
    /// print(o.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, spec: Map) -> RhaiResult<Dynamic> {
        let mut spec: OrderSpec = arg(&ctx, "order::create", spec)?;
        let rt = runtime(&ctx)?;
        if spec.company.name.is_some() && spec.company.group.is_none() {
            spec.company.group = Some(crate::engine::bindings::whc::default_group(&ctx, &rt)?);
        }
        let cug = spec.cug.clone().unwrap_or_else(|| rt.cug.clone());
        let billing = spec
            .billing_account
            .clone()
            .unwrap_or_else(|| rt.billing_account.clone());
        let result = |id: String, body: &Value| json!({"id": id, "external_id": body.get("externalId").cloned().unwrap_or(Value::Null)});
        ledgered(
            &ctx,
            &rt,
            Operation::OrderCreate,
            // The external id follows from the step, so every attempt and a resume send the same one.
            |step| {
                let ext = spec
                    .external_id
                    .clone()
                    .unwrap_or_else(|| rt.external_id(step));
                spec.to_body(&cug, &billing, &ext)
            },
            |body| {
                let id = block_on(
                    &ctx,
                    &rt,
                    Operation::OrderCreate,
                    rt.client.order_create(body.clone()),
                )?;
                Ok(result(id, body))
            },
            |recorded| {
                let ext = recorded
                    .get("externalId")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let found = block_on(&ctx, &rt, Operation::OrderFind, rt.client.order_find(ext))?;
                let Some(id) = found else { return Ok(None) };
                let order = block_on(&ctx, &rt, Operation::OrderGet, rt.client.order_get_any(&id))?;
                if !crate::engine::bindings::adopt::order_matches_request(recorded, &order) {
                    return Err(crate::engine::bindings::StepError::Script(script_error(
                        &ctx,
                        format!("create order: externalId {ext} is already used by order {id}, whose content differs from this request; it was not adopted (another execution of this run, or a reused external_id?)"),
                    )));
                }
                Ok(Some(result(id, recorded)))
            },
        )
    }

    /// Submits a created order; BT then processes it (acknowledged → inProgress → completed).
    ///
    /// ```rhai
    /// order::submit(o.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn submit(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        ledgered(
            &ctx,
            &rt,
            Operation::OrderSubmit,
            |_| json!({"id": id}),
            |_| {
                let v = block_on(
                    &ctx,
                    &rt,
                    Operation::OrderSubmit,
                    rt.client.order_submit(id),
                )?;
                Ok(snake_keys(v))
            },
            |_| {
                let done = block_on(
                    &ctx,
                    &rt,
                    Operation::OrderGet,
                    rt.client.order_submitted(id),
                )?;
                Ok(done.then(|| json!({"id": id, "product_order": {"id": id, "referred_type": "ProductOrder"}})))
            },
        )
    }

    /// One order with its `state` and `product_order_item`s.
    ///
    /// ```rhai
    /// print(order::get(o.id).state);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::OrderGet,
            json!({"id": id}),
            rt.client.order_get(id),
        )?;
        Ok(snake(v))
    }

    /// Orders, newest first: `#{state, external_id, offset, limit}` (all optional; limit defaults to 20).
    ///
    /// ```rhai
    /// for o in order::list(#{state: "inProgress"}) { print(`${o.id} ${o.state}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, filter: Map) -> RhaiResult<Array> {
        let (f, request) = list_filter(&ctx, "order::list", filter)?;
        let rt = runtime(&ctx)?;
        let body = read(&ctx, &rt, Operation::OrderList, request, async {
            Ok(rt.client.order_list(&f).await?.body)
        })?;
        Ok(match body {
            Value::Array(items) => items.into_iter().map(snake).collect(),
            _ => Array::new(),
        })
    }

    /// Cancels an order that has not started.
    ///
    /// ```rhai
    /// order::cancel(o.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        ledgered(
            &ctx,
            &rt,
            Operation::OrderCancel,
            |_| json!({"id": id}),
            |_| {
                let v = block_on(
                    &ctx,
                    &rt,
                    Operation::OrderCancel,
                    rt.client.order_cancel(id),
                )?;
                Ok(snake_keys(v))
            },
            |_| {
                let order = block_on(&ctx, &rt, Operation::OrderGet, rt.client.order_get(id))?;
                let state = order.get("state").and_then(Value::as_str).unwrap_or("");
                Ok((state == "cancelled").then(|| json!({"id": id, "state": state})))
            },
        )
    }

    /// Waits until the order reaches `state` and returns it; logs each state change. Follows
    /// BT's notifications when they come, and polls the order as a fallback. Works for WHC,
    /// number import and Ethernet orders alike.
    /// Throws `#{kind: "order", state, …}` if the order ends in another final state
    /// (rejected, cancelled, failed, completed) and `#{kind: "wait_timeout"}` after `timeout_secs`.
    ///
    /// ```rhai
    /// order::submit(o.id);
    /// let done = order::wait(o.id, "completed", 120);
    /// print(done.state);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait(
        ctx: NativeCallContext,
        id: &str,
        state: &str,
        timeout_secs: INT,
    ) -> RhaiResult<Dynamic> {
        if timeout_secs <= 0 {
            return Err(script_error(
                &ctx,
                "order::wait: timeout_secs must be positive",
            ));
        }
        let rt = runtime(&ctx)?;
        let timeout = Duration::from_secs(timeout_secs as u64);
        let v = recorded_read(
            &ctx,
            &rt,
            Operation::OrderWait,
            json!({"id": id, "state": state}),
            || {
                rt.waiting(|| {
                    wait_for_order(&ctx, &rt, id, timeout, |order| {
                        let now = order.get("state").and_then(Value::as_str).unwrap_or("");
                        if now.eq_ignore_ascii_case(state) {
                            Verdict::Done(order.clone())
                        } else if matches!(
                            now,
                            "rejected" | "cancelled" | "failed" | "completed" | "partial"
                        ) {
                            let why = order
                                .get("rejectionReason")
                                .and_then(Value::as_str)
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default();
                            Verdict::Fail {
                                kind: "order",
                                message: format!(
                                    "order {id} ended {now}{why} while waiting for {state}"
                                ),
                            }
                        } else {
                            Verdict::Continue
                        }
                    })
                })
            },
        )?;
        Ok(snake(v))
    }
}
