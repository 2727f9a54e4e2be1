//! Number porting in the sandbox: fixture numbers, portability, lead times, import orders and the
//! losing provider's (LCP's) decision on the sandbox clock.
//!
//! HTTP lives in `http/routes/port.rs`; this module is the world-side logic, so the rules can be
//! unit tested and the clock tick (`World::advance_orders`) can drive LCP decisions. It gets the
//! parts of the world it needs (import orders, the number inventory, the outbox), not the world.

use super::calendar::{add_working_days, london_date};
use super::model::{NumberRecord, NumberStatus};
use super::outbox::{queue_event_at, Notification};
use crate::wire::rfc3339;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The number inventory, by number (no spaces).
pub type Numbers = BTreeMap<String, NumberRecord>;

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

/// What the LCP will do with a fixture line, when it is portable at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Accept,
    Reject(&'static str),
    AlreadyPortedIn,
    PortInProgress,
    NotPortable(&'static str),
}

/// A fixture number or range (inclusive); see CONTRACT.md "Fixture numbers".
struct Fixture {
    start: &'static str,
    end: &'static str,
    holder: &'static str,
    lcp: &'static str,
    postcode: &'static str,
    line_type: &'static str,
    fate: Fate,
}

const fn fx(
    start: &'static str,
    end: &'static str,
    holder: &'static str,
    lcp: &'static str,
    postcode: &'static str,
    line_type: &'static str,
    fate: Fate,
) -> Fixture {
    Fixture {
        start,
        end,
        holder,
        lcp,
        postcode,
        line_type,
        fate,
    }
}

// Drama ranges the ringfence pools never hand out, so a fixture cannot collide with a new number.
const FIXTURES: [Fixture; 11] = [
    fx(
        "01914980100",
        "01914980100",
        "BT",
        "BT",
        "NE1 4ST",
        "analogue",
        Fate::Accept,
    ),
    fx(
        "01914980101",
        "01914980101",
        "BT",
        "TalkTalk",
        "NE1 4ST",
        "analogue",
        Fate::Accept,
    ),
    fx(
        "01914980102",
        "01914980102",
        "BT",
        "BT",
        "NE1 4ST",
        "analogue",
        Fate::Reject(NUMBER_INACTIVE),
    ),
    fx(
        "01914980103",
        "01914980103",
        "BT",
        "BT",
        "NE1 4ST",
        "analogue",
        Fate::Reject(PENDING_ORDER),
    ),
    fx(
        "01914980104",
        "01914980104",
        "BT",
        "BT",
        "NE1 4ST",
        "isdn30",
        Fate::Accept,
    ),
    fx(
        "01914980200",
        "01914980299",
        "Virgin Media",
        "Virgin Media",
        "NE1 7RU",
        "isdn30",
        Fate::Accept,
    ),
    fx(
        "02920180000",
        "02920180049",
        "Gamma",
        "Gamma",
        "CF10 1EP",
        "voip",
        Fate::Accept,
    ),
    fx(
        "02920180100",
        "02920180199",
        "Gamma",
        "Virgin Media",
        "CF10 3NQ",
        "isdn30",
        Fate::Accept,
    ),
    fx(
        "02920180500",
        "02920180500",
        "BT",
        "BT",
        "CF10 1EP",
        "analogue",
        Fate::AlreadyPortedIn,
    ),
    fx(
        "02920180600",
        "02920180600",
        "BT",
        "Sky",
        "CF10 1EP",
        "analogue",
        Fate::PortInProgress,
    ),
    fx(
        "01632960000",
        "01632960099",
        "KCOM",
        "KCOM",
        "HU1 1AA",
        "analogue",
        Fate::NotPortable("rangeHolderNotSupported"),
    ),
];

pub const POSTCODE_MISMATCH: &str = "postcodeMismatch";
pub const NUMBER_INACTIVE: &str = "numberInactive";
pub const PENDING_ORDER: &str = "pendingOrder";
pub const WRONG_LINE_TYPE: &str = "wrongLineType";
/// Range holder (and LCP) of every number that is not a fixture.
pub const DEFAULT_HOLDER: &str = "Openreach";

fn fixture(number: &str) -> Option<&'static Fixture> {
    // Same-length digit strings compare like the numbers they spell.
    FIXTURES
        .iter()
        .find(|f| number.len() == f.start.len() && f.start <= number && number <= f.end)
}

