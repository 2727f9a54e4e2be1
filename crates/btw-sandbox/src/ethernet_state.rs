//! Ethernet state for the sandbox: quotes, qualifications, appointments, orders and live services
//! (kept in `World::ethernet`), plus the pure rules they follow: the price table, distance bands,
//! availability by place, appointment slots and order progress on the sandbox clock.
//!
//! Everything here is the "BT side" described in CONTRACT.md's `## Ethernet` section; the HTTP
//! handlers live in `routes/ethernet.rs`.

use super::clock::secs_f64;
use super::model::Address;
use super::state::World;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Products, bandwidths and prices
// ---------------------------------------------------------------------------------------------

/// The Ethernet products the sandbox sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    EtherwayFibre,
    EtherflowConnected,
    EtherflowInternet,
    #[serde(rename = "EtherwayGEASOGEA")]
    EtherwayGeaSogea,
    #[serde(rename = "EtherwayGEAFTTP")]
    EtherwayGeaFttp,
}

/// One price-table row: bandwidth in kbit/s, install and monthly rental in whole pounds
/// (12-month term, band 0/1).
type PriceRow = (u32, u64, u64);

const FIBRE: &[PriceRow] = &[
    (100_000, 2500, 300),
    (1_000_000, 2500, 450),
    (10_000_000, 4000, 1200),
];
const CONNECTED: &[PriceRow] = &[
    (200, 250, 20),
    (500, 250, 25),
    (1_000, 250, 30),
    (2_000, 250, 40),
    (5_000, 250, 60),
    (10_000, 250, 80),
    (20_000, 250, 110),
    (50_000, 250, 160),
    (100_000, 250, 220),
    (200_000, 250, 300),
    (500_000, 250, 450),
    (1_000_000, 250, 650),
];
const INTERNET: &[PriceRow] = &[
    (10_000, 500, 150),
    (20_000, 500, 190),
    (50_000, 500, 260),
    (100_000, 500, 340),
    (200_000, 500, 480),
    (500_000, 500, 720),
    (1_000_000, 500, 950),
    (10_000_000, 1500, 3500),
];
const SOGEA: &[PriceRow] = &[(20_000, 92, 35), (40_000, 92, 42), (80_000, 92, 55)];
const FTTP: &[PriceRow] = &[
    (80_000, 92, 50),
    (160_000, 92, 65),
    (330_000, 92, 85),
    (1_000_000, 92, 140),
];

impl Product {
    pub const ALL: [Product; 5] = [
        Product::EtherwayFibre,
        Product::EtherflowConnected,
        Product::EtherflowInternet,
        Product::EtherwayGeaSogea,
        Product::EtherwayGeaFttp,
    ];

    /// The wire code (`@type` / `productOffering.id`).
    pub fn code(self) -> &'static str {
        match self {
            Product::EtherwayFibre => "EtherwayFibre",
            Product::EtherflowConnected => "EtherflowConnected",
            Product::EtherflowInternet => "EtherflowInternet",
            Product::EtherwayGeaSogea => "EtherwayGEASOGEA",
            Product::EtherwayGeaFttp => "EtherwayGEAFTTP",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Product::EtherwayFibre => "Etherway Fibre (EAD)",
            Product::EtherflowConnected => "Etherflow Connected",
            Product::EtherflowInternet => "Etherflow Internet",
            Product::EtherwayGeaSogea => "Etherway Superfast GEA (SOGEA)",
            Product::EtherwayGeaFttp => "Etherway Superfast GEA (FTTP)",
        }
    }

    /// Case-sensitive, as BT's enumerations are.
    pub fn parse(s: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.code() == s.trim())
    }

    /// How many places (ends) a quote for this product names.
    pub fn ends(self) -> usize {
        match self {
            Product::EtherwayFibre | Product::EtherflowConnected => 2,
            _ => 1,
        }
    }

    /// GEA products need an Openreach engineer appointment before ordering.
    pub fn is_gea(self) -> bool {
        matches!(self, Product::EtherwayGeaSogea | Product::EtherwayGeaFttp)
    }

    /// Two-ended fibre builds need a site survey, hence a confirmed site contact.
    pub fn needs_site_contact(self) -> bool {
        self.ends() == 2
    }

    fn table(self) -> &'static [PriceRow] {
        match self {
            Product::EtherwayFibre => FIBRE,
            Product::EtherflowConnected => CONNECTED,
            Product::EtherflowInternet => INTERNET,
            Product::EtherwayGeaSogea => SOGEA,
            Product::EtherwayGeaFttp => FTTP,
        }
    }

    /// The allowed bandwidths, in kbit/s.
    pub fn bandwidths(self) -> Vec<u32> {
        self.table().iter().map(|r| r.0).collect()
    }

    pub fn allows(self, kbps: u32) -> bool {
        self.table().iter().any(|r| r.0 == kbps)
    }
}

