//! What `ethernet::quote` takes: a new circuit to price (`add`) or a live service at another
//! bandwidth (`modify`), read into the TMF648 quote item BT expects.

use super::wire::{bandwidth, place};
use serde_json::{json, Value};

/// `ethernet::quote`'s request map; which keys apply depends on `action`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuoteArgs {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    product: Option<String>,
    bandwidth: Value,
    #[serde(default)]
    term: Option<Value>,
    #[serde(default)]
    a_end: Option<String>,
    #[serde(default)]
    b_end: Option<String>,
    #[serde(default)]
    service_id: Option<String>,
    #[serde(default)]
    pub(super) external_id: Option<String>,
}

impl QuoteArgs {
    /// The one quote item to send, or what is wrong with the request (without the function name).
    pub(super) fn item(&self) -> Result<Value, String> {
        let bw = bandwidth(&self.bandwidth).ok_or("bandwidth must be a number of Mbit/s")?;
        match self.action.as_deref().unwrap_or("add") {
            "add" => self.add_item(bw),
            "modify" => self.modify_item(bw),
            other => Err(format!(
                "action must be \"add\" or \"modify\", not {other:?}"
            )),
        }
    }

    fn add_item(&self, bw: String) -> Result<Value, String> {
        if self.service_id.is_some() {
            return Err("service_id is only for action: \"modify\"".into());
        }
        let product = self
            .product
            .as_deref()
            .ok_or("product: required, but not given")?;
        let a_end = self
            .a_end
            .as_deref()
            .ok_or("a_end: required, but not given")?;
        let term = match &self.term {
            None => "12".to_string(),
            Some(t) => bandwidth(t).ok_or("term must be 12, 36 or 60")?,
        };
        let mut places = vec![place(a_end)];
        places[0]["role"] = json!("aEnd");
        if let Some(b) = &self.b_end {
            let mut p = place(b);
            p["role"] = json!("bEnd");
            places.push(p);
        }
        Ok(json!({"id": "1", "action": "add", "product": {
            "@type": product, "place": places,
            "productCharacteristic": [{"name": "bandwidth", "value": bw}, {"name": "term", "value": term}]}}))
    }

    /// A modify keeps the service's product, ends and term: only the bandwidth changes.
    fn modify_item(&self, bw: String) -> Result<Value, String> {
        let service = self
            .service_id
            .as_deref()
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
        Ok(json!({"id": "1", "action": "modify", "product": {
            "id": service,
            "productCharacteristic": [{"name": "bandwidth", "value": bw}]}}))
    }
}

#[cfg(test)]
mod tests {
    use super::QuoteArgs;
    use serde_json::json;

    fn args(v: serde_json::Value) -> QuoteArgs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn add_and_modify_items() {
        let add = args(
            json!({"product": "EtherwayFibre", "bandwidth": 1000, "a_end": "IP5 3RE",
                              "b_end": "R00000010001"}),
        )
        .item()
        .unwrap();
        assert_eq!(add["action"], "add");
        assert_eq!(add["product"]["place"][1]["id"], "R00000010001");
        assert_eq!(add["product"]["productCharacteristic"][1]["value"], "12");

        let m = args(json!({"action": "modify", "service_id": "ETH000001", "bandwidth": 10000}))
            .item()
            .unwrap();
        assert_eq!(m["action"], "modify");
        assert_eq!(m["product"]["id"], "ETH000001");
        assert_eq!(m["product"]["productCharacteristic"][0]["value"], "10000");
    }

    #[test]
    fn requests_that_do_not_fit_their_action() {
        let err = |v| args(v).item().unwrap_err();
        assert!(err(json!({"action": "modify", "bandwidth": 100})).contains("service_id"));
        assert!(err(
            json!({"action": "modify", "service_id": "ETH000001", "bandwidth": 100,
                           "term": 36})
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
        .contains("bandwidth"));
    }
}
