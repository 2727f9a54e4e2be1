//! The sandbox's data model: the records the world keeps (qualifications, companies, numbers,
//! addresses, orders, journal entries) and the comparison rules for unique names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An issued access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub expires_at: DateTime<Utc>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Qualification {
    pub id: String,
    pub cug_id: String,
    pub billing_account: String,
    pub customer_name: String,
    pub customer_domain: String,
    pub customer_group: String,
    pub qualified: bool,
    pub service_id: Option<String>,
    /// `(code, label)` pairs for an unqualified result.
    pub reasons: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Qualified for WHC Express rather than WHC.
    #[serde(default)]
    pub express: bool,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CompanyStatus {
    Pending,
    Active,
    /// Ceased by a completed order; nothing more can be ordered on it.
    Terminated,
}

impl CompanyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyStatus::Pending => "pending",
            CompanyStatus::Active => "active",
            CompanyStatus::Terminated => "terminated",
        }
    }
}

/// A held item's TMF637 product status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemState {
    PendingActive,
    #[default]
    Active,
    PendingTerminate,
    Terminated,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::PendingActive => "pendingActive",
            ItemState::Active => "active",
            ItemState::PendingTerminate => "pendingTerminate",
            ItemState::Terminated => "terminated",
        }
    }

    /// Still held: not ceased.
    pub fn live(self) -> bool {
        self != ItemState::Terminated
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub service_id: String,
    pub name: String,
    pub location_code: String,
    pub nad_key: String,
    pub order_id: Option<String>,
    #[serde(default)]
    pub state: ItemState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub username: String,
    pub extension: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub directory_number: Option<String>,
    pub licence: Option<String>,
    pub device_name: Option<String>,
    pub order_id: Option<String>,
    #[serde(default)]
    pub service_id: String,
    /// The site the user belongs to (none on WHC Express).
    #[serde(default)]
    pub site_service_id: Option<String>,
    #[serde(default)]
    pub state: ItemState,
    /// Add-ons on top of the licence, e.g. `CallRecording`.
    #[serde(default)]
    pub add_ons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub name: String,
    pub mac_address: Option<String>,
    pub order_id: Option<String>,
    #[serde(default)]
    pub service_id: String,
    #[serde(default)]
    pub model: Option<String>,
    /// The user whose device it is.
    #[serde(default)]
    pub user_service_id: Option<String>,
    #[serde(default)]
    pub state: ItemState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trunk {
    pub name: String,
    pub order_id: Option<String>,
    #[serde(default)]
    pub service_id: String,
    /// How many simultaneous calls it carries (the sandbox's own characteristic).
    #[serde(default)]
    pub channels: Option<String>,
    /// The site it terminates at (none on WHC Express).
    #[serde(default)]
    pub site_service_id: Option<String>,
    #[serde(default)]
    pub state: ItemState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub service_id: String,
    pub name: String,
    pub domain: String,
    pub group: String,
    pub status: CompanyStatus,
    /// The order that created it (none for seed data).
    pub order_id: Option<String>,
    pub sites: Vec<Site>,
    pub users: Vec<User>,
    pub devices: Vec<Device>,
    pub trunks: Vec<Trunk>,
    /// A WHC Express company (no sites, no number blocks).
    #[serde(default)]
    pub express: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NumberStatus {
    #[serde(rename = "RINGFENCED")]
    Ringfenced,
    #[serde(rename = "ASSIGNED")]
    Assigned,
    /// Freed by a cease; nobody can take it until its quarantine ends (`World::quarantine`).
    #[serde(rename = "QUARANTINED")]
    Quarantined,
}

impl NumberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Ringfenced => "RINGFENCED",
            NumberStatus::Assigned => "ASSIGNED",
            NumberStatus::Quarantined => "QUARANTINED",
        }
    }
}

