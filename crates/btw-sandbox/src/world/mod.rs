//! The sandbox's domain, with no HTTP: the serialisable `World` (companies, numbers, orders, …)
//! and its sub-worlds (WHC orders, porting, Ethernet, the outbox of notifications, calendar, clock).

pub mod areas;
pub mod calendar;
pub mod clock;
pub mod ethernet;
mod indexes;
pub mod model;
pub mod outbox;
pub mod port;
pub mod subscriptions;
pub mod tracked;
pub mod whc;
pub mod whc_changes;
pub mod whc_effects;
pub mod whc_inventory;
pub mod whc_items;

use self::clock::{secs_f64, Clock, Nows, RunClock};
pub use self::indexes::*;
pub use self::model::*;
pub use self::tracked::Tracked;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

pub const CUG_ID: &str = "CUG5019851064";
pub const RESELLER_ID: &str = "RES100234";
pub const SALES_TAG: &str = "SWAIN01";
pub const BILLING_ACCOUNT: &str = "GB01234567";
pub const PRODUCTS: [&str; 2] = ["WHC", "WHC Express"];
pub const CUSTOMER_GROUPS: [&str; 2] = ["SWAINsTelecom", "SWAINsRetail"];
/// Requests kept in the journal; older ones are dropped.
pub const JOURNAL_LIMIT: usize = 5_000;

/// Everything the sandbox knows. Tokens are not persisted (a restarted sandbox asks for a new one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub clock: Clock,
    #[serde(skip)]
    pub tokens: HashMap<String, Token>,
    // The four maps and the journal grow with history: each entry is its own row in the state
    // file, saved when it changed (hence `Tracked`), so they may be absent from the rest.
    #[serde(default)]
    pub qualifications: Tracked<Qualification>,
    /// By service id.
    #[serde(default)]
    pub companies: Tracked<Company>,
    /// By number (no spaces).
    #[serde(default)]
    pub numbers: Tracked<NumberRecord>,
    /// Created addresses; fixtures come from [`fixture_addresses`].
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub orders: Tracked<Order>,
    #[serde(default)]
    pub journal: Journal,
    pub counters: Counters,
    /// Transitions not yet broadcast.
    #[serde(skip)]
    pub events: Vec<OrderTransition>,
    /// Notifications waiting for delivery (see `outbox.rs`).
    #[serde(default)]
    pub outbox: Vec<outbox::Notification>,
    /// Number import (port) orders (see `port.rs`).
    #[serde(default)]
    pub ports: port::Ports,
    /// Notification callback, test settings and delivery log (see `outbox.rs`).
    #[serde(default)]
    pub notify: outbox::NotifyState,
    /// Ethernet quotes, appointments, orders and services (see `ethernet.rs`).
    #[serde(default)]
    pub ethernet: ethernet::EthernetWorld,
    /// Ceased numbers in quarantine, with the instant each is free again (see `whc_changes.rs`).
    #[serde(default)]
    pub quarantine: BTreeMap<String, DateTime<Utc>>,
    /// The run clock each quarantine entry was made on (absent: the shared clock).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quarantine_clocks: BTreeMap<String, String>,
    /// Run clocks by id (see `clock.rs`); saved with the shared clock.
    #[serde(default)]
    pub clocks: BTreeMap<String, RunClock>,
    /// The clock of the request being served (its `X-Sandbox-Clock`), set around each use of the
    /// world by `SandboxState::with_world`; `None` is the shared clock.
    #[serde(skip)]
    pub active_clock: Option<String>,
}

/// The fixture addresses (`fixtures/addresses.json`).
pub fn fixture_addresses() -> &'static [Address] {
    static FIXTURES: OnceLock<Vec<Address>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/addresses.json")).unwrap_or_else(|e| {
            tracing::error!("sandbox address fixtures do not parse: {e}");
            Vec::new()
        })
    })
}

