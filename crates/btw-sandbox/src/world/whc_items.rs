//! The items of a WHC product order as the rules read them: offerings, schema-valid items and
//! orders, number ranges, and what an order's `add` items put into a company.

use super::{Company, Device, ItemState, OrderItem, Site, Trunk, User};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offering {
    Company,
    Site,
    NumberBlock,
    User,
    Device,
    Trunk,
}

impl Offering {
    pub fn parse(s: &str) -> Option<Offering> {
        Some(match s {
            "WHCCompany" => Offering::Company,
            "WHCSite" => Offering::Site,
            "WHCNumberBlock" => Offering::NumberBlock,
            "WHCUser" => Offering::User,
            "WHCDevice" => Offering::Device,
            "WHCTrunk" => Offering::Trunk,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Offering::Company => "WHCCompany",
            Offering::Site => "WHCSite",
            Offering::NumberBlock => "WHCNumberBlock",
            Offering::User => "WHCUser",
            Offering::Device => "WHCDevice",
            Offering::Trunk => "WHCTrunk",
        }
    }

    /// The TMF622 actions an item of this offering may carry.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Offering::Company => &["add", "noChange", "delete"],
            Offering::NumberBlock => &["add", "delete"],
            _ => &["add", "modify", "delete"],
        }
    }

    pub fn required(self, action: &str) -> &'static [&'static str] {
        match (self, action) {
            (Offering::Company, "noChange" | "delete") => &["serviceId"],
            (Offering::NumberBlock, _) => &["startNumber", "endNumber"],
            (_, "modify" | "delete") => &["serviceId"],
            (Offering::Company, _) => &[
                "customerName",
                "customerDomain",
                "customerGroup",
                "serviceId",
                "qualifierId",
            ],
            (Offering::Site, _) => &["siteName", "siteLocationCode"],
            (Offering::User, _) => &["firstName", "lastName", "username"],
            (Offering::Device, _) => &["deviceName", "macAddress", "deviceModel", "userServiceId"],
            (Offering::Trunk, _) => &["trunkName"],
        }
    }
}

/// One schema-valid order item.
#[derive(Debug, Clone)]
pub struct ParsedItem {
    pub action: String,
    pub offering: Offering,
    pub chars: BTreeMap<String, String>,
    pub nad_key: Option<String>,
    pub raw: OrderItem,
}

impl ParsedItem {
    pub fn get(&self, name: &str) -> &str {
        self.chars.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        self.chars.get(name).cloned()
    }
}

/// A schema-valid order body.
#[derive(Debug, Clone)]
pub struct ParsedOrder {
    pub external_id: Option<String>,
    pub related_party: Value,
    pub billing_account: Value,
    pub billing_account_id: String,
    pub items: Vec<ParsedItem>,
}

/// Digits only (spaces dropped); `None` if anything else is there.
pub fn digits(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (!d.is_empty() && d.chars().all(|c| c.is_ascii_digit())).then_some(d)
}

/// The numbers from `start` to `end` inclusive (same length, at most 1000 of them).
pub fn expand_range(start: &str, end: &str) -> Option<Vec<String>> {
    let (s, e) = (digits(start)?, digits(end)?);
    if s.len() != e.len() || !(10..=11).contains(&s.len()) {
        return None;
    }
    let (a, b) = (s.parse::<u64>().ok()?, e.parse::<u64>().ok()?);
    if a > b || b - a >= 1000 {
        return None;
    }
    let width = s.len();
    Some((a..=b).map(|n| format!("{n:0width$}")).collect())
}

/// The `add` items of `p` of one offering (modify and delete items: see `whc_changes.rs`).
pub fn of(p: &ParsedOrder, o: Offering) -> impl Iterator<Item = &ParsedItem> {
    p.items
        .iter()
        .filter(move |i| i.offering == o && i.action == "add")
}

