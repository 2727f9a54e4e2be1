//! Ethernet: quotes (TMF648), qualification (TMF679), appointments (TMF646), orders (TMF622), services.
//!
//! Requests are typed (`quote`, `order`, `appointment`, built from what the script functions
//! take); answers stay BT's JSON.

mod appointment;
mod order;
mod quote;
mod wire;

pub use appointment::{BookRequest, BookSpec, Reschedule, Slot, SlotSearch};
pub use order::{
    AmendSpec, CeaseSpec, ModifySpec, OrderChange, OrderItem, OrderSpec, ProductOrder, TrackFilter,
};
pub use quote::{QuoteItem, QuoteProduct, QuoteRequest, QuoteSpec};
pub use wire::{Action, Bandwidth, Characteristic, Place, SiteContact, SiteContactSpec, Term};

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Page, Request};
use super::whc::seg;
use serde::Serialize;
use serde_json::{json, Value};

const QUOTE: &str = "/tmf-api/quoteManagement/v4/quote";
const QUALIFY: &str =
    "/tmf-api/productOfferingQualificationManagement/v4/productOfferingQualification";
const SLOTS: &str = "/common/appointmentManagement/v4/searchTimeSlot";
const APPOINTMENT: &str = "/common/appointmentManagement/v4/appointment";
const ORDERS: &str = "/tmf-api/productOrderingManagement/v4";
const INVENTORY: &str = "/tmf-api/productInventory/v4/product";

/// Which Ethernet products are available at a place (TMF679).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QualifyRequest {
    pub place: Place,
}

/// A typed request as the JSON body BT is sent. The request types hold strings, lists and
/// structs only, which always write; a failure is still an error, not a panic.
pub fn request_json(operation: Operation, request: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(request).map_err(|e| ApiError::Refused {
        operation: operation.into(),
        detail: format!("the request could not be written as JSON: {e}"),
    })
}

impl BtClient {
    pub async fn ethernet_quote(&self, quote: &QuoteRequest) -> Result<Value, ApiError> {
        let op = Operation::EthernetQuote;
        // A quote reserves nothing and costs nothing: a repeat only makes another quote.
        Ok(self
            .send(Request::post(op, QUOTE, request_json(op, quote)?))
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
    pub async fn ethernet_qualify(&self, request: &QualifyRequest) -> Result<Value, ApiError> {
        let op = Operation::EthernetQualify;
        Ok(self
            .send(Request::post(op, QUALIFY, request_json(op, request)?).safe())
            .await?
            .body)
    }

    pub async fn ethernet_slots(&self, search: &SlotSearch) -> Result<Value, ApiError> {
        let op = Operation::EthernetSlots;
        Ok(self
            .send(Request::post(op, SLOTS, request_json(op, search)?).safe())
            .await?
            .body)
    }

    pub async fn ethernet_book(&self, booking: &BookRequest) -> Result<Value, ApiError> {
        let op = Operation::EthernetBook;
        Ok(self
            .send(Request::post(op, APPOINTMENT, request_json(op, booking)?))
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
    pub async fn ethernet_reschedule(&self, id: &str, to: &Reschedule) -> Result<Value, ApiError> {
        let op = Operation::EthernetReschedule;
        let req = Request::patch(
            op,
            format!("{APPOINTMENT}/{}", seg(id)),
            request_json(op, to)?,
        );
        Ok(self.send(req).await?.body)
    }

    /// Places an Ethernet order (provide, modify or cease); never twice: an unknown outcome is
    /// settled by looking the order up by its `externalId` before sending again.
    pub async fn ethernet_order(&self, order: &ProductOrder) -> Result<Value, ApiError> {
        let body = request_json(Operation::EthernetOrder, order)?;
        let ext = &order.external_id;
        let path = format!("{ORDERS}/productOrder");
        let first = self
            .send(Request::post(
                Operation::EthernetOrder,
                path.clone(),
                body.clone(),
            ))
            .await
            .map(|p| p.body);
        match first {
            Err(e) if e.outcome_unknown() => match self.ethernet_find(ext).await? {
                Some(o) => Ok(o),
                None => Ok(self
                    .send(Request::post(Operation::EthernetOrder, path, body))
                    .await?
                    .body),
            },
            Err(ApiError::Bt(e)) if e.reason == "DuplicateExternalId" => {
                match self.ethernet_find(ext).await? {
                    Some(o) => Ok(o),
                    None => Err(ApiError::Bt(e)),
                }
            }
            other => other,
        }
    }

    pub async fn ethernet_find(&self, external_id: &str) -> Result<Option<Value>, ApiError> {
        let page = self
            .ethernet_track(&TrackFilter {
                external_id: Some(external_id.to_string()),
                limit: Some(1),
                ..Default::default()
            })
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

    pub async fn ethernet_track(&self, filter: &TrackFilter) -> Result<Page, ApiError> {
        let mut req = Request::get(Operation::EthernetTrack, format!("{ORDERS}/productOrder"));
        for (k, v) in filter.query() {
            req = req.query(k, v);
        }
        self.send(req).await
    }

    /// Changes an open order in flight (site contact, bandwidth).
    pub async fn ethernet_amend(&self, id: &str, patch: &OrderChange) -> Result<Value, ApiError> {
        let op = Operation::EthernetAmend;
        let path = format!("{ORDERS}/productOrder/{}", seg(id));
        let req = Request::patch(op, path, request_json(op, patch)?);
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
