//! The rules of WHC product order creation: the business rules a schema-valid order must pass,
//! the change a valid order makes to the world, and its undoing when an order is cancelled.

mod outcomes;
mod reservations;
pub use outcomes::*;
pub use reservations::*;

use super::indexes::{NUMBER_ORDER, ORDER_EXTERNAL_ID};
use super::whc_items::{add_to_company, new_item_count};
pub use super::whc_items::{digits, expand_range, of, Offering, ParsedItem, ParsedOrder};
use super::{
    norm, norm_mac, Company, CompanyStatus, Kind, NumberStatus, Order, OrderState, World,
    BILLING_ACCOUNT,
};
use super::{whc_changes, whc_effects};
use crate::error::ApiError;
use std::collections::BTreeSet;

/// Most users one order may carry (BT's payload limit).
pub const MAX_USERS: usize = 3;

fn rule(reason: &str, message: impl Into<String>) -> ApiError {
    ApiError::business(reason, message)
}

/// Checks a unique name against the world and the rest of the order.
/// Extensions are unique within a company (`scope`); everything else across all companies.
fn unique(
    w: &World,
    seen: &mut BTreeSet<String>,
    kind: Kind,
    value: &str,
    reason: &str,
    scope: &str,
) -> Result<(), ApiError> {
    let key = if kind == Kind::MacAddress {
        norm_mac(value)
    } else {
        norm(value)
    };
    let scope = (kind == Kind::Extension).then_some(scope);
    if w.in_use_in(kind, value, scope).is_some() || !seen.insert(key) {
        return Err(rule(reason, format!("{value} is already in use")));
    }
    Ok(())
}

/// Applies the business rules and, when they all pass, records the order (state `pending`) and
/// what it adds. Nothing changes on failure. Returns the new order's id.
pub fn create_order(w: &mut World, p: ParsedOrder) -> Result<String, ApiError> {
    check_order(w, &p)?;
    let Some(company) = p.items.iter().find(|i| i.offering == Offering::Company) else {
        return Err(ApiError::schema(vec![]));
    };
    let svc = company.get("serviceId").to_string();
    let creates = company.action == "add";
    let new_company = if creates {
        Some(check_new_company(w, company, &svc)?)
    } else if let Some(c) = w.companies.get(&svc) {
        whc_changes::check_existing(c)?;
        None
    } else {
        return Err(rule(
            "UnknownCompany",
            format!("No company has service id {svc}"),
        ));
    };
    let express = new_company
        .as_ref()
        .or_else(|| w.companies.get(&svc))
        .is_some_and(|c| c.express);
    whc_changes::refuse_on_express(&p, express)?;
    check_sites(w, &p, &svc)?;
    let block_numbers = check_blocks(w, &p, &svc)?;
    let user_numbers = check_users(w, &p, &svc, &block_numbers)?;
    check_trunks(w, &p, &svc)?;
    let changes = whc_changes::plan(w, &p, &svc, new_company.as_ref())?;
    let numbers = OrderNumbers {
        blocks: block_numbers,
        users: user_numbers,
    };
    Ok(apply(w, p, svc, new_company, numbers, changes))
}

/// Order-wide rules: the billing account, the user limit and a fresh external id.
fn check_order(w: &World, p: &ParsedOrder) -> Result<(), ApiError> {
    if p.billing_account_id != BILLING_ACCOUNT {
        return Err(rule(
            "UnknownBillingAccount",
            format!(
                "Billing account {} is not associated with this reseller",
                p.billing_account_id
            ),
        ));
    }
    // Whatever their action: BT's limit is on the user items an order carries.
    let users = p
        .items
        .iter()
        .filter(|i| i.offering == Offering::User)
        .count();
    if users > MAX_USERS {
        return Err(rule(
            "TooManyUsers",
            format!("An order may carry at most {MAX_USERS} users ({users} given); split the rest into follow-on orders"),
        ));
    }
    if let Some(x) = &p.external_id {
        if w.orders.find(ORDER_EXTERNAL_ID, x).next().is_some() {
            return Err(rule(
                "DuplicateExternalId",
                format!("An order with externalId {x} exists"),
            ));
        }
    }
    Ok(())
}