/// Whether a number can be ported, as the portability check reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Portable,
    NotPortable(&'static str),
    AlreadyPortedIn,
    PortInProgress,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Portable => "portable",
            PortState::NotPortable(_) => "notPortable",
            PortState::AlreadyPortedIn => "alreadyPortedIn",
            PortState::PortInProgress => "portInProgress",
        }
    }

    /// Higher is worse; a range reports its worst number.
    fn rank(self) -> u8 {
        match self {
            PortState::Portable => 0,
            PortState::PortInProgress => 1,
            PortState::AlreadyPortedIn => 2,
            PortState::NotPortable(_) => 3,
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            PortState::NotPortable(r) => Some(r),
            _ => None,
        }
    }
}

/// What the sandbox knows about one number's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    pub port_state: PortState,
    pub holder: &'static str,
    pub lcp: String,
    pub lcp_is_holder: bool,
    pub line_type: &'static str,
    /// The installation postcode the LCP compares with (fixtures only).
    pub postcode: Option<&'static str>,
    /// A rejection the LCP will give whatever the order says.
    pub fixed_rejection: Option<&'static str>,
}

/// `01914980100` from `0191 498 0100`; `None` unless 10–11 digits starting with 0.
pub fn normalise_number(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let ok =
        (10..=11).contains(&d.len()) && d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(d)
}

/// `NE1 4ST` and `ne14st` compare equal.
pub fn postcode_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The line behind `number` (already normalised). `losing_provider` is what an order or query
/// names (it decides `lcp_is_holder` for non-fixture numbers); `own_order` is an import order
/// whose numbers do not count as "port in progress" (the order being amended).
pub fn line_info(
    ports: &Ports,
    numbers: &Numbers,
    number: &str,
    losing_provider: Option<&str>,
    own_order: Option<&str>,
) -> LineInfo {
    let fx = fixture(number);
    let mut info = match fx {
        Some(f) => LineInfo {
            port_state: match f.fate {
                Fate::AlreadyPortedIn => PortState::AlreadyPortedIn,
                Fate::PortInProgress => PortState::PortInProgress,
                Fate::NotPortable(r) => PortState::NotPortable(r),
                Fate::Accept | Fate::Reject(_) => PortState::Portable,
            },
            holder: f.holder,
            lcp: f.lcp.to_string(),
            lcp_is_holder: f.lcp == f.holder,
            line_type: f.line_type,
            postcode: Some(f.postcode),
            fixed_rejection: match f.fate {
                Fate::Reject(r) => Some(r),
                _ => None,
            },
        },
        None => {
            let lcp = losing_provider.unwrap_or(DEFAULT_HOLDER).trim().to_string();
            LineInfo {
                port_state: PortState::Portable,
                holder: DEFAULT_HOLDER,
                lcp_is_holder: lcp.eq_ignore_ascii_case(DEFAULT_HOLDER),
                lcp,
                line_type: "analogue",
                postcode: None,
                fixed_rejection: None,
            }
        }
    };
    // What the sandbox itself holds overrides the fixtures, except the order's own allocation.
    let own_allocation = own_order
        .and_then(|id| ports.orders.get(id))
        .is_some_and(|o| o.numbers.iter().any(|n| n == number));
    let held = numbers.get(number).filter(|r| {
        !(own_allocation && r.kind == "ported" && r.status == NumberStatus::Ringfenced)
    });
    if let Some(rec) = held {
        info.port_state = if rec.kind == "ported" && rec.status == NumberStatus::Assigned {
            PortState::AlreadyPortedIn
        } else if rec.kind == "ported" {
            // Ringfenced ahead of an open port: that port is still in progress.
            PortState::PortInProgress
        } else {
            PortState::NotPortable("numberOnWhc")
        };
    }
    if info.port_state == PortState::Portable {
        let busy = ports.orders.values().any(|o| {
            o.state.is_open()
                && own_order.is_none_or(|own| own != o.id)
                && o.numbers.iter().any(|n| n == number)
        });
        if busy {
            info.port_state = PortState::PortInProgress;
        }
    }
    if !(number.starts_with("01") || number.starts_with("02")) {
        info.port_state = PortState::NotPortable("notGeographic");
    }
    info
}

