//! BT's validation errors name fields on the wire (`productOrderItem[1].product.
//! productCharacteristic.siteLocationCode`); scripts wrote keys (`sites[0].location_code`).
//! This maps the one back to the other, from the request that was sent, so an error points at
//! the script's own key. The wire path stays in the error map for BT support.

use super::snake::snake_key as snake_case;
use serde_json::Value;

/// The script key for a wire field of `body`, the request BT refused; `None` when it cannot tell.
pub fn script_key(body: Option<&Value>, wire: &str) -> Option<String> {
    let wire = wire.trim();
    if wire.is_empty() {
        return None;
    }
    if let Some(rest) = wire.strip_prefix("productOrderItem[") {
        if let Some(key) = body.and_then(|b| order_item_key(b, rest)) {
            return Some(key);
        }
    }
    match wire {
        "externalId" => return Some("external_id".into()),
        "billingAccount" | "billingAccount.id" => return Some("billing_account".into()),
        "relatedParty" => return Some("cug".into()),
        _ => {}
    }
    if wire.starts_with("relatedParty") {
        return Some("cug".into());
    }
    Some(snake_path(wire))
}

/// `siteContact.phoneNumber` → `site_contact.phone_number`, indexes kept.
fn snake_path(wire: &str) -> String {
    wire.split('.')
        .map(|seg| match seg.split_once('[') {
            Some((name, idx)) => format!("{}[{idx}", snake_case(name)),
            None => snake_case(seg),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `N].product.productCharacteristic.NAME` (or `N].relatedPlace`, …) of a WHC product order.
fn order_item_key(body: &Value, rest: &str) -> Option<String> {
    let (index, tail) = rest.split_once(']')?;
    let index: usize = index.parse().ok()?;
    let items = body.get("productOrderItem")?.as_array()?;
    let item = items.get(index)?;
    let offering = item.pointer("/productOffering/id")?.as_str()?;
    // The n-th item of its kind is the n-th entry of the script's list.
    let nth = items[..index]
        .iter()
        .filter(|i| i.pointer("/productOffering/id").and_then(Value::as_str) == Some(offering))
        .count();
    let base = match offering {
        "WHCCompany" => "company".to_string(),
        "WHCSite" => format!("sites[{nth}]"),
        "WHCNumberBlock" => format!("numbers[{nth}]"),
        "WHCUser" => format!("users[{nth}]"),
        _ => return None,
    };
    let tail = tail.trim_start_matches('.');
    let leaf = match tail.strip_prefix("product.productCharacteristic") {
        Some(name) => characteristic_key(name.trim_start_matches('.'))?,
        None if tail.starts_with("relatedPlace") => "nad_key",
        None if tail.is_empty() => return Some(base),
        None => return Some(format!("{base} ({tail})")),
    };
    Some(if leaf.is_empty() {
        base
    } else {
        format!("{base}.{leaf}")
    })
}

/// The script key of a WHC order characteristic (as written by `OrderSpec::to_body`).
fn characteristic_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "" => "",
        "customerName" | "siteName" => "name",
        "customerDomain" => "domain",
        "customerGroup" => "group",
        "serviceId" => "service_id",
        "qualifierId" => "qualification_id",
        "siteLocationCode" => "location_code",
        "startNumber" => "start",
        "endNumber" => "end",
        "firstName" => "first_name",
        "lastName" => "last_name",
        "username" => "username",
        "extension" => "extension",
        "email" => "email",
        "directoryNumber" => "number",
        "licence" => "licence",
        "deviceName" => "device.name",
        "macAddress" => "device.mac",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"externalId": "E", "productOrderItem": [
            {"productOffering": {"id": "WHCCompany"}},
            {"productOffering": {"id": "WHCSite"}},
            {"productOffering": {"id": "WHCSite"}},
            {"productOffering": {"id": "WHCUser"}},
        ]})
    }

    #[test]
    fn order_items_map_to_the_script_lists() {
        let b = body();
        let key = |w: &str| script_key(Some(&b), w);
        assert_eq!(
            key("productOrderItem[2].product.productCharacteristic.siteLocationCode").as_deref(),
            Some("sites[1].location_code")
        );
        assert_eq!(
            key("productOrderItem[0].product.productCharacteristic.customerGroup").as_deref(),
            Some("company.group")
        );
        assert_eq!(
            key("productOrderItem[3].product.productCharacteristic.deviceName").as_deref(),
            Some("users[0].device.name")
        );
        assert_eq!(
            key("productOrderItem[1].relatedPlace").as_deref(),
            Some("sites[0].nad_key")
        );
        assert_eq!(key("externalId").as_deref(), Some("external_id"));
    }

    #[test]
    fn other_paths_become_snake_case() {
        assert_eq!(
            script_key(None, "siteContact.phoneNumber").as_deref(),
            Some("site_contact.phone_number")
        );
        assert_eq!(
            script_key(None, "productOrderItem[9].x").as_deref(),
            Some("product_order_item[9].x")
        );
        assert_eq!(script_key(None, ""), None);
    }
}
