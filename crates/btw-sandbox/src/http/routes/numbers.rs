//! Directory numbers: ringfence a block for a qualified company, and list numbers held.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{check_cug, created, json_body, paginated, QueryParams, RawBody};
use crate::state::SandboxState;
use crate::wire::{require_str, str_at};
use crate::world::areas::area_code_for;
use crate::world::{whc_changes, ItemState, NumberRecord, NumberStatus, World};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub const RINGFENCE_PATH: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
pub const NUMBERS_PATH: &str = "/v1/resourceManagement/directoryNumbers";

/// Area codes with a fictional Ofcom drama range of 1000 numbers each.
pub const AREA_CODES: [&str; 12] = [
    "020", "0113", "0114", "0115", "0116", "0117", "0118", "0121", "0131", "0141", "0151", "0161",
];

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(RINGFENCE_PATH, post(ringfence))
        .route(NUMBERS_PATH, get(available))
}

/// The 8-digit prefix of an area code's pool (`020` → `02079460`, `0121` → `01214960`);
/// each pool is the prefix plus `000`..`999`.
pub fn pool_prefix(area: &str) -> String {
    if area == "020" {
        "02079460".to_string()
    } else {
        format!("{area}4960")
    }
}

/// The numbers of one pool a `numberString` asks for: `prefix` followed by the three-digit
/// suffixes `first..=last`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRange {
    pub prefix: String,
    pub first: u16,
    pub last: u16,
}

impl PoolRange {
    pub fn number(&self, suffix: u16) -> String {
        format!("{}{suffix:03}", self.prefix)
    }
}

/// The pool numbers a `numberString` asks for, in order, a range per pool; `None` when it names
/// no pool.
pub fn candidates(number_string: &str) -> Option<Vec<PoolRange>> {
    let number_string = area_code_for(number_string).unwrap_or(number_string);
    let ns: String = number_string
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if ns.is_empty() || !ns.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let pools: Vec<PoolRange> = AREA_CODES
        .iter()
        .filter(|area| ns.starts_with(*area))
        .map(|area| pool_prefix(area))
        .filter_map(|prefix| {
            let (first, last) = suffixes_within(&prefix, &ns)?;
            Some(PoolRange {
                prefix,
                first,
                last,
            })
        })
        .collect();
    (!pools.is_empty()).then_some(pools)
}

/// The suffixes `000..=999` after `prefix` whose numbers start with `ns`, as one range (the
/// digits `ns` gives past the prefix fix the suffix's leading digits).
fn suffixes_within(prefix: &str, ns: &str) -> Option<(u16, u16)> {
    if prefix.starts_with(ns) {
        return Some((0, 999));
    }
    let fixed = ns.strip_prefix(prefix)?;
    if fixed.len() > 3 {
        return None;
    }
    let lead: u16 = fixed.parse().ok()?;
    let width = 10u16.pow(3 - fixed.len() as u32);
    Some((lead * width, lead * width + width - 1))
}

/// The first run of `quantity` consecutive free numbers. Walks the numbers held in each pool,
/// in order, and never the free ones, so a ringfence costs the same however full the pools are.
pub fn find_block(world: &World, pools: &[PoolRange], quantity: usize) -> Option<Vec<String>> {
    let quantity = u16::try_from(quantity).ok().filter(|q| *q > 0)?;
    for pool in pools {
        let mut free_from = pool.first;
        let held = world
            .numbers
            .range(pool.number(pool.first)..=pool.number(pool.last))
            .filter(|(k, _)| k.len() == pool.prefix.len() + 3)
            .filter_map(|(k, _)| k[pool.prefix.len()..].parse::<u16>().ok());
        for h in held.chain(std::iter::once(pool.last + 1)) {
            if h >= free_from && h - free_from >= quantity {
                return Some(
                    (free_from..free_from + quantity)
                        .map(|s| pool.number(s))
                        .collect(),
                );
            }
            free_from = free_from.max(h + 1);
        }
    }
    None
}

async fn ringfence(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    // Allocating an accepted port's numbers ahead of the port date (see `port.rs`).
    if str_at(&body, "/numbers/characteristics/portOrderId").is_some() {
        return super::port::ringfence_ported(&state, &body);
    }
    let req = read_ringfence(&body)?;
    let (start, end) = state.with_world(|w| ringfence_new(w, &req))?;
    let ring_fence_id = req.ring_fence_id;
    Ok(created(json!({
        "action": "Ringfence",
        "numberRange": {"startNumber": start, "endNumber": end},
        "ringFenceId": ring_fence_id,
        "status": "RINGFENCED",
    })))
}

