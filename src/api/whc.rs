//! WHC pre-order: the reseller's own data, verify data (unique names) and company qualification.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::Request;
use serde_json::{json, Value};

const INVENTORY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers";

/// The unique names BT can check, as scripts name them, with the sandbox/BT path segment.
pub const IN_USE_KINDS: &[(&str, &str)] = &[
    ("company_name", "company"),
    ("company_domain", "companyDomain"),
    ("site_name", "siteName"),
    ("site_location_code", "siteLocationCode"),
    ("device_name", "deviceName"),
    ("trunk_name", "trunkName"),
    ("username", "username"),
    ("extension", "extension"),
    ("mac_address", "macAddress"),
];

/// What a company qualification asks for.
#[derive(Debug, Clone)]
pub struct QualifyRequest {
    pub cug: String,
    pub billing_account: String,
    pub name: String,
    pub domain: String,
    pub group: String,
    /// Qualify for WHC Express (`WHCExpressCompany`) rather than WHC.
    pub express: bool,
}

/// The outcome of a company qualification.
#[derive(Debug, Clone)]
pub struct Qualification {
    pub id: String,
    /// The company's service id (`WHHC…`); absent when unqualified.
    pub service_id: Option<String>,
    /// `Qualified` or `Unqualified`.
    pub result: String,
    /// RFC 3339 instant after which the qualification is void (23:59 Europe/London that day):
    /// BT's `expirationDate`, or derived from the guide's rule when BT sends none.
    pub expires: Option<String>,
    /// Why it is unqualified, as BT's reason codes.
    pub reasons: Vec<String>,
    pub raw: Value,
}

