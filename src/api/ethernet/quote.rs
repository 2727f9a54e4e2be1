//! Ethernet quotes (TMF648): a new circuit to price (`add`) or a live service at another
//! bandwidth (`modify`), from what `ethernet::quote` takes to the quote BT is sent.

use super::wire::{Action, Bandwidth, Characteristic, EndPlace, EndRole, Place, Term};
use serde::{Deserialize, Serialize};

/// `ethernet::quote`'s request map; which keys apply depends on `action`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteSpec {
    /// `"add"` (default) or `"modify"`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    pub bandwidth: Bandwidth,
    #[serde(default)]
    pub term: Option<Term>,
    #[serde(default)]
    pub a_end: Option<String>,
    #[serde(default)]
    pub b_end: Option<String>,
    /// The live service a `modify` prices.
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The quote BT is sent: one item under the caller's `externalId`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteRequest {
    pub external_id: String,
    pub quote_item: Vec<QuoteItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuoteItem {
    pub id: String,
    pub action: Action,
    pub product: QuoteProduct,
}

/// What is priced: a new circuit between its ends, or a live service by its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QuoteProduct {
    New {
        #[serde(rename = "@type")]
        product: String,
        place: Vec<EndPlace>,
        #[serde(rename = "productCharacteristic")]
        characteristics: Vec<Characteristic>,
    },
    Live {
        id: String,
        #[serde(rename = "productCharacteristic")]
        characteristics: Vec<Characteristic>,
    },
}

impl TryFrom<&QuoteSpec> for QuoteItem {
    /// What is wrong with the request, without the function's name.
    type Error = String;

    fn try_from(spec: &QuoteSpec) -> Result<Self, String> {
        let (action, product) = match spec.action.as_deref().unwrap_or("add") {
            "add" => (Action::Add, spec.new_circuit()?),
            "modify" => (Action::Modify, spec.live_service()?),
            other => {
                return Err(format!(
                    "action must be \"add\" or \"modify\", not {other:?}"
                ))
            }
        };
        Ok(QuoteItem {
            id: "1".into(),
            action,
            product,
        })
    }
}

impl QuoteSpec {
    fn new_circuit(&self) -> Result<QuoteProduct, String> {
        if self.service_id.is_some() {
            return Err("service_id is only for action: \"modify\"".into());
        }
        let product = self
            .product
            .clone()
            .ok_or("product: required, but not given")?;
        let a_end = self
            .a_end
            .as_deref()
            .ok_or("a_end: required, but not given")?;
        let mut place = vec![EndPlace {
            place: Place::parse(a_end),
            role: EndRole::AEnd,
        }];
        if let Some(b) = &self.b_end {
            place.push(EndPlace {
                place: Place::parse(b),
                role: EndRole::BEnd,
            });
        }
        let term = self.term.clone().unwrap_or_default();
        Ok(QuoteProduct::New {
            product,
            place,
            characteristics: vec![
                Characteristic::bandwidth(&self.bandwidth),
                Characteristic {
                    name: "term",
                    value: term.0,
                },
            ],
        })
    }

    /// A modify keeps the service's product, ends and term: only the bandwidth changes.
    fn live_service(&self) -> Result<QuoteProduct, String> {
        let service = self
            .service_id
            .clone()
            .ok_or("service_id: required for action: \"modify\", but not given")?;
        let extra = [
            ("product", self.product.is_some()),
            ("term", self.term.is_some()),
            ("a_end", self.a_end.is_some()),
            ("b_end", self.b_end.is_some()),
        ];
        if let Some((key, _)) = extra.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{key} is not for action: \"modify\" (the service keeps its own; give service_id and bandwidth)"
            ));
        }
        Ok(QuoteProduct::Live {
            id: service,
            characteristics: vec![Characteristic::bandwidth(&self.bandwidth)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn quote_item(v: Value) -> Result<QuoteItem, String> {
        let spec: QuoteSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        QuoteItem::try_from(&spec)
    }

    #[test]
    fn a_new_circuit_is_sent_as_today() {
        let item = quote_item(
            json!({"product": "EtherwayFibre", "bandwidth": 1000, "term": 36,
                               "a_end": "IP5 3RE", "b_end": "R00000010001"}),
        )
        .unwrap();
        let request = QuoteRequest {
            external_id: "ext-1".into(),
            quote_item: vec![item],
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"externalId": "ext-1", "quoteItem": [{"id": "1", "action": "add", "product": {
                "@type": "EtherwayFibre",
                "place": [{"postcode": "IP5 3RE", "role": "aEnd"}, {"id": "R00000010001", "role": "bEnd"}],
                "productCharacteristic": [{"name": "bandwidth", "value": "1000"}, {"name": "term", "value": "36"}]}}]})
        );
        let short = quote_item(
            json!({"product": "EtherflowInternet", "bandwidth": 0.2, "a_end": "LS1 5HD"}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&short).unwrap()["product"]["productCharacteristic"],
            json!([{"name": "bandwidth", "value": "0.2"}, {"name": "term", "value": "12"}])
        );
    }

    #[test]
    fn a_modify_prices_the_live_service() {
        let m =
            quote_item(json!({"action": "modify", "service_id": "ETH000001", "bandwidth": 10000}))
                .unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"id": "1", "action": "modify", "product": {"id": "ETH000001",
                   "productCharacteristic": [{"name": "bandwidth", "value": "10000"}]}})
        );
    }

    #[test]
    fn requests_that_do_not_fit_their_action() {
        let err = |v| quote_item(v).unwrap_err();
        assert!(err(json!({"action": "modify", "bandwidth": 100})).contains("service_id"));
        assert!(err(
            json!({"action": "modify", "service_id": "ETH000001", "bandwidth": 100, "term": 36})
        )
        .starts_with("term is not"));
        assert!(err(json!({"bandwidth": 100, "a_end": "IP5 3RE"})).starts_with("product"));
        assert!(err(json!({"product": "EtherflowInternet", "bandwidth": 100,
                           "a_end": "IP5 3RE", "service_id": "ETH000001"}))
        .contains("only for action"));
        assert!(err(json!({"action": "delete", "bandwidth": 100})).contains("add\" or \"modify"));
        assert!(err(
            json!({"product": "EtherflowInternet", "bandwidth": true, "a_end": "IP5 3RE"})
        )
        .contains("a number of Mbit/s"));
    }
}
