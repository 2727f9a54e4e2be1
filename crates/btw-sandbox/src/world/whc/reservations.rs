//! Qualification reservations: a live qualification holds its company name and domain until it
//! expires or an order uses it ("an entry will be created into BT system reserving your details
//! such as company name, domain and group").

use crate::world::{norm, Qualification, World, QUALIFICATION_DOMAIN, QUALIFICATION_NAME};

/// The live qualification holding `value` as its name (`domain == false`) or domain, if any:
/// qualified, unexpired, and not yet used by an order (once used, the company holds the name).
pub fn reservation<'a>(w: &'a World, value: &str, domain: bool) -> Option<&'a Qualification> {
    let key = norm(value);
    let index = if domain {
        QUALIFICATION_DOMAIN
    } else {
        QUALIFICATION_NAME
    };
    // The index holds qualified ones only.
    w.qualifications.find(index, &key).find(|q| {
        w.now_on(q.clock.as_deref()) < q.expires_at
            && q.service_id
                .as_ref()
                .is_none_or(|s| !w.companies.contains_key(s))
    })
}

/// Why a new qualification of `name` and `domain` is refused because of another's reservation:
/// `(code, label)` pairs.
pub fn reserved_reasons(w: &World, name: &str, domain: &str) -> Vec<(String, String)> {
    let mut reasons = Vec::new();
    if let Some(q) = reservation(w, name, false) {
        reasons.push((
            "CompanyNameReserved".to_string(),
            format!("The company name is reserved by qualification {}", q.id),
        ));
    }
    if let Some(q) = reservation(w, domain, true) {
        reasons.push((
            "CompanyDomainReserved".to_string(),
            format!("The company domain is reserved by qualification {}", q.id),
        ));
    }
    reasons
}
