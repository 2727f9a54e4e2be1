//! What WHC changes do once their order moves on: ceases pending while it is in flight, modify
//! and delete items taking effect when it completes (ceased numbers into quarantine), undone
//! when it is cancelled; and the end of quarantine.

use super::clock::Nows;
use super::whc_items::{add_ons, digits};
use super::{Change, Company, CompanyStatus, ItemState, NumberStatus, World};
use chrono::Duration;
use std::collections::BTreeSet;

/// How long a ceased number stays in quarantine (on its order's clock) before anyone can take it again.
pub const QUARANTINE_DAYS: i64 = 90;

/// Applies one change to a company; a cease leaves items in `ceased` (pending or terminated).
pub fn effect(c: &mut Company, ch: &Change, ceased: ItemState) {
    let t = ch.target.as_str();
    let f = |n: &str| ch.fields.get(n).cloned();
    let delete = ch.action == "delete";
    match ch.offering.as_str() {
        "WHCCompany" if delete => {
            c.sites.iter_mut().for_each(|s| s.state = ceased);
            c.users.iter_mut().for_each(|u| u.state = ceased);
            c.devices.iter_mut().for_each(|d| d.state = ceased);
            c.trunks.iter_mut().for_each(|t| t.state = ceased);
        }
        "WHCSite" => {
            if let Some(s) = c.sites.iter_mut().find(|s| s.service_id == t) {
                if delete {
                    s.state = ceased;
                }
                if let Some(n) = f("siteName") {
                    s.name = n;
                }
                if let Some(n) = f("siteLocationCode") {
                    s.location_code = n;
                }
            }
        }
        "WHCUser" => modify_user(c, ch, ceased),
        "WHCTrunk" => {
            if let Some(x) = c.trunks.iter_mut().find(|x| x.service_id == t) {
                if delete {
                    x.state = ceased;
                }
                if let Some(n) = f("trunkName") {
                    x.name = n;
                }
                if let Some(n) = f("channels") {
                    x.channels = Some(n);
                }
                if let Some(s) = f("siteServiceId") {
                    x.site_service_id = Some(s);
                }
            }
        }
        "WHCDevice" => {
            if let Some(d) = c.devices.iter_mut().find(|d| d.service_id == t) {
                if delete {
                    d.state = ceased;
                }
                swap_device(d, ch);
                let (name, user) = (d.name.clone(), d.user_service_id.clone());
                if let Some(u) = c
                    .users
                    .iter_mut()
                    .find(|u| Some(&u.service_id) == user.as_ref())
                {
                    u.device_name = (!delete).then_some(name);
                }
            }
        }
        _ => {}
    }
}

/// A device's new name, MAC address or model.
fn swap_device(d: &mut super::Device, ch: &Change) {
    if let Some(n) = ch.fields.get("deviceName") {
        d.name = n.clone();
    }
    if let Some(m) = ch.fields.get("macAddress") {
        d.mac_address = Some(m.clone());
    }
    if let Some(m) = ch.fields.get("deviceModel") {
        d.model = Some(m.clone());
    }
}