/// A ringfence request for new numbers, schema-checked.
#[derive(Clone, Copy)]
struct RingfenceReq<'a> {
    quantity: usize,
    number_string: &'a str,
    ring_fence_id: &'a str,
    /// Absent when the numbers are for a company an order has already created.
    qualifier_id: Option<&'a str>,
}

/// The schema checks of a ringfence request (400/29, or 403/50 for a foreign CUG).
fn read_ringfence(body: &Value) -> Result<RingfenceReq<'_>, ApiError> {
    let mut errs = SchemaErrors::default();
    let cug = require_str(body, "/customer/id", "customer.id", &mut errs);
    if let Some(cug) = cug {
        check_cug(cug)?;
    }
    if let Some(t) = require_str(body, "/customer/type", "customer.type", &mut errs) {
        if !t.eq_ignore_ascii_case("BUSINESS") {
            errs.push("customer.type", "must be BUSINESS");
        }
    }
    let quantity = match body.pointer("/numbers/quantity") {
        None => {
            errs.missing("numbers.quantity");
            None
        }
        Some(v) => match v.as_u64().filter(|q| (1..=100).contains(q)) {
            Some(q) => Some(q as usize),
            None => {
                errs.push("numbers.quantity", "must be a whole number from 1 to 100");
                None
            }
        },
    };
    let number_string = require_str(
        body,
        "/numbers/characteristics/numberString",
        "numbers.characteristics.numberString",
        &mut errs,
    );
    if let Some(p) = require_str(body, "/product/name", "product.name", &mut errs) {
        if !p.eq_ignore_ascii_case("WHC") {
            errs.push("product.name", "must be WHC");
        }
    }
    match str_at(body, "/action") {
        None => errs.missing("action"),
        Some(a) if !a.eq_ignore_ascii_case("RingFence") => errs.push("action", "must be RingFence"),
        Some(_) => {}
    }
    let ring_fence_id = require_str(body, "/ringFenceId", "ringFenceId", &mut errs);
    let qualifier_id = match body.get("qualifierId") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) if !q.trim().is_empty() => Some(q.as_str()),
        Some(_) => {
            errs.push(
                "qualifierId",
                "must be a qualification id (QFW…) when given",
            );
            None
        }
    };
    errs.into_result()?;
    let (Some(quantity), Some(number_string), Some(ring_fence_id)) =
        (quantity, number_string, ring_fence_id)
    else {
        return Err(ApiError::schema(vec![]));
    };
    Ok(RingfenceReq {
        quantity,
        number_string,
        ring_fence_id,
        qualifier_id,
    })
}

/// What a ringfence reserves its numbers against: a company an order has created, or one of its
/// sites or users (the product page: "reserve against company, site or user").
#[derive(Debug, Clone, PartialEq)]
struct Holder {
    company: String,
    site: Option<String>,
    user: Option<String>,
}

/// The company, site or user with service id `id`, if an order has created one; a ceased
/// company, site or user is refused.
fn holder(w: &World, id: &str) -> Result<Option<Holder>, ApiError> {
    let ceased = |what: &str| {
        ApiError::business(
            "ItemCeased",
            format!(
                "{what} {id} is ceased (or being ceased); numbers cannot be reserved against it"
            ),
        )
    };
    if let Some(c) = w.companies.get(id) {
        whc_changes::check_existing(c)?;
        return Ok(Some(Holder {
            company: c.service_id.clone(),
            site: None,
            user: None,
        }));
    }
    for c in w.companies.values() {
        if let Some(s) = c.sites.iter().find(|s| s.service_id == id) {
            whc_changes::check_existing(c)?;
            if !matches!(s.state, ItemState::Active | ItemState::PendingActive) {
                return Err(ceased("Site"));
            }
            return Ok(Some(Holder {
                company: c.service_id.clone(),
                site: Some(s.service_id.clone()),
                user: None,
            }));
        }
        if let Some(u) = c.users.iter().find(|u| u.service_id == id) {
            whc_changes::check_existing(c)?;
            if !matches!(u.state, ItemState::Active | ItemState::PendingActive) {
                return Err(ceased("User"));
            }
            return Ok(Some(Holder {
                company: c.service_id.clone(),
                site: u.site_service_id.clone(),
                user: Some(u.service_id.clone()),
            }));
        }
    }
    Ok(None)
}

