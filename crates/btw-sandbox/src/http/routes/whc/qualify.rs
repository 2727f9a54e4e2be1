//! WHC validate-and-qualify company (TMF679 style): reserves a service id for a free name.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{created, json_body, related_party_cug, RawBody};
use crate::state::SandboxState;
use crate::wire::{characteristics, require_str, rfc3339};
use crate::world::whc::reserved_reasons;
use crate::world::{Qualification, World, BILLING_ACCOUNT, CUG_ID, CUSTOMER_GROUPS};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde_json::{json, Value};

pub const PATH: &str = "/bt-wholesale/v1/whc/productOfferingQualification";

pub fn router() -> Router<SandboxState> {
    Router::new().route(PATH, post(qualify))
}

/// 23:59 Europe/London on the London calendar day of `now`, in UTC.
pub fn expiry_for(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = now.with_timezone(&London).date_naive();
    let local = day.and_time(NaiveTime::from_hms_opt(23, 59, 0).unwrap_or_default());
    London
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        // 23:59 is never skipped by UK clock changes; fall back to UTC just in case.
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// A valid-looking domain: labels of letters, digits and hyphens, at least one dot.
pub fn plausible_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The characteristics as the guide shows them: the three sent, plus `networkType`.
fn three(q: &Qualification) -> Value {
    json!([
        {"name": "customerName", "value": q.customer_name},
        {"name": "customerDomain", "value": q.customer_domain},
        {"name": "customerGroup", "value": q.customer_group},
        {"name": "networkType", "value": "BT"},
    ])
}

/// The product offering qualified: WHC, or WHC Express (`WHCExpressCompany`).
fn offering(express: bool) -> Value {
    if express {
        json!({"id": "WHCExpressCompany", "name": "WHC Express"})
    } else {
        json!({"id": "WHCCompany", "name": "WHC Hosted Communications"})
    }
}

/// The qualification's wire shape.
pub fn render(q: &Qualification) -> Value {
    let mut product = json!({"place": [], "productCharacteristic": three(q)});
    if let Some(svc) = &q.service_id {
        product["serviceId"] = json!({"value": svc});
    }
    let mut item = json!({
        "id": format!("{}-1", q.id),
        "qualificationItemResult": if q.qualified { "Qualified" } else { "Unqualified" },
        "product": product,
        "productOffering": offering(q.express),
        "productOfferingQualificationItem": [],
    });
    if !q.qualified {
        item["eligibilityUnavailabilityReason"] = q
            .reasons
            .iter()
            .map(|(code, label)| json!({"code": code, "label": label}))
            .collect();
    }
    json!({
        "id": q.id,
        "state": "done",
        "qualificationResult": if q.qualified { "qualified" } else { "unqualified" },
        "expirationDate": rfc3339(q.expires_at),
        "productOfferingQualificationItem": [item],
        "relatedParty": [{"id": q.cug_id, "role": "customer", "@referredType": "BtCug"}],
    })
}

async fn qualify(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let QualifyReq {
        account,
        name,
        domain,
        group,
        express,
    } = read_qualify(&body)?;
    if account != BILLING_ACCOUNT {
        return Err(ApiError::business(
            "UnknownBillingAccount",
            format!("Billing account {account} is not associated with this reseller"),
        ));
    }
    let Some(group) = CUSTOMER_GROUPS
        .iter()
        .find(|g| g.eq_ignore_ascii_case(&group))
    else {
        return Err(ApiError::business(
            "UnknownCustomerGroup",
            format!("Customer group {group} is not one of this reseller's"),
        ));
    };
    let account = account.to_string();
    let rendered = state.with_world(|w| {
        let v = record(w, account, name, domain, group);
        let id = v["id"].as_str().unwrap_or("");
        match w.qualifications.get_mut(id) {
            Some(mut q) if express => {
                q.express = true;
                render(&q)
            }
            _ => v,
        }
    });
    Ok(created(rendered))
}

/// A schema-valid qualification request.
struct QualifyReq<'a> {
    account: &'a str,
    name: String,
    domain: String,
    group: String,
    express: bool,
}

