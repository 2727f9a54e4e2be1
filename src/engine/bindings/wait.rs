//! Waiting for orders and events: notifications first, polling BT as the fallback.

use super::{block_on, script_error, RhaiResult};
use crate::api::ApiError;
use crate::api::Operation;
use crate::engine::{LogLevel, Runtime};
use crate::store::Notification;
use rhai::{Dynamic, EvalAltResult, Map, NativeCallContext};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// What a waiter makes of the order's latest state.
pub(crate) enum Verdict {
    Done(Value),
    Fail { kind: &'static str, message: String },
    Continue,
}

/// How long to wait between polls when notifications are expected: they usually come first,
/// and a poll is only the safety net for a lost one.
fn fallback_interval(rt: &Runtime, notified: bool) -> Duration {
    if notified {
        (rt.poll_interval * 8).max(Duration::from_secs(2))
    } else {
        rt.poll_interval
    }
}

/// A script error for a wait that ended badly: `#{kind, order_id, state, message, summary}`.
/// When a wait of `timeout` ends; a timeout past any real wait (a script may pass any INT)
/// waits a century instead of overflowing the clock.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

pub(crate) fn wait_error(
    ctx: &NativeCallContext,
    kind: &str,
    order_id: &str,
    state: &str,
    message: String,
) -> Box<EvalAltResult> {
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    m.insert("order_id".into(), order_id.into());
    m.insert("state".into(), state.into());
    m.insert("message".into(), message.clone().into());
    m.insert("summary".into(), message.into());
    EvalAltResult::ErrorRuntime(Dynamic::from_map(m), ctx.call_position()).into()
}

/// Sleeps until a notification about `order_id` arrives or `pause` passes.
fn nap(
    ctx: &NativeCallContext,
    rt: &Runtime,
    rx: &mut Option<broadcast::Receiver<Notification>>,
    order_id: &str,
    pause: Duration,
) -> RhaiResult<Option<Notification>> {
    block_on(ctx, rt, "wait", async {
        let Some(rx) = rx.as_mut() else {
            tokio::time::sleep(pause).await;
            return Ok::<_, ApiError>(None);
        };
        let deadline = tokio::time::Instant::now() + pause;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return Ok(None),
                Ok(Ok(n)) if n.order_id == order_id => return Ok(Some(n)),
                Ok(Ok(_)) => continue,
                // Missed some in a burst: poll to catch up.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => return Ok(None),
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    tokio::time::sleep_until(deadline).await;
                    return Ok(None);
                }
            }
        }
    })
    .map_err(Into::into)
}

/// Fetches the order, asks `judge`, and repeats after each notification about it (or each
/// fallback interval) until `judge` decides or `timeout` passes. Logs each state change.
pub(crate) fn wait_for_order(
    ctx: &NativeCallContext,
    rt: &Runtime,
    order_id: &str,
    timeout: Duration,
    mut judge: impl FnMut(&Value) -> Verdict,
) -> RhaiResult<Value> {
    let deadline = deadline_after(timeout);
    // Subscribe before the first fetch, so an event between the two is not missed (and
    // register the listener first, if the run has not needed it yet).
    let mut rx = rt.live_events().map(|h| h.subscribe());
    let mut last = String::new();
    let mut warned_pending = false;
    let progress = crate::engine::progress::Progress::waiting(
        rt.out.as_ref(),
        format!("order {order_id}: waiting"),
    );
    loop {
        let order = block_on(
            ctx,
            rt,
            Operation::OrderGet,
            rt.client.order_get_any(order_id),
        )?;
        let state = order
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if state != last {
            progress.suspend(|| {
                rt.out
                    .log(LogLevel::Info, &format!("order {order_id}: {state}"))
            });
            progress.set_message(format!("order {order_id}: {state}, waiting"));
            last = state.clone();
        }
        match judge(&order) {
            Verdict::Done(v) => return Ok(v),
            Verdict::Fail { kind, message } => {
                return Err(wait_error(ctx, kind, order_id, &state, message))
            }
            Verdict::Continue => {}
        }
        if state == "pending" && !warned_pending {
            // A created order stays pending until submitted: the wait would only time out.
            warned_pending = true;
            progress.suspend(|| rt.out.log(
                LogLevel::Warn,
                &format!("order {order_id} was never submitted (still pending): it will not move until order::submit(\"{order_id}\")"),
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(wait_error(
                ctx,
                "wait_timeout",
                order_id,
                &state,
                format!(
                    "order {order_id} still {state} after {} s",
                    timeout.as_secs()
                ),
            ));
        }
        let every = fallback_interval(rt, rx.is_some());
        nap(ctx, rt, &mut rx, order_id, every.min(left))?;
    }
}

/// The event BT would have sent, made from a polled order, for the event types a poll can
/// see; `None` when the order does not show it (yet).
pub(crate) fn event_from_order(order: &Value, event_type: &str) -> Option<Value> {
    let state = order.get("state").and_then(Value::as_str).unwrap_or("");
    let lcp = order.get("lcpStatus").and_then(Value::as_str).unwrap_or("");
    let rank = crate::store::state_rank(state);
    let seen = match event_type {
        "orderAcknowledged" => rank >= crate::store::state_rank("acknowledged"),
        "orderInProgress" => state == "inProgress" || state == "completed",
        "orderComplete" => state == "completed",
        "orderCancelled" => state == "cancelled",
        "orderRejected" => state == "rejected",
        "orderFailed" => state == "failed",
        "portLcpAccepted" => lcp == "accepted",
        "portLcpRejected" => lcp == "rejected",
        "portDateConfirmed" => order.get("confirmedPortDate").is_some_and(|d| !d.is_null()),
        "portActivated" => state == "completed" && order.get("importType").is_some(),
        _ => false,
    };
    seen.then(|| {
        json!({
            "eventType": event_type,
            "source": "poll",
            "event": {"productOrder": order},
        })
    })
}

/// Waits for a notification of `event_type` about an order: already stored, arriving, or
/// (fallback) visible in the order itself.
pub(crate) fn wait_for_event(
    ctx: &NativeCallContext,
    rt: &Runtime,
    order_id: &str,
    event_type: &str,
    timeout: Duration,
) -> RhaiResult<Value> {
    let deadline = deadline_after(timeout);
    let mut rx = rt.live_events().map(|h| h.subscribe());
    loop {
        if let Some(hub) = &rt.events {
            let stored = hub
                .store
                .find_notification(order_id, event_type)
                .map_err(|e| script_error(ctx, format!("events::wait: {e}")))?;
            if let Some(v) = stored {
                return Ok(v);
            }
        }
        let order = block_on(
            ctx,
            rt,
            Operation::OrderGet,
            rt.client.order_get_any(order_id),
        )?;
        if let Some(v) = event_from_order(&order, event_type) {
            return Ok(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let state = order.get("state").and_then(Value::as_str).unwrap_or("");
            return Err(wait_error(
                ctx,
                "wait_timeout",
                order_id,
                state,
                format!(
                    "no {event_type} event for order {order_id} within {} s (order is {state})",
                    timeout.as_secs()
                ),
            ));
        }
        // A matching notification wakes us at once; anything else, or nothing, re-checks.
        let every = fallback_interval(rt, rx.is_some());
        if let Some(n) = nap(ctx, rt, &mut rx, order_id, every.min(left))? {
            if n.event_type == event_type {
                return Ok(n.body);
            }
        }
    }
}