impl World {
    /// The seed data of CONTRACT.md, with a clock at real time.
    pub fn seed(clock_speed: f64) -> World {
        let acme = "WHHCBTWKN1000".to_string();
        let company = Company {
            service_id: acme.clone(),
            name: "Acme Widgets Ltd".into(),
            domain: "acmewidgets.co.uk".into(),
            group: "SWAINsTelecom".into(),
            status: CompanyStatus::Active,
            order_id: None,
            sites: vec![Site {
                service_id: "WHHCBTWKN1001".into(),
                name: "Acme HQ".into(),
                location_code: "ACMEHQ01".into(),
                nad_key: "R00000010001".into(),
                order_id: None,
                state: ItemState::Active,
            }],
            users: vec![User {
                username: "jsmith@acmewidgets.co.uk".into(),
                extension: "2001".into(),
                first_name: "John".into(),
                last_name: "Smith".into(),
                email: Some("jsmith@acmewidgets.co.uk".into()),
                directory_number: Some("02079460000".into()),
                licence: Some("Professional".into()),
                device_name: Some("ACME-PBX-01".into()),
                order_id: None,
                service_id: "WHHCBTWKN1002".into(),
                site_service_id: Some("WHHCBTWKN1001".into()),
                state: ItemState::Active,
                add_ons: vec![],
            }],
            devices: vec![Device {
                name: "ACME-PBX-01".into(),
                mac_address: Some("00:1A:2B:3C:4D:5E".into()),
                order_id: None,
                service_id: "WHHCBTWKN1003".into(),
                model: Some("Yealink T54W".into()),
                user_service_id: Some("WHHCBTWKN1002".into()),
                state: ItemState::Active,
            }],
            trunks: vec![Trunk {
                name: "ACME-TRUNK-01".into(),
                order_id: None,
                service_id: "WHHCBTWKN1004".into(),
                channels: Some("10".into()),
                site_service_id: Some("WHHCBTWKN1001".into()),
                state: ItemState::Active,
            }],
            express: false,
        };
        let mut numbers = BTreeMap::new();
        for n in 0..10 {
            numbers.insert(
                format!("0207946{n:04}"),
                NumberRecord {
                    company_service_id: acme.clone(),
                    kind: "new".into(),
                    status: NumberStatus::Assigned,
                    order_id: None,
                    site_service_id: Some("WHHCBTWKN1001".into()),
                    reserved_site: None,
                    reserved_user: None,
                    clock: None,
                },
            );
        }
        let mut companies = BTreeMap::new();
        companies.insert(acme, company);
        World {
            clock: Clock::new(clock_speed),
            tokens: HashMap::new(),
            qualifications: Tracked::replacing(BTreeMap::new()),
            companies: Tracked::replacing(companies),
            numbers: Tracked::replacing(numbers),
            addresses: Vec::new(),
            orders: Tracked::replacing(BTreeMap::new()),
            journal: Journal::default(),
            counters: Counters::default(),
            events: Vec::new(),
            outbox: Vec::new(),
            ports: Default::default(),
            notify: Default::default(),
            ethernet: Default::default(),
            quarantine: BTreeMap::new(),
            quarantine_clocks: BTreeMap::new(),
            clocks: BTreeMap::new(),
            active_clock: None,
        }
    }

    /// Now on the request's clock (the shared clock outside a request or without the header).
    pub fn now(&self) -> DateTime<Utc> {
        self.now_on(self.active_clock.as_deref())
    }

    /// Now on `clock` (`None`, or a clock that is gone: the shared clock).
    pub fn now_on(&self, clock: Option<&str>) -> DateTime<Utc> {
        let shared = self.clock.now();
        match clock.and_then(|c| self.clocks.get(c)) {
            Some(run) => run.now(shared),
            None => shared,
        }
    }

    /// The clock a new object is made on: the request's, when it is a live run clock.
    pub fn clock_id(&self) -> Option<String> {
        self.active_clock
            .clone()
            .filter(|c| self.clocks.contains_key(c))
    }

