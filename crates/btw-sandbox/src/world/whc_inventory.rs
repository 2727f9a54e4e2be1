//! What a WHC company holds (TMF637 product inventory): the company, its sites, users, devices and
//! numbers, each with its service id and product status.

use super::{Company, NumberStatus, World};

/// One held product, as the inventory lists it.
#[derive(Debug, Clone)]
pub struct Held {
    /// `WHCCompany`, `WHCSite`, `WHCUser`, `WHCDevice` or `WHCNumber`.
    pub offering: &'static str,
    /// The service id (the number itself for a number).
    pub id: String,
    pub name: String,
    /// TMF637 status: `pendingActive`, `active`, `pendingTerminate` or `terminated`.
    pub status: &'static str,
    pub characteristics: Vec<(&'static str, String)>,
}

fn some(pairs: Vec<(&'static str, Option<String>)>) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter_map(|(n, v)| v.filter(|v| !v.is_empty()).map(|v| (n, v)))
        .collect()
}

/// Everything company `svc` holds, in a stable order (company, sites, users, devices, numbers);
/// `None` for an unknown company.
pub fn held(w: &World, svc: &str) -> Option<Vec<Held>> {
    let c = w
        .companies
        .values()
        .find(|c| c.service_id.eq_ignore_ascii_case(svc))?;
    let mut out = vec![company(c)];
    out.extend(c.sites.iter().map(|s| Held {
        offering: "WHCSite",
        id: s.service_id.clone(),
        name: s.name.clone(),
        status: s.state.as_str(),
        characteristics: some(vec![
            ("siteName", Some(s.name.clone())),
            ("siteLocationCode", Some(s.location_code.clone())),
            ("nadKey", Some(s.nad_key.clone())),
        ]),
    }));
    out.extend(c.users.iter().map(|u| Held {
        offering: "WHCUser",
        id: u.service_id.clone(),
        name: u.username.clone(),
        status: u.state.as_str(),
        characteristics: some(vec![
            ("firstName", Some(u.first_name.clone())),
            ("lastName", Some(u.last_name.clone())),
            ("username", Some(u.username.clone())),
            ("extension", Some(u.extension.clone())),
            ("email", u.email.clone()),
            ("directoryNumber", u.directory_number.clone()),
            ("licence", u.licence.clone()),
            ("addOns", Some(u.add_ons.join(","))),
            ("deviceName", u.device_name.clone()),
            ("siteServiceId", u.site_service_id.clone()),
        ]),
    }));
    out.extend(c.devices.iter().map(|d| Held {
        offering: "WHCDevice",
        id: d.service_id.clone(),
        name: d.name.clone(),
        status: d.state.as_str(),
        characteristics: some(vec![
            ("deviceName", Some(d.name.clone())),
            ("macAddress", d.mac_address.clone()),
            ("deviceModel", d.model.clone()),
            ("userServiceId", d.user_service_id.clone()),
        ]),
    }));
    out.extend(c.trunks.iter().map(|t| Held {
        offering: "WHCTrunk",
        id: t.service_id.clone(),
        name: t.name.clone(),
        status: t.state.as_str(),
        characteristics: some(vec![
            ("trunkName", Some(t.name.clone())),
            ("channels", t.channels.clone()),
            ("siteServiceId", t.site_service_id.clone()),
        ]),
    }));
    let numbers = w
        .numbers
        .iter()
        .filter(|(_, r)| r.company_service_id.eq_ignore_ascii_case(&c.service_id));
    out.extend(numbers.map(|(n, r)| {
        let quarantined = r.status == NumberStatus::Quarantined;
        Held {
            offering: "WHCNumber",
            id: n.clone(),
            name: n.clone(),
            status: if quarantined { "terminated" } else { "active" },
            characteristics: some(vec![
                ("numberStatus", Some(r.status.as_str().to_string())),
                ("numberType", Some(r.kind.clone())),
                ("siteServiceId", r.site_service_id.clone()),
                ("reservedForSite", r.reserved_site.clone()),
                ("reservedForUser", r.reserved_user.clone()),
                (
                    "quarantineUntil",
                    w.quarantine.get(n).map(|t| crate::wire::rfc3339(*t)),
                ),
            ]),
        }
    }));
    Some(out)
}

fn company(c: &Company) -> Held {
    Held {
        offering: if c.express {
            "WHCExpressCompany"
        } else {
            "WHCCompany"
        },
        id: c.service_id.clone(),
        name: c.name.clone(),
        status: match c.status {
            super::CompanyStatus::Pending => "pendingActive",
            super::CompanyStatus::Active => "active",
            super::CompanyStatus::Terminated => "terminated",
        },
        characteristics: some(vec![
            ("customerName", Some(c.name.clone())),
            ("customerDomain", Some(c.domain.clone())),
            ("customerGroup", Some(c.group.clone())),
        ]),
    }
}
