//! The [`Clock`] the scheduler follows (system, the sandbox's, or a test's). Local times and
//! their daylight-saving rule are `crate::time`'s, re-exported here for the job model.

use chrono::{DateTime, Duration, Utc};
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

pub use crate::time::{fmt_local, parse_tz, rfc3339 as fmt_utc, LONDON};

/// When a job should fire (see `crate::time::parse_in`; a gap warning is dropped here: callers
/// that can show one use `time` directly).
pub fn parse_when(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    crate::time::parse_in(text, tz).map(|p| p.at)
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
