//! `events::` — BT's order notifications, as received by this process's callback listener.

use rhai::plugin::*;

#[export_module]
pub mod events_module {
    use crate::api::Operation;
    use crate::engine::bindings::wait::wait_for_event;
    use crate::engine::bindings::{recorded_read, runtime, script_error, snake, RhaiResult};
    use rhai::{Dynamic, INT};
    use serde_json::json;
    use std::time::Duration;

    /// Waits for a notification about an order and returns it (`#{event_id, event_type,
    /// event_time, event: #{product_order}}`). Event types include `orderAcknowledged`,
    /// `orderInProgress`, `orderComplete`, `orderCancelled`, `orderRejected`, and for ports
    /// `portLcpAccepted`, `portLcpRejected`, `portDateConfirmed`, `portActivated`.
    /// An event that already arrived is returned at once; if notifications are lost, the order
    /// is polled and an event made from what it shows (then `source` is `"poll"`).
    /// Throws `#{kind: "wait_timeout"}` after `timeout_secs`.
    ///
    /// ```rhai
    /// let e = events::wait(p.id, "portLcpAccepted", 120);
    /// print(e.event.product_order.confirmed_port_date);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait(
        ctx: NativeCallContext,
        order_id: &str,
        event_type: &str,
        timeout_secs: INT,
    ) -> RhaiResult<Dynamic> {
        if timeout_secs <= 0 {
            return Err(script_error(
                &ctx,
                "events::wait: timeout_secs must be positive",
            ));
        }
        let rt = runtime(&ctx)?;
        let timeout = Duration::from_secs(timeout_secs as u64);
        let v = recorded_read(
            &ctx,
            &rt,
            Operation::EventsWait,
            json!({"order_id": order_id, "event_type": event_type}),
            || rt.waiting(|| wait_for_event(&ctx, &rt, order_id, event_type, timeout)),
        )?;
        Ok(snake(v))
    }
}
