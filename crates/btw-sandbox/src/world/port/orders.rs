//! Import orders and the records that hold them.

use crate::world::model::NumberRecord;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The number inventory, by number (no spaces).
pub type Numbers = crate::world::Tracked<NumberRecord>;

/// An import order's state (TMF622 names); the order of variants is the only way forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportState {
    Acknowledged,
    InProgress,
    Completed,
    Rejected,
    Cancelled,
}

impl ImportState {
    pub const ALL: [ImportState; 5] = [
        ImportState::Acknowledged,
        ImportState::InProgress,
        ImportState::Completed,
        ImportState::Rejected,
        ImportState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Acknowledged => "acknowledged",
            ImportState::InProgress => "inProgress",
            ImportState::Completed => "completed",
            ImportState::Rejected => "rejected",
            ImportState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Still waiting for the LCP or for activation.
    pub fn is_open(self) -> bool {
        matches!(self, ImportState::Acknowledged | ImportState::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LcpStatus {
    Pending,
    Accepted,
    Rejected,
}

impl LcpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LcpStatus::Pending => "pending",
            LcpStatus::Accepted => "accepted",
            LcpStatus::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportType {
    SingleLine,
    MultiLine,
}

impl ImportType {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportType::SingleLine => "SingleLine",
            ImportType::MultiLine => "MultiLine",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "SingleLine" => Some(ImportType::SingleLine),
            "MultiLine" => Some(ImportType::MultiLine),
            _ => None,
        }
    }
}

/// A SingleLine or MultiLine number import order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOrder {
    pub id: String,
    /// Creation sequence, for newest-first listing.
    pub seq: u64,
    pub external_id: Option<String>,
    pub import_type: ImportType,
    pub state: ImportState,
    pub lcp_status: LcpStatus,
    pub rejection_reason: Option<String>,
    pub port_date: NaiveDate,
    pub confirmed_port_date: Option<NaiveDate>,
    /// Every number of the order (a range is expanded here too).
    pub numbers: Vec<String>,
    /// `(start, end)` when the order was placed with a `numberRange`.
    pub range: Option<(String, String)>,
    pub installation_postcode: String,
    pub losing_provider: Option<String>,
    pub lcp_is_range_holder: bool,
    pub lead_time_days: u32,
    pub company_service_id: Option<String>,
    /// The company its numbers are ringfenced to ahead of the port date.
    pub allocated_to: Option<String>,
    pub order_date: DateTime<Utc>,
    pub lcp_decision_at: DateTime<Utc>,
    pub activation_date: Option<DateTime<Utc>>,
    pub completion_date: Option<DateTime<Utc>>,
    pub related_party: Value,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// The porting part of the world.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ports {
    pub orders: BTreeMap<String, ImportOrder>,
    pub next: u64,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            orders: BTreeMap::new(),
            next: 1001,
        }
    }
}

impl Ports {
    pub fn next_id(&mut self) -> (String, u64) {
        let n = self.next;
        self.next += 1;
        (format!("BTWPI{n:06}"), n)
    }
}