/// A user's modify or cease; a ceased user's device goes with it, a device change swaps it.
fn modify_user(c: &mut Company, ch: &Change, ceased: ItemState) {
    let Some(u) = c.users.iter_mut().find(|u| u.service_id == ch.target) else {
        return;
    };
    let f = |n: &str| ch.fields.get(n).cloned();
    if ch.action == "delete" {
        u.state = ceased;
        let id = u.service_id.clone();
        for d in c
            .devices
            .iter_mut()
            .filter(|d| d.user_service_id.as_deref() == Some(&id))
        {
            d.state = ceased;
        }
        return;
    }
    let set = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut u.first_name, f("firstName"));
    set(&mut u.last_name, f("lastName"));
    set(&mut u.username, f("username"));
    set(&mut u.extension, f("extension"));
    if let Some(e) = f("email") {
        u.email = Some(e);
    }
    if let Some(n) = f("directoryNumber") {
        u.directory_number = digits(&n);
    }
    if let Some(l) = f("licence") {
        u.licence = Some(l);
    }
    if let Some(a) = f("addOns") {
        u.add_ons = add_ons(&a);
    }
    if let Some(s) = f("siteServiceId") {
        u.site_service_id = Some(s);
    }
    let device_change = ["deviceName", "macAddress", "deviceModel"]
        .iter()
        .any(|k| ch.fields.contains_key(*k));
    if !device_change {
        return;
    }
    let id = u.service_id.clone();
    let live = |d: &&mut super::Device| d.state.live() && d.user_service_id.as_deref() == Some(&id);
    if let Some(d) = c.devices.iter_mut().find(live) {
        swap_device(d, ch);
        u.device_name = Some(d.name.clone());
    } else if let Some(name) = f("deviceName") {
        u.device_name = Some(name.clone());
        c.devices.push(super::Device {
            name,
            mac_address: f("macAddress"),
            order_id: None,
            service_id: format!("{id}-D"),
            model: f("deviceModel"),
            user_service_id: Some(id),
            state: ItemState::Active,
        });
    }
}

/// Ceases marked on creation: the items an order deletes are `pendingTerminate` until it completes.
pub fn mark_pending(c: &mut Company, changes: &[Change]) {
    for ch in changes.iter().filter(|ch| ch.action == "delete") {
        let t = ch.target.as_str();
        let all = ch.offering == "WHCCompany";
        let user_devices: Vec<String> = c
            .users
            .iter()
            .filter(|u| u.service_id == t)
            .map(|u| u.service_id.clone())
            .collect();
        let pend = |s: &mut ItemState| {
            if s.live() {
                *s = ItemState::PendingTerminate;
            }
        };
        c.sites
            .iter_mut()
            .filter(|s| all || s.service_id == t)
            .for_each(|s| pend(&mut s.state));
        c.users
            .iter_mut()
            .filter(|u| all || u.service_id == t)
            .for_each(|u| pend(&mut u.state));
        c.trunks
            .iter_mut()
            .filter(|x| all || x.service_id == t)
            .for_each(|x| pend(&mut x.state));
        for d in c.devices.iter_mut() {
            let owner = d
                .user_service_id
                .as_deref()
                .is_some_and(|u| user_devices.iter().any(|x| x == u));
            if all || d.service_id == t || owner {
                pend(&mut d.state);
            }
        }
    }
}

/// A completed order: what it added is `active`, its changes take effect, ceased numbers go to
/// quarantine, a ceased company is `terminated`.
pub fn on_completed(w: &mut World, order_id: &str) {
    let Some(order) = w.orders.get(order_id) else {
        return;
    };
    let (svc, changes) = (order.company_service_id.clone(), order.changes.clone());
    let clock = order.clock.clone();
    let until = w.now_on(clock.as_deref()) + Duration::days(QUARANTINE_DAYS);
    let mine = |o: &Option<String>| o.as_deref() == Some(order_id);
    let mut freed = Vec::new();
    if let Some(mut c) = w.companies.get_mut(&svc) {
        let activate = |s: &mut ItemState| {
            if *s == ItemState::PendingActive {
                *s = ItemState::Active;
            }
        };
        c.sites
            .iter_mut()
            .filter(|s| mine(&s.order_id))
            .for_each(|s| activate(&mut s.state));
        c.users
            .iter_mut()
            .filter(|u| mine(&u.order_id))
            .for_each(|u| activate(&mut u.state));
        c.devices
            .iter_mut()
            .filter(|d| mine(&d.order_id))
            .for_each(|d| activate(&mut d.state));
        c.trunks
            .iter_mut()
            .filter(|t| mine(&t.order_id))
            .for_each(|t| activate(&mut t.state));
        for ch in &changes {
            effect(&mut c, ch, ItemState::Terminated);
            match ch.offering.as_str() {
                "WHCNumberBlock" => freed.push(ch.target.clone()),
                "WHCCompany" if ch.action == "delete" => c.status = CompanyStatus::Terminated,
                _ => {}
            }
        }
        if c.status == CompanyStatus::Terminated {
            let held = w
                .numbers
                .iter()
                .filter(|(_, r)| r.company_service_id.eq_ignore_ascii_case(&svc));
            freed.extend(held.map(|(n, _)| n.clone()));
        }
        let taken: Vec<String> = c
            .users
            .iter()
            .filter(|u| u.state.live())
            .filter_map(|u| u.directory_number.clone())
            .collect();
        for n in taken {
            if let Some(mut r) = w.numbers.get_mut(&n) {
                if r.status == NumberStatus::Ringfenced {
                    r.status = NumberStatus::Assigned;
                }
            }
        }
    }
    for n in freed {
        if let Some(mut r) = w.numbers.get_mut(&n) {
            r.status = NumberStatus::Quarantined;
            r.site_service_id = None;
            match &clock {
                Some(c) => w.quarantine_clocks.insert(n.clone(), c.clone()),
                None => w.quarantine_clocks.remove(&n),
            };
            w.quarantine.insert(n, until);
        }
    }
}