    /// Every clock's now, read once. A run clock still at the shared now (most are: only a run
    /// that travels moves its clock) reads as the shared clock, so it is left out: a tick, made
    /// on every request, costs nothing for the many clocks idle runs leave behind.
    pub fn nows(&self) -> Nows {
        let shared = self.clock.now();
        Nows {
            shared,
            runs: self
                .clocks
                .iter()
                .filter(|(_, c)| c.offset_micros > 0)
                .map(|(id, c)| (id.clone(), c.now(shared)))
                .collect(),
        }
    }

    /// The clocks with WHC orders still moving (`None`: the shared clock), found by skipping
    /// through the moving-state indexes a clock at a time.
    fn moving_clocks(&self) -> std::collections::BTreeSet<Option<String>> {
        let mut found = std::collections::BTreeSet::new();
        for index in [ORDER_ACKNOWLEDGED, ORDER_IN_PROGRESS] {
            let mut from = String::new();
            while let Some(value) = self.orders.first_value_from(index, &from) {
                let clock = value.split('|').next().unwrap_or_default().to_string();
                // Every key of this clock starts `clock|`; `}` sorts just after `|`.
                from = format!("{clock}}}");
                found.insert((!clock.is_empty()).then_some(clock));
            }
        }
        found
    }

    /// Notes a use of run clock `id` at real time `at`, creating it at the shared now if unknown.
    pub fn use_clock(&mut self, id: &str, at: DateTime<Utc>) -> &mut RunClock {
        let clock = self
            .clocks
            .entry(id.to_string())
            .or_insert_with(|| RunClock::new(at));
        clock.last_used = at;
        clock
    }

    pub fn next_qualification_id(&mut self) -> String {
        let n = self.counters.qualification;
        self.counters.qualification += 1;
        format!("QFW{n:06}")
    }

    pub fn next_service_id(&mut self) -> String {
        let n = self.counters.service;
        self.counters.service += 1;
        format!("WHHCBTWKN{n:04}")
    }

    pub fn next_order_id(&mut self) -> (String, u64) {
        let n = self.counters.order;
        self.counters.order += 1;
        (format!("BTWKN{n:04}"), n)
    }

    pub fn next_address_id(&mut self) -> String {
        let n = self.counters.address;
        self.counters.address += 1;
        format!("X05{n:09}")
    }

    pub fn record_created(&mut self, kind: &str, id: &str, external_id: Option<String>) {
        let at = self.now();
        self.journal.created.push_back(CreatedEntry {
            at,
            kind: kind.to_string(),
            id: id.to_string(),
            external_id,
        });
        self.journal.unsaved_created += 1;
        if self.journal.created.len() > JOURNAL_LIMIT {
            let excess = self.journal.created.len() - JOURNAL_LIMIT;
            self.journal.created.drain(..excess);
        }
    }

    pub fn record_request(&mut self, entry: RequestEntry) {
        self.journal.requests.push_back(entry);
        self.journal.unsaved_requests += 1;
        if self.journal.requests.len() > JOURNAL_LIMIT {
            let excess = self.journal.requests.len() - JOURNAL_LIMIT;
            self.journal.requests.drain(..excess);
        }
    }

    pub fn company_by_name(&self, name: &str) -> Option<&Company> {
        self.companies.find(COMPANY_NAME, &norm(name)).next()
    }

    pub fn company_by_domain(&self, domain: &str) -> Option<&Company> {
        self.companies
            .find(Kind::CompanyDomain as u8, &norm(domain))
            .next()
    }

    /// The company that uses `value` as a `kind`, if any.
    pub fn in_use(&self, kind: Kind, value: &str) -> Option<&Company> {
        self.in_use_in(kind, value, None)
    }

