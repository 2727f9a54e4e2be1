//! Ethernet: quotes (TMF648), qualification (TMF679), appointments (TMF646), orders (TMF622), services.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Page, Request};
use super::whc::seg;
use serde_json::{json, Value};

const QUOTE: &str = "/tmf-api/quoteManagement/v4/quote";
const QUALIFY: &str =
    "/tmf-api/productOfferingQualificationManagement/v4/productOfferingQualification";
const SLOTS: &str = "/common/appointmentManagement/v4/searchTimeSlot";
const APPOINTMENT: &str = "/common/appointmentManagement/v4/appointment";
const ORDERS: &str = "/tmf-api/productOrderingManagement/v4";
const INVENTORY: &str = "/tmf-api/productInventory/v4/product";

/// Query parameters of a list call, in order.
pub type Query = Vec<(&'static str, String)>;

fn with_query(mut req: Request, q: &Query) -> Request {
    for (k, v) in q {
        req = req.query(k, v.clone());
    }
    req
}

impl BtClient {
    pub async fn ethernet_quote(&self, body: Value) -> Result<Value, ApiError> {
        // A quote reserves nothing and costs nothing: a repeat only makes another quote.
        Ok(self
            .send(Request::post(Operation::EthernetQuote, QUOTE, body))
            .await?
            .body)
    }

    pub async fn ethernet_get_quote(&self, id: &str) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::get(
                Operation::EthernetGetQuote,
                format!("{QUOTE}/{}", seg(id)),
            ))
            .await?
            .body)
    }

    /// Which Ethernet products are available at a place.
    pub async fn ethernet_qualify(&self, body: Value) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::post(Operation::EthernetQualify, QUALIFY, body).safe())
            .await?
            .body)
    }

    pub async fn ethernet_slots(&self, body: Value) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::post(Operation::EthernetSlots, SLOTS, body).safe())
            .await?
            .body)
    }

    pub async fn ethernet_book(&self, body: Value) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::post(Operation::EthernetBook, APPOINTMENT, body))
            .await?
            .body)
    }

    pub async fn ethernet_cancel_appointment(&self, id: &str) -> Result<Value, ApiError> {
        let req = Request::patch(
            Operation::EthernetCancelAppointment,
            format!("{APPOINTMENT}/{}", seg(id)),
            json!({"status": "cancelled"}),
        );
        Ok(self.send(req).await?.body)
    }

    /// Moves an appointment to another slot (TMF646 PATCH with the slot's `timeSlot.id`, or a
    /// `validFor` start); repeating it is harmless (the appointment is already there).
    pub async fn ethernet_reschedule(&self, id: &str, slot: &str) -> Result<Value, ApiError> {
        let body = if slot.starts_with("SLOT-") {
            json!({"timeSlot": {"id": slot}})
        } else {
            json!({"validFor": {"startDateTime": slot}})
        };
        let req = Request::patch(
            Operation::EthernetReschedule,
            format!("{APPOINTMENT}/{}", seg(id)),
            body,
        );
        Ok(self.send(req).await?.body)
    }

    /// Places an Ethernet order (provide, modify or cease); never twice: an unknown outcome is
    /// settled by looking the order up by its `externalId` before sending again.
    pub async fn ethernet_order(&self, body: Value) -> Result<Value, ApiError> {
        let external_id = body
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let path = format!("{ORDERS}/productOrder");
        let first = self
            .send(Request::post(
                Operation::EthernetOrder,
                path.clone(),
                body.clone(),
            ))
            .await
            .map(|p| p.body);
        let Some(ext) = external_id else { return first };
        match first {
            Err(e) if e.outcome_unknown() => match self.ethernet_find(&ext).await? {
                Some(o) => Ok(o),
                None => Ok(self
                    .send(Request::post(Operation::EthernetOrder, path, body))
                    .await?
                    .body),
            },
            Err(ApiError::Bt(e)) if e.reason == "DuplicateExternalId" => {
                match self.ethernet_find(&ext).await? {
                    Some(o) => Ok(o),
                    None => Err(ApiError::Bt(e)),
                }
            }
            other => other,
        }
    }

    pub async fn ethernet_find(&self, external_id: &str) -> Result<Option<Value>, ApiError> {
        let page = self
            .ethernet_track(&vec![
                ("externalId", external_id.to_string()),
                ("limit", "1".into()),
            ])
            .await?;
        Ok(page.body.as_array().and_then(|a| a.first()).cloned())
    }

    pub async fn ethernet_get(&self, id: &str) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::get(
                Operation::EthernetGet,
                format!("{ORDERS}/productOrder/{}", seg(id)),
            ))
            .await?
            .body)
    }

    pub async fn ethernet_track(&self, q: &Query) -> Result<Page, ApiError> {
        self.send(with_query(
            Request::get(Operation::EthernetTrack, format!("{ORDERS}/productOrder")),
            q,
        ))
        .await
    }

    /// Changes an open order in flight (site contact, bandwidth).
    pub async fn ethernet_amend(&self, id: &str, patch: Value) -> Result<Value, ApiError> {
        let req = Request::patch(
            Operation::EthernetAmend,
            format!("{ORDERS}/productOrder/{}", seg(id)),
            patch,
        );
        Ok(self.send(req).await?.body)
    }

    pub async fn ethernet_cancel(&self, id: &str) -> Result<Value, ApiError> {
        let body = json!({"productOrder": {"id": id}});
        let req = Request::post(
            Operation::EthernetCancel,
            format!("{ORDERS}/cancelProductOrder"),
            body,
        );
        Ok(self.send(req).await?.body)
    }

    /// A live (or ceased) Ethernet service.
    pub async fn ethernet_service(&self, id: &str) -> Result<Value, ApiError> {
        Ok(self
            .send(Request::get(
                Operation::EthernetService,
                format!("{INVENTORY}/{}", seg(id)),
            ))
            .await?
            .body)
    }
}
