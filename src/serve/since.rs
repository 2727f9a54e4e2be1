//! The runs list's "since" filter: the console's own time format (`2026-12-07 15:40:12 GMT`),
//! UK local times and dates, RFC 3339, and relative times (`10 min ago`, `2h`, `today`,
//! `yesterday`); anything else is an error saying what is understood.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Europe::London;

/// The instant `text` names, read at `now`.
pub(super) fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if let Some(day) = match lower.as_str() {
        "today" => Some(0),
        "yesterday" => Some(1),
        _ => None,
    } {
        let date = now.with_timezone(&London).date_naive() - Duration::days(day);
        return Ok(crate::time::local(date.and_time(NaiveTime::MIN), London).at);
    }
    if let Some(d) = relative(&lower) {
        return Ok(now - d);
    }
    // The page's own format ends with the zone's abbreviation; UTC is said as such.
    let (bare, utc) = match t.rsplit_once(' ') {
        Some((head, "GMT" | "BST")) => (head, false),
        Some((head, "UTC" | "Z")) => (head, true),
        _ => (t, false),
    };
    let zone = if utc { chrono_tz::UTC } else { London };
    crate::time::parse_in(bare, zone)
        .map(|p| p.at)
        .map_err(|_| {
            format!(
                "cannot read {t:?} as a time: use the page's own format (2026-12-07 15:40 or 2026-12-07 15:40:12 GMT, UK time), a date, RFC 3339, or a relative time (10 min ago, 2h, 3 days, today, yesterday)"
            )
        })
}

/// `10 min ago`, `10m`, `2 hours`, `3d`, `1 week ago`: how long ago.
fn relative(text: &str) -> Option<Duration> {
    let t = text.strip_suffix("ago").unwrap_or(text).trim();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: i64 = digits.parse().ok()?;
    let unit = t[digits.len()..].trim();
    let secs = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs)
        .filter(|s| *s <= 10 * 365 * 86_400)
        .map(Duration::seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_format_local_times_and_relative_times_are_read() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T15:45:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse(s, now).map(crate::time::rfc3339);
        assert_eq!(at("2026-12-07 15:40 GMT").unwrap(), "2026-12-07T15:40:00Z");
        assert_eq!(
            at("2026-12-07 15:40:12 GMT").unwrap(),
            "2026-12-07T15:40:12Z"
        );
        assert_eq!(at("2026-12-07 15:40").unwrap(), "2026-12-07T15:40:00Z");
        assert_eq!(at("2026-07-01 10:00 BST").unwrap(), "2026-07-01T09:00:00Z");
        assert_eq!(at("10 min ago").unwrap(), "2026-12-07T15:35:00Z");
        assert_eq!(at("2h").unwrap(), "2026-12-07T13:45:00Z");
        assert_eq!(at("yesterday").unwrap(), "2026-12-06T00:00:00Z");
        assert_eq!(at("today").unwrap(), "2026-12-07T00:00:00Z");
        assert_eq!(at("2026-12-07T15:00:00Z").unwrap(), "2026-12-07T15:00:00Z");
        let e = at("last tuesday").unwrap_err();
        assert!(e.contains("cannot read \"last tuesday\""), "{e}");
        assert!(at("99999999999999 days").is_err());
    }
}
