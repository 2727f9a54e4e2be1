//! What the world's maps are looked up by besides their key (see `tracked.rs`): companies by the
//! names and identifiers they hold, orders by external id and, while they move, when they were submitted,
//! numbers by the order that uses them, qualifications by the name and domain they reserve.

use super::model::{norm, norm_mac, Company, Kind, NumberRecord, Order, OrderState, Qualification};
use super::tracked::{IndexKey, Indexed};
use chrono::{DateTime, Utc};

/// Company index: its name (the others are the [`Kind`]s it holds, by `Kind as u8`).
pub const COMPANY_NAME: u8 = 100;
/// Order index: its external id, as given.
pub const ORDER_EXTERNAL_ID: u8 = 0;
/// Order index: submitted and acknowledged; the value is its clock ([`clock_prefix`]) and when
/// it was submitted ([`instant_key`]), so the orders due to move on, on one clock, take a range
/// and no other order is visited.
pub const ORDER_ACKNOWLEDGED: u8 = 1;
/// Order index: submitted and in progress, by when it was submitted, like [`ORDER_ACKNOWLEDGED`].
pub const ORDER_IN_PROGRESS: u8 = 2;
/// Number index: the order it is assigned by.
pub const NUMBER_ORDER: u8 = 0;
/// Qualification index: the company name a qualified one reserves.
pub const QUALIFICATION_NAME: u8 = 0;
/// Qualification index: the domain a qualified one reserves.
pub const QUALIFICATION_DOMAIN: u8 = 1;

/// An instant as an index value that sorts like the instant. Instants out of the nanosecond
/// range sort first, so a range "up to" any instant includes them (they are never missed).
pub fn instant_key(at: DateTime<Utc>) -> String {
    let nanos = at.timestamp_nanos_opt().unwrap_or(0).max(0);
    format!("{nanos:020}")
}

/// The start of a moving order's index value on `clock` (`None`: the shared clock). Clock ids
/// never hold `|`, so each clock's orders are one range.
pub fn clock_prefix(clock: Option<&str>) -> String {
    format!("{}|", clock.unwrap_or(""))
}

impl Indexed for Company {
    fn index_keys(&self, out: &mut Vec<IndexKey>) {
        let mut add = |kind: Kind, value: String| out.push((kind as u8, value));
        add(Kind::CompanyDomain, norm(&self.domain));
        // Ceased items free their names.
        for s in self.sites.iter().filter(|s| s.state.live()) {
            add(Kind::SiteName, norm(&s.name));
            add(Kind::SiteLocationCode, norm(&s.location_code));
        }
        for d in self.devices.iter().filter(|d| d.state.live()) {
            add(Kind::DeviceName, norm(&d.name));
            if let Some(mac) = d.mac_address.as_deref() {
                add(Kind::MacAddress, norm_mac(mac));
            }
        }
        for t in self.trunks.iter().filter(|t| t.state.live()) {
            add(Kind::TrunkName, norm(&t.name));
        }
        for u in self.users.iter().filter(|u| u.state.live()) {
            add(Kind::Username, norm(&u.username));
            add(Kind::Extension, norm(&u.extension));
        }
        out.push((COMPANY_NAME, norm(&self.name)));
    }
}

impl Indexed for Order {
    fn index_keys(&self, out: &mut Vec<IndexKey>) {
        if let Some(x) = &self.external_id {
            out.push((ORDER_EXTERNAL_ID, x.clone()));
        }
        let moving = match self.state {
            OrderState::Acknowledged => Some(ORDER_ACKNOWLEDGED),
            OrderState::InProgress => Some(ORDER_IN_PROGRESS),
            _ => None,
        };
        if let (Some(index), Some(at)) = (moving, self.submitted_at) {
            let clock = clock_prefix(self.clock.as_deref());
            out.push((index, format!("{clock}{}", instant_key(at))));
        }
    }
}

impl Indexed for NumberRecord {
    fn index_keys(&self, out: &mut Vec<IndexKey>) {
        if let Some(o) = &self.order_id {
            out.push((NUMBER_ORDER, o.clone()));
        }
    }
}

impl Indexed for Qualification {
    fn index_keys(&self, out: &mut Vec<IndexKey>) {
        if self.qualified {
            out.push((QUALIFICATION_NAME, norm(&self.customer_name)));
            out.push((QUALIFICATION_DOMAIN, norm(&self.customer_domain)));
        }
    }
}