/// A cancelled order's ceases are undone (nothing else of its changes had taken effect).
pub fn on_cancelled(w: &mut World, order_id: &str) {
    let Some(order) = w.orders.get(order_id) else {
        return;
    };
    let svc = order.company_service_id.clone();
    let targets: BTreeSet<String> = order
        .changes
        .iter()
        .filter(|c| c.action == "delete")
        .map(|c| c.target.clone())
        .collect();
    let all = order.changes.iter().any(|c| c.offering == "WHCCompany");
    let Some(mut c) = w.companies.get_mut(&svc) else {
        return;
    };
    let back = |s: &mut ItemState| {
        if *s == ItemState::PendingTerminate {
            *s = ItemState::Active;
        }
    };
    for s in c
        .sites
        .iter_mut()
        .filter(|s| all || targets.contains(&s.service_id))
    {
        back(&mut s.state);
    }
    for u in c
        .users
        .iter_mut()
        .filter(|u| all || targets.contains(&u.service_id))
    {
        back(&mut u.state);
    }
    for t in c
        .trunks
        .iter_mut()
        .filter(|t| all || targets.contains(&t.service_id))
    {
        back(&mut t.state);
    }
    let users: BTreeSet<String> = c
        .users
        .iter()
        .filter(|u| u.state.live())
        .map(|u| u.service_id.clone())
        .collect();
    for d in c.devices.iter_mut() {
        let owner_back = d
            .user_service_id
            .as_ref()
            .is_some_and(|u| users.contains(u));
        if all || targets.contains(&d.service_id) || owner_back {
            back(&mut d.state);
        }
    }
}

/// Numbers whose quarantine has ended (by the clock it began on) go back to the free pool.
pub fn release_quarantine(w: &mut World, nows: &Nows) {
    let clocks = &w.quarantine_clocks;
    let done: Vec<String> = w
        .quarantine
        .iter()
        .filter(|(n, until)| nows.of(clocks.get(*n).map(String::as_str)) >= **until)
        .map(|(n, _)| n.clone())
        .collect();
    for n in done {
        w.quarantine.remove(&n);
        w.quarantine_clocks.remove(&n);
        if w.numbers
            .get(&n)
            .is_some_and(|r| r.status == NumberStatus::Quarantined)
        {
            w.numbers.remove(&n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_on_lists() {
        assert_eq!(
            add_ons(" CallRecording, ,Voicemail "),
            vec!["CallRecording", "Voicemail"]
        );
    }

    #[test]
    fn quarantine_ends() {
        let mut w = World::seed(0.0);
        let now = w.now();
        let n = "02079460009".to_string();
        if let Some(mut r) = w.numbers.get_mut(&n) {
            r.status = NumberStatus::Quarantined;
        }
        w.quarantine
            .insert(n.clone(), now + Duration::days(QUARANTINE_DAYS));
        release_quarantine(&mut w, &Nows::shared(now));
        assert!(w.numbers.contains_key(&n));
        release_quarantine(&mut w, &Nows::shared(now + Duration::days(QUARANTINE_DAYS)));
        assert!(!w.numbers.contains_key(&n));
    }
}
