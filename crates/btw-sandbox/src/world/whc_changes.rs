//! WHC changes on a company that exists (TMF622 `modify` and `delete` items, and WHC Express):
//! the rules an order's changes must pass when it is created (what they do: `whc_effects.rs`).

use super::whc_effects::effect;
use super::whc_items::{add_to_company, expand_range, new_item_count, of, Offering, ParsedOrder};
use super::{
    norm, norm_mac, Change, Company, CompanyStatus, ItemState, Kind, NumberStatus, OrderState,
    World,
};
use crate::error::ApiError;
use std::collections::BTreeSet;

/// The CPE models a device may be (the sandbox's documented list).
pub const DEVICE_MODELS: [&str; 6] = [
    "Yealink T54W",
    "Yealink T46U",
    "Yealink T31P",
    "Yealink W73P",
    "Poly VVX 450",
    "Cisco 8851",
];

/// The message BT gives when a WHC Express order carries sites or number blocks.
pub const EXPRESS_REFUSAL: &str =
    "WHC Express does not support site and numbers as orderable entity";

/// What a `modify` item may change, per offering.
fn modifiable(o: Offering) -> &'static [&'static str] {
    match o {
        Offering::User => &[
            "firstName",
            "lastName",
            "username",
            "extension",
            "email",
            "directoryNumber",
            "licence",
            "addOns",
            "deviceName",
            "macAddress",
            "deviceModel",
            "siteServiceId",
        ],
        Offering::Site => &["siteName", "siteLocationCode"],
        Offering::Device => &["deviceName", "macAddress", "deviceModel"],
        Offering::Trunk => &["trunkName", "channels", "siteServiceId"],
        _ => &[],
    }
}

fn rule(reason: &str, message: impl Into<String>) -> ApiError {
    ApiError::business(reason, message)
}

/// An existing company can take further orders unless it is ceased.
pub fn check_existing(c: &Company) -> Result<(), ApiError> {
    if c.status == CompanyStatus::Terminated {
        return Err(rule(
            "CompanyCeased",
            format!("Company {} is ceased; no further orders", c.service_id),
        ));
    }
    Ok(())
}

/// WHC Express orders carry no sites and no number blocks.
pub fn refuse_on_express(p: &ParsedOrder, express: bool) -> Result<(), ApiError> {
    let blocked = p
        .items
        .iter()
        .any(|i| matches!(i.offering, Offering::Site | Offering::NumberBlock));
    if express && blocked {
        return Err(rule("NotSupportedOnWhcExpress", EXPRESS_REFUSAL));
    }
    Ok(())
}

/// Whether an order other than `except` is still in flight on company `svc`.
fn in_flight<'a>(w: &'a World, svc: &str, except: Option<&str>) -> Vec<&'a super::Order> {
    w.orders
        .values()
        .filter(|o| o.company_service_id.eq_ignore_ascii_case(svc))
        .filter(|o| except != Some(o.id.as_str()))
        .filter(|o| {
            matches!(
                o.state,
                OrderState::Pending | OrderState::Acknowledged | OrderState::InProgress
            )
        })
        .collect()
}

