//! Ethernet product orders (TMF622): what `ethernet::order`, `modify`, `cease`, `amend` and
//! `track` take, and the orders, patches and queries BT is sent.

use super::wire::{Action, Bandwidth, Characteristic, SiteContact, SiteContactSpec};
use serde::{Deserialize, Serialize};

/// `ethernet::order`'s request map: a quoted circuit to provide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSpec {
    pub quote_id: String,
    /// The quote's item; default `"1"`.
    #[serde(default)]
    pub item: Option<String>,
    /// The booked engineer visit GEA products need.
    #[serde(default)]
    pub appointment_id: Option<String>,
    #[serde(default)]
    pub site_contact: Option<SiteContactSpec>,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `ethernet::modify`'s changes to a live service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifySpec {
    pub bandwidth: Bandwidth,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `ethernet::cease`'s options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeaseSpec {
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `ethernet::amend`'s changes to an order in flight.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendSpec {
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
    #[serde(default)]
    pub site_contact: Option<SiteContactSpec>,
}

/// What an order or an amendment asks for: its items and the site contact. An amendment with
/// neither is sent empty, as BT's PATCH allows.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderChange {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_order_item: Vec<OrderItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_party: Option<Vec<SiteContact>>,
}

/// One TMF622 order item; which parts it has depends on what it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub id: String,
    /// Absent in an amendment, which changes the order's own item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_item: Option<QuoteItemRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment: Option<IdRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ItemProduct>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteItemRef {
    pub quote_id: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdRef {
    pub id: String,
}

/// The product an item changes: a live service by its id, and its new characteristics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemProduct {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        rename = "productCharacteristic",
        skip_serializing_if = "Option::is_none"
    )]
    pub characteristics: Option<Vec<Characteristic>>,
}

/// An order BT is sent: the change under the caller's `externalId`, which finds it again.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOrder {
    #[serde(flatten)]
    pub change: OrderChange,
    pub external_id: String,
}

fn single_item(action: Option<Action>) -> OrderItem {
    OrderItem {
        id: "1".into(),
        action,
        quote_item: None,
        appointment: None,
        product: None,
    }
}

fn site_contact(c: &Option<SiteContactSpec>) -> Option<Vec<SiteContact>> {
    c.as_ref().map(|c| vec![SiteContact::from(c)])
}

impl OrderChange {
    /// A new circuit from its quote.
    pub fn provide(spec: &OrderSpec) -> Self {
        let item = OrderItem {
            quote_item: Some(QuoteItemRef {
                quote_id: spec.quote_id.clone(),
                id: spec.item.clone().unwrap_or_else(|| "1".into()),
            }),
            appointment: spec.appointment_id.clone().map(|id| IdRef { id }),
            ..single_item(Some(Action::Add))
        };
        OrderChange {
            product_order_item: vec![item],
            related_party: site_contact(&spec.site_contact),
        }
    }

    /// A live service at another bandwidth.
    pub fn modify(service_id: &str, spec: &ModifySpec) -> Self {
        let item = OrderItem {
            product: Some(ItemProduct {
                id: Some(service_id.to_string()),
                characteristics: Some(vec![Characteristic::bandwidth(&spec.bandwidth)]),
            }),
            ..single_item(Some(Action::Modify))
        };
        OrderChange {
            product_order_item: vec![item],
            related_party: None,
        }
    }

    /// A live service ceased.
    pub fn cease(service_id: &str) -> Self {
        let item = OrderItem {
            product: Some(ItemProduct {
                id: Some(service_id.to_string()),
                characteristics: None,
            }),
            ..single_item(Some(Action::Delete))
        };
        OrderChange {
            product_order_item: vec![item],
            related_party: None,
        }
    }

    /// An order in flight changed: its bandwidth, its site contact, or both.
    pub fn amend(spec: &AmendSpec) -> Self {
        let items = spec.bandwidth.as_ref().map(|bw| OrderItem {
            product: Some(ItemProduct {
                id: None,
                characteristics: Some(vec![Characteristic::bandwidth(bw)]),
            }),
            ..single_item(None)
        });
        OrderChange {
            product_order_item: items.into_iter().collect(),
            related_party: site_contact(&spec.site_contact),
        }
    }

    pub fn with_external_id(self, external_id: String) -> ProductOrder {
        ProductOrder {
            change: self,
            external_id,
        }
    }
}

