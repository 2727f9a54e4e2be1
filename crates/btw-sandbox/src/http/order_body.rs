//! Reading a WHC product order body into a [`ParsedOrder`]: the schema checks (400/29, or 403/50
//! for a foreign CUG) that come before the business rules of `world::whc`.

use crate::error::{ApiError, FieldError, SchemaErrors};
use crate::http::extract::related_party_cug;
use crate::wire::{characteristics, require_str, str_at};
use crate::world::whc::{digits, expand_range, Offering, ParsedItem, ParsedOrder};
use crate::world::{norm_mac, OrderItem};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Schema checks (400/29, or 403/50 for a foreign CUG).
pub fn parse(body: &Value) -> Result<ParsedOrder, ApiError> {
    if !body.is_object() {
        return Err(ApiError::schema(vec![FieldError::new(
            "",
            "must be a JSON object",
        )]));
    }
    let mut errs = SchemaErrors::default();
    let external_id = match body.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if (1..=255).contains(&s.trim().len()) => Some(s.trim().to_string()),
        Some(_) => {
            errs.push("externalId", "must be a string of 1 to 255 characters");
            None
        }
    };
    related_party_cug(body, &mut errs)?;
    let account = require_str(body, "/billingAccount/id", "billingAccount.id", &mut errs);
    let list = body.get("productOrderItem").and_then(Value::as_array);
    let list = match list {
        Some(l) if !l.is_empty() => l.as_slice(),
        _ => {
            errs.push("productOrderItem", "at least one item is required");
            &[]
        }
    };
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        items.extend(parse_item(i, item, &mut ids, &mut errs));
    }
    let companies = items
        .iter()
        .filter(|i| i.offering == Offering::Company)
        .count();
    if !list.is_empty() && companies != 1 {
        errs.push(
            "productOrderItem",
            "exactly one WHCCompany item is required",
        );
    }
    errs.into_result()?;
    Ok(ParsedOrder {
        external_id,
        related_party: body.get("relatedParty").cloned().unwrap_or(Value::Null),
        billing_account: body.get("billingAccount").cloned().unwrap_or(Value::Null),
        billing_account_id: account.unwrap_or_default().to_string(),
        items,
    })
}

/// One order item, schema-checked; `None` (with the errors recorded) when it cannot be read.
fn parse_item(
    i: usize,
    item: &Value,
    ids: &mut BTreeSet<String>,
    errs: &mut SchemaErrors,
) -> Option<ParsedItem> {
    let f = format!("productOrderItem[{i}]");
    let id = require_str(item, "/id", &format!("{f}.id"), errs);
    if let Some(id) = id {
        if !ids.insert(id.to_string()) {
            errs.push(format!("{f}.id"), "duplicate item id");
        }
    }
    let action = require_str(item, "/action", &format!("{f}.action"), errs);
    let offering = offering(item, &f, errs);
    let chars = characteristics(item.get("product"), &format!("{f}.product"), errs);
    let (Some(id), Some(action), Some(offering)) = (id, action, offering) else {
        return None;
    };
    let allowed = offering.actions();
    if !allowed.contains(&action) {
        // The required characteristics depend on the action: for an unknown one, only the
        // action is wrong, so only the action is named.
        errs.push(
            format!("{f}.action"),
            format!(
                "{action} is not an action of {}; one of: {}",
                offering.as_str(),
                allowed.join(", ")
            ),
        );
    } else {
        for name in offering.required(action) {
            if !chars.contains_key(*name) {
                errs.missing(format!("{f}.product.productCharacteristic.{name}"));
            }
        }
    }
    let mut nad_key = None;
    if offering == Offering::Site && action == "add" {
        nad_key = installation_address(item);
        if nad_key.is_none() {
            errs.push(
                format!("{f}.relatedPlace"),
                "an installationAddress with an id (NAD key) is required",
            );
        }
    }
    check_values(offering, &chars, &f, errs);
    Some(ParsedItem {
        action: action.to_string(),
        offering,
        chars,
        nad_key,
        raw: OrderItem {
            id: id.to_string(),
            action: action.to_string(),
            product_offering: item.get("productOffering").cloned().unwrap_or(Value::Null),
            product: item.get("product").cloned().unwrap_or(Value::Null),
            related_place: item.get("relatedPlace").cloned(),
        },
    })
}