/// A company `add`: its qualification must be live and match, and its name and domain free.
fn check_new_company(w: &World, company: &ParsedItem, svc: &str) -> Result<Company, ApiError> {
    let qid = company.get("qualifierId");
    let q = w.qualifications.get(qid).ok_or_else(|| {
        rule(
            "QualificationNotFound",
            format!("Qualification {qid} not found"),
        )
    })?;
    if w.now_on(q.clock.as_deref()) >= q.expires_at {
        return Err(rule(
            "QualificationExpired",
            format!("Qualification {qid} has expired; qualify again"),
        ));
    }
    let same = |a: &str, b: &str| norm(a) == norm(b);
    if !q.qualified
        || q.service_id.as_deref() != Some(svc)
        || !same(&q.customer_name, company.get("customerName"))
        || !same(&q.customer_domain, company.get("customerDomain"))
        || !same(&q.customer_group, company.get("customerGroup"))
    {
        return Err(rule(
            "QualificationMismatch",
            "The company name, domain, group or service id differ from the qualification",
        ));
    }
    if w.company_by_name(&q.customer_name).is_some() || w.companies.contains_key(svc) {
        return Err(rule(
            "CompanyNameInUse",
            format!("{} is already in use", q.customer_name),
        ));
    }
    if w.company_by_domain(&q.customer_domain).is_some() {
        return Err(rule(
            "CompanyDomainInUse",
            format!("{} is already in use", q.customer_domain),
        ));
    }
    Ok(Company {
        service_id: svc.to_string(),
        name: q.customer_name.clone(),
        domain: q.customer_domain.clone(),
        group: q.customer_group.clone(),
        status: CompanyStatus::Pending,
        order_id: None,
        sites: vec![],
        users: vec![],
        devices: vec![],
        trunks: vec![],
        express: q.express,
    })
}

/// Sites: a known NAD key, and a name and location code free across the world and the order.
fn check_sites(w: &World, p: &ParsedOrder, svc: &str) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    let mut seen_codes = BTreeSet::new();
    for site in of(p, Offering::Site) {
        let nad = site.nad_key.as_deref().unwrap_or("");
        if w.address(nad).is_none() {
            return Err(rule(
                "UnknownNadKey",
                format!("No address has NAD key {nad}"),
            ));
        }
        unique(
            w,
            &mut seen,
            Kind::SiteName,
            site.get("siteName"),
            "SiteNameInUse",
            svc,
        )?;
        unique(
            w,
            &mut seen_codes,
            Kind::SiteLocationCode,
            site.get("siteLocationCode"),
            "SiteLocationCodeInUse",
            svc,
        )?;
    }
    Ok(())
}

/// Whether `n` is ringfenced to company `svc`.
fn holds(w: &World, svc: &str, n: &str) -> bool {
    w.numbers.get(n).is_some_and(|r| {
        r.company_service_id.eq_ignore_ascii_case(svc) && r.status == NumberStatus::Ringfenced
    })
}

/// Number blocks: every number ringfenced to the company, none twice. Returns the numbers.
fn check_blocks(w: &World, p: &ParsedOrder, svc: &str) -> Result<BTreeSet<String>, ApiError> {
    let mut block_numbers = BTreeSet::new();
    for block in of(p, Offering::NumberBlock) {
        let range = expand_range(block.get("startNumber"), block.get("endNumber"))
            .ok_or_else(|| ApiError::schema(vec![]))?;
        for n in range {
            if !holds(w, svc, &n) || !block_numbers.insert(n.clone()) {
                return Err(rule(
                    "NumberNotRingfenced",
                    format!("{n} is not ringfenced to {svc}"),
                ));
            }
        }
    }
    Ok(block_numbers)
}

/// Users: free usernames, extensions, device names and MACs, and directory numbers the company
/// holds. Returns the ringfenced numbers the users take outside this order's blocks.
fn check_users(
    w: &World,
    p: &ParsedOrder,
    svc: &str,
    block_numbers: &BTreeSet<String>,
) -> Result<BTreeSet<String>, ApiError> {
    let mut user_numbers = BTreeSet::new();
    let (mut names, mut exts, mut devices, mut macs) = Default::default();
    for user in of(p, Offering::User) {
        unique(
            w,
            &mut names,
            Kind::Username,
            user.get("username"),
            "UsernameInUse",
            svc,
        )?;
        if let Some(x) = user.chars.get("extension") {
            unique(w, &mut exts, Kind::Extension, x, "ExtensionInUse", svc)?;
        }
        if let Some(d) = user.chars.get("deviceName") {
            unique(w, &mut devices, Kind::DeviceName, d, "DeviceNameInUse", svc)?;
        }
        if let Some(m) = user.chars.get("macAddress") {
            unique(w, &mut macs, Kind::MacAddress, m, "MacAddressInUse", svc)?;
        }
        if let Some(n) = user.chars.get("directoryNumber").and_then(|n| digits(n)) {
            // A user may take any number the company holds: ringfenced, in this order's blocks,
            // or in a block an earlier order placed.
            let company_holds = w.numbers.get(&n).is_some_and(|r| {
                r.company_service_id.eq_ignore_ascii_case(svc)
                    && r.status != NumberStatus::Quarantined
            });
            if !block_numbers.contains(&n) && !company_holds {
                return Err(rule(
                    "NumberNotRingfenced",
                    format!("{n} is not ringfenced to {svc}"),
                ));
            }
            if holds(w, svc, &n) && !block_numbers.contains(&n) {
                user_numbers.insert(n);
            }
        }
    }
    Ok(user_numbers)
}

