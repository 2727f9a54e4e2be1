//! Time for the scheduler: the [`Clock`] it follows (system, the sandbox's, or a test's) and
//! how a UK local time written by an operator becomes an instant.
//!
//! Local times across daylight-saving changes (Europe/London):
//! - **spring forward** (last Sunday of March, 01:00 → 02:00): a time in the missing hour, such
//!   as 01:30, is taken as the first instant after the gap, 02:00 BST (01:00Z). This matches
//!   what the cron crate does for a fixed-time cron job, so `at` and `cron` agree;
//! - **fall back** (last Sunday of October, 02:00 → 01:00): a time in the repeated hour, such as
//!   01:30, is its first occurrence, 01:30 BST (00:30Z). A cron job fires once in it.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// A boxed future, so the traits here can be used as `Arc<dyn …>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The time the scheduler goes by. In the sandbox profile the daemon follows the sandbox's
/// clock (which can run fast or be moved forward); elsewhere the system clock.
pub trait Clock: Send + Sync {
    /// The current instant, or why it cannot be had (then the scheduler skips that tick).
    fn now(&self) -> BoxFuture<'_, Result<DateTime<Utc>, String>>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> BoxFuture<'_, Result<DateTime<Utc>, String>> {
        Box::pin(async { Ok(Utc::now()) })
    }
}

/// A clock that moves only when told to: for tests, and for replaying a day's schedule.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(start))
    }
    pub fn get(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> BoxFuture<'_, Result<DateTime<Utc>, String>> {
        let t = self.get();
        Box::pin(async move { Ok(t) })
    }
}

/// The default time zone of schedules.
pub const LONDON: Tz = chrono_tz::Europe::London;

/// Reads a time zone name such as `Europe/London`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?} (expected e.g. \"Europe/London\")"))
}

/// A wall-clock time in `tz` as an instant, by the rules in this module's doc: a time in a
/// spring-forward gap moves to the end of the gap; a repeated time is its first occurrence.
pub fn local_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(d) = tz.from_local_datetime(&local).earliest() {
        return d.with_timezone(&Utc);
    }
    // In a gap: its end is the first wall-clock minute after `local` that exists (transitions
    // fall on whole minutes; gaps last at most a few hours): 02:00 BST on the March change.
    let start = local
        .with_second(0)
        .and_then(|l| l.with_nanosecond(0))
        .unwrap_or(local);
    for m in 1..=24 * 60 {
        if let Some(d) = tz
            .from_local_datetime(&(start + Duration::minutes(m)))
            .earliest()
        {
            return d.with_timezone(&Utc);
        }
    }
    // Not reachable with real zone data; keep the naive time as UTC rather than panic.
    local.and_utc()
}

/// Reads when a job should fire: RFC 3339 (`2026-12-01T10:00:00Z`, `…+01:00`), or a local time
/// in `tz` without an offset: `2026-12-01 10:00`, `2026-12-01T10:00[:SS]`, or a date (midnight).
pub fn parse_when(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(local_to_utc(n, tz));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(n) = d.and_hms_opt(0, 0, 0) {
            return Ok(local_to_utc(n, tz));
        }
    }
    Err(format!(
        "cannot read {text:?} as a time: expected RFC 3339 (2026-12-01T10:00:00Z) or a local time \
         in {} (2026-12-01 10:00)",
        tz.name()
    ))
}

/// An instant as RFC 3339 UTC to the second, for people and scripts.
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An instant as local time in `tz` with its offset, e.g. `2026-12-01 10:00 GMT`.
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
    fn ten_o_clock_london_across_the_changes() {
        // (local date, UTC instant of 10:00 London that day)
        let table = [
            ("2026-03-28", "2026-03-28T10:00:00Z"), // GMT, the day before spring forward
            ("2026-03-29", "2026-03-29T09:00:00Z"), // the change day: 10:00 is already BST
            ("2026-03-30", "2026-03-30T09:00:00Z"), // BST
            ("2026-10-24", "2026-10-24T09:00:00Z"), // BST, the day before fall back
            ("2026-10-25", "2026-10-25T10:00:00Z"), // the change day: 10:00 is GMT again
            ("2026-10-26", "2026-10-26T10:00:00Z"), // GMT
            ("2027-03-27", "2027-03-27T10:00:00Z"),
            ("2027-03-29", "2027-03-29T09:00:00Z"),
            ("2027-10-30", "2027-10-30T09:00:00Z"),
            ("2027-11-01", "2027-11-01T10:00:00Z"),
            ("2026-12-01", "2026-12-01T10:00:00Z"),
            ("2026-07-01", "2026-07-01T09:00:00Z"),
        ];
        for (day, want) in table {
            let got = parse_when(&format!("{day} 10:00"), LONDON).unwrap();
            assert_eq!(got, utc(want), "10:00 London on {day}");
            assert_eq!(parse_when(&format!("{day}T10:00:00"), LONDON).unwrap(), got);
        }
    }

    #[test]
    fn the_spring_gap_moves_to_its_end_and_the_repeated_hour_takes_the_first() {
        // 29 March 2026: 01:00 GMT → 02:00 BST. 01:30 does not exist: it fires at 02:00 BST.
        assert_eq!(
            parse_when("2026-03-29 01:30", LONDON).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            parse_when("2026-03-29 01:00", LONDON).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            parse_when("2026-03-29 02:00", LONDON).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
        // 25 October 2026: 02:00 BST → 01:00 GMT. 01:30 happens twice: the first (BST) counts.
        assert_eq!(
            parse_when("2026-10-25 01:30", LONDON).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn offsets_and_errors() {
        assert_eq!(
            parse_when("2026-12-01T10:00:00+01:00", LONDON).unwrap(),
            utc("2026-12-01T09:00:00Z")
        );
        assert_eq!(
            parse_when("2026-12-01", LONDON).unwrap(),
            utc("2026-12-01T00:00:00Z")
        );
        let ny = parse_tz("America/New_York").unwrap();
        assert_eq!(
            parse_when("2026-12-01 10:00", ny).unwrap(),
            utc("2026-12-01T15:00:00Z")
        );
        for bad in ["", "tomorrow", "2026-13-01 10:00", "2026-12-01 25:00"] {
            assert!(parse_when(bad, LONDON).is_err(), "{bad:?}");
        }
        assert!(parse_tz("Mars/Olympus").is_err());
        assert_eq!(
            fmt_local(utc("2026-07-01T09:00:00Z"), LONDON),
            "2026-07-01 10:00 BST"
        );
    }
}
