//! The sandbox's state: the serialisable `World` (companies, numbers, orders, …) behind a mutex.
//!
//! [`SandboxState`] is what handlers get: cheap to clone, it locks the world only briefly (never
//! across an await), applies order progress on the sandbox clock, broadcasts order state changes
//! to subscribers, and persists the world when configured with a state file.

use super::clock::{secs_f64, Clock};
pub use super::model::*;
use super::persist::Persister;
use super::SandboxConfig;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;

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
    pub qualifications: BTreeMap<String, Qualification>,
    /// By service id.
    pub companies: BTreeMap<String, Company>,
    /// By number (no spaces).
    pub numbers: BTreeMap<String, NumberRecord>,
    /// Created addresses; fixtures come from [`fixture_addresses`].
    pub addresses: Vec<Address>,
    pub orders: BTreeMap<String, Order>,
    pub journal: Journal,
    pub counters: Counters,
    /// Transitions not yet broadcast.
    #[serde(skip)]
    pub events: Vec<OrderTransition>,
    /// Notifications waiting for delivery (see `notify.rs`).
    #[serde(default)]
    pub outbox: Vec<super::notify::Notification>,
    /// Number import (port) orders (see `porting.rs`).
    #[serde(default)]
    pub ports: super::porting::Ports,
    /// Notification callback, test settings and delivery log (see `notify.rs`).
    #[serde(default)]
    pub notify: super::notify::NotifyState,
    /// Ethernet quotes, appointments, orders and services (see `ethernet_state.rs`).
    #[serde(default)]
    pub ethernet: super::ethernet_state::EthernetWorld,
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
            }],
            devices: vec![Device {
                name: "ACME-PBX-01".into(),
                mac_address: Some("00:1A:2B:3C:4D:5E".into()),
                order_id: None,
            }],
            trunks: vec![Trunk {
                name: "ACME-TRUNK-01".into(),
                order_id: None,
            }],
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
                },
            );
        }
        let mut companies = BTreeMap::new();
        companies.insert(acme, company);
        World {
            clock: Clock::new(clock_speed),
            tokens: HashMap::new(),
            qualifications: BTreeMap::new(),
            companies,
            numbers,
            addresses: Vec::new(),
            orders: BTreeMap::new(),
            journal: Journal::default(),
            counters: Counters::default(),
            events: Vec::new(),
            outbox: Vec::new(),
            ports: Default::default(),
            notify: Default::default(),
            ethernet: Default::default(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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
        self.journal.created.push(CreatedEntry {
            at,
            kind: kind.to_string(),
            id: id.to_string(),
            external_id,
        });
        if self.journal.created.len() > JOURNAL_LIMIT {
            let excess = self.journal.created.len() - JOURNAL_LIMIT;
            self.journal.created.drain(..excess);
        }
    }

    pub fn record_request(&mut self, entry: RequestEntry) {
        self.journal.requests.push(entry);
        if self.journal.requests.len() > JOURNAL_LIMIT {
            let excess = self.journal.requests.len() - JOURNAL_LIMIT;
            self.journal.requests.drain(..excess);
        }
    }

    pub fn company_by_name(&self, name: &str) -> Option<&Company> {
        let key = norm(name);
        self.companies.values().find(|c| norm(&c.name) == key)
    }

    pub fn company_by_domain(&self, domain: &str) -> Option<&Company> {
        let key = norm(domain);
        self.companies.values().find(|c| norm(&c.domain) == key)
    }

    /// The company that uses `value` as a `kind`, if any.
    pub fn in_use(&self, kind: Kind, value: &str) -> Option<&Company> {
        self.in_use_in(kind, value, None)
    }

    /// Like [`in_use`](Self::in_use), limited to the company with service id `scope` when given.
    pub fn in_use_in(&self, kind: Kind, value: &str, scope: Option<&str>) -> Option<&Company> {
        let mut companies = self
            .companies
            .values()
            .filter(|c| scope.is_none_or(|s| c.service_id.eq_ignore_ascii_case(s)));
        if kind == Kind::MacAddress {
            let key = norm_mac(value);
            if key.is_empty() {
                return None;
            }
            return companies.find(|c| {
                c.devices
                    .iter()
                    .filter_map(|d| d.mac_address.as_deref())
                    .any(|m| norm_mac(m) == key)
            });
        }
        let key = norm(value);
        if key.is_empty() {
            return None;
        }
        let eq = |s: &str| norm(s) == key;
        companies.find(|c| match kind {
            Kind::CompanyDomain => eq(&c.domain),
            Kind::SiteName => c.sites.iter().any(|s| eq(&s.name)),
            Kind::SiteLocationCode => c.sites.iter().any(|s| eq(&s.location_code)),
            Kind::DeviceName => c.devices.iter().any(|d| eq(&d.name)),
            Kind::TrunkName => c.trunks.iter().any(|t| eq(&t.name)),
            Kind::Username => c.users.iter().any(|u| eq(&u.username)),
            Kind::Extension => c.users.iter().any(|u| eq(&u.extension)),
            Kind::MacAddress => false,
        })
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
        let Some(order) = self.orders.get_mut(order_id) else {
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
        if to == OrderState::Completed {
            let svc = order.company_service_id.clone();
            if let Some(c) = self.companies.get_mut(&svc) {
                c.status = CompanyStatus::Active;
            }
        }
        super::notify::on_order_transition(self, &event);
        self.events.push(event);
    }

    /// Applies order progress up to `now`: acknowledged → inProgress → completed, `step_secs`
    /// apart from submission. Returns the transitions made (also queued for broadcast).
    pub fn advance_orders(&mut self, now: DateTime<Utc>, step_secs: f64) -> Vec<OrderTransition> {
        let step = secs_f64(step_secs);
        super::porting::advance(self, now);
        let due: Vec<(String, DateTime<Utc>, OrderState)> = self
            .orders
            .values()
            .filter(|o| matches!(o.state, OrderState::Acknowledged | OrderState::InProgress))
            .filter_map(|o| o.submitted_at.map(|s| (o.id.clone(), s, o.state)))
            .collect();
        let before = self.events.len();
        for (id, submitted, state) in due {
            let in_progress_at = submitted + step;
            let completed_at = in_progress_at + step;
            if state == OrderState::Acknowledged && now >= in_progress_at {
                self.transition(&id, OrderState::InProgress, in_progress_at);
            }
            if now >= completed_at {
                self.transition(&id, OrderState::Completed, completed_at);
            }
        }
        self.events[before..].to_vec()
    }
}

/// Shared handle on the sandbox: the world, the config, the event channel and the persister.
#[derive(Clone)]
pub struct SandboxState {
    world: Arc<Mutex<World>>,
    config: Arc<SandboxConfig>,
    events: broadcast::Sender<OrderTransition>,
    persister: Arc<Persister>,
    /// Fault-injection rules (in memory only; see `faults.rs`).
    faults: Arc<super::faults::Faults>,
}

impl SandboxState {
    /// Loads the world from `config.state_file` when it exists, else seeds a fresh one.
    pub fn load_or_seed(config: SandboxConfig) -> std::io::Result<SandboxState> {
        let world = match &config.state_file {
            Some(path) => super::persist::load(path, config.clock_speed)?,
            None => None,
        }
        .unwrap_or_else(|| World::seed(config.clock_speed));
        Ok(Self::new(config, world))
    }

    pub fn new(config: SandboxConfig, world: World) -> SandboxState {
        let (events, _) = broadcast::channel(256);
        SandboxState {
            world: Arc::new(Mutex::new(world)),
            persister: Arc::new(Persister {
                path: config.state_file.clone(),
                generation: AtomicU64::new(0),
                written: Mutex::new(0),
            }),
            faults: Arc::new(super::faults::Faults::new(config.faults.clone())),
            config: Arc::new(config),
            events,
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The fault-injection rules.
    pub fn faults(&self) -> &super::faults::Faults {
        &self.faults
    }

    /// Runs `f` with the world locked (briefly; `f` must not block), then broadcasts any order
    /// transitions it queued.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let (result, events) = {
            let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
            let result = f(&mut world);
            (result, std::mem::take(&mut world.events))
        };
        for event in events {
            // No subscribers is fine.
            let _ = self.events.send(event);
        }
        result
    }

    /// Applies order progress up to the sandbox clock's now.
    pub fn tick(&self) -> Vec<OrderTransition> {
        let step = self.config.order_step_secs;
        self.with_world(|w| {
            let now = w.now();
            w.advance_ethernet(now, step);
            w.advance_orders(now, step)
        })
    }

    /// Order state changes as they happen (submit, cancel, clock progress).
    pub fn subscribe(&self) -> broadcast::Receiver<OrderTransition> {
        self.events.subscribe()
    }

    /// Writes the world to the state file, if one is configured.
    pub async fn save(&self) {
        let Some(path) = self.persister.path.clone() else {
            return;
        };
        let persister = self.persister.clone();
        let snapshot = self.with_world(|w| persister.snapshot(w));
        let result =
            tokio::task::spawn_blocking(move || persister.write(&path, snapshot.0, &snapshot.1))
                .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("sandbox: could not save state: {e}"),
            Err(e) => tracing::warn!("sandbox: state save task failed: {e}"),
        }
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
            },
        );
        assert!(w.advance_orders(t0, 2.0).is_empty());
        let t = w.advance_orders(t0 + chrono::Duration::seconds(5), 2.0);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].to, OrderState::Completed);
        assert_eq!(t[1].at, t0 + chrono::Duration::seconds(4));
    }
}