/// The portability of a range: its worst number's state, its first number's details.
pub fn range_info(
    ports: &Ports,
    inventory: &Numbers,
    numbers: &[String],
    losing_provider: Option<&str>,
) -> LineInfo {
    let mut infos = numbers
        .iter()
        .map(|n| line_info(ports, inventory, n, losing_provider, None));
    let Some(mut first) = infos.next() else {
        return line_info(ports, inventory, "", losing_provider, None);
    };
    for info in infos {
        if info.holder != first.holder && first.port_state.rank() < 3 {
            first.port_state = PortState::NotPortable("mixedRangeHolders");
        }
        if info.port_state.rank() > first.port_state.rank() {
            first.port_state = info.port_state;
        }
        first.lcp_is_holder &= info.lcp_is_holder;
    }
    first
}

/// Minimum lead time in working days (BT_API.md; see CONTRACT.md "Lead times").
pub fn lead_time_days(
    import_type: ImportType,
    quantity: usize,
    is_range: bool,
    lcp_is_holder: bool,
) -> u32 {
    let holder_days = match import_type {
        ImportType::SingleLine if quantity > 10 => 14,
        ImportType::SingleLine => 4,
        ImportType::MultiLine if quantity > 150 => 17,
        ImportType::MultiLine if quantity > 30 || is_range => 10,
        ImportType::MultiLine => 7,
    };
    // The LCP is not the range holder: three more days, at every size.
    if lcp_is_holder {
        holder_days
    } else {
        holder_days + 3
    }
}

/// Today's Europe/London date when the sandbox clock reads `now`.
pub fn today(now: DateTime<Utc>) -> NaiveDate {
    london_date(now)
}

/// The earliest allowed port date from `today` for a lead time of `days` working days.
pub fn earliest_port_date(today: NaiveDate, days: u32) -> NaiveDate {
    add_working_days(today, days)
}

/// The LCP's answer for an order: `Err(reason)` for a rejection.
pub fn lcp_decision(ports: &Ports, numbers: &Numbers, o: &ImportOrder) -> Result<(), &'static str> {
    let infos: Vec<LineInfo> = o
        .numbers
        .iter()
        .map(|n| line_info(ports, numbers, n, o.losing_provider.as_deref(), Some(&o.id)))
        .collect();
    let postcode = postcode_key(&o.installation_postcode);
    let rejects = |reason: &str, info: &LineInfo| match reason {
        WRONG_LINE_TYPE => o.import_type == ImportType::SingleLine && info.line_type == "isdn30",
        POSTCODE_MISMATCH => info.postcode.is_some_and(|p| postcode_key(p) != postcode),
        r => info.fixed_rejection == Some(r),
    };
    for reason in [
        NUMBER_INACTIVE,
        PENDING_ORDER,
        WRONG_LINE_TYPE,
        POSTCODE_MISMATCH,
    ] {
        if infos.iter().any(|i| rejects(reason, i)) {
            return Err(reason);
        }
    }
    Ok(())
}

fn date(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| json!(d.to_string()))
}

fn items(o: &ImportOrder) -> Vec<Value> {
    let state = o.state.as_str();
    match &o.range {
        Some((start, end)) => vec![json!({
            "id": "1", "action": "add", "state": state,
            "numberRange": {"startNumber": start, "endNumber": end},
        })],
        None => o
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": (i + 1).to_string(), "action": "add", "state": state, "number": n}))
            .collect(),
    }
}

/// An import order's wire shape (CONTRACT.md "Import orders").
pub fn render(o: &ImportOrder) -> Value {
    json!({
        "id": o.id,
        "externalId": o.external_id,
        "@type": "NumberImportOrder",
        "importType": o.import_type.as_str(),
        "state": o.state.as_str(),
        "lcpStatus": o.lcp_status.as_str(),
        "rejectionReason": o.rejection_reason,
        "portDate": o.port_date.to_string(),
        "confirmedPortDate": date(o.confirmed_port_date),
        "numbers": o.numbers,
        "numberRange": o.range.as_ref().map(|(s, e)| json!({"startNumber": s, "endNumber": e})),
        "installationPostcode": o.installation_postcode,
        "losingProvider": o.losing_provider,
        "lcpIsRangeHolder": o.lcp_is_range_holder,
        "leadTimeWorkingDays": o.lead_time_days,
        "companyServiceId": o.company_service_id,
        "allocatedTo": o.allocated_to,
        "orderDate": rfc3339(o.order_date),
        "lcpDecisionDate": rfc3339(o.lcp_decision_at),
        "activationDate": o.activation_date.map(rfc3339),
        "completionDate": o.completion_date.map(rfc3339),
        "relatedParty": o.related_party,
        "productOrderItem": items(o),
    })
}

