//! UK local time for recipe headers, `btw schedule`, the inbox and scripts: one parser, one rule
//! for the clock changes, one RFC 3339 formatter.
//!
//! A time without an offset is wall-clock time in a zone (Europe/London unless one is given).
//! Across daylight-saving changes, as the cron crate already behaves, so `at` and `cron` agree:
//! - **spring forward** (last Sunday of March, 01:00 → 02:00): a time in the missing hour, such
//!   as 01:30, runs when the gap ends, 02:00 BST (01:00Z), and the parse says so in a warning;
//! - **fall back** (last Sunday of October, 02:00 → 01:00): a time in the repeated hour, such as
//!   01:30, is its first occurrence, 01:30 BST (00:30Z).

use chrono::{
    DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// The default zone: BT and operators write UK time.
pub const LONDON: Tz = chrono_tz::Europe::London;

/// A parsed time: the instant, and a warning when the written time did not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub at: DateTime<Utc>,
    /// Set when a local time fell in a spring-forward gap and was moved to the gap's end.
    pub warning: Option<String>,
}

/// Reads a time zone name such as `Europe/London`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?} (expected e.g. \"Europe/London\")"))
}

/// Reads a time in UK local time (or RFC 3339): see [`parse_in`].
pub fn parse(text: &str) -> Result<Parsed, String> {
    parse_in(text, LONDON)
}

/// Reads RFC 3339 (`2026-12-01T10:00:00Z`, `…+01:00`), or a local time in `tz` without an
/// offset: `2026-12-01 10:00`, `2026-12-01T10:00[:SS]`, or a date (midnight).
pub fn parse_in(text: &str, tz: Tz) -> Result<Parsed, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(Parsed {
            at: d.with_timezone(&Utc),
            warning: None,
        });
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(t, fmt).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match naive {
        Some(n) => Ok(local(n, tz)),
        None => Err(format!(
            "cannot read {text:?} as a time: expected RFC 3339 (2026-12-01T10:00:00Z) or a local \
             time in {} (2026-12-01 10:00)",
            tz.name()
        )),
    }
}

/// A wall-clock time in `tz` as an instant, by the rule in this module's doc.
pub fn local(n: NaiveDateTime, tz: Tz) -> Parsed {
    if let Some(d) = tz.from_local_datetime(&n).earliest() {
        return Parsed {
            at: d.with_timezone(&Utc),
            warning: None,
        };
    }
    // In a gap: its end is the first wall-clock minute after `n` that exists (transitions fall
    // on whole minutes; gaps last at most a few hours).
    let start = n
        .with_second(0)
        .and_then(|l| l.with_nanosecond(0))
        .unwrap_or(n);
    let end = (1..=24 * 60).find_map(|m| {
        tz.from_local_datetime(&(start + Duration::minutes(m)))
            .earliest()
    });
    match end {
        Some(d) => {
            let at = d.with_timezone(&Utc);
            Parsed {
                at,
                warning: Some(format!(
                    "{} does not exist in {} (the clocks go forward): it runs when the gap ends, {}",
                    n.format("%Y-%m-%d %H:%M"),
                    tz.name(),
                    fmt_local(at, tz)
                )),
            }
        }
        // Not reachable with real zone data; keep the naive time as UTC rather than panic.
        None => Parsed {
            at: n.and_utc(),
            warning: None,
        },
    }
}

/// An instant as RFC 3339 UTC to the second (`2026-12-01T10:00:00Z`), for people and scripts.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stored instant: RFC 3339 in UTC with milliseconds and `Z`, so that comparing the text
/// compares the times (the store's timestamps).
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant as local time in `tz` with its abbreviation, e.g. `2026-12-01 10:00 GMT`.
pub fn fmt_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_clock_change_of_2026_to_2028() {
        // (local time, UTC instant, warned): the gap (01:00–02:00) and the repeated hour
        // (01:00–02:00 BST, again in GMT) of each change, and the minutes around them.
        let table = [
            // Spring forward: 29 Mar 2026, 28 Mar 2027, 26 Mar 2028.
            ("2026-03-29 00:59", "2026-03-29T00:59:00Z", false),
            ("2026-03-29 01:00", "2026-03-29T01:00:00Z", true),
            ("2026-03-29 01:30", "2026-03-29T01:00:00Z", true),
            ("2026-03-29 01:59", "2026-03-29T01:00:00Z", true),
            ("2026-03-29 02:00", "2026-03-29T01:00:00Z", false),
            ("2027-03-28 01:30", "2027-03-28T01:00:00Z", true),
            ("2027-03-28 02:30", "2027-03-28T01:30:00Z", false),
            ("2028-03-26 01:15", "2028-03-26T01:00:00Z", true),
            ("2028-03-26 03:00", "2028-03-26T02:00:00Z", false),
            // Fall back: 25 Oct 2026, 31 Oct 2027, 29 Oct 2028; the first 01:xx is BST.
            ("2026-10-25 00:59", "2026-10-24T23:59:00Z", false),
            ("2026-10-25 01:00", "2026-10-25T00:00:00Z", false),
            ("2026-10-25 01:30", "2026-10-25T00:30:00Z", false),
            ("2026-10-25 02:00", "2026-10-25T02:00:00Z", false),
            ("2027-10-31 01:30", "2027-10-31T00:30:00Z", false),
            ("2027-10-31 02:30", "2027-10-31T02:30:00Z", false),
            ("2028-10-29 01:45", "2028-10-29T00:45:00Z", false),
            ("2028-10-29 10:00", "2028-10-29T10:00:00Z", false),
            // Plain days either side.
            ("2026-07-01 10:00", "2026-07-01T09:00:00Z", false),
            ("2026-12-01 10:00", "2026-12-01T10:00:00Z", false),
        ];
        for (text, want, warned) in table {
            let p = parse(text).unwrap();
            assert_eq!(p.at, utc(want), "{text}");
            assert_eq!(p.warning.is_some(), warned, "{text}: {:?}", p.warning);
            let t = text.replace(' ', "T");
            assert_eq!(parse(&t).unwrap().at, p.at, "{t}");
        }
        let w = parse("2026-03-29 01:30").unwrap().warning.unwrap();
        assert!(w.contains("2026-03-29 02:00 BST"), "{w}");
    }

    #[test]
    fn offsets_zones_dates_and_errors() {
        assert_eq!(
            parse("2026-12-01T10:00:00+01:00").unwrap().at,
            utc("2026-12-01T09:00:00Z")
        );
        assert_eq!(parse("2026-12-01").unwrap().at, utc("2026-12-01T00:00:00Z"));
        let ny = parse_tz("America/New_York").unwrap();
        assert_eq!(
            parse_in("2026-12-01 10:00", ny).unwrap().at,
            utc("2026-12-01T15:00:00Z")
        );
        for bad in ["", "tomorrow", "2026-13-01 10:00", "2026-12-01 25:00"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse_tz("Mars/Olympus").is_err());
        assert_eq!(
            fmt_local(utc("2026-07-01T09:00:00Z"), LONDON),
            "2026-07-01 10:00 BST"
        );
        assert_eq!(
            rfc3339(utc("2026-07-01T09:00:00.5Z")),
            "2026-07-01T09:00:00Z"
        );
    }
}