/// The schema checks of a qualification request (400/29, or 403/50 for a foreign CUG).
fn read_qualify(body: &Value) -> Result<QualifyReq<'_>, ApiError> {
    let mut errs = SchemaErrors::default();
    related_party_cug(body, &mut errs)?;
    let account = require_str(body, "/billingAccount/id", "billingAccount.id", &mut errs);
    let item = body
        .get("productOfferingQualificationItem")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    if item.is_none() {
        errs.missing("productOfferingQualificationItem");
    }
    let field = "productOfferingQualificationItem[0].product";
    let chars = characteristics(item.and_then(|i| i.get("product")), field, &mut errs);
    let offering = item.and_then(|i| crate::wire::str_at(i, "/productOffering/id"));
    let express = offering == Some("WHCExpressCompany");
    if let Some(offering) = offering {
        if offering != "WHCCompany" && !express {
            errs.push(
                "productOfferingQualificationItem[0].productOffering.id",
                "must be WHCCompany or WHCExpressCompany",
            );
        }
    }
    let mut get = |name: &str| {
        let v = chars.get(name).cloned();
        if v.is_none() && item.is_some() {
            errs.missing(format!("{field}.productCharacteristic.{name}"));
        }
        v
    };
    let (name, domain, group) = (
        get("customerName"),
        get("customerDomain"),
        get("customerGroup"),
    );
    if let Some(d) = &domain {
        if !plausible_domain(d) {
            errs.push(
                format!("{field}.productCharacteristic.customerDomain"),
                "is not a valid domain name",
            );
        }
    }
    if let Some(n) = &name {
        if n.chars().count() > 100 {
            errs.push(
                format!("{field}.productCharacteristic.customerName"),
                "must be at most 100 characters",
            );
        }
    }
    errs.into_result()?;
    let (Some(account), Some(name), Some(domain), Some(group)) = (account, name, domain, group)
    else {
        return Err(ApiError::schema(vec![]));
    };
    Ok(QualifyReq {
        account,
        name,
        domain,
        group,
        express,
    })
}

/// Qualifies a company (its name and domain must be free) and records the answer, rendered.
fn record(w: &mut World, account: String, name: String, domain: String, group: &str) -> Value {
    let now = w.now();
    let mut reasons = Vec::new();
    if w.company_by_name(&name).is_some() {
        reasons.push((
            "CompanyNameInUse".to_string(),
            "The company name is already in use".to_string(),
        ));
    }
    if w.company_by_domain(&domain).is_some() {
        reasons.push((
            "CompanyDomainInUse".to_string(),
            "The company domain is already in use".to_string(),
        ));
    }
    reasons.extend(reserved_reasons(w, &name, &domain));
    let qualified = reasons.is_empty();
    let id = w.next_qualification_id();
    let service_id = qualified.then(|| w.next_service_id());
    let q = Qualification {
        id: id.clone(),
        cug_id: CUG_ID.to_string(),
        billing_account: account,
        customer_name: name,
        customer_domain: domain,
        customer_group: group.to_string(),
        qualified,
        service_id,
        reasons,
        created_at: now,
        expires_at: expiry_for(now),
        express: false,
        clock: w.clock_id(),
    };
    let rendered = render(&q);
    w.qualifications.insert(id.clone(), q);
    w.record_created("qualification", &id, None);
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn expiry_is_2359_london() {
        // Winter: London is UTC.
        assert_eq!(
            expiry_for(t("2026-11-22T09:00:00Z")),
            t("2026-11-22T23:59:00Z")
        );
        // Summer: London is UTC+1.
        assert_eq!(
            expiry_for(t("2026-07-01T09:00:00Z")),
            t("2026-07-01T22:59:00Z")
        );
        // 23:30 UTC in summer is already the next London day.
        assert_eq!(
            expiry_for(t("2026-07-01T23:30:00Z")),
            t("2026-07-02T22:59:00Z")
        );
    }

    #[test]
    fn domains() {
        assert!(plausible_domain("thefunnetwork.com"));
        assert!(plausible_domain("acme-widgets.co.uk"));
        assert!(!plausible_domain("nodot"));
        assert!(!plausible_domain("bad domain.com"));
        assert!(!plausible_domain("a..b"));
    }
}
