//! Cron expressions evaluated in a time zone (Europe/London by default), so `0 10 * * 1-5` is
//! 10:00 UK time all year: 10:00Z in winter, 09:00Z in summer.
//!
//! Parsing and searching are the `croner` crate's. Across daylight-saving changes:
//! - **spring forward**: a fixed-time job whose time falls in the missing hour (`30 1 * * *` on
//!   the last Sunday of March) fires once, at the first instant after the gap (02:00 BST);
//!   interval jobs (`*/15 * * * *`) skip the occurrences that do not exist;
//! - **fall back**: a fixed-time job in the repeated hour fires once, on its first pass (BST);
//!   interval jobs fire on both passes, as the wall clock shows those times twice.

use super::clock::parse_tz;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// A parsed cron expression and the zone it is read in.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expr: String,
    tz: Tz,
    cron: Cron,
}

impl CronSchedule {
    /// Reads `expr`: five fields (minute hour day-of-month month day-of-week; 0 or 7 is
    /// Sunday), or six with seconds first; also `@daily`, `@hourly`, `L`, `#` and `W`.
    pub fn parse(expr: &str, tz: &str) -> Result<CronSchedule, String> {
        let tz = parse_tz(tz)?;
        let expr = expr.trim();
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| format!("cron expression {expr:?}: {e}"))?;
        Ok(CronSchedule {
            expr: expr.to_string(),
            tz,
            cron,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `t`; `None` when there is none (e.g. a date that
    /// never comes, such as 30 February).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The latest occurrence at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The first occurrence after `t`, or an error saying the expression never fires.
    pub fn first_after(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        self.next_after(t).ok_or_else(|| {
            format!(
                "cron expression {:?} has no occurrence after {} in {}",
                self.expr,
                super::clock::fmt_utc(t),
                self.tz.name()
            )
        })
    }

    /// The next `n` occurrences after `t` (for `btw schedule add` to show what it scheduled).
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = t;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(next) => {
                    out.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next_n(expr: &str, from: &str, n: usize) -> Vec<String> {
        CronSchedule::parse(expr, "Europe/London")
            .unwrap()
            .upcoming(utc(from), n)
            .into_iter()
            .map(super::super::clock::fmt_utc)
            .collect()
    }

    #[test]
    fn weekdays_at_ten_stay_at_ten_local_across_the_changes() {
        // Friday 27 March 2026 (GMT) → Monday 30 March (BST).
        assert_eq!(
            next_n("0 10 * * 1-5", "2026-03-27T08:00:00Z", 3),
            [
                "2026-03-27T10:00:00Z",
                "2026-03-30T09:00:00Z",
                "2026-03-31T09:00:00Z"
            ]
        );
        // Friday 23 October 2026 (BST) → Monday 26 October (GMT).
        assert_eq!(
            next_n("0 10 * * 1-5", "2026-10-23T08:00:00Z", 2),
            ["2026-10-23T09:00:00Z", "2026-10-26T10:00:00Z"]
        );
        // 2027: 28 March and 31 October are Sundays.
        assert_eq!(
            next_n("0 10 * * 1-5", "2027-03-26T12:00:00Z", 1),
            ["2027-03-29T09:00:00Z"]
        );
        assert_eq!(
            next_n("0 10 * * 1-5", "2027-10-29T12:00:00Z", 1),
            ["2027-11-01T10:00:00Z"]
        );
        // Daily, through the change days themselves.
        assert_eq!(
            next_n("0 10 * * *", "2026-03-28T00:00:00Z", 3),
            [
                "2026-03-28T10:00:00Z",
                "2026-03-29T09:00:00Z",
                "2026-03-30T09:00:00Z"
            ]
        );
        assert_eq!(
            next_n("0 10 * * *", "2026-10-24T00:00:00Z", 3),
            [
                "2026-10-24T09:00:00Z",
                "2026-10-25T10:00:00Z",
                "2026-10-26T10:00:00Z"
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_once_at_its_end() {
        // 01:30 does not exist on 29 March 2026: it fires at 02:00 BST (01:00Z), once.
        assert_eq!(
            next_n("30 1 * * *", "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
    }

    #[test]
    fn a_time_in_the_repeated_hour_fires_once() {
        // 01:30 happens twice on 25 October 2026 (00:30Z BST, 01:30Z GMT): fires on the first.
        assert_eq!(
            next_n("30 1 * * *", "2026-10-24T12:00:00Z", 3),
            [
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
                "2026-10-27T01:30:00Z"
            ]
        );
    }

    #[test]
    fn latest_occurrence_and_errors() {
        let c = CronSchedule::parse("0 10 * * 1-5", "Europe/London").unwrap();
        assert_eq!(
            c.latest_at_or_before(utc("2026-03-30T12:00:00Z")),
            Some(utc("2026-03-30T09:00:00Z"))
        );
        assert_eq!(
            c.latest_at_or_before(utc("2026-03-30T09:00:00Z")),
            Some(utc("2026-03-30T09:00:00Z"))
        );
        for bad in [
            "",
            "61 * * * *",
            "0 10 * *",
            "every day",
            "0 10 * * 1-5 * * *",
        ] {
            assert!(
                CronSchedule::parse(bad, "Europe/London").is_err(),
                "{bad:?}"
            );
        }
        assert!(CronSchedule::parse("0 10 * * *", "Nowhere/City").is_err());
        let ny = CronSchedule::parse("0 10 * * *", "America/New_York").unwrap();
        assert_eq!(
            ny.next_after(utc("2026-12-01T00:00:00Z")),
            Some(utc("2026-12-01T15:00:00Z"))
        );
    }
}