/// `"0.2"` → 200 kbit/s, `"1000"`/`"1000.0"` → 1 000 000; `None` for anything that is not a
/// non-negative decimal with at most three significant decimals (kbit/s is the finest grain).
pub fn parse_bandwidth(s: &str) -> Option<u32> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || int.len() > 7
    {
        return None;
    }
    let whole: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac = frac.trim_end_matches('0');
    if frac.len() > 3 {
        return None;
    }
    let thousandths: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    whole.checked_mul(1000)?.checked_add(thousandths)
}

/// 200 → `"0.2"`, 1 000 000 → `"1000"` (Mbit/s, no trailing zeros).
pub fn format_bandwidth(kbps: u32) -> String {
    if kbps.is_multiple_of(1000) {
        (kbps / 1000).to_string()
    } else {
        let frac = format!("{:03}", kbps % 1000);
        format!("{}.{}", kbps / 1000, frac.trim_end_matches('0'))
    }
}

/// Contract terms in months.
pub const TERMS: [u32; 3] = [12, 36, 60];

/// Percentages applied for a term: (install, rental).
fn term_factors(term: u32) -> Option<(u64, u64)> {
    match term {
        12 => Some((100, 100)),
        36 => Some((50, 90)),
        60 => Some((0, 80)),
        _ => None,
    }
}

/// Percentage applied to rental for a distance band.
fn band_factor(band: u8) -> u64 {
    match band {
        0 | 1 => 100,
        2 => 125,
        _ => 150,
    }
}

/// `pence × a% × b%`, rounded to the penny with halves up (integer maths: no float drift).
fn scale(pence: u64, a: u64, b: u64) -> u64 {
    (pence * a * b + 5_000) / 10_000
}

/// A priced quote line, in pence ex VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub install: u64,
    pub rental: u64,
}

/// The documented price for a product, bandwidth, distance band and term; `None` when the
/// bandwidth or term is not offered.
pub fn price(product: Product, kbps: u32, band: u8, term: u32) -> Option<Price> {
    let &(_, install, rental) = product.table().iter().find(|r| r.0 == kbps)?;
    let (install_pct, rental_pct) = term_factors(term)?;
    Some(Price {
        install: scale(install * 100, install_pct, 100),
        rental: scale(rental * 100, band_factor(band), rental_pct),
    })
}

/// The amount with 20 % VAT, rounded to the penny with halves up.
pub fn with_vat(pence: u64) -> u64 {
    (pence * 120 + 50) / 100
}

/// The letters a postcode starts with (`EC1A 7AJ` → `EC`); London's areas fold into one, so a
/// City-to-Whitechapel circuit is local.
pub fn postcode_area(postcode: &str) -> String {
    let area: String = postcode
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .flat_map(|c| c.to_uppercase())
        .collect();
    if ["E", "EC", "N", "NW", "SE", "SW", "W", "WC"].contains(&area.as_str()) {
        "LONDON".to_string()
    } else {
        area
    }
}

const SCOTLAND: [&str; 16] = [
    "AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE",
];

/// The distance band of a circuit between the given postcodes (one postcode = single-ended = 0).
pub fn distance_band(postcodes: &[&str]) -> u8 {
    let [a, b] = postcodes else {
        return 0;
    };
    let (a, b) = (postcode_area(a), postcode_area(b));
    if a == b {
        return 1;
    }
    let scot = |x: &str| SCOTLAND.contains(&x);
    let ni = |x: &str| x == "BT";
    if scot(&a) != scot(&b) || ni(&a) != ni(&b) {
        3
    } else {
        2
    }
}

// ---------------------------------------------------------------------------------------------
// Places and availability
// ---------------------------------------------------------------------------------------------

/// A resolved site: the NAD key when one was given, and always the (normalised) postcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub role: Option<String>,
    pub id: Option<String>,
    pub postcode: String,
}

