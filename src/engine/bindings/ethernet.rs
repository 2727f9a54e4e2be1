//! `ethernet::` — quote, qualify, book an engineer, order, modify, amend, cease and track Ethernet.
//!
//! Script maps become the typed requests of [`crate::api::ethernet`]; answers are reshaped for
//! scripts where they need it (prices, availability, slots).

use crate::api::ethernet::OrderChange;
use crate::api::Operation;
use crate::engine::bindings::{
    block_on, ledgered, runtime, script_error, snake_of, RhaiResult, StepError,
};
use crate::engine::Runtime;
use rhai::plugin::*;
use serde::Serialize;
use serde_json::Value;
use std::cell::OnceCell;

/// [`ledgered`] for a request built per step (its `externalId` comes from the step): the ledger
/// records its JSON, and `call` sends the typed request itself.
fn ledgered_typed<R: Serialize>(
    ctx: &NativeCallContext,
    rt: &Runtime,
    operation: Operation,
    request: impl FnOnce(u64) -> R,
    call: impl FnOnce(&R) -> Result<Value, StepError>,
    recover: impl FnOnce(&Value) -> Result<Option<Value>, StepError>,
) -> RhaiResult<Dynamic> {
    let built = OnceCell::new();
    ledgered(
        ctx,
        rt,
        operation,
        |step| {
            let typed = built.get_or_init(|| request(step));
            // Plain structs of strings always write; the client reports it if one ever did not.
            serde_json::to_value(typed).unwrap_or(Value::Null)
        },
        |_| match built.get() {
            Some(typed) => call(typed),
            None => Err(StepError::Script(script_error(
                ctx,
                format!("{operation}: the request was not built, so BT was not called"),
            ))),
        },
        recover,
    )
}

