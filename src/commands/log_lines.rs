//! The text log's one rule: every line has its time and level. A multi-line event (an error
//! with its source excerpt) gets its first line's time and level on each of its lines, so a
//! reader filtering by time or level never loses the rest of an event.

use std::io::Write;
use tracing_subscriber::fmt::MakeWriter;

/// Standard error, each line of an event stamped like its first.
pub struct StampedStderr;

impl<'a> MakeWriter<'a> for StampedStderr {
    type Writer = StampedWriter;
    fn make_writer(&'a self) -> StampedWriter {
        StampedWriter
    }
}

pub struct StampedWriter;

impl Write for StampedWriter {
    // The formatter writes each event whole, in one call.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(stamp_lines(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// `event` with the first line's time and level (colour codes included) before each later line.
pub fn stamp_lines(event: &str) -> String {
    let body = event.strip_suffix('\n').unwrap_or(event);
    let Some((first, rest)) = body.split_once('\n') else {
        return event.to_string();
    };
    let Some(end) = LEVELS
        .iter()
        .filter_map(|l| first.find(l).map(|i| i + l.len()))
        .min()
    else {
        return event.to_string();
    };
    // Past a colour reset that ends the level, so the stamp is coloured as the first line's.
    let end = if first[end..].starts_with("\u{1b}[0m") {
        end + 4
    } else {
        end
    };
    let stamp = &first[..end];
    let mut out = String::with_capacity(event.len() + rest.lines().count() * (stamp.len() + 2));
    out.push_str(first);
    out.push('\n');
    for line in rest.split('\n') {
        out.push_str(stamp);
        out.push_str("   ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::stamp_lines;

    #[test]
    fn every_line_of_an_event_has_its_time_and_level() {
        let event = "2026-12-07T10:00:00.000001Z  WARN act.rhai: run r1 failed: BOOM\n   |\n 2 | throw \"BOOM\";\n";
        let out = stamp_lines(event);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        for l in &lines {
            assert!(l.starts_with("2026-12-07T10:00:00.000001Z  WARN"), "{l}");
        }
        assert!(lines[2].ends_with(" 2 | throw \"BOOM\";"), "{}", lines[2]);
    }

    #[test]
    fn one_line_events_are_left_alone() {
        let e = "2026-12-07T10:00:00Z  INFO serving\n";
        assert_eq!(stamp_lines(e), e);
        assert_eq!(stamp_lines("no level\nhere\n"), "no level\nhere\n");
    }
}
