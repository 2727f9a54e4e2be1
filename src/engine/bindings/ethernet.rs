//! `ethernet::` — quote, qualify, book an engineer, order, modify, amend, cease and track Ethernet.

use crate::api::Operation;
use crate::engine::bindings::snake_of;
use rhai::plugin::*;
use serde_json::{json, Value};

mod quote_req;
mod wire;
use quote_req::QuoteArgs;
use wire::{bandwidth, money, place, site_contact};

fn place_order(
    ctx: &NativeCallContext,
    operation: Operation,
    external_id: Option<String>,
    body: Value,
) -> crate::engine::bindings::RhaiResult<rhai::Dynamic> {
    let rt = crate::engine::bindings::runtime(ctx)?;
    let v = crate::engine::bindings::ledgered(
        ctx,
        &rt,
        operation,
        |step| {
            let mut b = body.clone();
            b["externalId"] = json!(external_id.clone().unwrap_or_else(|| rt.external_id(step)));
            b
        },
        |b| {
            crate::engine::bindings::block_on(
                ctx,
                &rt,
                Operation::EthernetOrder,
                rt.client.ethernet_order(b.clone()),
            )
            .map_err(Into::into)
        },
        |recorded| {
            let ext = recorded
                .get("externalId")
                .and_then(Value::as_str)
                .unwrap_or("");
            crate::engine::bindings::block_on(
                ctx,
                &rt,
                Operation::EthernetFind,
                rt.client.ethernet_find(ext),
            )
            .map_err(Into::into)
        },
    )?;
    Ok(snake_of(&v))
}

#[export_module]
pub mod ethernet_module {
    use super::{bandwidth, money, place, place_order, site_contact, QuoteArgs};
    use crate::api::Operation;
    use crate::engine::bindings::{
        arg, block_on, ledgered, read, runtime, script_error, snake, snake_of, RhaiResult,
    };
    use rhai::{Dynamic, Map};
    use serde_json::{json, Value};

