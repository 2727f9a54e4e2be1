//! Product orders (TMF622 style): create from a plain description, submit, get, list, cancel.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Page, Request};
use super::whc::seg;
use serde::Deserialize;
use serde_json::{json, Value};

const BASE: &str = "/bt-wholesale/v1/order";

/// An order as a script describes it: one model for a provide, an add, a modify and a cease.
/// Every item carries a TMF622 `action`: `add` where omitted, `modify` or `delete` with the item's
/// `service_id` (from `whc::inventory`). Unknown fields are refused, so a typo is an error, not a
/// silently missing user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSpec {
    /// Your own reference; BT keeps it and it finds the order again. Generated when absent.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Defaults to the profile's CUG.
    #[serde(default)]
    pub cug: Option<String>,
    /// Defaults to the profile's billing account.
    #[serde(default)]
    pub billing_account: Option<String>,
    pub company: CompanySpec,
    #[serde(default)]
    pub sites: Vec<SiteSpec>,
    #[serde(default)]
    pub numbers: Vec<NumberBlockSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// CPE devices added, swapped or removed on their own (a user's `device` adds one too).
    #[serde(default)]
    pub devices: Vec<DeviceItemSpec>,
    /// SIP trunks added, changed or ceased (verify data's "Trunk name").
    #[serde(default)]
    pub trunks: Vec<TrunkSpec>,
}

/// The company: new (name, domain, group, qualification) or existing (service id alone:
/// `noChange`, or `action: "delete"` to cease it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySpec {
    pub service_id: String,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub qualification_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    #[serde(default)]
    pub action: Option<String>,
    /// The site's service id, for `modify` and `delete`.
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The NAD key of the site's address (from `address::search` or `address::create`).
    #[serde(default)]
    pub nad_key: Option<String>,
    #[serde(default)]
    pub location_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberBlockSpec {
    /// `add` (default) or `delete` (cease: the numbers go to quarantine).
    #[serde(default)]
    pub action: Option<String>,
    pub start: String,
    #[serde(default)]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default)]
    pub action: Option<String>,
    /// The user's service id, for `modify` and `delete`.
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// The user's directory number (must be held by the company).
    #[serde(default)]
    pub number: Option<String>,
    /// Licence / add-on bundle, e.g. `"Standard"`.
    #[serde(default)]
    pub licence: Option<String>,
    /// Add-ons on top of the licence, e.g. `["CallRecording"]`.
    #[serde(default)]
    pub add_ons: Option<Vec<String>>,
    /// The site the user belongs to; default the company's first site.
    #[serde(default)]
    pub site_service_id: Option<String>,
    #[serde(default)]
    pub device: Option<DeviceSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub name: String,
    #[serde(default)]
    pub mac: Option<String>,
    /// One of the documented CPE models, e.g. `"Yealink T54W"`.
    #[serde(default)]
    pub model: Option<String>,
}

/// A CPE device item: `add` (for `user_service_id`), `modify` (a swap) or `delete`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceItemSpec {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub user_service_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// A trunk item: `add` (a `name`, optional `channels` and `site_service_id`), `modify` (any of
/// those, with its `service_id`) or `delete`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSpec {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Simultaneous calls, e.g. `10`.
    #[serde(default)]
    pub channels: Option<u32>,
    /// The site it terminates at; default the company's first site.
    #[serde(default)]
    pub site_service_id: Option<String>,
}

/// A filter for listing orders.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub state: Option<String>,
    pub external_id: Option<String>,
    pub offset: u32,
    pub limit: u32,
}

fn chars(pairs: &[(&str, Option<&str>)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .filter_map(|(n, v)| v.map(|v| json!({"name": n, "value": v})))
            .collect(),
    )
}

impl UserSpec {
    fn characteristics(&self) -> Value {
        let device = self.device.as_ref();
        let add_ons = self.add_ons.as_ref().map(|a| a.join(","));
        chars(&[
            ("serviceId", self.service_id.as_deref()),
            ("firstName", self.first_name.as_deref()),
            ("lastName", self.last_name.as_deref()),
            ("username", self.username.as_deref()),
            ("extension", self.extension.as_deref()),
            ("email", self.email.as_deref()),
            ("directoryNumber", self.number.as_deref()),
            ("licence", self.licence.as_deref()),
            ("addOns", add_ons.as_deref()),
            ("siteServiceId", self.site_service_id.as_deref()),
            ("deviceName", device.map(|d| d.name.as_str())),
            ("macAddress", device.and_then(|d| d.mac.as_deref())),
            ("deviceModel", device.and_then(|d| d.model.as_deref())),
        ])
    }
}

/// The action of an item: as given, or `add`.
fn action(a: &Option<String>) -> &str {
    a.as_deref().unwrap_or("add")
}