/// Who a ringfence without `qualifierId` is for: a company that exists, or its site or user.
fn holder_without_qualification(w: &World, id: &str) -> Result<Holder, ApiError> {
    if let Some(h) = holder(w, id)? {
        return Ok(h);
    }
    let qualified_only = w
        .qualifications
        .values()
        .any(|q| q.service_id.as_deref() == Some(id));
    let message = if qualified_only {
        format!("{id} is qualified but no order has created it yet: give its qualifierId")
    } else {
        format!("No company, site or user has service id {id}")
    };
    Err(ApiError::business("UnknownCompany", message))
}

/// Who a ringfence under qualification `qualifier_id` is for: the qualification's service id
/// (live and qualified) or, once an order has created that company, its site or user.
fn holder_under_qualification(
    w: &World,
    qualifier_id: &str,
    ring_fence_id: &str,
) -> Result<Holder, ApiError> {
    let q = w.qualifications.get(qualifier_id).ok_or_else(|| {
        ApiError::business(
            "QualificationNotFound",
            format!("Qualification {qualifier_id} not found"),
        )
    })?;
    // Once an order has created the company, its qualification keeps serving ringfences.
    let company_exists = q
        .service_id
        .as_ref()
        .is_some_and(|s| w.companies.contains_key(s));
    // Expired by the qualification's own clock, whichever clock asks.
    if w.now_on(q.clock.as_deref()) >= q.expires_at && !company_exists {
        return Err(ApiError::business(
            "QualificationExpired",
            format!("Qualification {qualifier_id} has expired; qualify again"),
        ));
    }
    if !q.qualified {
        return Err(ApiError::business(
            "Unqualified",
            format!("Qualification {qualifier_id} did not qualify"),
        ));
    }
    let svc = q.service_id.clone().unwrap_or_default();
    if svc == ring_fence_id {
        if company_exists {
            if let Some(h) = holder(w, ring_fence_id)? {
                return Ok(h);
            }
        }
        return Ok(Holder {
            company: svc,
            site: None,
            user: None,
        });
    }
    match holder(w, ring_fence_id)? {
        Some(h) if h.company == svc => Ok(h),
        _ => Err(ApiError::business(
            "QualificationMismatch",
            "ringFenceId is not the qualification's service id, nor one of its company's sites or users",
        )),
    }
}

/// Ringfences a block of new numbers for a company (or its site or user); answers the block's ends.
fn ringfence_new(w: &mut World, r: &RingfenceReq) -> Result<(String, String), ApiError> {
    let RingfenceReq {
        quantity,
        number_string,
        ring_fence_id,
        qualifier_id,
    } = *r;
    let holder = match qualifier_id {
        Some(q) => holder_under_qualification(w, q, ring_fence_id)?,
        None => holder_without_qualification(w, ring_fence_id)?,
    };
    let pools = candidates(number_string).ok_or_else(|| {
        ApiError::business(
            "UnknownAreaCode",
            format!("No numbers are available for {number_string}"),
        )
    })?;
    let block = find_block(w, &pools, quantity).ok_or_else(|| {
        ApiError::business(
            "NumbersExhausted",
            format!("No block of {quantity} consecutive numbers is free for {number_string}"),
        )
    })?;
    let clock = w.clock_id();
    for n in &block {
        w.numbers.insert(
            n.clone(),
            NumberRecord {
                company_service_id: holder.company.clone(),
                kind: "new".into(),
                status: NumberStatus::Ringfenced,
                order_id: None,
                site_service_id: None,
                reserved_site: holder.site.clone(),
                reserved_user: holder.user.clone(),
                clock: clock.clone(),
            },
        );
    }
    let (start, end) = (block[0].clone(), block[block.len() - 1].clone());
    w.record_created("ringfence", &format!("{start}-{end}"), None);
    Ok((start, end))
}

/// The numbers users already have: not free to use (CONTRACT.md: available numbers).
fn numbers_in_use(w: &World) -> std::collections::BTreeSet<String> {
    w.companies
        .values()
        .flat_map(|c| c.users.iter())
        .filter_map(|u| u.directory_number.as_deref())
        .filter_map(crate::world::whc::digits)
        .collect()
}

/// The site a number belongs to: the site its order placed it at, else the one it was reserved
/// against.
fn site_of(r: &NumberRecord) -> Option<&str> {
    r.site_service_id.as_deref().or(r.reserved_site.as_deref())
}

