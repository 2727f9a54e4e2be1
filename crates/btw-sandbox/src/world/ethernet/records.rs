//! Ethernet records: quotes, appointments, orders, services, and the sub-world that holds them.

use super::availability::*;
use super::catalogue::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteItem {
    pub id: String,
    pub product: Product,
    pub places: Vec<Place>,
    pub kbps: u32,
    pub term: u32,
    pub band: u8,
    pub price: (u64, u64),
    /// The order that took this item (a quote item orders once).
    pub ordered_by: Option<String>,
    /// For a `modify` item: the service it re-prices (a provide cannot order it).
    #[serde(default)]
    pub service_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quote {
    pub id: String,
    pub seq: u64,
    pub external_id: Option<String>,
    pub created: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub items: Vec<QuoteItem>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

impl Quote {
    /// TMF648 v4 has no `expired`: a lapsed quote stays `approved`, its `validFor` past.
    pub fn state(&self) -> &'static str {
        if self.items.iter().all(|i| i.ordered_by.is_some()) {
            "accepted"
        } else {
            "approved"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AppointmentStatus {
    Initialized,
    Confirmed,
    Cancelled,
    Completed,
    Failed,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Initialized => "initialized",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Failed => "failed",
        }
    }

    /// Whether it still holds its slot.
    pub fn holds_slot(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Initialized
                | AppointmentStatus::Confirmed
                | AppointmentStatus::Completed
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Appointment {
    pub id: String,
    pub external_id: Option<String>,
    pub status: AppointmentStatus,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub slot_id: String,
    pub place: Place,
    pub created: DateTime<Utc>,
    /// The order holding it.
    pub order_id: Option<String>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

impl Appointment {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "href": format!("/common/appointmentManagement/v4/appointment/{}", self.id),
            "externalId": self.external_id,
            "@type": "Appointment",
            "status": self.status.as_str(),
            "creationDate": crate::wire::rfc3339(self.created),
            "validFor": {
                "startDateTime": crate::wire::rfc3339(self.start),
                "endDateTime": crate::wire::rfc3339(self.end),
            },
            "timeSlot": {"id": self.slot_id},
            "relatedPlace": self.place.render(),
            "productOrder": self.order_id.as_ref().map(|id| json!({"id": id})),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderAction {
    Add,
    Modify,
    Delete,
}

impl OrderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAction::Add => "add",
            OrderAction::Modify => "modify",
            OrderAction::Delete => "delete",
        }
    }

    /// The milestones after `orderAccepted`; the last one completes the order.
    pub(crate) fn later_milestones(self) -> &'static [&'static str] {
        match self {
            OrderAction::Add => &["surveyComplete", "installationScheduled", "serviceLive"],
            OrderAction::Modify => &["serviceModified"],
            OrderAction::Delete => &["serviceCeased"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EthOrderState {
    Acknowledged,
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

impl EthOrderState {
    pub const ALL: [EthOrderState; 5] = [
        EthOrderState::Acknowledged,
        EthOrderState::InProgress,
        EthOrderState::Completed,
        EthOrderState::Cancelled,
        EthOrderState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EthOrderState::Acknowledged => "acknowledged",
            EthOrderState::InProgress => "inProgress",
            EthOrderState::Completed => "completed",
            EthOrderState::Cancelled => "cancelled",
            EthOrderState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            EthOrderState::Acknowledged | EthOrderState::InProgress
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Milestone {
    pub name: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenAction {
    pub id: String,
    pub action: String,
    pub description: String,
}

pub const CONFIRM_SITE_CONTACT: &str = "confirmSiteContact";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EthOrder {
    pub id: String,
    pub seq: u64,
    pub external_id: Option<String>,
    pub action: OrderAction,
    pub item_id: String,
    pub state: EthOrderState,
    pub order_date: DateTime<Utc>,
    pub completion_date: Option<DateTime<Utc>>,
    /// As sent (site contacts and the like); replaced by an amend.
    pub related_party: Value,
    pub product: Product,
    pub places: Vec<Place>,
    pub kbps: u32,
    pub term: u32,
    /// `(quote id, quote item id)` for a provide.
    pub quote: Option<(String, String)>,
    pub appointment_id: Option<String>,
    /// The service acted on (modify/cease), or created (a completed provide).
    pub service_id: Option<String>,
    pub milestones: Vec<Milestone>,
    pub open_actions: Vec<OpenAction>,
    /// Steps taken so far (0 = just acknowledged).
    pub stage: usize,
    /// When the next step is due; `None` when finished or held by an open action.
    pub next_due: Option<DateTime<Utc>>,
    /// `(install, rental)` in pence for what the order now asks for (none for a cease).
    #[serde(default)]
    pub price: Option<(u64, u64)>,
    /// Why the reseller cancelled it (TMF622 `cancellationReason`).
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

impl EthOrder {
    pub fn render(&self) -> Value {
        use crate::wire::rfc3339;
        let state = self.state.as_str();
        let mut product = json!({});
        if let Some(s) = &self.service_id {
            product["id"] = json!(s);
        }
        product["@type"] = json!(self.product.code());
        product["name"] = json!(self.product.name());
        product["place"] = Value::Array(self.places.iter().map(Place::render).collect());
        product["productCharacteristic"] = json!([
            {"name": "bandwidth", "value": format_bandwidth(self.kbps)},
            {"name": "term", "value": self.term.to_string()},
        ]);
        let mut item = json!({
            "id": self.item_id,
            "action": self.action.as_str(),
            "state": state,
        });
        if let Some((q, i)) = &self.quote {
            item["quoteItem"] = json!({"quoteId": q, "id": i});
        }
        if let Some(a) = &self.appointment_id {
            item["appointment"] = json!({"id": a});
        }
        if let Some((install, rental)) = self.price {
            item["itemPrice"] = super::pricing::prices(install, rental);
        }
        item["product"] = product;
        let mut v = json!({
            "id": self.id,
            "href": format!("/tmf-api/productOrderingManagement/v4/productOrder/{}", self.id),
            "externalId": self.external_id,
            "@type": "ProductOrder",
            "state": state,
            "orderDate": rfc3339(self.order_date),
        });
        if let Some(c) = self.completion_date {
            v["completionDate"] = json!(rfc3339(c));
        }
        if let Some(r) = &self.cancellation_reason {
            v["cancellationReason"] = json!(r);
        }
        v["relatedParty"] = self.related_party.clone();
        v["productOrderItem"] = json!([item]);
        v["milestone"] = self
            .milestones
            .iter()
            .map(|m| json!({"name": m.name, "status": "reached", "milestoneDate": rfc3339(m.at)}))
            .collect();
        v["openActions"] = self
            .open_actions
            .iter()
            .map(|a| json!({"id": a.id, "action": a.action, "description": a.description}))
            .collect();
        v
    }

    pub fn reached(&self, milestone: &str) -> bool {
        self.milestones
            .iter()
            .any(|m| m.name.eq_ignore_ascii_case(milestone))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceStatus {
    Active,
    Ceased,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub product: Product,
    pub places: Vec<Place>,
    pub kbps: u32,
    pub term: u32,
    pub status: ServiceStatus,
    pub start: DateTime<Utc>,
    pub terminated: Option<DateTime<Utc>>,
    /// `(order id, action)` in order.
    pub orders: Vec<(String, OrderAction)>,
}

impl Service {
    pub fn render(&self) -> Value {
        use crate::wire::rfc3339;
        let mut v = json!({
            "id": self.id,
            "href": format!("/tmf-api/productInventory/v4/product/{}", self.id),
            "@type": self.product.code(),
            "name": self.product.name(),
            "status": match self.status {
                ServiceStatus::Active => "active",
                // TMF637's name for a ceased service.
                ServiceStatus::Ceased => "terminated",
            },
            "place": self.places.iter().map(Place::render).collect::<Vec<_>>(),
            "productCharacteristic": [
                {"name": "bandwidth", "value": format_bandwidth(self.kbps)},
                {"name": "term", "value": self.term.to_string()},
            ],
            "productOrder": self.orders.iter()
                .map(|(id, a)| json!({"id": id, "action": a.as_str()}))
                .collect::<Vec<_>>(),
            "startDate": rfc3339(self.start),
        });
        if let Some(t) = self.terminated {
            v["terminationDate"] = json!(rfc3339(t));
        }
        v
    }
}

/// Next numbers for Ethernet ids (each starts at 1).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EthCounters {
    pub quote: u64,
    pub qualification: u64,
    pub search: u64,
    pub appointment: u64,
    pub order: u64,
    pub service: u64,
    /// Creation sequence for newest-first lists.
    pub seq: u64,
    #[serde(default)]
    pub cancel: u64,
}

/// Everything Ethernet, as one `World` field (defaulted so older state files still load).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EthernetWorld {
    pub quotes: BTreeMap<String, Quote>,
    /// Rendered at creation: qualifications never change.
    pub qualifications: BTreeMap<String, Value>,
    pub appointments: BTreeMap<String, Appointment>,
    pub orders: BTreeMap<String, EthOrder>,
    pub services: BTreeMap<String, Service>,
    pub counters: EthCounters,
    /// TMF622 cancel requests, rendered when made (see `cancel.rs`).
    pub cancels: BTreeMap<String, Value>,
    /// Slot searches, rendered when made (answered again by `GET` on their `href`).
    pub searches: BTreeMap<String, Value>,
}

fn next(counter: &mut u64, prefix: &str) -> String {
    *counter += 1;
    format!("{prefix}{:06}", *counter)
}

impl EthernetWorld {
    pub fn next_quote_id(&mut self) -> String {
        next(&mut self.counters.quote, "EQT")
    }
    pub fn next_qualification_id(&mut self) -> String {
        next(&mut self.counters.qualification, "EPQ")
    }
    pub fn next_search_id(&mut self) -> String {
        next(&mut self.counters.search, "STS")
    }
    pub fn next_appointment_id(&mut self) -> String {
        next(&mut self.counters.appointment, "APT")
    }
    pub fn next_order_id(&mut self) -> String {
        next(&mut self.counters.order, "EOR")
    }
    pub fn next_service_id(&mut self) -> String {
        next(&mut self.counters.service, "ETH")
    }
    pub fn next_seq(&mut self) -> u64 {
        self.counters.seq += 1;
        self.counters.seq
    }

    /// Whether an appointment already holds `slot` at `postcode`.
    pub fn slot_taken(&self, postcode: &str, slot: Slot) -> bool {
        let start = slot.start();
        self.appointments
            .values()
            .any(|a| a.status.holds_slot() && a.place.postcode == postcode && a.start == start)
    }
}
