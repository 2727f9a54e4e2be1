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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{CompanyStatus, Order};
    use serde_json::Value;

    fn order(w: &mut World, id: &str, external: &str) {
        let now = w.now();
        w.orders.insert(
            id.into(),
            Order {
                id: id.into(),
                seq: 1,
                external_id: Some(external.into()),
                state: OrderState::Acknowledged,
                order_date: now,
                submitted_at: Some(now),
                completion_date: None,
                related_party: Value::Null,
                billing_account: Value::Null,
                items: vec![],
                company_service_id: "WHHCBTWKN1000".into(),
                creates_company: false,
                changes: vec![],
                clock: None,
            },
        );
    }

    #[test]
    fn fixtures_end_rejected_or_failed_and_notify() {
        let mut w = World::seed(0.0);
        order(&mut w, "BTWKN1", "reject-a");
        order(&mut w, "BTWKN2", "fail-b");
        order(&mut w, "BTWKN3", "ok-c");
        let t0 = w.now();
        let later = crate::world::clock::Nows::shared(t0 + chrono::Duration::seconds(10));
        w.advance_orders(&later, 1.0);
        assert_eq!(w.orders["BTWKN1"].state, OrderState::Rejected);
        assert_eq!(w.orders["BTWKN2"].state, OrderState::Failed);
        assert_eq!(w.orders["BTWKN3"].state, OrderState::Completed);
        let kinds: Vec<&str> = w.outbox.iter().map(|n| n.event_type.as_str()).collect();
        assert!(kinds.contains(&"orderRejected"), "{kinds:?}");
        assert!(kinds.contains(&"orderFailed"), "{kinds:?}");
        assert_eq!(w.companies["WHHCBTWKN1000"].status, CompanyStatus::Active);
    }
}
