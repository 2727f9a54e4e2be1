//! Number porting (WHC import orders): portability check, lead times, import orders, activation.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::order::OrderFilter;
use super::request::{Page, Request};
use super::whc::seg;
use serde_json::{json, Value};

const BASE: &str = "/bt-wholesale/v1/order/numberImportOrder";

/// A single number or a range (DDI block) to check or port.
#[derive(Debug, Clone, PartialEq)]
pub enum PortNumbers {
    List(Vec<String>),
    Range { start: String, end: String },
}

impl PortNumbers {
    fn add_query(&self, mut req: Request) -> Request {
        match self {
            PortNumbers::List(list) if list.len() == 1 => req.query("number", list[0].clone()),
            PortNumbers::List(list) => req.query("numbers", list.join(",")),
            PortNumbers::Range { start, end } => {
                req = req.query("rangeStart", start.clone());
                req.query("rangeEnd", end.clone())
            }
        }
    }
}

impl BtClient {
    /// Whether a number (or, for WHC, a range) can be ported in: its `portState`, range holder, …
    pub async fn port_check(
        &self,
        numbers: &PortNumbers,
        product: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut req = numbers.add_query(Request::get(
            Operation::PortCheck,
            "/bt-wholesale/v1/whc/numberPortability",
        ));
        if let Some(p) = product {
            req = req.query("product", p);
        }
        Ok(self.send(req).await?.body)
    }

    /// The earliest port date BT accepts for an import of these numbers, from today.
    pub async fn port_earliest_date(
        &self,
        import_type: &str,
        numbers: &PortNumbers,
        losing_provider: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut req = Request::get(
            Operation::PortEarliestDate,
            format!("{BASE}/earliestPortDate"),
        )
        .query("importType", import_type);
        req = match numbers {
            PortNumbers::List(list) => req.query("numbers", list.join(",")),
            other => other.add_query(req),
        };
        if let Some(l) = losing_provider {
            req = req.query("losingProvider", l);
        }
        Ok(self.send(req).await?.body)
    }

    /// Places an import order; never twice (see [`BtClient::order_create`]): when the outcome is
    /// unknown the order is looked up by its `externalId` first.
    pub async fn port_import(&self, body: Value) -> Result<Value, ApiError> {
        let external_id = body
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let send = |b: Value| async {
            Ok::<_, ApiError>(
                self.send(Request::post(Operation::PortImport, BASE, b))
                    .await?
                    .body,
            )
        };
        let first = send(body.clone()).await;
        let Some(ext) = external_id else { return first };
        match first {
            Err(e) if e.outcome_unknown() => match self.port_find(&ext).await? {
                Some(order) => Ok(order),
                None => send(body).await,
            },
            Err(ApiError::Bt(e)) if e.reason == "DuplicateExternalId" => {
                match self.port_find(&ext).await? {
                    Some(order) => Ok(order),
                    None => Err(ApiError::Bt(e)),
                }
            }
            other => other,
        }
    }

    /// The import order carrying `external_id`, if BT has one.
    pub async fn port_find(&self, external_id: &str) -> Result<Option<Value>, ApiError> {
        let page = self
            .port_list(&OrderFilter {
                external_id: Some(external_id.into()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        Ok(page.body.as_array().and_then(|a| a.first()).cloned())
    }

    pub async fn port_get(&self, id: &str) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::get(
                Operation::PortGet,
                format!("{BASE}/{}", seg(id)),
            ))
            .await?
            .body)
    }

    pub async fn port_list(&self, f: &OrderFilter) -> Result<Page, ApiError> {
        let mut req = Request::get(Operation::PortList, BASE)
            .query("offset", f.offset.to_string())
            .query("limit", f.limit.max(1).to_string());
        if let Some(s) = &f.state {
            req = req.query("state", s.clone());
        }
        if let Some(e) = &f.external_id {
            req = req.query("externalId", e.clone());
        }
        self.send(req).await
    }

    /// Changes an open import order's port date and/or numbers.
    pub async fn port_amend(&self, id: &str, patch: Value) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::patch(
                Operation::PortAmend,
                format!("{BASE}/{}", seg(id)),
                patch,
            ))
            .await?
            .body)
    }

    pub async fn port_cancel(&self, id: &str) -> Result<Value, ApiError> {
        let req = Request::post(
            Operation::PortCancel,
            format!("{BASE}/{}/cancel", seg(id)),
            json!({}),
        );
        Ok(self.send(req).await?.body)
    }

    /// Activates an accepted port on its port date, completing the import order.
    pub async fn port_activate(&self, id: &str) -> Result<Value, ApiError> {
        let req = Request::post(
            Operation::PortActivate,
            "/bt-wholesale/v1/order/activatePort",
            json!({"importOrderId": id}),
        );
        Ok(self.send(req).await?.body)
    }

    /// Ringfences an accepted port's numbers to a company ahead of the port date.
    pub async fn port_allocate(
        &self,
        cug: &str,
        port_order_id: &str,
        service_id: &str,
    ) -> Result<Value, ApiError> {
        let body = json!({
            "customer": {"id": cug, "type": "BUSINESS"},
            "numbers": {"characteristics": {"portOrderId": port_order_id}},
            "product": {"name": "WHC"},
            "action": "RingFence",
            "ringFenceId": service_id,
        });
        let req = Request::post(
            Operation::PortAllocate,
            "/v1/resourceManagement/directoryNumbers/ringFence",
            body,
        );
        Ok(self.send(req).await?.body)
    }
}