/// A comma-separated add-on list, trimmed, without empties.
pub fn add_ons(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// How many service ids an order's new users, devices and trunks need (two per user: one for
/// its device).
pub fn new_item_count(p: &ParsedOrder) -> usize {
    2 * of(p, Offering::User).count()
        + of(p, Offering::Device).count()
        + of(p, Offering::Trunk).count()
}

/// The sites, devices, users and trunks an order adds to its company (`pendingActive` until it completes).
/// `item_ids` holds [`new_item_count`] fresh service ids.
pub fn add_to_company(
    c: &mut Company,
    p: &ParsedOrder,
    site_ids: Vec<String>,
    item_ids: Vec<String>,
    oid: &Option<String>,
) {
    let mut ids = item_ids.into_iter();
    for (site, sid) in of(p, Offering::Site).zip(site_ids) {
        c.sites.push(Site {
            service_id: sid,
            name: site.get("siteName").to_string(),
            location_code: site.get("siteLocationCode").to_string(),
            nad_key: site.nad_key.clone().unwrap_or_default(),
            order_id: oid.clone(),
            state: ItemState::PendingActive,
        });
    }
    // Users without a site go to the company's first site still held (none on WHC Express).
    let first_site = c
        .sites
        .iter()
        .find(|s| s.state.live())
        .map(|s| s.service_id.clone());
    for u in of(p, Offering::User) {
        let user_id = ids.next().unwrap_or_default();
        let device_id = ids.next().unwrap_or_default();
        if let Some(d) = u.opt("deviceName") {
            c.devices.push(Device {
                name: d,
                mac_address: u.opt("macAddress"),
                order_id: oid.clone(),
                service_id: device_id,
                model: u.opt("deviceModel"),
                user_service_id: Some(user_id.clone()),
                state: ItemState::PendingActive,
            });
        }
        c.users.push(User {
            username: u.get("username").to_string(),
            extension: u.get("extension").to_string(),
            first_name: u.get("firstName").to_string(),
            last_name: u.get("lastName").to_string(),
            email: u.opt("email"),
            directory_number: u.opt("directoryNumber").and_then(|n| digits(&n)),
            licence: u.opt("licence"),
            device_name: u.opt("deviceName"),
            order_id: oid.clone(),
            service_id: user_id,
            site_service_id: u
                .opt("siteServiceId")
                .or_else(|| (!c.express).then(|| first_site.clone()).flatten()),
            state: ItemState::PendingActive,
            add_ons: u.opt("addOns").map(|a| add_ons(&a)).unwrap_or_default(),
        });
    }
    for d in of(p, Offering::Device) {
        let user = d.get("userServiceId").to_string();
        if let Some(u) = c.users.iter_mut().find(|u| u.service_id == user) {
            u.device_name = d.opt("deviceName");
        }
        c.devices.push(Device {
            name: d.get("deviceName").to_string(),
            mac_address: d.opt("macAddress"),
            order_id: oid.clone(),
            service_id: ids.next().unwrap_or_default(),
            model: d.opt("deviceModel"),
            user_service_id: Some(user),
            state: ItemState::PendingActive,
        });
    }
    // A trunk without a site goes to the company's first site still held, as a user does.
    for t in of(p, Offering::Trunk) {
        c.trunks.push(Trunk {
            name: t.get("trunkName").to_string(),
            order_id: oid.clone(),
            service_id: ids.next().unwrap_or_default(),
            channels: t.opt("channels"),
            site_service_id: t
                .opt("siteServiceId")
                .or_else(|| (!c.express).then(|| first_site.clone()).flatten()),
            state: ItemState::PendingActive,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            expand_range("01214960000", "01214960002").unwrap(),
            vec!["01214960000", "01214960001", "01214960002"]
        );
        assert!(expand_range("01214960002", "01214960000").is_none());
        assert!(expand_range("0121496000", "01214960000").is_none());
        assert!(expand_range("01214960000", "01214969999").is_none());
        assert!(expand_range("x", "y").is_none());
    }
}