async fn available(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let (offset, limit) = query.page()?;
    let selectors: Vec<(&str, &str)> = ["cugId", "companyServiceId", "siteServiceId"]
        .into_iter()
        .filter_map(|k| query.get(k).map(|v| (k, v)))
        .collect();
    let (key, value) = match selectors.as_slice() {
        [] => return Err(ApiError::missing_query("cugId")),
        [one] => *one,
        _ => {
            return Err(ApiError::invalid_query(
                "cugId",
                "give exactly one of cugId, companyServiceId, siteServiceId",
            ))
        }
    };
    if key == "cugId" {
        check_cug(value)?;
    }
    let all: Vec<Value> = state.with_world(|w| {
        let in_use = numbers_in_use(w);
        w.numbers
            .iter()
            .filter(|(n, _)| !in_use.contains(n.as_str()))
            // Quarantined numbers (ceased, see `world/whc_changes.rs`) are nobody's to use.
            .filter(|(_, r)| r.status != NumberStatus::Quarantined)
            .filter(|(_, r)| match key {
                "companyServiceId" => r.company_service_id.eq_ignore_ascii_case(value),
                "siteServiceId" => site_of(r).is_some_and(|s| s.eq_ignore_ascii_case(value)),
                _ => true,
            })
            .map(|(n, r)| {
                let mut v = json!({
                    "number": n,
                    "type": r.kind,
                    "status": r.status.as_str(),
                    "companyServiceId": r.company_service_id,
                });
                // Where it is meant to go, when a ringfence or an order said so.
                if let Some(site) = site_of(r) {
                    v["siteServiceId"] = json!(site);
                }
                if let Some(user) = &r.reserved_user {
                    v["userServiceId"] = json!(user);
                }
                v
            })
            .collect()
    });
    Ok(paginated(all, offset, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_and_candidates() {
        let c = candidates("0121").unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].number(c[0].first), "01214960000");
        assert_eq!((c[0].first, c[0].last), (0, 999));
        let narrow = &candidates("020 7946 05").unwrap()[0];
        assert_eq!((narrow.first, narrow.last), (500, 599));
        let one = &candidates("02079460123").unwrap()[0];
        assert_eq!(
            (one.number(one.first), one.last),
            ("02079460123".into(), 123)
        );
        assert!(candidates("020794601234").is_none());
        assert!(candidates("0999").is_none());
        assert!(candidates("abc").is_none());
        assert!(candidates("01").is_none());
        let m = &candidates("Manchester").unwrap()[0];
        assert_eq!(m.number(m.first), "01614960000");
    }

    #[test]
    fn blocks_skip_taken_numbers() {
        let w = World::seed(0.0);
        // Acme holds 02079460000..0009.
        let block = find_block(&w, &candidates("020").unwrap(), 3).unwrap();
        assert_eq!(block, vec!["02079460010", "02079460011", "02079460012"]);
        assert!(find_block(&w, &candidates("0207946000").unwrap(), 1).is_none());
    }

    #[test]
    fn blocks_fill_gaps_and_pool_ends() {
        let mut w = World::seed(0.0);
        let hold = |w: &mut World, n: &str| {
            w.numbers.insert(
                n.into(),
                NumberRecord {
                    company_service_id: "WHHCBTWKN1000".into(),
                    kind: "new".into(),
                    status: NumberStatus::Ringfenced,
                    order_id: None,
                    site_service_id: None,
                    reserved_site: None,
                    reserved_user: None,
                    clock: None,
                },
            );
        };
        // 0121's pool: 000 and 002 held leave a gap of one at 001, then 003.. is free.
        hold(&mut w, "01214960000");
        hold(&mut w, "01214960002");
        // A longer number sorting inside the range is not one of the pool's.
        hold(&mut w, "012149600011");
        let pools = candidates("0121").unwrap();
        assert_eq!(find_block(&w, &pools, 1).unwrap(), vec!["01214960001"]);
        assert_eq!(
            find_block(&w, &pools, 2).unwrap(),
            vec!["01214960003", "01214960004"]
        );
        // The last two numbers of a narrowed range, then nothing once they are taken.
        let tail = candidates("0121496099").unwrap();
        hold(&mut w, "01214960990");
        assert_eq!(
            find_block(&w, &tail, 9).unwrap().last().unwrap(),
            "01214960999"
        );
        assert!(find_block(&w, &tail, 10).is_none());
        assert!(find_block(&w, &tail, 0).is_none());
    }
}