/// The `productOrder` of a notification about `o`.
pub fn event_order(o: &ImportOrder) -> Value {
    let items: Vec<Value> = items(o)
        .into_iter()
        .map(|i| json!({"id": i["id"], "action": i["action"], "state": i["state"]}))
        .collect();
    json!({
        "id": o.id,
        "externalId": o.external_id,
        "@type": "NumberImportOrder",
        "state": o.state.as_str(),
        "importType": o.import_type.as_str(),
        "portDate": o.port_date.to_string(),
        "confirmedPortDate": date(o.confirmed_port_date),
        "lcpStatus": o.lcp_status.as_str(),
        "rejectionReason": o.rejection_reason,
        "productOrderItem": items,
    })
}

/// Queues `event_type` about import order `id` (nothing if it is gone).
pub fn notify(
    ports: &Ports,
    outbox: &mut Vec<Notification>,
    id: &str,
    event_type: &str,
    at: DateTime<Utc>,
) {
    if let Some(o) = ports.orders.get(id) {
        let order = event_order(o);
        queue_event_at(outbox, at, event_type, order);
    }
}

/// Applies due LCP decisions up to `now` (called from the clock tick and before porting requests).
/// Returns whether anything changed.
pub fn advance(
    ports: &mut Ports,
    numbers: &mut Numbers,
    outbox: &mut Vec<Notification>,
    now: DateTime<Utc>,
) -> bool {
    let due: Vec<String> = ports
        .orders
        .values()
        .filter(|o| {
            o.state.is_open() && o.lcp_status == LcpStatus::Pending && o.lcp_decision_at <= now
        })
        .map(|o| o.id.clone())
        .collect();
    for id in &due {
        let Some(o) = ports.orders.get(id) else {
            continue;
        };
        let decision = lcp_decision(ports, numbers, o);
        let at = o.lcp_decision_at;
        let Some(o) = ports.orders.get_mut(id) else {
            continue;
        };
        match decision {
            Ok(()) => {
                o.lcp_status = LcpStatus::Accepted;
                o.confirmed_port_date = Some(o.port_date);
                // Never backwards: an amended order that was already inProgress stays there.
                o.state = o.state.max(ImportState::InProgress);
                notify(ports, outbox, id, "portLcpAccepted", at);
                notify(ports, outbox, id, "portDateConfirmed", at);
            }
            Err(reason) => {
                o.lcp_status = LcpStatus::Rejected;
                o.rejection_reason = Some(reason.to_string());
                o.state = ImportState::Rejected;
                release_allocation(ports, numbers, id);
                notify(ports, outbox, id, "portLcpRejected", at);
            }
        }
    }
    !due.is_empty()
}

