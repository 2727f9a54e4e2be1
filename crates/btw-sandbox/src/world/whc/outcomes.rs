//! How a submitted WHC order ends: completed, or — for the sandbox's documented fixtures —
//! `rejected` at acknowledgement or `failed` in provisioning (TMF622 states; CONTRACT.md:
//! order outcomes). Either undoes what the order added, as a cancel does.

use super::roll_back;
use crate::world::{Order, OrderState, World};
use chrono::{DateTime, Utc};

/// `externalId` prefix of an order BT rejects once it has acknowledged it.
pub const REJECT_PREFIX: &str = "reject-";
/// `externalId` prefix of an order whose provisioning fails.
pub const FAIL_PREFIX: &str = "fail-";

fn has_prefix(o: &Order, prefix: &str) -> bool {
    o.external_id
        .as_deref()
        .is_some_and(|x| x.to_ascii_lowercase().starts_with(prefix))
}

/// The state an acknowledged order moves to next: `inProgress`, or `rejected` for a fixture.
pub fn after_acknowledged(o: &Order) -> OrderState {
    if has_prefix(o, REJECT_PREFIX) {
        OrderState::Rejected
    } else {
        OrderState::InProgress
    }
}

/// The state an in-progress order ends in: `completed`, or `failed` for a fixture.
pub fn final_state(o: &Order) -> OrderState {
    if has_prefix(o, FAIL_PREFIX) {
        OrderState::Failed
    } else {
        OrderState::Completed
    }
}

/// Moves order `id` to `to` at `at`, undoing its additions first when `to` ends it unfulfilled.
pub fn end_step(w: &mut World, id: &str, to: OrderState, at: DateTime<Utc>) {
    if matches!(to, OrderState::Rejected | OrderState::Failed) {
        roll_back(w, id);
    }
    w.transition(id, to, at);
}