fn characteristic(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

impl BtClient {
    /// The reseller's own data: reseller id, sales tag, products, customer groups.
    pub async fn reseller(&self, cug: &str) -> Result<Value, ApiError> {
        let req = Request::get(Operation::WhcReseller, format!("{INVENTORY}/{}", seg(cug)));
        Ok(self.send(req).await?.body)
    }

    /// Verify data for a company name: `None` when the name is free, the company when it is taken.
    pub async fn company(&self, cug: &str, name: &str) -> Result<Option<Value>, ApiError> {
        let req = Request::get(
            Operation::WhcCompany,
            format!("{INVENTORY}/{}/company", seg(cug)),
        )
        .query("companyName", name);
        not_found_is_none(self.send(req).await.map(|p| p.body))
    }

    /// Whether a unique name of `kind` (see [`IN_USE_KINDS`]) is already taken.
    pub async fn in_use(&self, cug: &str, kind: &str, value: &str) -> Result<bool, ApiError> {
        let Some((_, segment)) = IN_USE_KINDS.iter().find(|(k, _)| *k == kind) else {
            let kinds: Vec<&str> = IN_USE_KINDS.iter().map(|(k, _)| *k).collect();
            return Err(ApiError::Refused {
                operation: Operation::WhcInUse.into(),
                detail: format!(
                    "unknown kind {kind:?}; expected one of {}",
                    kinds.join(", ")
                ),
            });
        };
        if *segment == "company" {
            return Ok(self.company(cug, value).await?.is_some());
        }
        let req = Request::get(
            Operation::WhcInUse,
            format!("{INVENTORY}/{}/{segment}", seg(cug)),
        )
        .query("value", value);
        Ok(not_found_is_none(self.send(req).await.map(|p| p.body))?.is_some())
    }

    /// Validates and qualifies a company name and domain (TMF679), reserving them for today.
    pub async fn qualify_company(&self, q: &QualifyRequest) -> Result<Qualification, ApiError> {
        let body = json!({
            "relatedParty": [{"id": q.cug, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": q.billing_account},
            "productOfferingQualificationItem": [{
                "id": "1",
                "productOffering": {"id": if q.express { "WHCExpressCompany" } else { "WHCCompany" }},
                "product": {"productCharacteristic": [
                    characteristic("customerName", &q.name),
                    characteristic("customerDomain", &q.domain),
                    characteristic("customerGroup", &q.group),
                ]}
            }]
        });
        let req = Request::post(
            Operation::WhcQualifyCompany,
            "/bt-wholesale/v1/whc/productOfferingQualification",
            body,
        );
        let raw = self.send(req).await?.body;
        parse_qualification(raw)
    }
}

/// Where BT lists what a company holds (TMF637 product inventory).
const PRODUCT_INVENTORY: &str = "/bt-wholesale/v1/whc/productInventory/product";

/// How the inventory groups a company's products, by product offering.
const INVENTORY_GROUPS: &[(&str, &str)] = &[
    ("WHCSite", "sites"),
    ("WHCUser", "users"),
    ("WHCDevice", "devices"),
    ("WHCTrunk", "trunks"),
    ("WHCNumber", "numbers"),
];

impl BtClient {
    /// What a company holds: `{company, sites, users, devices, trunks, numbers}`, each product as
    /// `{service_id, name, status, offering, …its characteristics in snake_case}`. Reads every page.
    pub async fn inventory(&self, company_service_id: &str) -> Result<Value, ApiError> {
        let mut all = Vec::new();
        loop {
            let req = Request::get(Operation::WhcInventory, PRODUCT_INVENTORY)
                .query("companyServiceId", company_service_id)
                .query("offset", all.len().to_string())
                .query("limit", "100");
            let page = self.send(req).await?;
            let got = page.body.as_array().cloned().unwrap_or_default();
            let total = page.total_count.unwrap_or(0) as usize;
            let done = got.is_empty();
            all.extend(got);
            if done || all.len() >= total {
                break;
            }
        }
        Ok(group_inventory(all))
    }
}

/// One TMF637 product as a script sees it: flat, snake_case.
fn flat_product(p: &Value) -> Value {
    let mut m = serde_json::Map::new();
    let field = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
    m.insert("service_id".into(), field("id"));
    m.insert("name".into(), field("name"));
    m.insert("status".into(), field("status"));
    m.insert(
        "offering".into(),
        p.pointer("/productOffering/id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    for c in p
        .get("productCharacteristic")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(n), Some(v)) = (c.get("name").and_then(Value::as_str), c.get("value")) {
            // BT sends lists as comma-separated strings; scripts get arrays.
            let v = match (n, v.as_str()) {
                ("addOns", Some(s)) => {
                    json!(s.split(',').filter(|a| !a.is_empty()).collect::<Vec<_>>())
                }
                _ => v.clone(),
            };
            m.insert(super::snake::snake_key(n), v);
        }
    }
    Value::Object(m)
}

/// A company's products grouped: the company itself, then one list per kind.
fn group_inventory(products: Vec<Value>) -> Value {
    let mut out = json!({"company": null, "sites": [], "users": [], "devices": [], "trunks": [], "numbers": []});
    for p in &products {
        let offering = p
            .pointer("/productOffering/id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let flat = flat_product(p);
        match INVENTORY_GROUPS.iter().find(|(o, _)| *o == offering) {
            Some((_, key)) => {
                if let Some(list) = out[*key].as_array_mut() {
                    list.push(flat);
                }
            }
            None => out["company"] = flat,
        }
    }
    out
}

fn parse_qualification(raw: Value) -> Result<Qualification, ApiError> {
    let decode = |detail: &str| ApiError::Decode {
        operation: Operation::WhcQualifyCompany.into(),
        detail: detail.into(),
    };
    let id = raw
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| decode("no qualification id"))?
        .to_string();
    let item = raw
        .get("productOfferingQualificationItem")
        .and_then(|v| v.get(0))
        .ok_or_else(|| decode("no productOfferingQualificationItem"))?;
    let result = item
        .get("qualificationItemResult")
        .and_then(Value::as_str)
        .unwrap_or("Unqualified")
        .to_string();
    let service_id = item
        .pointer("/product/serviceId/value")
        .and_then(Value::as_str)
        .map(str::to_string);
    let reasons = raw
        .get("eligibilityUnavailabilityReason")
        .or_else(|| item.get("eligibilityUnavailabilityReason"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("code").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Qualification {
        id,
        service_id,
        result,
        expires: Some(
            raw.get("expirationDate")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| expiry_for(chrono::Utc::now())),
        ),
        reasons,
        raw,
    })
}

/// 23:59 Europe/London on the UK day of `now`, RFC 3339: when a qualification lapses
/// ("Qualifications will expire the same day at 11.59pm BST/ GMT"), for an answer without
/// `expirationDate` (the guide's example has none).
fn expiry_for(now: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::TimeZone;
    let tz = crate::time::LONDON;
    let day = now.with_timezone(&tz).date_naive();
    let local = day.and_hms_opt(23, 59, 0).unwrap_or_default();
    let at = tz
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| chrono::Utc.from_utc_datetime(&local));
    crate::time::rfc3339(at)
}

/// BT answers "not found" for a free name; that is an answer, not an error.
pub(crate) fn not_found_is_none(r: Result<Value, ApiError>) -> Result<Option<Value>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ApiError::Bt(e)) if e.status == 404 && e.code != "60" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Percent-encodes one path segment.
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualification_is_read() {
        let q = parse_qualification(json!({
            "id": "QFW103255",
            "expirationDate": "2026-11-22T23:59:00Z",
            "productOfferingQualificationItem": [{"qualificationItemResult": "Qualified",
                "product": {"serviceId": {"value": "WHHCBTWKN1484"}}}]
        }))
        .unwrap();
        assert_eq!(q.service_id.as_deref(), Some("WHHCBTWKN1484"));
        assert_eq!(q.result, "Qualified");
        assert_eq!(q.expires.as_deref(), Some("2026-11-22T23:59:00Z"));
    }

    #[test]
    fn expiry_is_derived_when_bt_sends_none() {
        // The guide's example answer: no expirationDate, `servicelid` as printed.
        let q = parse_qualification(json!({
            "id": "QFW103255",
            "productOfferingQualificationItem": [{"qualificationItemResult": "Qualified",
                "product": {"serviceId": {"value": "WHHCBTWKN1484"}}}]
        }))
        .unwrap();
        assert!(q.expires.is_some());
        let summer: chrono::DateTime<chrono::Utc> = "2026-07-01T23:30:00Z".parse().unwrap();
        assert_eq!(expiry_for(summer), "2026-07-02T22:59:00Z");
        let winter: chrono::DateTime<chrono::Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        assert_eq!(expiry_for(winter), "2026-11-22T23:59:00Z");
    }

    #[test]
    fn inventory_is_grouped() {
        let v = group_inventory(vec![
            json!({"id": "W1", "status": "active", "productOffering": {"id": "WHCCompany"}}),
            json!({"id": "W2", "status": "terminated", "productOffering": {"id": "WHCUser"},
                   "productCharacteristic": [{"name": "directoryNumber", "value": "01214960000"}]}),
        ]);
        assert_eq!(v["company"]["service_id"], "W1");
        assert_eq!(v["users"][0]["directory_number"], "01214960000");
        assert_eq!(v["users"][0]["status"], "terminated");
        assert_eq!(v["sites"], json!([]));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("CUG50/19 x"), "CUG50%2F19%20x");
    }
}