    /// Like [`in_use`](Self::in_use), limited to the company with service id `scope` when given.
    pub fn in_use_in(&self, kind: Kind, value: &str, scope: Option<&str>) -> Option<&Company> {
        let key = if kind == Kind::MacAddress {
            norm_mac(value)
        } else {
            norm(value)
        };
        if key.is_empty() {
            return None;
        }
        let Some(scope) = scope else {
            return self.companies.find(kind as u8, &key).next();
        };
        // Many companies may hold the value (a site called "HQ"): look at the one in scope only.
        // Service ids are upper case.
        let svc = [scope.to_string(), scope.to_ascii_uppercase()]
            .into_iter()
            .find(|s| self.companies.contains_key(s))?;
        if self.companies.entry_has(&svc, kind as u8, &key) {
            self.companies.get(&svc)
        } else {
            None
        }
    }

    /// A fixture or created address by NAD key.
    pub fn address(&self, id: &str) -> Option<&Address> {
        fixture_addresses()
            .iter()
            .chain(self.addresses.iter())
            .find(|a| a.id.eq_ignore_ascii_case(id.trim()))
    }

    /// Moves an order to `to`, recording the transition for subscribers.
    pub fn transition(&mut self, order_id: &str, to: OrderState, at: DateTime<Utc>) {
        let Some(mut order) = self.orders.get_mut(order_id) else {
            return;
        };
        let from = order.state;
        if from == to {
            return;
        }
        order.state = to;
        if to == OrderState::Completed {
            order.completion_date = Some(at);
        }
        let event = OrderTransition {
            order_id: order.id.clone(),
            external_id: order.external_id.clone(),
            from,
            to,
            at,
        };
        let svc = order.company_service_id.clone();
        // Re-indexed now (moving or not), before the effects look orders up.
        drop(order);
        if to == OrderState::Completed {
            if let Some(mut c) = self.companies.get_mut(&svc) {
                if c.status == CompanyStatus::Pending {
                    c.status = CompanyStatus::Active;
                }
            }
            whc_effects::on_completed(self, order_id);
        }
        if let Some(order) = self.orders.get(order_id) {
            outbox::on_order_transition(&mut self.outbox, order, &event);
        }
        self.events.push(event);
    }

    /// Queues a notification about Ethernet order `order_id`, stamped with its clock's now.
    pub fn notify_ethernet(&mut self, event_type: &str, order_id: &str) {
        let clock = self
            .ethernet
            .orders
            .get(order_id)
            .and_then(|o| o.clock.clone());
        let now = self.now_on(clock.as_deref());
        self.ethernet
            .notify(&mut self.outbox, now, event_type, order_id);
    }

    /// Queues a notification stamped with the request's clock's now.
    pub fn queue_event(&mut self, event_type: &str, product_order: serde_json::Value) {
        let at = self.now();
        outbox::queue_event_at(&mut self.outbox, at, event_type, product_order);
    }

    /// Applies order progress up to each clock's now: acknowledged → inProgress → completed,
    /// `step_secs` apart from submission, each order by its own clock. Returns the transitions
    /// made (also queued for broadcast).
    pub fn advance_orders(&mut self, nows: &Nows, step_secs: f64) -> Vec<OrderTransition> {
        let step = secs_f64(step_secs);
        port::advance(&mut self.ports, &mut self.numbers, &mut self.outbox, nows);
        whc_effects::release_quarantine(self, nows);
        let before = self.events.len();
        // Each state's index is ordered by clock, then submission, so the orders due on a clock
        // are a range: an order waiting for its next step, or on another clock, is never visited.
        for clock in self.moving_clocks() {
            let clock = clock.as_deref();
            let now = nows.of(clock);
            let submitted_by = |ago: chrono::Duration| {
                now.checked_sub_signed(ago)
                    .map_or_else(|| "9".repeat(20), instant_key)
            };
            let acknowledged = self.due(ORDER_ACKNOWLEDGED, clock, &submitted_by(step));
            for (id, submitted) in acknowledged {
                let Some(to) = self.orders.get(&id).map(whc::after_acknowledged) else {
                    continue;
                };
                whc::end_step(self, &id, to, submitted + step);
            }
            // Includes the orders that have just moved on, when their second step is due too.
            let in_progress = self.due(ORDER_IN_PROGRESS, clock, &submitted_by(step + step));
            for (id, submitted) in in_progress {
                let Some(to) = self.orders.get(&id).map(whc::final_state) else {
                    continue;
                };
                whc::end_step(self, &id, to, submitted + step + step);
            }
        }
        self.events[before..].to_vec()
    }