/// `ethernet::track`'s filter (all optional), and the query it is sent as.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFilter {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub milestone: Option<String>,
    #[serde(default)]
    pub has_open_actions: Option<bool>,
    #[serde(default)]
    pub offset: Option<u32>,
    #[serde(default)]
    pub limit: Option<u32>,
}

impl TrackFilter {
    /// The first page of 20 unless another is asked for, as `ethernet::track` lists.
    pub fn paged(self) -> Self {
        TrackFilter {
            offset: Some(self.offset.unwrap_or(0)),
            limit: Some(self.limit.unwrap_or(20)),
            ..self
        }
    }

    /// Query parameters, in order; absent ones are left out.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let texts = [
            ("id", self.id.clone()),
            ("state", self.state.clone()),
            ("externalId", self.external_id.clone()),
            ("milestone", self.milestone.clone()),
            (
                "hasOpenActions",
                self.has_open_actions.map(|b| b.to_string()),
            ),
            ("offset", self.offset.map(|n| n.to_string())),
            ("limit", self.limit.map(|n| n.to_string())),
        ];
        texts
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn wire(change: OrderChange) -> Value {
        serde_json::to_value(change.with_external_id("ext-1".into())).unwrap()
    }

    #[test]
    fn a_provide_names_its_quote_appointment_and_contact() {
        let spec: OrderSpec =
            serde_json::from_value(json!({"quote_id": "Q1", "appointment_id": "APT1",
            "site_contact": {"name": "Ann Other", "phone": "07700900123"}}))
            .unwrap();
        assert_eq!(
            wire(OrderChange::provide(&spec)),
            json!({"productOrderItem": [{"id": "1", "action": "add",
                       "quoteItem": {"quoteId": "Q1", "id": "1"}, "appointment": {"id": "APT1"}}],
                   "relatedParty": [{"role": "siteContact", "name": "Ann Other", "phone": "07700900123"}],
                   "externalId": "ext-1"})
        );
        let bare: OrderSpec =
            serde_json::from_value(json!({"quote_id": "Q2", "item": "2"})).unwrap();
        assert_eq!(
            wire(OrderChange::provide(&bare)),
            json!({"productOrderItem": [{"id": "1", "action": "add", "quoteItem": {"quoteId": "Q2", "id": "2"}}],
                   "externalId": "ext-1"})
        );
    }

    #[test]
    fn a_modify_and_a_cease_name_the_service() {
        let spec: ModifySpec = serde_json::from_value(json!({"bandwidth": 10000})).unwrap();
        assert_eq!(
            wire(OrderChange::modify("ETH000001", &spec)),
            json!({"productOrderItem": [{"id": "1", "action": "modify", "product": {"id": "ETH000001",
                       "productCharacteristic": [{"name": "bandwidth", "value": "10000"}]}}],
                   "externalId": "ext-1"})
        );
        assert_eq!(
            wire(OrderChange::cease("ETH000001")),
            json!({"productOrderItem": [{"id": "1", "action": "delete", "product": {"id": "ETH000001"}}],
                   "externalId": "ext-1"})
        );
    }

    #[test]
    fn an_amendment_patches_only_what_is_given() {
        let spec: AmendSpec = serde_json::from_value(json!({"bandwidth": "500",
            "site_contact": {"name": "Ann Other"}}))
        .unwrap();
        assert_eq!(
            serde_json::to_value(OrderChange::amend(&spec)).unwrap(),
            json!({"productOrderItem": [{"id": "1", "product": {
                       "productCharacteristic": [{"name": "bandwidth", "value": "500"}]}}],
                   "relatedParty": [{"role": "siteContact", "name": "Ann Other", "phone": null}]})
        );
        assert_eq!(
            serde_json::to_value(OrderChange::amend(&AmendSpec::default())).unwrap(),
            json!({})
        );
    }

    #[test]
    fn tracking_queries_keep_their_order_and_page() {
        let f: TrackFilter = serde_json::from_value(json!({"state": "inProgress",
            "has_open_actions": true, "limit": 5}))
        .unwrap();
        let q = f.paged().query();
        assert_eq!(
            q,
            [
                ("state", "inProgress".to_string()),
                ("hasOpenActions", "true".into()),
                ("offset", "0".into()),
                ("limit", "5".into())
            ]
        );
    }
}