/// The item's `productOffering.id`, recorded as missing or unknown otherwise.
fn offering(item: &Value, f: &str, errs: &mut SchemaErrors) -> Option<Offering> {
    match str_at(item, "/productOffering/id") {
        None => {
            errs.missing(format!("{f}.productOffering.id"));
            None
        }
        Some(o) => {
            let parsed = Offering::parse(o);
            if parsed.is_none() {
                errs.push(
                    format!("{f}.productOffering.id"),
                    "must be WHCCompany, WHCSite, WHCNumberBlock, WHCUser, WHCDevice or WHCTrunk",
                );
            }
            parsed
        }
    }
}

/// The NAD key of a site item's installation address.
fn installation_address(item: &Value) -> Option<String> {
    item.get("relatedPlace")
        .and_then(Value::as_array)
        .and_then(|places| {
            places
                .iter()
                .find(|p| {
                    str_at(p, "/role").is_none_or(|r| r.eq_ignore_ascii_case("installationAddress"))
                })
                .and_then(|p| str_at(p, "/id"))
        })
        .map(str::to_string)
}

/// Format checks on characteristic values.
fn check_values(
    offering: Offering,
    chars: &BTreeMap<String, String>,
    f: &str,
    errs: &mut SchemaErrors,
) {
    let field = |n: &str| format!("{f}.product.productCharacteristic.{n}");
    for (name, value) in chars {
        if value.chars().count() > 255 {
            errs.push(field(name), "must be at most 255 characters");
        }
    }
    match offering {
        Offering::NumberBlock => {
            if let (Some(s), Some(e)) = (chars.get("startNumber"), chars.get("endNumber")) {
                if expand_range(s, e).is_none() {
                    errs.push(
                        field("startNumber"),
                        "startNumber and endNumber must be numbers of the same length, in order, at most 1000 apart",
                    );
                }
            }
        }
        Offering::User | Offering::Device => {
            if let Some(x) = chars.get("extension") {
                if digits(x).is_none_or(|d| !(2..=10).contains(&d.len())) {
                    errs.push(field("extension"), "must be 2 to 10 digits");
                }
            }
            if let Some(m) = chars.get("macAddress") {
                let key = norm_mac(m);
                if key.len() != 12 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
                    errs.push(field("macAddress"), "must be a MAC address");
                }
                if offering == Offering::User && !chars.contains_key("deviceName") {
                    errs.push(field("deviceName"), "is required with macAddress");
                }
            }
            if let Some(n) = chars.get("directoryNumber") {
                if digits(n).is_none_or(|d| !(10..=11).contains(&d.len())) {
                    errs.push(field("directoryNumber"), "must be a UK number");
                }
            }
            if let Some(e) = chars.get("email") {
                if !e.contains('@') {
                    errs.push(field("email"), "must be an email address");
                }
            }
        }
        Offering::Trunk => {
            if let Some(n) = chars.get("channels") {
                if n.parse::<u16>()
                    .ok()
                    .is_none_or(|n| !(1..=1000).contains(&n))
                {
                    errs.push(field("channels"), "must be a whole number from 1 to 1000");
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_errors_are_collected() {
        let e = parse(&json!({"relatedParty":[{"id":"CUG5019851064"}],
            "productOrderItem":[{"id":"1","action":"add","productOffering":{"id":"WHCUser"},
              "product":{"productCharacteristic":[{"name":"extension","value":"x"}]}}]}))
        .unwrap_err();
        assert_eq!(e.code, "29");
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"billingAccount.id"));
        assert!(fields.contains(&"productOrderItem"));
        assert!(fields
            .iter()
            .any(|f| f.ends_with("productCharacteristic.username")));
        assert!(fields.iter().any(|f| f.ends_with("extension")));
    }

    #[test]
    fn foreign_cug_is_403() {
        let e = parse(&json!({"relatedParty":[{"id":"CUG1"}]})).unwrap_err();
        assert_eq!(e.code, "50");
    }
}