/// Trunks: a name free across the world and the order (verify data checks a "Trunk name"), and
/// a site the company already holds when one is named (else the order's or company's first site).
fn check_trunks(w: &World, p: &ParsedOrder, svc: &str) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for t in of(p, Offering::Trunk) {
        unique(
            w,
            &mut seen,
            Kind::TrunkName,
            t.get("trunkName"),
            "TrunkNameInUse",
            svc,
        )?;
        if let Some(site) = t.chars.get("siteServiceId") {
            let held = w.companies.get(svc).is_some_and(|c| {
                c.sites
                    .iter()
                    .any(|s| &s.service_id == site && s.state.live())
            });
            if !held {
                return Err(rule(
                    "ItemNotFound",
                    format!("Company {svc} holds no WHCSite {site}"),
                ));
            }
        }
    }
    Ok(())
}

/// The numbers a valid order assigns: its blocks', and those its users take besides.
struct OrderNumbers {
    blocks: BTreeSet<String>,
    users: BTreeSet<String>,
}

/// Records a valid order and what it adds; returns its id.
fn apply(
    w: &mut World,
    p: ParsedOrder,
    svc: String,
    new_company: Option<Company>,
    numbers: OrderNumbers,
    changes: Vec<super::Change>,
) -> String {
    let now = w.now();
    let creates = new_company.is_some();
    let (order_id, seq) = w.next_order_id();
    let oid = Some(order_id.clone());
    let site_ids: Vec<String> = of(&p, Offering::Site)
        .map(|_| w.next_service_id())
        .collect();
    let item_ids: Vec<String> = (0..new_item_count(&p))
        .map(|_| w.next_service_id())
        .collect();
    if let Some(mut c) = new_company {
        c.order_id = oid.clone();
        w.companies.insert(svc.clone(), c);
    }
    let first_site = site_ids.first().cloned();
    for n in numbers.blocks.iter().chain(numbers.users.iter()) {
        if let Some(mut r) = w.numbers.get_mut(n) {
            r.status = NumberStatus::Assigned;
            r.order_id = oid.clone();
            r.site_service_id = first_site.clone();
        }
    }
    if let Some(mut c) = w.companies.get_mut(&svc) {
        add_to_company(&mut c, &p, site_ids, item_ids, &oid);
        whc_effects::mark_pending(&mut c, &changes);
    }
    w.orders.insert(
        order_id.clone(),
        Order {
            id: order_id.clone(),
            seq,
            external_id: p.external_id.clone(),
            state: OrderState::Pending,
            order_date: now,
            submitted_at: None,
            completion_date: None,
            related_party: p.related_party,
            billing_account: p.billing_account,
            items: p.items.into_iter().map(|i| i.raw).collect(),
            company_service_id: svc,
            creates_company: creates,
            changes,
            clock: w.clock_id(),
        },
    );
    w.record_created("order", &order_id, p.external_id);
    order_id
}

/// Undoes what an order added: its company (if it created it), sites, users, devices and
/// number assignments (the numbers stay ringfenced).
pub fn roll_back(w: &mut World, order_id: &str) {
    let Some(order) = w.orders.get(order_id) else {
        return;
    };
    let svc = order.company_service_id.clone();
    let created_company = order.creates_company;
    let mine = |o: &Option<String>| o.as_deref() == Some(order_id);
    if created_company && w.companies.get(&svc).is_some_and(|c| mine(&c.order_id)) {
        w.companies.remove(&svc);
    } else if let Some(mut c) = w.companies.get_mut(&svc) {
        c.sites.retain(|s| !mine(&s.order_id));
        c.users.retain(|u| !mine(&u.order_id));
        c.devices.retain(|d| !mine(&d.order_id));
        c.trunks.retain(|t| !mine(&t.order_id));
    }
    whc_effects::on_cancelled(w, order_id);
    for n in w.numbers.find_keys(NUMBER_ORDER, order_id) {
        if let Some(mut r) = w.numbers.get_mut(&n) {
            r.status = NumberStatus::Ringfenced;
            r.order_id = None;
            r.site_service_id = None;
        }
    }
}