/// Places an order (provide, modify or cease) under the script's `external_id` or the step's.
fn place_order(
    ctx: &NativeCallContext,
    operation: Operation,
    external_id: Option<String>,
    change: OrderChange,
) -> RhaiResult<Dynamic> {
    let rt = runtime(ctx)?;
    let v = ledgered_typed(
        ctx,
        &rt,
        operation,
        |step| change.with_external_id(external_id.unwrap_or_else(|| rt.external_id(step))),
        |order| {
            block_on(
                ctx,
                &rt,
                Operation::EthernetOrder,
                rt.client.ethernet_order(order),
            )
            .map_err(Into::into)
        },
        |recorded| {
            let ext = recorded
                .get("externalId")
                .and_then(Value::as_str)
                .unwrap_or("");
            block_on(
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

/// A typed request as the ledger records it: the JSON BT is sent.
fn recorded(
    ctx: &NativeCallContext,
    operation: Operation,
    request: &impl Serialize,
) -> RhaiResult<Value> {
    crate::api::ethernet::request_json(operation, request)
        .map_err(|e| script_error(ctx, e.to_string()))
}

/// A quote's price of one kind (`nonRecurring`, `recurring`): GBP ex VAT, or `()`.
fn money(quote: &Value, price_type: &str) -> Value {
    quote
        .get("quoteTotalPrice")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|p| p.get("priceType").and_then(Value::as_str) == Some(price_type))
        })
        .and_then(|p| p.pointer("/price/dutyFreeAmount/value"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[export_module]
pub mod ethernet_module {
    use super::{ledgered_typed, money, place_order, recorded};
    use crate::api::ethernet::{
        AmendSpec, BookRequest, BookSpec, CeaseSpec, ModifySpec, OrderChange, OrderSpec, Place,
        QualifyRequest, QuoteItem, QuoteRequest, QuoteSpec, Reschedule, Slot, SlotSearch,
        TrackFilter,
    };
    use crate::api::Operation;
    use crate::engine::bindings::{
        arg, block_on, ledgered, read, runtime, script_error, snake, snake_of, RhaiResult,
    };
    use rhai::{Dynamic, Map};
    use serde_json::{json, Value};

    /// Prices an Ethernet circuit: `#{product, bandwidth, term, a_end, b_end, external_id}`.
    /// Products: `"EtherwayFibre"` (EAD), `"EtherflowConnected"`, `"EtherflowInternet"`,
    /// `"EtherwayGEASOGEA"`, `"EtherwayGEAFTTP"`, `"ETHNetwork"` (provide only). Bandwidth in Mbit/s (`0.2` … `10000`), term in
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
        let spec: QuoteSpec = arg(&ctx, "ethernet::quote", request)?;
        let item = QuoteItem::try_from(&spec)
            .map_err(|e| script_error(&ctx, format!("ethernet::quote: {e}")))?;
        let rt = runtime(&ctx)?;
        let v = ledgered_typed(
            &ctx,
            &rt,
            Operation::EthernetQuote,
            |step| QuoteRequest {
                external_id: spec.external_id.unwrap_or_else(|| rt.external_id(step)),
                quote_item: vec![item],
            },
            |quote| {
                let mut q = block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetQuote,
                    rt.client.ethernet_quote(quote),
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
        let request = QualifyRequest {
            place: Place::parse(where_),
        };
        let mut v = read(
            &ctx,
            &rt,
            Operation::EthernetQualify,
            recorded(&ctx, Operation::EthernetQualify, &request)?,
            rt.client.ethernet_qualify(&request),
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
        let search = SlotSearch {
            related_place: Place::parse(where_),
        };
        let v = read(
            &ctx,
            &rt,
            Operation::EthernetSlots,
            recorded(&ctx, Operation::EthernetSlots, &search)?,
            rt.client.ethernet_slots(&search),
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
        let spec: BookSpec = arg(&ctx, "ethernet::book", request)?;
        let rt = runtime(&ctx)?;
        let v = ledgered_typed(
            &ctx,
            &rt,
            Operation::EthernetBook,
            |step| {
                let external_id = spec.external_id.clone();
                BookRequest::new(&spec, external_id.unwrap_or_else(|| rt.external_id(step)))
            },
            |booking| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetBook,
                    rt.client.ethernet_book(booking),
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
        let to = Reschedule {
            slot: Slot::parse(slot),
        };
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
                    rt.client.ethernet_reschedule(id, &to),
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
        let spec: OrderSpec = arg(&ctx, "ethernet::order", request)?;
        let change = OrderChange::provide(&spec);
        place_order(&ctx, Operation::EthernetOrder, spec.external_id, change)
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
        let spec: ModifySpec = arg(&ctx, "ethernet::modify", changes)?;
        let change = OrderChange::modify(service_id, &spec);
        place_order(&ctx, Operation::EthernetModify, spec.external_id, change)
    }

    /// Changes an order in flight: `#{bandwidth, site_contact: #{name, phone}}`. Refused once
    /// the order has completed (`OrderNotAmendable`).
    ///
    /// ```rhai
    /// ethernet::amend(o.id, #{site_contact: #{name: "Ann Other", phone: "07700900123"}});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn amend(ctx: NativeCallContext, order_id: &str, changes: Map) -> RhaiResult<Dynamic> {
        let spec: AmendSpec = arg(&ctx, "ethernet::amend", changes)?;
        let patch = OrderChange::amend(&spec);
        let request =
            json!({"id": order_id, "patch": recorded(&ctx, Operation::EthernetAmend, &patch)?});
        let rt = runtime(&ctx)?;
        let v = ledgered(
            &ctx,
            &rt,
            Operation::EthernetAmend,
            |_| request,
            |_| {
                block_on(
                    &ctx,
                    &rt,
                    Operation::EthernetAmend,
                    rt.client.ethernet_amend(order_id, &patch),
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
        let spec: CeaseSpec = arg(&ctx, "ethernet::cease", options)?;
        let change = OrderChange::cease(service_id);
        place_order(&ctx, Operation::EthernetCease, spec.external_id, change)
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
        let f: TrackFilter = arg(&ctx, "ethernet::track", filter)?;
        let f = f.paged();
        let q = f.query();
        let rt = runtime(&ctx)?;
        let request = json!(q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>());
        let v = read(&ctx, &rt, Operation::EthernetTrack, request, async {
            let page = rt.client.ethernet_track(&f).await?;
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
