//! Ethernet state for the sandbox: quotes, qualifications, appointments, orders and live services
//! (kept in `World::ethernet`), plus the pure rules they follow: the price table, distance bands,
//! availability by place, appointment slots and order progress on each order's clock.
//!
//! Everything here is the "BT side" described in CONTRACT.md's `## Ethernet` section; the HTTP
//! handlers live in `http/routes/ethernet.rs`.

mod availability;
mod cancel;
mod catalogue;
mod pricing;
mod progress;
mod records;
mod reschedule;

pub use availability::*;
pub use catalogue::*;
pub use pricing::*;
pub use records::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::clock::Nows;
    use crate::world::World;
    use chrono::{DateTime, Duration, NaiveDate, Utc};
    use serde_json::json;

    fn p(product: Product, mbit: &str, band: u8, term: u32) -> (u64, u64) {
        let kbps = parse_bandwidth(mbit).unwrap();
        let pr = price(product, kbps, band, term).unwrap();
        (pr.install, pr.rental)
    }

    #[test]
    fn price_table() {
        // The worked example of CONTRACT.md.
        assert_eq!(p(Product::EtherwayFibre, "1000", 2, 36), (125_000, 50_625));
        assert_eq!(with_vat(50_625), 60_750);
        assert_eq!(p(Product::EtherwayFibre, "100", 1, 12), (250_000, 30_000));
        assert_eq!(p(Product::EtherwayFibre, "10000", 3, 60), (0, 144_000));
        assert_eq!(
            p(Product::EtherflowConnected, "0.2", 1, 12),
            (25_000, 2_000)
        );
        assert_eq!(
            p(Product::EtherflowInternet, "10000", 0, 36),
            (75_000, 315_000)
        );
        // 35 × 1.25 × 0.9 = 39.375 → 39.38 (half up).
        assert_eq!(p(Product::EtherwayGeaSogea, "20", 2, 36), (4_600, 3_938));
        assert_eq!(p(Product::EtherwayGeaFttp, "330", 0, 60), (0, 6_800));
        assert!(price(Product::EtherwayGeaFttp, 40_000, 0, 12).is_none());
        assert!(price(Product::EtherwayFibre, 100_000, 0, 24).is_none());
        assert_eq!(with_vat(1), 1);
        assert_eq!(with_vat(3), 4);
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("0.2"), Some(200));
        assert_eq!(parse_bandwidth(".5"), Some(500));
        assert_eq!(parse_bandwidth("1000.0"), Some(1_000_000));
        assert_eq!(parse_bandwidth("10000"), Some(10_000_000));
        assert_eq!(parse_bandwidth("0.0005"), None);
        assert_eq!(parse_bandwidth("-1"), None);
        assert_eq!(parse_bandwidth("1e3"), None);
        assert_eq!(parse_bandwidth(""), None);
        assert_eq!(parse_bandwidth("."), None);
        assert_eq!(parse_bandwidth("99999999999"), None);
        assert_eq!(format_bandwidth(200), "0.2");
        assert_eq!(format_bandwidth(1_000_000), "1000");
        assert_eq!(format_bandwidth(1_250), "1.25");
        assert!(Product::EtherflowConnected.allows(200));
        assert!(!Product::EtherwayFibre.allows(200));
    }

    #[test]
    fn bands() {
        assert_eq!(distance_band(&["IP5 3RE"]), 0);
        assert_eq!(distance_band(&["EC1A 7AJ", "E1 8EE"]), 1);
        assert_eq!(distance_band(&["IP5 3RE", "IP5 3RE"]), 1);
        assert_eq!(distance_band(&["IP5 3RE", "B1 2HF"]), 2);
        assert_eq!(distance_band(&["EH2 3BU", "G2 5HF"]), 2);
        assert_eq!(distance_band(&["LS1 5HD", "EH2 3BU"]), 3);
        assert_eq!(distance_band(&["BT1 1AA", "M1 2AP"]), 3);
        assert_eq!(postcode_area("SW1A 1AA"), "LONDON");
        assert_eq!(postcode_area("B1 2HF"), "B");
    }

    #[test]
    fn availability() {
        assert!(unavailability(Product::EtherwayFibre, "G2 5HF", None).is_some());
        assert!(unavailability(Product::EtherflowInternet, "G2 5HF", None).is_none());
        assert_eq!(
            unavailability(Product::EtherwayGeaFttp, "EH2 3BU", None).map(|r| r.0),
            Some("NoFTTPAtExchange")
        );
        assert_eq!(
            unavailability(Product::EtherwayGeaSogea, "BS1 1SE", None).map(|r| r.0),
            Some("NoSOGEAAtExchange")
        );
        let non_gold = super::super::fixture_addresses()
            .iter()
            .find(|a| a.id == "R00000020003");
        assert_eq!(
            unavailability(Product::EtherwayGeaFttp, "EC1A 7AJ", non_gold).map(|r| r.0),
            Some("PremisesNotPassed")
        );
        assert!(unavailability(Product::EtherwayGeaFttp, "EC1A 7AJ", None).is_none());
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn slots() {
        // Friday 6 March 2026 → Mon 9, Tue 10, Wed 11: first bookable Wednesday 11th.
        let now = t("2026-03-06T10:00:00Z");
        let first = first_bookable_day(now);
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 3, 11).unwrap());
        let all = slots_from(first, 10, 100, None);
        assert_eq!(all.len(), 20);
        assert!(all.iter().all(|s| is_working_day(s.date)));
        assert_eq!(all[0].id(), "SLOT-20260311-AM");
        assert_eq!(all[0].start(), t("2026-03-11T08:00:00Z"));
        // British Summer Time: 08:00 London is 07:00 UTC.
        let summer = Slot {
            date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            morning: false,
        };
        assert_eq!(summer.start(), t("2026-06-01T12:00:00Z"));
        assert_eq!(summer.end(), t("2026-06-01T17:00:00Z"));
        assert_eq!(Slot::at(summer.start(), Some(summer.end())), Some(summer));
        assert_eq!(Slot::at(summer.start(), Some(summer.start())), None);
        assert_eq!(Slot::at(t("2026-06-01T12:30:00Z"), None), None);
        // Saturday.
        assert_eq!(Slot::at(t("2026-03-07T08:00:00Z"), None), None);
        assert_eq!(Slot::parse_id("SLOT-20260601-PM"), Some(summer));
        assert_eq!(Slot::parse_id("SLOT-20260606-PM"), None);
        assert_eq!(Slot::parse_id("SLOT-2026-PM"), None);
        let capped = slots_from(first, 10, 20, Some(t("2026-03-12T13:00:00Z")));
        assert_eq!(capped.len(), 3);
    }

    /// An acknowledged order placed at `t0`, its next step due at `next_due`, on `clock`.
    fn acknowledged_order(
        id: &str,
        t0: DateTime<Utc>,
        next_due: DateTime<Utc>,
        clock: Option<&str>,
    ) -> EthOrder {
        EthOrder {
            id: id.into(),
            seq: 1,
            external_id: None,
            action: OrderAction::Add,
            item_id: "1".into(),
            state: EthOrderState::Acknowledged,
            order_date: t0,
            completion_date: None,
            related_party: json!([]),
            product: Product::EtherflowInternet,
            places: vec![],
            kbps: 100_000,
            term: 12,
            quote: None,
            appointment_id: None,
            service_id: None,
            milestones: vec![],
            open_actions: vec![],
            stage: 0,
            next_due: Some(next_due),
            price: None,
            cancellation_reason: None,
            clock: clock.map(str::to_string),
        }
    }

    #[test]
    fn order_steps() {
        let mut w = World::seed(0.0);
        let t0 = w.now();
        let order = acknowledged_order("EOR000001", t0, t0 + Duration::seconds(2), None);
        w.ethernet.orders.insert(order.id.clone(), order);
        assert!(!w
            .ethernet
            .advance(&mut w.outbox, &Nows::shared(t0 + Duration::seconds(1)), 2.0));
        assert!(w
            .ethernet
            .advance(&mut w.outbox, &Nows::shared(t0 + Duration::seconds(5)), 2.0));
        let o = &w.ethernet.orders["EOR000001"];
        assert_eq!(o.state, EthOrderState::InProgress);
        assert_eq!(o.milestones.len(), 2);
        w.ethernet.advance(
            &mut w.outbox,
            &Nows::shared(t0 + Duration::seconds(60)),
            2.0,
        );
        let o = &w.ethernet.orders["EOR000001"];
        assert_eq!(o.state, EthOrderState::Completed);
        assert_eq!(o.completion_date, Some(t0 + Duration::seconds(8)));
        assert_eq!(o.service_id.as_deref(), Some("ETH000001"));
        assert_eq!(
            w.ethernet.services["ETH000001"].status,
            ServiceStatus::Active
        );
    }

    #[test]
    fn an_order_moves_by_its_own_clock() {
        let mut w = World::seed(0.0);
        w.use_clock("a", Utc::now());
        let t0 = w.now();
        for (id, clock) in [("EOR000001", Some("a")), ("EOR000002", None)] {
            let order = acknowledged_order(id, t0, t0 + Duration::hours(1), clock);
            w.ethernet.orders.insert(order.id.clone(), order);
        }
        w.clocks.get_mut("a").unwrap().advance(Duration::days(1));
        let nows = w.nows();
        assert!(w.ethernet.advance(&mut w.outbox, &nows, 3600.0));
        assert_eq!(
            w.ethernet.orders["EOR000001"].state,
            EthOrderState::Completed
        );
        assert_eq!(
            w.ethernet.orders["EOR000002"].state,
            EthOrderState::Acknowledged
        );
        // Its events are stamped on its clock.
        assert!(!w.outbox.is_empty());
        assert!(w
            .outbox
            .iter()
            .all(|n| n.event_time > t0 + Duration::hours(12)));
    }

    #[test]
    fn state_round_trips_and_old_files_load() {
        let mut w = World::seed(0.0);
        w.ethernet.services.insert(
            "ETH000001".into(),
            Service {
                id: "ETH000001".into(),
                product: Product::EtherwayGeaFttp,
                places: vec![],
                kbps: 80_000,
                term: 36,
                status: ServiceStatus::Active,
                start: w.now(),
                terminated: None,
                orders: vec![("EOR000001".into(), OrderAction::Add)],
            },
        );
        w.ethernet.counters.service = 1;
        let mut v = serde_json::to_value(&w).unwrap();
        let back: World = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            back.ethernet.services["ETH000001"].product,
            Product::EtherwayGeaFttp
        );
        assert_eq!(back.ethernet.counters.service, 1);
        // A state file written before Ethernet existed.
        v.as_object_mut().unwrap().remove("ethernet");
        let old: World = serde_json::from_value(v).unwrap();
        assert!(old.ethernet.services.is_empty());
    }
}