    /// The orders on `clock` in moving-state index `index` submitted up to `latest` (an
    /// [`instant_key`]).
    fn due(&self, index: u8, clock: Option<&str>, latest: &str) -> Vec<(String, DateTime<Utc>)> {
        let prefix = clock_prefix(clock);
        self.orders
            .find_range(index, &prefix, &format!("{prefix}{latest}"))
            .filter_map(|o| o.submitted_at.map(|s| (o.id.clone(), s)))
            .collect()
    }

    /// Objects still open on each run clock: WHC orders not ended, port orders not done,
    /// qualifications not expired, Ethernet orders open and appointments booked.
    pub fn open_objects(&self) -> BTreeMap<String, u64> {
        let nows = self.nows();
        let mut open: BTreeMap<String, u64> = BTreeMap::new();
        let mut count = |clock: &Option<String>| {
            if let Some(c) = clock {
                *open.entry(c.clone()).or_default() += 1;
            }
        };
        self.orders
            .values()
            .filter(|o| {
                matches!(
                    o.state,
                    OrderState::Pending | OrderState::Acknowledged | OrderState::InProgress
                )
            })
            .for_each(|o| count(&o.clock));
        self.ports
            .orders
            .values()
            .filter(|o| o.state.is_open())
            .for_each(|o| count(&o.clock));
        self.qualifications
            .values()
            .filter(|q| nows.of(q.clock.as_deref()) < q.expires_at)
            .for_each(|q| count(&q.clock));
        self.ethernet.open_clocks(&nows, &mut count);
        open
    }

    /// Drops the run clocks with no open objects that were last used over `idle` (real time)
    /// before `real_now`; their objects read the shared clock from then on. Returns the ids.
    pub fn drop_idle_clocks(
        &mut self,
        real_now: DateTime<Utc>,
        idle: chrono::Duration,
    ) -> Vec<String> {
        let idle_ones: Vec<String> = self
            .clocks
            .iter()
            .filter(|(_, c)| c.last_used + idle < real_now)
            .map(|(id, _)| id.clone())
            .collect();
        if idle_ones.is_empty() {
            return idle_ones;
        }
        let open = self.open_objects();
        let dropped: Vec<String> = idle_ones
            .into_iter()
            .filter(|id| !open.contains_key(id))
            .collect();
        for id in &dropped {
            self.drop_clock(id);
        }
        dropped
    }