impl OrderSpec {
    /// The TMF622 create body. `cug`, `billing_account` and `external_id` must be filled by then.
    pub fn to_body(&self, cug: &str, billing_account: &str, external_id: &str) -> Value {
        let mut items = Vec::new();
        let mut push =
            |action: &str, offering: &str, characteristic: Value, place: Option<Value>| {
                let mut item = json!({
                    "id": (items.len() + 1).to_string(),
                    "action": action,
                    "productOffering": {"id": offering},
                    "product": {"productCharacteristic": characteristic},
                });
                if let Some(place) = place {
                    item["relatedPlace"] = place;
                }
                items.push(item);
            };
        let c = &self.company;
        let company_action = match (&c.action, c.name.is_some()) {
            (Some(a), _) => a.as_str(),
            (None, true) => "add",
            (None, false) => "noChange",
        };
        push(
            company_action,
            "WHCCompany",
            chars(&[
                ("customerName", c.name.as_deref()),
                ("customerDomain", c.domain.as_deref()),
                ("customerGroup", c.group.as_deref()),
                ("serviceId", Some(&c.service_id)),
                ("qualifierId", c.qualification_id.as_deref()),
            ]),
            None,
        );
        for s in &self.sites {
            let place = s.nad_key.as_ref().map(|k| {
                json!([{"id": k, "role": "installationAddress", "@referredType": "GeographicAddress"}])
            });
            let site = chars(&[
                ("serviceId", s.service_id.as_deref()),
                ("siteName", s.name.as_deref()),
                ("siteLocationCode", s.location_code.as_deref()),
            ]);
            push(action(&s.action), "WHCSite", site, place);
        }
        for n in &self.numbers {
            let end = n.end.as_deref().unwrap_or(&n.start);
            let block = chars(&[("startNumber", Some(&n.start)), ("endNumber", Some(end))]);
            push(action(&n.action), "WHCNumberBlock", block, None);
        }
        for u in &self.users {
            push(action(&u.action), "WHCUser", u.characteristics(), None);
        }
        for d in &self.devices {
            let device = chars(&[
                ("serviceId", d.service_id.as_deref()),
                ("userServiceId", d.user_service_id.as_deref()),
                ("deviceName", d.name.as_deref()),
                ("macAddress", d.mac.as_deref()),
                ("deviceModel", d.model.as_deref()),
            ]);
            push(action(&d.action), "WHCDevice", device, None);
        }
        for t in &self.trunks {
            let channels = t.channels.map(|c| c.to_string());
            let trunk = chars(&[
                ("serviceId", t.service_id.as_deref()),
                ("trunkName", t.name.as_deref()),
                ("channels", channels.as_deref()),
                ("siteServiceId", t.site_service_id.as_deref()),
            ]);
            push(action(&t.action), "WHCTrunk", trunk, None);
        }
        json!({
            "externalId": external_id,
            "relatedParty": [{"id": cug, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": billing_account},
            "productOrderItem": items,
        })
    }
}

impl BtClient {
    /// Creates an order from a TMF622 body (see [`OrderSpec::to_body`]); returns its id.
    ///
    /// Never creates it twice: when the outcome of the POST is unknown (timeout, connection lost
    /// after sending) or BT says the `externalId` exists, the order is looked up by its
    /// `externalId`, and only sent again if BT has no such order.
    pub async fn order_create(&self, body: Value) -> Result<String, ApiError> {
        let external_id = body
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let first = self.order_create_once(body.clone()).await;
        let Some(ext) = external_id else { return first };
        match first {
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(external_id = %ext, "create order: outcome unknown ({e}); looking the order up");
                match self.order_find(&ext).await? {
                    Some(id) => Ok(id),
                    None => self.order_create_once(body).await,
                }
            }
            Err(ApiError::Bt(e)) if e.reason == "DuplicateExternalId" => {
                match self.order_find(&ext).await? {
                    Some(id) => Ok(id),
                    None => Err(ApiError::Bt(e)),
                }
            }
            other => other,
        }
    }

    async fn order_create_once(&self, body: Value) -> Result<String, ApiError> {
        let req = Request::post(Operation::OrderCreate, format!("{BASE}/productOrder"), body);
        let v = self.send(req).await?.body;
        id_of(Operation::OrderCreate, &v)
    }

    /// The id of the order carrying `external_id`, if BT has one.
    pub async fn order_find(&self, external_id: &str) -> Result<Option<String>, ApiError> {
        let page = self
            .order_list(&OrderFilter {
                external_id: Some(external_id.to_string()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        Ok(page
            .body
            .as_array()
            .and_then(|a| a.first())
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    /// Submits a created order for processing. When the outcome is unknown, the order's state
    /// tells whether the submit took effect, and it is only sent again if the order is still pending.
    pub async fn order_submit(&self, id: &str) -> Result<Value, ApiError> {
        let body = json!({"productOrder": {"id": id, "@referredType": "ProductOrder"}});
        let req = Request::post(
            Operation::OrderSubmit,
            format!("{BASE}/submit-product-order"),
            body.clone(),
        );
        match self.send(req).await {
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(order = %id, "submit order: outcome unknown ({e}); checking the order");
                if self.order_submitted(id).await? {
                    return Ok(json!({"id": id, "productOrder": body["productOrder"]}));
                }
                let req = Request::post(
                    Operation::OrderSubmit,
                    format!("{BASE}/submit-product-order"),
                    body,
                );
                Ok(self.send(req).await?.body)
            }
            other => Ok(other?.body),
        }
    }

    /// Whether an order has left the `pending` (created, not submitted) state.
    pub async fn order_submitted(&self, id: &str) -> Result<bool, ApiError> {
        let order = self.order_get(id).await?;
        Ok(order
            .get("state")
            .and_then(Value::as_str)
            .is_some_and(|s| s != "pending"))
    }

    /// Any kind of order by its id: WHC provide and follow-on orders (`BTWKN…`), number import
    /// orders and Ethernet orders, each from its own resource.
    pub async fn order_get_any(&self, id: &str) -> Result<Value, ApiError> {
        if id.starts_with("BTWPI") {
            self.port_get(id).await
        } else if id.starts_with("EOR") {
            self.ethernet_get(id).await
        } else {
            self.order_get(id).await
        }
    }

    /// One order, with its state and items.
    pub async fn order_get(&self, id: &str) -> Result<Value, ApiError> {
        let req = Request::get(
            Operation::OrderGet,
            format!("{BASE}/productOrder/{}", seg(id)),
        );
        Ok(self.send(req).await?.body)
    }

    /// A page of orders matching `filter`, newest first.
    pub async fn order_list(&self, filter: &OrderFilter) -> Result<Page, ApiError> {
        let mut req = Request::get(Operation::OrderList, format!("{BASE}/productOrder"))
            .query("offset", filter.offset.to_string())
            .query("limit", filter.limit.max(1).to_string());
        if let Some(s) = &filter.state {
            req = req.query("state", s.clone());
        }
        if let Some(e) = &filter.external_id {
            req = req.query("externalId", e.clone());
        }
        self.send(req).await
    }

    /// Asks BT to cancel an order that has not started.
    pub async fn order_cancel(&self, id: &str) -> Result<Value, ApiError> {
        let body = json!({"productOrder": {"id": id, "@referredType": "ProductOrder"}});
        let req = Request::post(
            Operation::OrderCancel,
            format!("{BASE}/cancelProductOrder"),
            body,
        );
        Ok(self.send(req).await?.body)
    }
}

fn id_of(op: Operation, v: &Value) -> Result<String, ApiError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::Decode {
            operation: op.into(),
            detail: "no id in the answer".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> OrderSpec {
        serde_json::from_value(json!({
            "company": {"service_id": "WHHC1", "name": "N", "domain": "n.com", "group": "G", "qualification_id": "Q1"},
            "sites": [{"name": "HQ", "nad_key": "R1"}],
            "numbers": [{"start": "01214960000"}],
            "users": [{"first_name": "A", "last_name": "B", "username": "ab@n.com", "device": {"name": "D1"}}]
        }))
        .unwrap()
    }

    #[test]
    fn body_has_one_item_per_thing() {
        let body = spec().to_body("CUG1", "BA1", "ext-1");
        let items = body["productOrderItem"].as_array().unwrap();
        let offerings: Vec<&str> = items
            .iter()
            .map(|i| i["productOffering"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            offerings,
            ["WHCCompany", "WHCSite", "WHCNumberBlock", "WHCUser"]
        );
        assert_eq!(items[1]["relatedPlace"][0]["id"], "R1");
        assert_eq!(body["externalId"], "ext-1");
        // An absent value is left out, not sent as null.
        let user_chars = items[3]["product"]["productCharacteristic"]
            .as_array()
            .unwrap();
        assert!(user_chars.iter().all(|c| c["value"].is_string()));
        assert_eq!(
            items[2]["product"]["productCharacteristic"][1]["value"],
            "01214960000"
        );
    }

    #[test]
    fn existing_company_is_no_change() {
        let mut s = spec();
        s.company.name = None;
        let body = s.to_body("CUG1", "BA1", "e");
        assert_eq!(body["productOrderItem"][0]["action"], "noChange");
    }

    #[test]
    fn typos_are_refused() {
        let r: Result<OrderSpec, _> =
            serde_json::from_value(json!({"company": {"service_id": "x"}, "usres": []}));
        assert!(r.unwrap_err().to_string().contains("unknown field `usres`"));
    }
}