/// Drops the ringfenced (not yet used, not yet active) ported numbers of import order `id`.
pub fn release_allocation(ports: &mut Ports, inventory: &mut Numbers, id: &str) {
    let Some(o) = ports.orders.get_mut(id) else {
        return;
    };
    let Some(company) = o.allocated_to.take() else {
        return;
    };
    let numbers = o.numbers.clone();
    for n in numbers {
        let free = inventory.get(&n).is_some_and(|r| {
            r.kind == "ported"
                && r.status == NumberStatus::Ringfenced
                && r.order_id.is_none()
                && r.company_service_id == company
        });
        if free {
            inventory.remove(&n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn order(numbers: &[&str], t: ImportType, postcode: &str) -> ImportOrder {
        let now = Utc::now();
        ImportOrder {
            id: "BTWPI001001".into(),
            seq: 1001,
            external_id: None,
            import_type: t,
            state: ImportState::Acknowledged,
            lcp_status: LcpStatus::Pending,
            rejection_reason: None,
            port_date: NaiveDate::from_ymd_opt(2030, 1, 7).unwrap(),
            confirmed_port_date: None,
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
            range: None,
            installation_postcode: postcode.into(),
            losing_provider: None,
            lcp_is_range_holder: true,
            lead_time_days: 4,
            company_service_id: None,
            allocated_to: None,
            order_date: now,
            lcp_decision_at: now,
            activation_date: None,
            completion_date: None,
            related_party: Value::Null,
        }
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(
            normalise_number("0191 498 0100").as_deref(),
            Some("01914980100")
        );
        assert_eq!(
            normalise_number("0207946000").as_deref(),
            Some("0207946000")
        );
        assert!(normalise_number("1914980100").is_none());
        assert!(normalise_number("019149801001").is_none());
        assert!(normalise_number("0191498010x").is_none());
        assert_eq!(postcode_key(" ne1 4st"), "NE14ST");
    }

    #[test]
    fn lead_times() {
        use ImportType::*;
        assert_eq!(lead_time_days(SingleLine, 1, false, true), 4);
        assert_eq!(lead_time_days(SingleLine, 1, false, false), 7);
        assert_eq!(lead_time_days(SingleLine, 11, false, true), 14);
        assert_eq!(lead_time_days(SingleLine, 11, false, false), 17);
        assert_eq!(lead_time_days(MultiLine, 30, false, true), 7);
        assert_eq!(lead_time_days(MultiLine, 2, false, false), 10);
        assert_eq!(lead_time_days(MultiLine, 31, false, true), 10);
        assert_eq!(lead_time_days(MultiLine, 5, true, false), 13);
        assert_eq!(lead_time_days(MultiLine, 151, true, true), 17);
        assert_eq!(lead_time_days(MultiLine, 151, false, false), 20);
    }

    #[test]
    fn fixture_states() {
        let w = World::seed(0.0);
        let st = |n: &str| line_info(&w.ports, &w.numbers, n, None, None).port_state;
        assert_eq!(st("01914980100"), PortState::Portable);
        assert_eq!(st("02920180500"), PortState::AlreadyPortedIn);
        assert_eq!(st("02920180600"), PortState::PortInProgress);
        assert_eq!(
            st("01632960042"),
            PortState::NotPortable("rangeHolderNotSupported")
        );
        assert_eq!(st("02079460003"), PortState::NotPortable("numberOnWhc"));
        assert_eq!(st("08001234567"), PortState::NotPortable("notGeographic"));
        let unknown = line_info(&w.ports, &w.numbers, "01134960999", Some("Gamma"), None);
        assert_eq!(unknown.port_state, PortState::Portable);
        assert_eq!(unknown.holder, "Openreach");
        assert!(!unknown.lcp_is_holder);
        assert!(!line_info(&w.ports, &w.numbers, "01914980101", None, None).lcp_is_holder);
        let range: Vec<String> = (199..=200).map(|n| format!("01914980{n:03}")).collect();
        assert_eq!(
            range_info(&w.ports, &w.numbers, &range, None).port_state,
            PortState::NotPortable("mixedRangeHolders")
        );
    }

    #[test]
    fn lcp_decisions() {
        use ImportType::*;
        let w = World::seed(0.0);
        let d = |n: &[&str], t, p| lcp_decision(&w.ports, &w.numbers, &order(n, t, p));
        assert_eq!(d(&["01914980100"], SingleLine, "ne1 4st"), Ok(()));
        assert_eq!(
            d(&["01914980100"], SingleLine, "NE1 7RU"),
            Err(POSTCODE_MISMATCH)
        );
        assert_eq!(
            d(&["01914980102"], SingleLine, "NE1 4ST"),
            Err(NUMBER_INACTIVE)
        );
        assert_eq!(d(&["01914980103"], SingleLine, "X"), Err(PENDING_ORDER));
        assert_eq!(
            d(&["01914980104"], SingleLine, "NE1 4ST"),
            Err(WRONG_LINE_TYPE)
        );
        assert_eq!(d(&["01914980104"], MultiLine, "NE1 4ST"), Ok(()));
        assert_eq!(d(&["01134960999"], SingleLine, "ZZ1 1ZZ"), Ok(()));
    }
}
