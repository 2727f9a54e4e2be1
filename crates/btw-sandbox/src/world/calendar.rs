//! Working days for port lead times: weekends and England & Wales bank holidays (2025–2028).
//!
//! Pure functions over `NaiveDate`, so the lead-time rule can be unit-tested without a clock.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

/// England & Wales bank holidays as published on gov.uk, substitute days included
/// (e.g. Christmas 2027 falls on a Saturday, so Monday 27th and Tuesday 28th are the holidays).
const BANK_HOLIDAYS: [(i32, u32, u32); 32] = [
    (2025, 1, 1),
    (2025, 4, 18),
    (2025, 4, 21),
    (2025, 5, 5),
    (2025, 5, 26),
    (2025, 8, 25),
    (2025, 12, 25),
    (2025, 12, 26),
    (2026, 1, 1),
    (2026, 4, 3),
    (2026, 4, 6),
    (2026, 5, 4),
    (2026, 5, 25),
    (2026, 8, 31),
    (2026, 12, 25),
    (2026, 12, 28),
    (2027, 1, 1),
    (2027, 3, 26),
    (2027, 3, 29),
    (2027, 5, 3),
    (2027, 5, 31),
    (2027, 8, 30),
    (2027, 12, 27),
    (2027, 12, 28),
    (2028, 1, 3),
    (2028, 4, 14),
    (2028, 4, 17),
    (2028, 5, 1),
    (2028, 5, 29),
    (2028, 8, 28),
    (2028, 12, 25),
    (2028, 12, 26),
];

pub fn is_bank_holiday(d: NaiveDate) -> bool {
    BANK_HOLIDAYS
        .iter()
        .any(|&(y, m, day)| d.year() == y && d.month() == m && d.day() == day)
}

/// Not a weekend and not a bank holiday.
pub fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_bank_holiday(d)
}

/// The `n`th working day after `from` (`from` itself never counts); `from` for `n == 0`.
pub fn add_working_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut d = from;
    let mut left = n;
    while left > 0 {
        match d.succ_opt() {
            Some(next) => d = next,
            // The end of chrono's calendar: nothing sensible lies beyond it.
            None => return d,
        }
        if is_working_day(d) {
            left -= 1;
        }
    }
    d
}

/// The Europe/London calendar date at `t` (BT's working days are UK days).
pub fn london_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Europe::London).date_naive()
}

/// Parses `YYYY-MM-DD` strictly.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn holidays_are_weekdays() {
        for &(y, m, day) in &BANK_HOLIDAYS {
            let date = d(y, m, day);
            assert!(
                !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
                "{date} falls on a weekend"
            );
        }
    }

    #[test]
    fn across_a_weekend() {
        // Friday 2026-11-20 + 4 working days = Thursday 2026-11-26.
        assert_eq!(add_working_days(d(2026, 11, 20), 4), d(2026, 11, 26));
        // From a Saturday, Monday is the first working day.
        assert_eq!(add_working_days(d(2026, 11, 21), 1), d(2026, 11, 23));
        assert_eq!(add_working_days(d(2026, 11, 21), 0), d(2026, 11, 21));
        assert!(!is_working_day(d(2026, 11, 22)));
    }

    #[test]
    fn across_a_bank_holiday() {
        // Thursday 2026-04-02; Good Friday 3rd and Easter Monday 6th are skipped.
        assert_eq!(add_working_days(d(2026, 4, 2), 1), d(2026, 4, 7));
        assert_eq!(add_working_days(d(2026, 4, 2), 4), d(2026, 4, 10));
        // Spring bank holiday Monday 2026-05-25.
        assert_eq!(add_working_days(d(2026, 5, 22), 1), d(2026, 5, 26));
    }

    #[test]
    fn christmas_substitution() {
        // 2026: Christmas Friday, Boxing Day Saturday → Monday 28th is the substitute.
        assert!(is_bank_holiday(d(2026, 12, 28)));
        assert_eq!(add_working_days(d(2026, 12, 24), 1), d(2026, 12, 29));
        // 2027: both fall at the weekend → Monday 27th and Tuesday 28th.
        assert!(is_working_day(d(2027, 12, 24)));
        assert_eq!(add_working_days(d(2027, 12, 24), 1), d(2027, 12, 29));
        // 2027-12-23 (Thu) + 4: Fri 24, Wed 29, Thu 30, Fri 31.
        assert_eq!(add_working_days(d(2027, 12, 23), 4), d(2027, 12, 31));
        // New Year 2028 is a Saturday → Monday 3 January.
        assert_eq!(add_working_days(d(2027, 12, 31), 1), d(2028, 1, 4));
    }

    #[test]
    fn outside_the_list_only_weekends() {
        assert!(is_working_day(d(2030, 12, 25)));
        assert!(!is_working_day(d(2030, 12, 28)));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2026-12-01"), Some(d(2026, 12, 1)));
        assert_eq!(parse_date("2026-12-1"), None);
        assert_eq!(parse_date("01/12/2026"), None);
        assert_eq!(parse_date("2026-02-30"), None);
        // 23:30 UTC in summer is already the next day in London.
        let t = DateTime::parse_from_rfc3339("2026-07-01T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(london_date(t), d(2026, 7, 2));
    }
}
