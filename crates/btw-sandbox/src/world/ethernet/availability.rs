//! Where and when Ethernet can be had: places, what is unavailable where, working days and
//! engineer appointment slots.

use super::catalogue::*;
use crate::world::model::Address;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
    crate::world::calendar::is_working_day(d)
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
                "startDateTime": crate::wire::rfc3339(self.start()),
                "endDateTime": crate::wire::rfc3339(self.end()),
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
