//! Number porting in the sandbox: fixture numbers, portability, lead times, import orders and the
//! losing provider's (LCP's) decision on each order's clock.
//!
//! HTTP lives in `http/routes/port/`; this module is the world-side logic, so the rules can be
//! unit tested and the clock tick (`World::advance_orders`) can drive LCP decisions. It gets the
//! parts of the world it needs (import orders, the number inventory, the outbox), not the world.

mod events;
mod lines;
mod orders;

pub use events::*;
pub use lines::*;
pub use orders::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;
    use chrono::{NaiveDate, Utc};
    use serde_json::Value;

    fn order(numbers: &[&str], t: ImportType, postcode: &str) -> ImportOrder {
        let now = Utc::now();
        ImportOrder {
            id: "BTWPI001001".into(),
            seq: 1001,
            external_id: None,
            import_type: t,
            state: ImportState::Acknowledged,
            lcp_status: LcpStatus::Pending,
            rejection_reason: None,
            port_date: NaiveDate::from_ymd_opt(2030, 1, 7).unwrap(),
            confirmed_port_date: None,
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
            range: None,
            installation_postcode: postcode.into(),
            losing_provider: None,
            lcp_is_range_holder: true,
            lead_time_days: 4,
            company_service_id: None,
            allocated_to: None,
            order_date: now,
            lcp_decision_at: now,
            activation_date: None,
            completion_date: None,
            related_party: Value::Null,
            clock: None,
        }
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(
            normalise_number("0191 498 0100").as_deref(),
            Some("01914980100")
        );
        assert_eq!(
            normalise_number("0207946000").as_deref(),
            Some("0207946000")
        );
        assert!(normalise_number("1914980100").is_none());
        assert!(normalise_number("019149801001").is_none());
        assert!(normalise_number("0191498010x").is_none());
        assert_eq!(postcode_key(" ne1 4st"), "NE14ST");
    }

    #[test]
    fn lead_times() {
        use ImportType::*;
        assert_eq!(lead_time_days(SingleLine, 1, false, true), 4);
        assert_eq!(lead_time_days(SingleLine, 1, false, false), 7);
        assert_eq!(lead_time_days(SingleLine, 11, false, true), 14);
        assert_eq!(lead_time_days(SingleLine, 11, false, false), 17);
        assert_eq!(lead_time_days(MultiLine, 30, false, true), 7);
        assert_eq!(lead_time_days(MultiLine, 2, false, false), 10);
        assert_eq!(lead_time_days(MultiLine, 31, false, true), 10);
        assert_eq!(lead_time_days(MultiLine, 5, true, false), 13);
        assert_eq!(lead_time_days(MultiLine, 151, true, true), 17);
        assert_eq!(lead_time_days(MultiLine, 151, false, false), 20);
    }

    #[test]
    fn fixture_states() {
        let w = World::seed(0.0);
        let st = |n: &str| line_info(&w.ports, &w.numbers, n, None, None).port_state;
        assert_eq!(st("01914980100"), PortState::Portable);
        assert_eq!(st("02920180500"), PortState::AlreadyPortedIn);
        assert_eq!(st("02920180600"), PortState::PortInProgress);
        assert_eq!(
            st("01632960042"),
            PortState::NotPortable("rangeHolderNotSupported")
        );
        assert_eq!(st("02079460003"), PortState::NotPortable("numberOnWhc"));
        assert_eq!(st("08001234567"), PortState::NotPortable("notGeographic"));
        let unknown = line_info(&w.ports, &w.numbers, "01134960999", Some("Gamma"), None);
        assert_eq!(unknown.port_state, PortState::Portable);
        assert_eq!(unknown.holder, "Openreach");
        assert!(!unknown.lcp_is_holder);
        assert!(!line_info(&w.ports, &w.numbers, "01914980101", None, None).lcp_is_holder);
        let range: Vec<String> = (199..=200).map(|n| format!("01914980{n:03}")).collect();
        assert_eq!(
            range_info(&w.ports, &w.numbers, &range, None).port_state,
            PortState::NotPortable("mixedRangeHolders")
        );
    }

    #[test]
    fn lcp_decisions() {
        use ImportType::*;
        let w = World::seed(0.0);
        let d = |n: &[&str], t, p| lcp_decision(&w.ports, &w.numbers, &order(n, t, p));
        assert_eq!(d(&["01914980100"], SingleLine, "ne1 4st"), Ok(()));
        assert_eq!(
            d(&["01914980100"], SingleLine, "NE1 7RU"),
            Err(POSTCODE_MISMATCH)
        );
        assert_eq!(
            d(&["01914980102"], SingleLine, "NE1 4ST"),
            Err(NUMBER_INACTIVE)
        );
        assert_eq!(d(&["01914980103"], SingleLine, "X"), Err(PENDING_ORDER));
        assert_eq!(
            d(&["01914980104"], SingleLine, "NE1 4ST"),
            Err(WRONG_LINE_TYPE)
        );
        assert_eq!(d(&["01914980104"], MultiLine, "NE1 4ST"), Ok(()));
        assert_eq!(d(&["01134960999"], SingleLine, "ZZ1 1ZZ"), Ok(()));
    }
}