impl Place {
    pub fn render(&self) -> Value {
        let mut v = json!({});
        if let Some(r) = &self.role {
            v["role"] = json!(r);
        }
        if let Some(id) = &self.id {
            v["id"] = json!(id);
        }
        v["postcode"] = json!(self.postcode);
        v["@type"] = json!("GeographicAddress");
        v
    }
}

/// Why `product` cannot be supplied at `postcode` (with the address when a NAD key was given):
/// `(code, label)`, or `None` when it can. The table is CONTRACT.md's.
pub fn unavailability(
    product: Product,
    postcode: &str,
    address: Option<&Address>,
) -> Option<(&'static str, String)> {
    match (product, postcode) {
        (Product::EtherwayFibre | Product::EtherflowConnected, "G2 5HF") => {
            return Some((
                "EADOutOfReach",
                format!("{postcode} is beyond EAD reach of the nearest Ethernet node"),
            ))
        }
        (Product::EtherwayGeaFttp, "EH2 3BU") => {
            return Some((
                "NoFTTPAtExchange",
                "Exchange SCEDINB is not FTTP-enabled".to_string(),
            ))
        }
        (Product::EtherwayGeaSogea, "BS1 1SE") => {
            return Some((
                "NoSOGEAAtExchange",
                "Exchange WWBRIST is not SOGEA-enabled".to_string(),
            ))
        }
        _ => {}
    }
    if product == Product::EtherwayGeaFttp {
        if let Some(a) = address.filter(|a| a.qualifier.eq_ignore_ascii_case("Non-Gold")) {
            return Some((
                "PremisesNotPassed",
                format!("FTTP does not pass the premises {}", a.id),
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Appointment slots
// ---------------------------------------------------------------------------------------------

/// Monday to Friday, England & Wales bank holidays excepted (the porting calendar's rule).
pub fn is_working_day(d: NaiveDate) -> bool {
    super::calendar::is_working_day(d)
}

/// The first bookable day: the third working day after `now`'s London date (Openreach needs
/// notice to plan an engineer).
pub fn first_bookable_day(now: DateTime<Utc>) -> NaiveDate {
    let mut d = now.with_timezone(&London).date_naive();
    let mut counted = 0;
    while counted < 3 {
        d = d.succ_opt().unwrap_or(d);
        if is_working_day(d) {
            counted += 1;
        }
    }
    d
}

/// A half-day engineer slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub date: NaiveDate,
    pub morning: bool,
}

impl Slot {
    fn local_hour(self) -> u32 {
        if self.morning {
            8
        } else {
            13
        }
    }

    pub fn start(self) -> DateTime<Utc> {
        let t = NaiveTime::from_hms_opt(self.local_hour(), 0, 0).unwrap_or_default();
        let local = self.date.and_time(t);
        London
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // 08:00 and 13:00 are never in a UK clock-change gap; UTC is a safe fallback.
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// Five hours after the start (clock changes happen at night on Sundays, never mid-slot).
    pub fn end(self) -> DateTime<Utc> {
        self.start() + Duration::hours(5)
    }

    pub fn id(self) -> String {
        format!(
            "SLOT-{}-{}",
            self.date.format("%Y%m%d"),
            if self.morning { "AM" } else { "PM" }
        )
    }

    pub fn parse_id(id: &str) -> Option<Slot> {
        let rest = id.trim().strip_prefix("SLOT-")?;
        let (date, half) = rest.split_once('-')?;
        let date = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
        let morning = match half {
            "AM" => true,
            "PM" => false,
            _ => return None,
        };
        is_working_day(date).then_some(Slot { date, morning })
    }

    /// The slot starting exactly at `start` (and ending at `end` when given), if it is one.
    pub fn at(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Option<Slot> {
        let local = start.with_timezone(&London);
        let date = local.date_naive();
        let slot = Slot {
            date,
            morning: local.time() < NaiveTime::from_hms_opt(12, 0, 0)?,
        };
        let ok =
            is_working_day(date) && slot.start() == start && end.is_none_or(|e| e == slot.end());
        ok.then_some(slot)
    }

    pub fn render(self) -> Value {
        json!({
            "id": self.id(),
            "validFor": {
                "startDateTime": super::routes::rfc3339(self.start()),
                "endDateTime": super::routes::rfc3339(self.end()),
            },
        })
    }
}

/// Working-day slots from `from` (inclusive) in time order, stopping after `days` working days,
/// after `max` slots, or at the first slot ending after `until`.
pub fn slots_from(
    from: NaiveDate,
    days: usize,
    max: usize,
    until: Option<DateTime<Utc>>,
) -> Vec<Slot> {
    let mut out = Vec::new();
    let mut d = from;
    let mut seen = 0;
    // A year is a generous bound; it keeps a silly window from looping for long.
    for _ in 0..366 {
        if seen >= days || out.len() >= max {
            break;
        }
        if is_working_day(d) {
            seen += 1;
            for morning in [true, false] {
                let s = Slot { date: d, morning };
                if until.is_some_and(|u| s.end() > u) || out.len() >= max {
                    return out;
                }
                out.push(s);
            }
        }
        d = match d.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    out
}

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quote {
    pub id: String,
    pub seq: u64,
    pub external_id: Option<String>,
    pub created: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub items: Vec<QuoteItem>,
}

impl Quote {
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.items.iter().all(|i| i.ordered_by.is_some()) {
            "accepted"
        } else if now >= self.valid_until {
            "expired"
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
}

impl Appointment {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "href": format!("/common/appointmentManagement/v4/appointment/{}", self.id),
            "externalId": self.external_id,
            "@type": "Appointment",
            "status": self.status.as_str(),
            "creationDate": super::routes::rfc3339(self.created),
            "validFor": {
                "startDateTime": super::routes::rfc3339(self.start),
                "endDateTime": super::routes::rfc3339(self.end),
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
    fn later_milestones(self) -> &'static [&'static str] {
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
}

impl EthOrder {
    pub fn render(&self) -> Value {
        use super::routes::rfc3339;
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
        use super::routes::rfc3339;
        let mut v = json!({
            "id": self.id,
            "href": format!("/tmf-api/productInventory/v4/product/{}", self.id),
            "@type": self.product.code(),
            "name": self.product.name(),
            "status": match self.status {
                ServiceStatus::Active => "active",
                ServiceStatus::Ceased => "ceased",
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

// ---------------------------------------------------------------------------------------------
// Notifications and progress
// ---------------------------------------------------------------------------------------------

/// Queues a notification for an order state change or milestone (CONTRACT.md: notifications).
pub fn notify(world: &mut World, event_type: &str, order_id: &str) {
    let Some(order) = world.ethernet.orders.get(order_id) else {
        return;
    };
    let rendered = order.render();
    super::notify::queue_event(world, event_type, rendered);
}

/// Ends an order's hold on its appointment (cancelled/failed orders give the slot back).
pub fn release_appointment(world: &mut World, order_id: &str) {
    let appointment = world
        .ethernet
        .orders
        .get(order_id)
        .and_then(|o| o.appointment_id.clone());
    if let Some(a) = appointment.and_then(|id| world.ethernet.appointments.get_mut(&id)) {
        if a.status.holds_slot() && a.status != AppointmentStatus::Completed {
            a.status = AppointmentStatus::Cancelled;
        }
    }
}

/// Frees the quote item a provide took, so it can be ordered again.
pub fn release_quote(world: &mut World, order_id: &str) {
    let quote = world
        .ethernet
        .orders
        .get(order_id)
        .and_then(|o| o.quote.clone());
    if let Some((q, i)) = quote {
        if let Some(item) = world
            .ethernet
            .quotes
            .get_mut(&q)
            .and_then(|q| q.items.iter_mut().find(|it| it.id == i))
        {
            if item.ordered_by.as_deref() == Some(order_id) {
                item.ordered_by = None;
            }
        }
    }
}

/// What one step of an order does.
enum Step {
    Accept,
    Fail,
    Milestone(&'static str),
    Complete(&'static str),
}

fn step_for(order: &EthOrder) -> Option<Step> {
    let later = order.action.later_milestones();
    match order.stage {
        0 => Some(Step::Accept),
        // The sandbox's documented failure trigger, at the second step.
        1 if order
            .external_id
            .as_deref()
            .is_some_and(|x| x.starts_with("fail-")) =>
        {
            Some(Step::Fail)
        }
        n if n < later.len() => Some(Step::Milestone(later[n - 1])),
        n if n == later.len() => Some(Step::Complete(later[n - 1])),
        _ => None,
    }
}

impl World {
    /// Moves Ethernet orders (and lapsed appointments) along up to `now`, one `step_secs` between
    /// steps. Returns whether anything changed.
    pub fn advance_ethernet(&mut self, now: DateTime<Utc>, step_secs: f64) -> bool {
        let step = secs_f64(step_secs);
        let mut changed = false;
        let due: Vec<String> = self
            .ethernet
            .orders
            .values()
            .filter(|o| o.state.is_open() && o.next_due.is_some_and(|d| d <= now))
            .map(|o| o.id.clone())
            .collect();
        for id in due {
            // Bounded: every pass advances `stage`, and there are at most five steps.
            for _ in 0..8 {
                let Some(order) = self.ethernet.orders.get(&id) else {
                    break;
                };
                let Some(at) = order.next_due.filter(|d| *d <= now) else {
                    break;
                };
                if order.stage >= 1 && !order.open_actions.is_empty() {
                    // Held until an amend closes the open action.
                    if let Some(o) = self.ethernet.orders.get_mut(&id) {
                        o.next_due = None;
                    }
                    break;
                }
                let Some(step_kind) = step_for(order) else {
                    break;
                };
                self.apply_step(&id, step_kind, at, step);
                changed = true;
            }
        }
        let lapsed: Vec<String> = self
            .ethernet
            .appointments
            .values()
            .filter(|a| {
                a.status == AppointmentStatus::Confirmed && a.order_id.is_none() && a.end <= now
            })
            .map(|a| a.id.clone())
            .collect();
        for id in lapsed {
            if let Some(a) = self.ethernet.appointments.get_mut(&id) {
                a.status = AppointmentStatus::Failed;
                changed = true;
            }
        }
        changed
    }

    fn apply_step(&mut self, id: &str, kind: Step, at: DateTime<Utc>, step: Duration) {
        let Some(order) = self.ethernet.orders.get_mut(id) else {
            return;
        };
        order.stage += 1;
        order.next_due = Some(at + step);
        let events: &[&str] = match kind {
            Step::Accept => {
                order.state = EthOrderState::InProgress;
                order.milestones.push(Milestone {
                    name: "orderAccepted".into(),
                    at,
                });
                &["orderInProgress", "orderMilestone"]
            }
            Step::Milestone(name) => {
                order.milestones.push(Milestone {
                    name: name.into(),
                    at,
                });
                &["orderMilestone"]
            }
            Step::Fail => {
                order.state = EthOrderState::Failed;
                order.next_due = None;
                order.completion_date = Some(at);
                release_appointment(self, id);
                release_quote(self, id);
                &["orderFailed"]
            }
            Step::Complete(name) => {
                order.milestones.push(Milestone {
                    name: name.into(),
                    at,
                });
                order.state = EthOrderState::Completed;
                order.next_due = None;
                order.completion_date = Some(at);
                self.complete_ethernet(id, at);
                &["orderMilestone", "orderComplete"]
            }
        };
        for event in events {
            notify(self, event, id);
        }
    }

    /// A completed order's effect on the inventory.
    fn complete_ethernet(&mut self, id: &str, at: DateTime<Utc>) {
        let Some(order) = self.ethernet.orders.get(id).cloned() else {
            return;
        };
        match order.action {
            OrderAction::Add => {
                let service_id = self.ethernet.next_service_id();
                self.ethernet.services.insert(
                    service_id.clone(),
                    Service {
                        id: service_id.clone(),
                        product: order.product,
                        places: order.places.clone(),
                        kbps: order.kbps,
                        term: order.term,
                        status: ServiceStatus::Active,
                        start: at,
                        terminated: None,
                        orders: vec![(order.id.clone(), OrderAction::Add)],
                    },
                );
                if let Some(o) = self.ethernet.orders.get_mut(id) {
                    o.service_id = Some(service_id);
                }
                if let Some(a) = order
                    .appointment_id
                    .and_then(|a| self.ethernet.appointments.get_mut(&a))
                {
                    a.status = AppointmentStatus::Completed;
                }
            }
            OrderAction::Modify | OrderAction::Delete => {
                let Some(s) = order
                    .service_id
                    .and_then(|s| self.ethernet.services.get_mut(&s))
                else {
                    return;
                };
                s.orders.push((order.id.clone(), order.action));
                if order.action == OrderAction::Modify {
                    s.kbps = order.kbps;
                } else {
                    s.status = ServiceStatus::Ceased;
                    s.terminated = Some(at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(product: Product, mbit: &str, band: u8, term: u32) -> (u64, u64) {
        let kbps = parse_bandwidth(mbit).unwrap();
        let pr = price(product, kbps, band, term).unwrap();
        (pr.install, pr.rental)
    }

    #[test]
    fn price_table() {
        // The worked example of CONTRACT.md.
        assert_eq!(p(Product::EtherwayFibre, "1000", 2, 36), (125_000, 50_625));
        assert_eq!(with_vat(50_625), 60_750);
        assert_eq!(p(Product::EtherwayFibre, "100", 1, 12), (250_000, 30_000));
        assert_eq!(p(Product::EtherwayFibre, "10000", 3, 60), (0, 144_000));
        assert_eq!(
            p(Product::EtherflowConnected, "0.2", 1, 12),
            (25_000, 2_000)
        );
        assert_eq!(
            p(Product::EtherflowInternet, "10000", 0, 36),
            (75_000, 315_000)
        );
        // 35 × 1.25 × 0.9 = 39.375 → 39.38 (half up).
        assert_eq!(p(Product::EtherwayGeaSogea, "20", 2, 36), (4_600, 3_938));
        assert_eq!(p(Product::EtherwayGeaFttp, "330", 0, 60), (0, 6_800));
        assert!(price(Product::EtherwayGeaFttp, 40_000, 0, 12).is_none());
        assert!(price(Product::EtherwayFibre, 100_000, 0, 24).is_none());
        assert_eq!(with_vat(1), 1);
        assert_eq!(with_vat(3), 4);
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("0.2"), Some(200));
        assert_eq!(parse_bandwidth(".5"), Some(500));
        assert_eq!(parse_bandwidth("1000.0"), Some(1_000_000));
        assert_eq!(parse_bandwidth("10000"), Some(10_000_000));
        assert_eq!(parse_bandwidth("0.0005"), None);
        assert_eq!(parse_bandwidth("-1"), None);
        assert_eq!(parse_bandwidth("1e3"), None);
        assert_eq!(parse_bandwidth(""), None);
        assert_eq!(parse_bandwidth("."), None);
        assert_eq!(parse_bandwidth("99999999999"), None);
        assert_eq!(format_bandwidth(200), "0.2");
        assert_eq!(format_bandwidth(1_000_000), "1000");
        assert_eq!(format_bandwidth(1_250), "1.25");
        assert!(Product::EtherflowConnected.allows(200));
        assert!(!Product::EtherwayFibre.allows(200));
    }

    #[test]
    fn bands() {
        assert_eq!(distance_band(&["IP5 3RE"]), 0);
        assert_eq!(distance_band(&["EC1A 7AJ", "E1 8EE"]), 1);
        assert_eq!(distance_band(&["IP5 3RE", "IP5 3RE"]), 1);
        assert_eq!(distance_band(&["IP5 3RE", "B1 2HF"]), 2);
        assert_eq!(distance_band(&["EH2 3BU", "G2 5HF"]), 2);
        assert_eq!(distance_band(&["LS1 5HD", "EH2 3BU"]), 3);
        assert_eq!(distance_band(&["BT1 1AA", "M1 2AP"]), 3);
        assert_eq!(postcode_area("SW1A 1AA"), "LONDON");
        assert_eq!(postcode_area("B1 2HF"), "B");
    }

    #[test]
    fn availability() {
        assert!(unavailability(Product::EtherwayFibre, "G2 5HF", None).is_some());
        assert!(unavailability(Product::EtherflowInternet, "G2 5HF", None).is_none());
        assert_eq!(
            unavailability(Product::EtherwayGeaFttp, "EH2 3BU", None).map(|r| r.0),
            Some("NoFTTPAtExchange")
        );
        assert_eq!(
            unavailability(Product::EtherwayGeaSogea, "BS1 1SE", None).map(|r| r.0),
            Some("NoSOGEAAtExchange")
        );
        let non_gold = super::super::state::fixture_addresses()
            .iter()
            .find(|a| a.id == "R00000020003");
        assert_eq!(
            unavailability(Product::EtherwayGeaFttp, "EC1A 7AJ", non_gold).map(|r| r.0),
            Some("PremisesNotPassed")
        );
        assert!(unavailability(Product::EtherwayGeaFttp, "EC1A 7AJ", None).is_none());
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn slots() {
        // Friday 6 March 2026 → Mon 9, Tue 10, Wed 11: first bookable Wednesday 11th.
        let now = t("2026-03-06T10:00:00Z");
        let first = first_bookable_day(now);
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 3, 11).unwrap());
        let all = slots_from(first, 10, 100, None);
        assert_eq!(all.len(), 20);
        assert!(all.iter().all(|s| is_working_day(s.date)));
        assert_eq!(all[0].id(), "SLOT-20260311-AM");
        assert_eq!(all[0].start(), t("2026-03-11T08:00:00Z"));
        // British Summer Time: 08:00 London is 07:00 UTC.
        let summer = Slot {
            date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            morning: false,
        };
        assert_eq!(summer.start(), t("2026-06-01T12:00:00Z"));
        assert_eq!(summer.end(), t("2026-06-01T17:00:00Z"));
        assert_eq!(Slot::at(summer.start(), Some(summer.end())), Some(summer));
        assert_eq!(Slot::at(summer.start(), Some(summer.start())), None);
        assert_eq!(Slot::at(t("2026-06-01T12:30:00Z"), None), None);
        // Saturday.
        assert_eq!(Slot::at(t("2026-03-07T08:00:00Z"), None), None);
        assert_eq!(Slot::parse_id("SLOT-20260601-PM"), Some(summer));
        assert_eq!(Slot::parse_id("SLOT-20260606-PM"), None);
        assert_eq!(Slot::parse_id("SLOT-2026-PM"), None);
        let capped = slots_from(first, 10, 20, Some(t("2026-03-12T13:00:00Z")));
        assert_eq!(capped.len(), 3);
    }

    #[test]
    fn order_steps() {
        let mut w = World::seed(0.0);
        let t0 = w.now();
        let order = EthOrder {
            id: "EOR000001".into(),
            seq: 1,
            external_id: None,
            action: OrderAction::Add,
            item_id: "1".into(),
            state: EthOrderState::Acknowledged,
            order_date: t0,
            completion_date: None,
            related_party: json!([]),
            product: Product::EtherflowInternet,
            places: vec![],
            kbps: 100_000,
            term: 12,
            quote: None,
            appointment_id: None,
            service_id: None,
            milestones: vec![],
            open_actions: vec![],
            stage: 0,
            next_due: Some(t0 + Duration::seconds(2)),
        };
        w.ethernet.orders.insert(order.id.clone(), order);
        assert!(!w.advance_ethernet(t0 + Duration::seconds(1), 2.0));
        assert!(w.advance_ethernet(t0 + Duration::seconds(5), 2.0));
        let o = &w.ethernet.orders["EOR000001"];
        assert_eq!(o.state, EthOrderState::InProgress);
        assert_eq!(o.milestones.len(), 2);
        w.advance_ethernet(t0 + Duration::seconds(60), 2.0);
        let o = &w.ethernet.orders["EOR000001"];
        assert_eq!(o.state, EthOrderState::Completed);
        assert_eq!(o.completion_date, Some(t0 + Duration::seconds(8)));
        assert_eq!(o.service_id.as_deref(), Some("ETH000001"));
        assert_eq!(
            w.ethernet.services["ETH000001"].status,
            ServiceStatus::Active
        );
    }

    #[test]
    fn state_round_trips_and_old_files_load() {
        let mut w = World::seed(0.0);
        w.ethernet.services.insert(
            "ETH000001".into(),
            Service {
                id: "ETH000001".into(),
                product: Product::EtherwayGeaFttp,
                places: vec![],
                kbps: 80_000,
                term: 36,
                status: ServiceStatus::Active,
                start: w.now(),
                terminated: None,
                orders: vec![("EOR000001".into(), OrderAction::Add)],
            },
        );
        w.ethernet.counters.service = 1;
        let mut v = serde_json::to_value(&w).unwrap();
        let back: World = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            back.ethernet.services["ETH000001"].product,
            Product::EtherwayGeaFttp
        );
        assert_eq!(back.ethernet.counters.service, 1);
        // A state file written before Ethernet existed.
        v.as_object_mut().unwrap().remove("ethernet");
        let old: World = serde_json::from_value(v).unwrap();
        assert!(old.ethernet.services.is_empty());
    }
}
