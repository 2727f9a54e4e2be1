//! The lines behind numbers: fixture numbers, portability, lead times and the LCP's decision.

use super::orders::*;
use crate::world::calendar::{add_working_days, london_date};
use crate::world::model::NumberStatus;
use chrono::{DateTime, NaiveDate, Utc};

/// What the LCP will do with a fixture line, when it is portable at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Accept,
    Reject(&'static str),
    AlreadyPortedIn,
    PortInProgress,
    NotPortable(&'static str),
}

/// A fixture number or range (inclusive); see CONTRACT.md "Fixture numbers".
pub(super) struct Fixture {
    pub(super) start: &'static str,
    pub(super) end: &'static str,
    pub(super) holder: &'static str,
    pub(super) lcp: &'static str,
    pub(super) postcode: &'static str,
    pub(super) line_type: &'static str,
    pub(super) fate: Fate,
}

pub(super) const fn fx(
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
pub(super) const FIXTURES: [Fixture; 11] = [
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

pub(super) fn fixture(number: &str) -> Option<&'static Fixture> {
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

/// Today's Europe/London date when a clock reads `now`.
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