    /// Drops run clock `id`; whether it existed. Its moving WHC orders go to the shared clock's
    /// due index, so they keep moving; everything else of it reads the shared clock by itself.
    pub fn drop_clock(&mut self, id: &str) -> bool {
        if self.clocks.remove(id).is_none() {
            return false;
        }
        let prefix = clock_prefix(Some(id));
        let last = format!("{prefix}{}", "9".repeat(20));
        for index in [ORDER_ACKNOWLEDGED, ORDER_IN_PROGRESS] {
            let ids: Vec<String> = self
                .orders
                .find_range(index, &prefix, &last)
                .map(|o| o.id.clone())
                .collect();
            for o in ids {
                if let Some(mut order) = self.orders.get_mut(&o) {
                    order.clock = None;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_contract_shapes() {
        let mut w = World::seed(0.0);
        assert_eq!(w.next_qualification_id(), "QFW103255");
        assert_eq!(w.next_service_id(), "WHHCBTWKN1484");
        assert_eq!(w.next_order_id().0, "BTWKN1485");
        assert_eq!(w.next_address_id(), "X05000000001");
    }

    #[test]
    fn in_use_lookups() {
        let w = World::seed(0.0);
        assert!(w.company_by_name("  acme widgets LTD ").is_some());
        assert!(w.in_use(Kind::MacAddress, "00-1a-2b-3c-4d-5e").is_some());
        assert!(w.in_use(Kind::Extension, "2001").is_some());
        assert!(w.in_use(Kind::TrunkName, "acme-trunk-01").is_some());
        assert!(w.in_use(Kind::SiteName, "Nowhere").is_none());
        assert!(w.in_use(Kind::Username, "").is_none());
        let acme = Some("whhcbtwkn1000");
        assert!(w.in_use_in(Kind::SiteName, " acme hq", acme).is_some());
        assert!(w
            .in_use_in(Kind::SiteName, "Acme HQ", Some("WHHCBTWKN9999"))
            .is_none());
    }

    #[test]
    fn lookups_follow_changes() {
        let mut w = World::seed(0.0);
        if let Some(mut c) = w.companies.get_mut("WHHCBTWKN1000") {
            c.name = "Acme Renamed".into();
            c.sites[0].state = ItemState::Terminated;
        }
        assert!(w.company_by_name("Acme Widgets Ltd").is_none());
        assert!(w.company_by_name("acme renamed").is_some());
        // A ceased site frees its name.
        assert!(w.in_use(Kind::SiteName, "Acme HQ").is_none());
        w.companies.remove("WHHCBTWKN1000");
        assert!(w.in_use(Kind::Extension, "2001").is_none());
    }

    #[test]
    fn fixtures_parse() {
        let all = fixture_addresses();
        assert!(all.len() >= 30);
        let postcodes: std::collections::BTreeSet<_> = all.iter().map(|a| &a.postcode).collect();
        assert!(postcodes.len() >= 6);
        assert!(all.iter().all(|a| a.id.len() == 12));
        assert!(all.iter().filter(|a| a.postcode == "IP5 3RE").count() >= 3);
    }

    fn order_on(w: &mut World, id: &str, clock: Option<&str>, state: OrderState) {
        let t0 = w.now_on(clock);
        w.orders.insert(
            id.into(),
            Order {
                id: id.into(),
                seq: 1,
                external_id: None,
                state,
                order_date: t0,
                submitted_at: Some(t0),
                completion_date: None,
                related_party: serde_json::Value::Null,
                billing_account: serde_json::Value::Null,
                items: vec![],
                company_service_id: "WHHCBTWKN1000".into(),
                creates_company: false,
                changes: vec![],
                clock: clock.map(str::to_string),
            },
        );
    }

    #[test]
    fn each_order_moves_by_its_own_clock() {
        let mut w = World::seed(0.0);
        let real = Utc::now();
        w.use_clock("a", real);
        w.use_clock("b", real);
        order_on(&mut w, "BTWKN1", Some("a"), OrderState::Acknowledged);
        order_on(&mut w, "BTWKN2", Some("b"), OrderState::Acknowledged);
        order_on(&mut w, "BTWKN3", None, OrderState::Acknowledged);
        w.clocks
            .get_mut("a")
            .unwrap()
            .advance(chrono::Duration::days(4));
        let nows = w.nows();
        let moved = w.advance_orders(&nows, 60.0);
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert_eq!(w.orders["BTWKN1"].state, OrderState::Completed);
        assert_eq!(w.orders["BTWKN2"].state, OrderState::Acknowledged);
        assert_eq!(w.orders["BTWKN3"].state, OrderState::Acknowledged);
        assert_eq!(w.now_on(None), w.now_on(Some("b")));
        assert_eq!(w.now_on(Some("gone")), w.now_on(None));
    }

    #[test]
    fn a_tick_visits_only_the_clocks_with_moving_orders() {
        let mut w = World::seed(0.0);
        let real = Utc::now();
        // Many runs leave clocks behind; only three clocks have orders still moving.
        for n in 0..1_000 {
            w.use_clock(&format!("idle-{n}"), real);
        }
        for (id, clock) in [
            ("BTWKN1", Some("a")),
            ("BTWKN2", Some("a-b")),
            ("BTWKN3", None),
        ] {
            w.use_clock(clock.unwrap_or("x"), real);
            order_on(&mut w, id, clock, OrderState::Acknowledged);
        }
        order_on(&mut w, "BTWKN4", Some("a"), OrderState::InProgress);
        order_on(&mut w, "BTWKN5", Some("done"), OrderState::Completed);
        let moving: Vec<Option<String>> = w.moving_clocks().into_iter().collect();
        assert_eq!(
            moving,
            [None, Some("a".to_string()), Some("a-b".to_string())]
        );
        // None of them is ahead: every now is the shared one, and none is copied.
        assert!(w.nows().runs.is_empty());
        let later = Nows::shared(w.now() + chrono::Duration::seconds(5));
        w.advance_orders(&later, 1.0);
        for id in ["BTWKN1", "BTWKN2", "BTWKN3", "BTWKN4"] {
            assert_eq!(w.orders[id].state, OrderState::Completed, "{id}");
        }
    }

    #[test]
    fn idle_clocks_with_nothing_open_are_dropped() {
        let mut w = World::seed(0.0);
        let real = Utc::now();
        let day = chrono::Duration::days(1);
        let long_ago = real - chrono::Duration::hours(30);
        // Idle and empty: dropped. Idle with an open order: kept. Used lately: kept.
        w.use_clock("idle", long_ago);
        w.use_clock("busy", long_ago);
        w.use_clock("recent", real - chrono::Duration::hours(2));
        w.use_clock("ended", long_ago);
        order_on(&mut w, "BTWKN1", Some("busy"), OrderState::Acknowledged);
        order_on(&mut w, "BTWKN2", Some("ended"), OrderState::Completed);
        assert_eq!(w.open_objects().get("busy"), Some(&1));
        let dropped = w.drop_idle_clocks(real, day);
        assert_eq!(dropped, vec!["ended".to_string(), "idle".to_string()]);
        let left: Vec<&String> = w.clocks.keys().collect();
        assert_eq!(left, ["busy", "recent"]);
        // Dropped by hand, the busy clock's moving order goes on by the shared clock.
        w.clocks
            .get_mut("busy")
            .unwrap()
            .advance(chrono::Duration::days(4));
        assert!(w.drop_clock("busy"));
        assert!(!w.drop_clock("busy"));
        assert_eq!(w.orders["BTWKN1"].clock, None);
        let later = Nows::shared(w.now() + chrono::Duration::seconds(5));
        w.advance_orders(&later, 1.0);
        assert_eq!(w.orders["BTWKN1"].state, OrderState::Completed);
    }

    #[test]
    fn orders_advance_on_the_clock() {
        let mut w = World::seed(0.0);
        let t0 = w.now();
        w.orders.insert(
            "BTWKN1485".into(),
            Order {
                id: "BTWKN1485".into(),
                seq: 1485,
                external_id: None,
                state: OrderState::Acknowledged,
                order_date: t0,
                submitted_at: Some(t0),
                completion_date: None,
                related_party: serde_json::Value::Null,
                billing_account: serde_json::Value::Null,
                items: vec![],
                company_service_id: "WHHCBTWKN1000".into(),
                creates_company: false,
                changes: vec![],
                clock: None,
            },
        );
        assert!(w.advance_orders(&Nows::shared(t0), 2.0).is_empty());
        let t = w.advance_orders(&Nows::shared(t0 + chrono::Duration::seconds(5)), 2.0);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].to, OrderState::Completed);
        assert_eq!(t[1].at, t0 + chrono::Duration::seconds(4));
    }
}