/// A number that left the free pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberRecord {
    pub company_service_id: String,
    /// `new` or `ported`.
    pub kind: String,
    pub status: NumberStatus,
    pub order_id: Option<String>,
    pub site_service_id: Option<String>,
    /// The site a ringfence reserved it against (directly, or as its user's site); orders that
    /// place it, and their undoing, leave it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_site: Option<String>,
    /// The user a ringfence reserved it against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_user: Option<String>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// A geographic address (fixture or created), in BT's wire shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub id: String,
    pub uprn: String,
    pub building_name: String,
    pub street_nr: String,
    pub street_name: String,
    pub locality: String,
    pub city: String,
    pub county: String,
    pub postcode: String,
    pub country: String,
    pub best_address_line1: String,
    pub best_address_line2: String,
    pub best_address_line3: String,
    pub best_address_line4: String,
    pub exchange_group_code: String,
    pub district_code: String,
    pub qualifier: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderState {
    Pending,
    Acknowledged,
    InProgress,
    Completed,
    Cancelled,
    /// BT refused the order at acknowledgement (CONTRACT.md: order outcomes).
    Rejected,
    /// Provisioning failed after acceptance.
    Failed,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Acknowledged => "acknowledged",
            OrderState::InProgress => "inProgress",
            OrderState::Completed => "completed",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
            OrderState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OrderState::Pending,
            OrderState::Acknowledged,
            OrderState::InProgress,
            OrderState::Completed,
            OrderState::Cancelled,
            OrderState::Rejected,
            OrderState::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

/// One item as the client sent it (kept verbatim for `GET productOrder/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub id: String,
    pub action: String,
    pub product_offering: serde_json::Value,
    pub product: serde_json::Value,
    pub related_place: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    /// Creation sequence, for newest-first listing.
    pub seq: u64,
    pub external_id: Option<String>,
    pub state: OrderState,
    pub order_date: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub completion_date: Option<DateTime<Utc>>,
    pub related_party: serde_json::Value,
    pub billing_account: serde_json::Value,
    pub items: Vec<OrderItem>,
    pub company_service_id: String,
    /// True when this order's WHCCompany item was `add` (it created the company).
    pub creates_company: bool,
    /// The modify and delete items, applied when the order completes (see `whc_changes.rs`).
    #[serde(default)]
    pub changes: Vec<Change>,
    /// The run clock it was made on (`None`: the shared clock); never on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// One modify or delete item of an order, waiting for the order to complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `WHCCompany`, `WHCSite`, `WHCNumberBlock`, `WHCUser` or `WHCDevice`.
    pub offering: String,
    /// `modify` or `delete`.
    pub action: String,
    /// The item's service id (a number for number blocks).
    pub target: String,
    /// New characteristic values of a modify.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// An order's state change, as produced by submit, cancel and the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTransition {
    pub order_id: String,
    pub external_id: Option<String>,
    pub from: OrderState,
    pub to: OrderState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestEntry {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub tracking_header: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedEntry {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journal {
    // Double-ended: a full journal drops its oldest entry on every push.
    pub requests: std::collections::VecDeque<RequestEntry>,
    pub created: std::collections::VecDeque<CreatedEntry>,
    /// Entries at the end of `requests` not yet in the state file.
    #[serde(skip)]
    pub unsaved_requests: usize,
    /// Entries at the end of `created` not yet in the state file.
    #[serde(skip)]
    pub unsaved_created: usize,
}

/// Next numbers for generated ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counters {
    pub qualification: u64,
    pub service: u64,
    pub order: u64,
    pub address: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            qualification: 103_255,
            service: 1_484,
            order: 1_485,
            address: 1,
        }
    }
}

/// Which unique name a verify call asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CompanyDomain,
    SiteName,
    SiteLocationCode,
    DeviceName,
    TrunkName,
    Username,
    Extension,
    MacAddress,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "companyDomain" => Kind::CompanyDomain,
            "siteName" => Kind::SiteName,
            "siteLocationCode" => Kind::SiteLocationCode,
            "deviceName" => Kind::DeviceName,
            "trunkName" => Kind::TrunkName,
            "username" => Kind::Username,
            "extension" => Kind::Extension,
            "macAddress" => Kind::MacAddress,
            _ => return None,
        })
    }
}

/// Case-insensitive, trimmed comparison key.
pub fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// MAC comparison key: hex digits only, lower case.
pub fn norm_mac(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .flat_map(|c| c.to_lowercase())
        .collect()
}