    /// Prices an Ethernet circuit: `#{product, bandwidth, term, a_end, b_end, external_id}`.
    /// Products: `"EtherwayFibre"` (EAD), `"EtherflowConnected"`, `"EtherflowInternet"`,
    /// `"EtherwayGEASOGEA"`, `"EtherwayGEAFTTP"`. Bandwidth in Mbit/s (`0.2` … `10000`), term in
    /// months (12, 36, 60); ends are postcodes or NAD keys (single-ended products: `a_end` only).
    /// `#{action: "modify", service_id, bandwidth}` prices a live service at another bandwidth
    /// (its product, ends and term stay); order that with `ethernet::modify`.
    /// Returns the quote (`id`, `state`, `valid_for`, …) plus `install` and `rental` (GBP ex VAT).
    ///
    /// ```rhai
    /// let q = ethernet::quote(#{product: "EtherwayFibre", bandwidth: 1000, term: 36,
    ///                           a_end: "IP5 3RE", b_end: "B1 2HF"});
    /// print(`${q.id}: £${q.install} + £${q.rental}/month`);
    /// let up = ethernet::quote(#{action: "modify", service_id: service_id, bandwidth: 10000});
    /// print(`at 10 Gbit/s: £${up.rental}/month`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn quote(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        let a: QuoteArgs = arg(&ctx, "ethernet::quote", request)?;
        let item = a
            .item()
            .map_err(|e| script_error(&ctx, format!("ethernet::quote: {e}")))?;
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetQuote,
            |step| {
                json!({
                    "externalId": a.external_id.clone().unwrap_or_else(|| rt.external_id(step)),
                    "quoteItem": [item],
                })
            },
            |body| {
                let mut q = block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetQuote,
                    rt.client.ethernet_quote(body.clone()),
                )?;
                let (install, rental) = (money(&q, "nonRecurring"), money(&q, "recurring"));
                q["install"] = install;
                q["rental"] = rental;
                Ok(q)
            },
            // A second quote costs nothing and commits to nothing: send again.
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// A quote again by its id (`state`, `valid_for`, `quote_item`, …), e.g. to see whether it
    /// is still valid before ordering it.
    ///
    /// ```rhai
    /// let again = ethernet::get_quote(q.id);
    /// print(`${again.id} ${again.state}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get_quote(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::EthernetGetQuote,
            json!({"id": id}),
            rt.client.ethernet_get_quote(id),
        )?;
        Ok(snake(v))
    }

    /// Which Ethernet products are available at a place (postcode or NAD key). Returns
    /// `#{id, result, available: [products], unavailable: #{product: reason}, …}`.
    ///
    /// ```rhai
    /// let a = ethernet::qualify("IP5 3RE");
    /// if !a.available.contains("EtherwayGEAFTTP") { throw `no FTTP: ${a.unavailable.EtherwayGEAFTTP}`; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn qualify(ctx: NativeCallContext, where_: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let body = json!({"place": place(where_)});
        let mut v = read(
            &ctx,
            &rt,
            Operation::EthernetQualify,
            body.clone(),
            rt.client.ethernet_qualify(body),
        )?;
        let mut available = Vec::new();
        let mut unavailable = serde_json::Map::new();
        for item in v
            .get("productOfferingQualificationItem")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let product = item
                .pointer("/productOffering/id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if item.get("qualificationItemResult").and_then(Value::as_str) == Some("qualified") {
                available.push(json!(product));
            } else {
                let why = item
                    .pointer("/eligibilityUnavailabilityReason/0/code")
                    .cloned()
                    .unwrap_or(json!("unavailable"));
                unavailable.insert(product, why);
            }
        }
        // Product names stay as BT writes them: the snake_case conversion would mangle them.
        let result = v.get("qualificationResult").cloned().unwrap_or(Value::Null);
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        v = json!({"id": id, "result": result, "available": available});
        let mut out = snake(v).cast::<Map>();
        out.insert(
            "unavailable".into(),
            crate::engine::convert::to_dynamic(&Value::Object(unavailable)),
        );
        Ok(Dynamic::from_map(out))
    }

    /// Free engineer time slots (GEA products) at a place: `[#{id, start, end}]`, mornings and
    /// afternoons on working days, from a few working days ahead.
    ///
    /// ```rhai
    /// let slots = ethernet::slots("IP5 3RE");
    /// print(`first: ${slots[0].start}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn slots(ctx: NativeCallContext, where_: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let body = json!({"relatedPlace": place(where_)});
        let v = read(
            &ctx,
            &rt,
            Operation::EthernetSlots,
            body.clone(),
            rt.client.ethernet_slots(body),
        )?;
        let slots: Vec<Value> = v
            .get("availableTimeSlot")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|s| json!({"id": s.get("id"), "start": s.pointer("/validFor/startDateTime"), "end": s.pointer("/validFor/endDateTime")}))
            .collect();
        Ok(snake(Value::Array(slots)))
    }

    /// Books an engineer appointment (GEA): `#{place, slot}` where `slot` is a slot's `id` (or
    /// a start time). A slot already taken or in the past is refused (`SlotUnavailable`).
    ///
    /// ```rhai
    /// let appt = ethernet::book(#{place: "IP5 3RE", slot: slots[0].id});
    /// print(`${appt.id} ${appt.status}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn book(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            place: String,
            slot: String,
            #[serde(default)]
            external_id: Option<String>,
        }
        let a: Args = arg(&ctx, "ethernet::book", request)?;
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetBook,
            |step| {
                let mut body = json!({"externalId": a.external_id.clone().unwrap_or_else(|| rt.external_id(step)),
                                      "relatedPlace": place(&a.place)});
                if a.slot.starts_with("SLOT-") {
                    body["timeSlot"] = json!({"id": a.slot});
                } else {
                    body["validFor"] = json!({"startDateTime": a.slot});
                }
                body
            },
            |body| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetBook,
                    rt.client.ethernet_book(body.clone()),
                )
                .map_err(Into::into)
            },
            // An interrupted booking: sending again finds the slot taken (by us) at worst.
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Cancels an appointment, freeing its slot.
    ///
    /// ```rhai
    /// ethernet::cancel_appointment(appt.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel_appointment(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetCancelAppointment,
            |_| json!({"id": id}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetCancelAppointment,
                    rt.client.ethernet_cancel_appointment(id),
                )
                .map_err(Into::into)
            },
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Moves a booked engineer appointment to another free slot (a slot's `id`, or a start
    /// time), also while an open GEA order holds it: the order then waits for the new visit.
    /// Returns the appointment; the order's callback gets `appointmentRescheduled`.
    ///
    /// ```rhai
    /// let free = ethernet::slots("IP5 3RE");
    /// let moved = ethernet::reschedule(appt.id, free[free.len() - 1].id);
    /// print(`${moved.id} now ${moved.valid_for.start_date_time}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reschedule(ctx: NativeCallContext, id: &str, slot: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetReschedule,
            |_| json!({"id": id, "slot": slot}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetReschedule,
                    rt.client.ethernet_reschedule(id, slot),
                )
                .map_err(Into::into)
            },
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Orders a quoted circuit: `#{quote_id, item, appointment_id, site_contact: #{name, phone},
    /// external_id}`. GEA products need a booked appointment; EAD and Etherflow Connected wait
    /// for a site contact (give it here or with `ethernet::amend`). Returns the order
    /// (`id`, `state`, `milestone`, `open_actions`); follow it with `order::wait(o.id, "completed", …)`.
    ///
    /// ```rhai
    /// let o = ethernet::order(#{quote_id: q.id, appointment_id: appt.id,
    ///                           site_contact: #{name: "Ann Other", phone: "07700900123"}});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn order(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            quote_id: String,
            #[serde(default)]
            item: Option<String>,
            #[serde(default)]
            appointment_id: Option<String>,
            #[serde(default)]
            site_contact: Option<Value>,
            #[serde(default)]
            external_id: Option<String>,
        }
        let a: Args = arg(&ctx, "ethernet::order", request)?;
        let mut item = json!({"id": "1", "action": "add",
                              "quoteItem": {"quoteId": a.quote_id, "id": a.item.unwrap_or_else(|| "1".into())}});
        if let Some(appt) = a.appointment_id {
            item["appointment"] = json!({"id": appt});
        }
        let mut body = json!({"productOrderItem": [item]});
        if let Some(c) = &a.site_contact {
            body["relatedParty"] = site_contact(c);
        }
        place_order(&ctx, Operation::EthernetOrder, a.external_id, body)
    }

    /// Changes a live service, e.g. its bandwidth: `#{bandwidth}`. The service must be active
    /// (a ceased one gives `ServiceCeased`). Returns the modify order.
    ///
    /// ```rhai
    /// let m = ethernet::modify(service_id, #{bandwidth: 10000});
    /// order::wait(m.id, "completed", 120);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn modify(ctx: NativeCallContext, service_id: &str, changes: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            bandwidth: Value,
            #[serde(default)]
            external_id: Option<String>,
        }
        let a: Args = arg(&ctx, "ethernet::modify", changes)?;
        let bw = bandwidth(&a.bandwidth).ok_or_else(|| {
            script_error(
                &ctx,
                "ethernet::modify: bandwidth must be a number of Mbit/s",
            )
        })?;
        let body = json!({"productOrderItem": [{"id": "1", "action": "modify",
            "product": {"id": service_id, "productCharacteristic": [{"name": "bandwidth", "value": bw}]}}]});
        place_order(&ctx, Operation::EthernetModify, a.external_id, body)
    }

    /// Changes an order in flight: `#{bandwidth, site_contact: #{name, phone}}`. Refused once
    /// the order has completed (`OrderNotAmendable`).
    ///
    /// ```rhai
    /// ethernet::amend(o.id, #{site_contact: #{name: "Ann Other", phone: "07700900123"}});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn amend(ctx: NativeCallContext, order_id: &str, changes: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            #[serde(default)]
            bandwidth: Option<Value>,
            #[serde(default)]
            site_contact: Option<Value>,
        }
        let a: Args = arg(&ctx, "ethernet::amend", changes)?;
        let mut patch = json!({});
        if let Some(bw) = &a.bandwidth {
            let bw = bandwidth(bw).ok_or_else(|| {
                script_error(
                    &ctx,
                    "ethernet::amend: bandwidth must be a number of Mbit/s",
                )
            })?;
            patch["productOrderItem"] = json!([{"id": "1", "product": {"productCharacteristic": [{"name": "bandwidth", "value": bw}]}}]);
        }
        if let Some(c) = &a.site_contact {
            patch["relatedParty"] = site_contact(c);
        }
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetAmend,
            |_| json!({"id": order_id, "patch": patch}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetAmend,
                    rt.client.ethernet_amend(order_id, patch.clone()),
                )
                .map_err(Into::into)
            },
            |_| Ok(None),
        )?;
        Ok(snake_of(&v))
    }

    /// Ceases a live service: `#{external_id}` (optional). Returns the cease order.
    ///
    /// ```rhai
    /// let c = ethernet::cease(service_id, #{});
    /// order::wait(c.id, "completed", 120);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cease(ctx: NativeCallContext, service_id: &str, options: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            #[serde(default)]
            external_id: Option<String>,
        }
        let a: Args = arg(&ctx, "ethernet::cease", options)?;
        let body = json!({"productOrderItem": [{"id": "1", "action": "delete", "product": {"id": service_id}}]});
        place_order(&ctx, Operation::EthernetCease, a.external_id, body)
    }

    /// Cancels an Ethernet order that has not completed.
    ///
    /// ```rhai
    /// ethernet::cancel(o.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel(ctx: NativeCallContext, order_id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetCancel,
            |_| json!({"id": order_id}),
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetCancel,
                    rt.client.ethernet_cancel(order_id),
                )
                .map_err(Into::into)
            },
            |_| {
                let o = block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetGet,
                    rt.client.ethernet_get(order_id),
                )?;
                Ok((o.get("state").and_then(Value::as_str) == Some("cancelled")).then_some(o))
            },
        )?;
        Ok(snake_of(&v))
    }

    /// Tracks Ethernet orders: `#{id, state, external_id, milestone, has_open_actions, offset,
    /// limit}` (all optional) → `#{total, orders: [...]}` (newest first; `total` counts all matches).
    ///
    /// ```rhai
    /// let t = ethernet::track(#{state: "inProgress", has_open_actions: true});
    /// print(`${t.total} orders need something from us`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn track(ctx: NativeCallContext, filter: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            id: Option<String>,
            state: Option<String>,
            external_id: Option<String>,
            milestone: Option<String>,
            has_open_actions: Option<bool>,
            offset: Option<u32>,
            limit: Option<u32>,
        }
        let a: Args = arg(&ctx, "ethernet::track", filter)?;
        let mut q: Vec<(&'static str, String)> = Vec::new();
        for (k, v) in [
            ("id", a.id),
            ("state", a.state),
            ("externalId", a.external_id),
            ("milestone", a.milestone),
        ] {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        if let Some(b) = a.has_open_actions {
            q.push(("hasOpenActions", b.to_string()));
        }
        q.push(("offset", a.offset.unwrap_or(0).to_string()));
        q.push(("limit", a.limit.unwrap_or(20).to_string()));
        let rt = runtime(&ctx)?;
        let request = json!(q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>());
        let v = read(&ctx, &rt, Operation::EthernetTrack, request, async {
            let page = rt.client.ethernet_track(&q).await?;
            Ok(json!({"total": page.total_count, "orders": page.body}))
        })?;
        Ok(snake(v))
    }

    /// A live (or ceased) Ethernet service: `#{id, status, product_characteristic, …}`.
    ///
    /// ```rhai
    /// print(ethernet::service(service_id).status);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn service(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        Ok(snake(read(
            &ctx,
            &rt,
            Operation::EthernetService,
            json!({"id": id}),
            rt.client.ethernet_service(id),
        )?))
    }
}