/// Checks the order's modify and delete items against the company (and, through a simulation of
/// the order on a copy, the names and numbers the company would end with). Returns the changes to
/// apply on completion. `new_company` is the company this order creates, if it does.
pub fn plan(
    w: &World,
    p: &ParsedOrder,
    svc: &str,
    new_company: Option<&Company>,
) -> Result<Vec<Change>, ApiError> {
    let Some(company) = new_company.or_else(|| w.companies.get(svc)) else {
        return Ok(vec![]);
    };
    let changes = read_changes(p)?;
    // Devices (on their own or a user's, with a model) and trunks are checked on what the company
    // would hold.
    let devices = of(p, Offering::Device).next().is_some()
        || of(p, Offering::Trunk).next().is_some()
        || of(p, Offering::User).any(|u| u.chars.contains_key("deviceModel"));
    if changes.is_empty() && !devices {
        return Ok(changes);
    }
    let busy = in_flight(w, svc, None);
    for ch in &changes {
        check_target(w, company, ch)?;
        if busy
            .iter()
            .any(|o| o.changes.iter().any(|c| c.target == ch.target))
        {
            return Err(rule(
                "ItemInFlight",
                format!("{} has a change in flight on another order", ch.target),
            ));
        }
    }
    if changes.iter().any(|c| c.offering == "WHCCompany") && !busy.is_empty() {
        return Err(rule(
            "CompanyOrderInFlight",
            format!(
                "Company {svc} has orders in flight ({}); it can be ceased once they finish",
                busy.iter()
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut after = company.clone();
    let ids = (0..new_item_count(p)).map(|i| format!("new-{i}")).collect();
    let site_ids = of(p, Offering::Site).map(|_| String::new()).collect();
    add_to_company(&mut after, p, site_ids, ids, &None);
    // A company cease would end everything: its rules look at what the other items leave.
    for ch in changes.iter().filter(|c| c.offering != "WHCCompany") {
        effect(&mut after, ch, ItemState::Terminated);
    }
    check_after(w, &after, &changes)?;
    Ok(changes)
}

/// The order's modify and delete items as changes (a number block's delete: one per number).
fn read_changes(p: &ParsedOrder) -> Result<Vec<Change>, ApiError> {
    let mut out = Vec::new();
    for item in p
        .items
        .iter()
        .filter(|i| i.action == "modify" || i.action == "delete")
    {
        let offering = item.offering.as_str().to_string();
        if item.offering == Offering::NumberBlock {
            let range = expand_range(item.get("startNumber"), item.get("endNumber"))
                .ok_or_else(|| ApiError::schema(vec![]))?;
            out.extend(range.into_iter().map(|n| Change {
                offering: offering.clone(),
                action: item.action.clone(),
                target: n,
                fields: Default::default(),
            }));
            continue;
        }
        let mut fields = item.chars.clone();
        fields.remove("serviceId");
        if item.action == "modify" {
            let allowed = modifiable(item.offering);
            if let Some(bad) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(rule(
                    "NotModifiable",
                    format!("{bad} cannot be modified on {offering}"),
                ));
            }
        }
        out.push(Change {
            offering,
            action: item.action.clone(),
            target: item.get("serviceId").to_string(),
            fields,
        });
    }
    Ok(out)
}

/// The item a change names must exist in the company and not be ceased.
fn check_target(w: &World, c: &Company, ch: &Change) -> Result<(), ApiError> {
    let t = ch.target.as_str();
    let state = match ch.offering.as_str() {
        "WHCCompany" => {
            return if c.service_id.eq_ignore_ascii_case(t) {
                Ok(())
            } else {
                Err(rule(
                    "UnknownCompany",
                    format!("No company has service id {t}"),
                ))
            }
        }
        "WHCSite" => c.sites.iter().find(|s| s.service_id == t).map(|s| s.state),
        "WHCUser" => c.users.iter().find(|u| u.service_id == t).map(|u| u.state),
        "WHCDevice" => c
            .devices
            .iter()
            .find(|d| d.service_id == t)
            .map(|d| d.state),
        "WHCTrunk" => c.trunks.iter().find(|x| x.service_id == t).map(|x| x.state),
        _ => {
            let held = w
                .numbers
                .get(t)
                .filter(|r| r.company_service_id.eq_ignore_ascii_case(&c.service_id));
            held.map(|r| {
                if r.status == NumberStatus::Quarantined {
                    ItemState::Terminated
                } else {
                    ItemState::Active
                }
            })
        }
    };
    match state {
        None => Err(rule(
            "ItemNotFound",
            format!("Company {} holds no {} {t}", c.service_id, ch.offering),
        )),
        Some(ItemState::Terminated) | Some(ItemState::PendingTerminate) => Err(rule(
            "ItemCeased",
            format!(
                "{} {t} is ceased (or being ceased) and cannot be changed",
                ch.offering
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The rules on what the company would hold after the order.
fn check_after(w: &World, c: &Company, changes: &[Change]) -> Result<(), ApiError> {
    let svc = c.service_id.as_str();
    let live_users: Vec<_> = c.users.iter().filter(|u| u.state.live()).collect();
    for s in c.sites.iter().filter(|s| !s.state.live()) {
        // A trunk terminates at its site: like users, it is ceased (or moved) first.
        if let Some(t) = c
            .trunks
            .iter()
            .filter(|t| t.state.live())
            .find(|t| t.site_service_id.as_deref() == Some(&s.service_id))
        {
            return Err(rule(
                "SiteHasTrunks",
                format!(
                    "Site {} still has trunks ({}); cease them first",
                    s.service_id, t.name
                ),
            ));
        }
        if let Some(u) = live_users
            .iter()
            .find(|u| u.site_service_id.as_deref() == Some(&s.service_id))
        {
            return Err(rule(
                "SiteHasUsers",
                format!(
                    "Site {} still has users ({}); cease them first",
                    s.service_id, u.username
                ),
            ));
        }
    }
    if changes.iter().any(|c| c.offering == "WHCCompany") {
        if let Some(u) = live_users.first() {
            return Err(rule(
                "CompanyHasUsers",
                format!(
                    "Company {svc} still has users ({}); cease them first",
                    u.username
                ),
            ));
        }
        if let Some(s) = c.sites.iter().find(|s| s.state.live()) {
            return Err(rule(
                "CompanyHasSites",
                format!(
                    "Company {svc} still has sites ({}); cease them first",
                    s.name
                ),
            ));
        }
    }
    unique_in_company(w, c)?;
    check_numbers(w, c, changes)?;
    let touched: BTreeSet<&str> = changes.iter().map(|c| c.target.as_str()).collect();
    for d in c.devices.iter().filter(|d| d.state.live()) {
        if let Some(m) = &d.model {
            if !DEVICE_MODELS.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                return Err(rule(
                    "UnknownDeviceModel",
                    format!(
                        "{m} is not a supported device; one of: {}",
                        DEVICE_MODELS.join(", ")
                    ),
                ));
            }
        }
        let user = d.user_service_id.as_deref().unwrap_or("");
        if (touched.contains(d.service_id.as_str()) || d.service_id.starts_with("new-"))
            && !live_users.iter().any(|u| u.service_id == user)
        {
            return Err(rule(
                "ItemNotFound",
                format!("No user {user} holds device {}", d.name),
            ));
        }
    }
    Ok(())
}

/// Usernames, extensions, device names and MAC addresses: once each among what is held, and
/// usernames, device names and MACs not used by another company.
fn unique_in_company(w: &World, c: &Company) -> Result<(), ApiError> {
    let users = c.users.iter().filter(|u| u.state.live());
    let devices = c.devices.iter().filter(|d| d.state.live());
    let trunks = c.trunks.iter().filter(|t| t.state.live());
    let checks: [(Kind, &str, Vec<&str>); 5] = [
        (
            Kind::Username,
            "UsernameInUse",
            users.clone().map(|u| u.username.as_str()).collect(),
        ),
        (
            Kind::Extension,
            "ExtensionInUse",
            users.map(|u| u.extension.as_str()).collect(),
        ),
        (
            Kind::DeviceName,
            "DeviceNameInUse",
            devices.clone().map(|d| d.name.as_str()).collect(),
        ),
        (
            Kind::MacAddress,
            "MacAddressInUse",
            devices.filter_map(|d| d.mac_address.as_deref()).collect(),
        ),
        (
            Kind::TrunkName,
            "TrunkNameInUse",
            trunks.map(|t| t.name.as_str()).collect(),
        ),
    ];
    for (kind, reason, values) in checks {
        let mut seen = BTreeSet::new();
        for v in values.into_iter().filter(|v| !v.is_empty()) {
            let key = if kind == Kind::MacAddress {
                norm_mac(v)
            } else {
                norm(v)
            };
            let elsewhere = kind != Kind::Extension
                && w.in_use(kind, v)
                    .is_some_and(|o| !o.service_id.eq_ignore_ascii_case(&c.service_id));
            if !seen.insert(key) || elsewhere {
                return Err(rule(reason, format!("{v} is already in use")));
            }
        }
    }
    Ok(())
}

/// A user's number: held by the company, not quarantined or being ceased, one user each.
fn check_numbers(w: &World, c: &Company, changes: &[Change]) -> Result<(), ApiError> {
    let ceasing: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.offering == "WHCNumberBlock")
        .map(|c| c.target.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for u in c.users.iter().filter(|u| u.state.live()) {
        let Some(n) = u.directory_number.as_deref() else {
            continue;
        };
        if ceasing.contains(n) {
            return Err(rule(
                "NumberInUse",
                format!(
                    "{n} is {}'s number; give the user another first",
                    u.username
                ),
            ));
        }
        if !seen.insert(n) {
            return Err(rule(
                "NumberInUse",
                format!("{n} is already another user's number"),
            ));
        }
        let held = w.numbers.get(n).is_some_and(|r| {
            r.company_service_id.eq_ignore_ascii_case(&c.service_id)
                && r.status != NumberStatus::Quarantined
        });
        // A number a new block of this order brings is checked by the add rules.
        let changed = changes
            .iter()
            .any(|ch| ch.target == u.service_id && ch.fields.contains_key("directoryNumber"));
        if changed && !held {
            return Err(rule(
                "NumberNotRingfenced",
                format!("{n} is not held by {}", c.service_id),
            ));
        }
    }
    Ok(())
}
