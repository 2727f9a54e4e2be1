//! Geographic address search by postcode (RoBT or Openreach) and temporary address creation.

use crate::error::{ApiError, SchemaErrors};
use crate::http::extract::{created, object_body, paginated, QueryParams, RawBody};
use crate::state::SandboxState;
use crate::wire::str_at;
use crate::world::{fixture_addresses, Address};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub const PATH: &str = "/common/geographicAddressManagement/v1/geographicAddress";

pub fn router() -> Router<SandboxState> {
    Router::new().route(PATH, get(search).post(create))
}

/// Comparison key for a postcode: upper case, no spaces.
pub fn postcode_key(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// `ip53re` → `IP5 3RE`; `None` unless it looks like a UK postcode (outward 2–4, inward 3).
pub fn normalise_postcode(p: &str) -> Option<String> {
    let key = postcode_key(p);
    if !(5..=7).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let (outward, inward) = key.split_at(key.len() - 3);
    let ib = inward.as_bytes();
    let ok = outward.as_bytes()[0].is_ascii_alphabetic()
        && ib[0].is_ascii_digit()
        && ib[1].is_ascii_alphabetic()
        && ib[2].is_ascii_alphabetic();
    ok.then(|| format!("{outward} {inward}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Robt,
    Openreach,
}

fn from_source(a: &Address, source: Source) -> bool {
    match a.id.chars().next() {
        Some('R') => source == Source::Robt,
        Some('A') => source == Source::Openreach,
        _ => true,
    }
}

async fn search(
    State(state): State<SandboxState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(raw.as_deref());
    let postcode = postcode_key(query.required("postcode")?);
    let source = query
        .parsed(
            "addressSource",
            |s| {
                if s.eq_ignore_ascii_case("ROBT") {
                    Some(Source::Robt)
                } else if s.eq_ignore_ascii_case("Openreach") {
                    Some(Source::Openreach)
                } else {
                    None
                }
            },
            "must be ROBT or Openreach",
        )?
        .unwrap_or(Source::Robt);
    let (offset, limit) = query.page()?;
    let building = query.get("buildingName").map(str::to_lowercase);
    let street_nr = query.get("streetNr");
    let created = state.with_world(|w| w.addresses.clone());
    let all: Vec<Value> = fixture_addresses()
        .iter()
        .chain(created.iter())
        .filter(|a| postcode_key(&a.postcode) == postcode && from_source(a, source))
        .filter(|a| {
            building
                .as_deref()
                .is_none_or(|b| a.building_name.to_lowercase().contains(b))
        })
        .filter(|a| street_nr.is_none_or(|n| a.street_nr.eq_ignore_ascii_case(n)))
        .map(|a| serde_json::to_value(a).unwrap_or(Value::Null))
        .collect();
    if all.is_empty() {
        return Err(ApiError::not_found("No addresses found for this postcode"));
    }
    Ok(paginated(all, offset, limit))
}

fn opt(body: &Value, name: &str, errs: &mut SchemaErrors) -> String {
    match body.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.trim().chars().count() <= 100 => s.trim().to_string(),
        Some(Value::String(_)) => {
            errs.push(name, "must be at most 100 characters");
            String::new()
        }
        Some(_) => {
            errs.push(name, "must be a string");
            String::new()
        }
    }
}

/// Up to four non-empty address lines, padded with empty strings.
fn best_lines(a: &Address) -> [String; 4] {
    let street = format!("{} {}", a.street_nr, a.street_name)
        .trim()
        .to_string();
    let mut lines: Vec<String> = [&a.building_name, &street, &a.locality, &a.city]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    lines.resize(4, String::new());
    [
        lines[0].clone(),
        lines[1].clone(),
        lines[2].clone(),
        lines[3].clone(),
    ]
}

async fn create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let body = object_body(&headers, &body)?;
    let mut errs = SchemaErrors::default();
    let mut address = Address {
        id: String::new(),
        uprn: String::new(),
        building_name: opt(&body, "buildingName", &mut errs),
        street_nr: opt(&body, "streetNr", &mut errs),
        street_name: opt(&body, "streetName", &mut errs),
        locality: opt(&body, "locality", &mut errs),
        city: opt(&body, "city", &mut errs),
        county: opt(&body, "county", &mut errs),
        postcode: String::new(),
        country: opt(&body, "country", &mut errs),
        best_address_line1: String::new(),
        best_address_line2: String::new(),
        best_address_line3: String::new(),
        best_address_line4: String::new(),
        exchange_group_code: String::new(),
        district_code: String::new(),
        qualifier: "Non-Gold".into(),
    };
    match str_at(&body, "/postcode") {
        None => errs.missing("postcode"),
        Some(p) => match normalise_postcode(p) {
            Some(p) => address.postcode = p,
            None => errs.push("postcode", "is not a valid UK postcode"),
        },
    }
    if address.city.is_empty() {
        errs.missing("city");
    }
    if address.country.is_empty() {
        errs.missing("country");
    }
    errs.into_result()?;
    let [l1, l2, l3, l4] = best_lines(&address);
    (
        address.best_address_line1,
        address.best_address_line2,
        address.best_address_line3,
        address.best_address_line4,
    ) = (l1, l2, l3, l4);
    // Created addresses borrow the exchange of a fixture at the same postcode, when there is one.
    if let Some(f) = fixture_addresses()
        .iter()
        .find(|f| postcode_key(&f.postcode) == postcode_key(&address.postcode))
    {
        address.exchange_group_code = f.exchange_group_code.clone();
        address.district_code = f.district_code.clone();
    }
    let id = state.with_world(move |w| {
        let id = w.next_address_id();
        address.id = id.clone();
        w.addresses.push(address);
        w.record_created("address", &id, None);
        id
    });
    Ok(created(json!({"id": id})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes() {
        assert_eq!(postcode_key(" ip5 3re "), "IP53RE");
        assert_eq!(normalise_postcode("ip53re").as_deref(), Some("IP5 3RE"));
        assert_eq!(normalise_postcode("EC1A 7AJ").as_deref(), Some("EC1A 7AJ"));
        assert_eq!(normalise_postcode("M1 4BT").as_deref(), Some("M1 4BT"));
        assert!(normalise_postcode("12345").is_none());
        assert!(normalise_postcode("IP5").is_none());
        assert!(normalise_postcode("IP5 3R!").is_none());
    }
}
