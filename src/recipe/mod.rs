//! Recipe headers: the `//!` lines that say what a recipe is, its parameters and when it runs.
//!
//! ```text
//! //! name: Port one number into a company and activate it on the port date
//! //! param number: phone? — the number to port in      (one line a parameter: see `params.rs`)
//! //! trigger: manual | on-drop | at 2026-12-01T10:00 Europe/London | cron "0 10 * * 1-5" Europe/London
//! //!          | on order.state=completed | on event=portLcpAccepted | on run.failed | on job.missed | on job.refused
//! //! catch-up: 6h        (an `at`/`cron` trigger missed while the daemon was down still runs this late)
//! ```

pub mod params;

pub use params::{Declared, ParamSpec, ParamType, TRIGGER_KEYS};

use crate::time::{self, LONDON};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// When a recipe runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// Only when asked: `btw run`, an inbox job, a schedule.
    Manual,
    /// Once per distinct content, when dropped into (or saved in) the watched folder.
    OnDrop,
    /// Once, at an instant.
    At(DateTime<Utc>),
    /// On a cron schedule in a time zone.
    Cron { expr: String, tz: Tz },
    /// When an order notification arrives whose order state is this (`on order.state=completed`).
    OrderState(String),
    /// When an order notification of this type arrives (`on event=portLcpAccepted`).
    Event(String),
    /// When a daemon run fails (`on run.failed`); never for a run an alert trigger started.
    RunFailed,
    /// When a scheduled job is missed (`on job.missed`).
    JobMissed,
    /// When an inbox job is refused for good (`on job.refused`).
    JobRefused,
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::Manual => "manual".into(),
            Trigger::OnDrop => "on-drop".into(),
            Trigger::At(t) => format!("at {}", time::rfc3339(*t)),
            Trigger::Cron { expr, tz } => format!("cron \"{expr}\" {tz}"),
            Trigger::OrderState(s) => format!("on order.state={s}"),
            Trigger::Event(e) => format!("on event={e}"),
            Trigger::RunFailed => "on run.failed".into(),
            Trigger::JobMissed => "on job.missed".into(),
            Trigger::JobRefused => "on job.refused".into(),
        }
    }
}

/// A recipe's header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub name: Option<String>,
    /// The header's prose: what the recipe does, for `btw run RECIPE --help`.
    pub about: Vec<String>,
    pub params: Declared,
    pub trigger: Trigger,
    /// How late an `at`/`cron` trigger may still run after downtime (`catch-up: 6h`); `None`:
    /// the daemon's default.
    pub catch_up_secs: Option<u64>,
    /// What the reader should know though the header is valid (an `at` time moved out of the
    /// spring-forward gap).
    pub warning: Option<String>,
    /// Advice on the header's form (the names-only `params:` line is deprecated).
    pub notes: Vec<String>,
}

/// A header line that cannot be read: its 1-based line and why.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderError {
    pub line: usize,
    pub message: String,
}

/// Reads the header from the leading `//!` lines. Lines without a known `key:` are prose.
pub fn parse_header(source: &str) -> Result<Header, HeaderError> {
    let mut header = Header {
        name: None,
        about: Vec::new(),
        params: Declared::Nothing,
        trigger: Trigger::Manual,
        catch_up_secs: None,
        warning: None,
        notes: Vec::new(),
    };
    let mut typed: Vec<ParamSpec> = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for (i, line) in source.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("//!") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let rest = rest.trim();
        let err = |message: String| HeaderError {
            line: i + 1,
            message,
        };
        if let Some(word) = misspelt_declaration(rest) {
            return Err(err(format!(
                "`{word}` looks like a parameter declaration: write `//! param NAME: TYPE — description`"
            )));
        }
        if let Some(decl) = rest.strip_prefix("param ") {
            let (name, text) = decl.split_once(':').ok_or_else(|| {
                err(format!(
                    "param {}: write `param NAME: TYPE — description`",
                    decl.trim()
                ))
            })?;
            let spec = ParamSpec::parse(name, text).map_err(err)?;
            if typed.iter().any(|s| s.name == spec.name) {
                return Err(err(format!("param {} is declared twice", spec.name)));
            }
            typed.push(spec);
            continue;
        }
        let Some((key, value)) = rest.split_once(':').filter(|(k, _)| is_key(k)) else {
            if !rest.is_empty() && typed.is_empty() && names.is_none() {
                header.about.push(rest.to_string());
            }
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "name" => header.name = Some(value.to_string()),
            "params" => {
                names = Some(
                    value
                        .split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect(),
                )
            }
            "trigger" => {
                let (trigger, warning) = read_trigger(value).map_err(|message| HeaderError {
                    line: i + 1,
                    message,
                })?;
                header.trigger = trigger;
                header.warning = warning.map(|w| format!("line {}: {w}", i + 1));
            }
            "catch-up" => {
                header.catch_up_secs = Some(read_span(value).map_err(|message| HeaderError {
                    line: i + 1,
                    message,
                })?)
            }
            _ => {}
        }
    }
    header.params = match (typed.is_empty(), names) {
        (false, Some(_)) => {
            header
                .notes
                .push("the `params:` line is ignored: the `param NAME: TYPE` lines declare the parameters".into());
            Declared::Typed(typed)
        }
        (false, None) => Declared::Typed(typed),
        (true, Some(n)) => {
            header.notes.push(
                "`params: a, b` is deprecated and nothing checks it: declare each parameter as `//! param NAME: TYPE — description` (see docs/recipes.md)".into(),
            );
            Declared::Names(n)
        }
        (true, None) => Declared::Nothing,
    };
    Ok(header)
}

/// A recipe's help, for `btw run RECIPE --help` and the REPL's `:help RECIPE`: what it does,
/// its parameters and when it runs.
pub fn help_text(recipe: &str, header: &Header) -> String {
    let mut out = format!(
        "{recipe}: {}\n",
        header
            .name
            .as_deref()
            .unwrap_or("(no name: add `//! name: …`)")
    );
    for line in &header.about {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nParameters (--param NAME=VALUE):\n");
    match &header.params {
        Declared::Typed(specs) if specs.is_empty() => out.push_str("  none\n"),
        Declared::Typed(specs) => {
            for s in specs {
                out.push_str(&format!("  {}\n", s.describe()));
            }
        }
        Declared::Names(names) => out.push_str(&format!(
            "  {} (names only: not checked; declare them as `//! param NAME: TYPE — description`)\n",
            names.join(", ")
        )),
        Declared::Nothing => out.push_str("  not declared: nothing is checked\n"),
    }
    out.push_str(&format!("\nTrigger: {}", header.trigger.describe()));
    if let Some(secs) = header.catch_up_secs {
        out.push_str(&format!(" (catch-up {secs} s)"));
    }
    for note in &header.notes {
        out.push_str(&format!("\nnote: {note}"));
    }
    out
}

/// Why a recipe's trigger cannot start it as it declares itself: a required parameter the
/// trigger does not supply, or a key the trigger supplies declared as something other than text.
/// `None` for a manual recipe and for one the trigger can start.
pub fn trigger_problem(header: &Header) -> Option<String> {
    let specs = header.params.typed()?;
    let supplied: &[&str] = match header.trigger {
        Trigger::Manual => return None,
        Trigger::OnDrop | Trigger::At(_) | Trigger::Cron { .. } => &[],
        Trigger::OrderState(_) | Trigger::Event(_) => {
            &["order_id", "event_type", "event_id", "state", "event"]
        }
        Trigger::RunFailed => &["run_id", "recipe", "error"],
        Trigger::JobMissed => &["job_id", "recipe", "due"],
        Trigger::JobRefused => &["file", "reason"],
    };
    let trigger = header.trigger.describe();
    if let Some(s) = specs.iter().find(|s| {
        supplied.contains(&s.name.as_str()) && s.kind.read(&serde_json::json!("text")).is_err()
    }) {
        return Some(format!(
            "its trigger ({trigger}) gives {} as text, but it is declared {}",
            s.name, s.kind
        ));
    }
    let missing: Vec<&str> = specs
        .iter()
        .filter(|s| s.required && !supplied.contains(&s.name.as_str()))
        .map(|s| s.name.as_str())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let gives = if supplied.is_empty() {
        "no parameters".to_string()
    } else {
        format!("only {}", supplied.join(", "))
    };
    Some(format!(
        "its trigger ({trigger}) starts it with {gives}, but it requires {}: give each a default (`param NAME: TYPE = VALUE`) or make it optional (`TYPE?`)",
        missing.join(", ")
    ))
}

/// A header line that was meant to declare a parameter but would be read as prose (`parm n:`,
/// `Param n:`, `param: n:`), so the checks it asked for would silently not happen.
fn misspelt_declaration(rest: &str) -> Option<String> {
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let after = &rest[word.len()..];
    if (word == "param" && after.starts_with(' ')) || (word == "params" && after.starts_with(':')) {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    let close = lower == "param" || lower == "params" || strsim::levenshtein(&lower, "param") == 1;
    (close && word.len() >= 4 && rest.contains(':'))
        .then(|| rest.split(':').next().unwrap_or(rest).trim().to_string())
}

/// Whether `key` (the text before a `:`) is one of the header's keys, not prose with a colon.
fn is_key(key: &str) -> bool {
    matches!(key.trim(), "name" | "params" | "trigger" | "catch-up")
}

/// A span: seconds, or a number with `s`, `m`, `h` or `d` (`90m`, `6h`, `1d`).
fn read_span(text: &str) -> Result<u64, String> {
    let t = text.split_whitespace().next().unwrap_or("");
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match num.parse::<u64>() {
        Ok(n) if mult > 0 => Ok(n.saturating_mul(mult)),
        _ => Err(format!(
            "catch-up: cannot read {text:?}; give seconds or a span such as 90m, 6h, 1d"
        )),
    }
}

/// One trigger expression (the text after `trigger:`), and a warning when its `at` time was moved out of the spring-forward gap.
fn read_trigger(text: &str) -> Result<(Trigger, Option<String>), String> {
    // Comments after the trigger (`(or: …)`) are allowed, as in DESIGN.md.
    let text = text.split("  ").next().unwrap_or(text).trim();
    if let Some(rest) = text.strip_prefix("at ") {
        let p = parse_at(rest.trim())?;
        return Ok((Trigger::At(p.at), p.warning));
    }
    untimed_trigger(text).map(|t| (t, None))
}

/// Every trigger but `at`.
fn untimed_trigger(text: &str) -> Result<Trigger, String> {
    let lower = text.to_ascii_lowercase();
    if lower == "manual" {
        return Ok(Trigger::Manual);
    }
    if lower == "on-drop" || lower == "on drop" {
        return Ok(Trigger::OnDrop);
    }
    if let Some(rest) = text.strip_prefix("cron ") {
        let rest = rest.trim();
        let (expr, tz) = if let Some(r) = rest.strip_prefix('"') {
            let (expr, after) = r
                .split_once('"')
                .ok_or("cron: the expression needs a closing quote")?;
            (expr.to_string(), after.trim())
        } else {
            return Err(
                "cron: quote the expression, e.g. cron \"0 10 * * 1-5\" Europe/London".into(),
            );
        };
        let tz = if tz.is_empty() {
            LONDON
        } else {
            tz.parse::<Tz>()
                .map_err(|_| format!("cron: unknown time zone {tz:?}"))?
        };
        if expr.split_whitespace().count() < 5 {
            return Err(format!(
                "cron: {expr:?} needs five fields (minute hour day month weekday)"
            ));
        }
        return Ok(Trigger::Cron { expr, tz });
    }
    if let Some(rest) = text.strip_prefix("on ") {
        let rest = rest.trim();
        match rest.to_ascii_lowercase().as_str() {
            "run.failed" => return Ok(Trigger::RunFailed),
            "job.missed" => return Ok(Trigger::JobMissed),
            "job.refused" => return Ok(Trigger::JobRefused),
            _ => {}
        }
        if let Some(state) = rest.strip_prefix("order.state=") {
            let state = state.trim();
            if state.is_empty() {
                return Err("on order.state=…: name the state, e.g. completed".into());
            }
            return Ok(Trigger::OrderState(state.to_string()));
        }
        if let Some(ev) = rest.strip_prefix("event=") {
            let ev = ev.trim();
            if ev.is_empty() {
                return Err("on event=…: name the event type, e.g. portLcpAccepted".into());
            }
            return Ok(Trigger::Event(ev.to_string()));
        }
        return Err(format!(
            "unknown event trigger {rest:?}: use on order.state=STATE, on event=TYPE, on run.failed, on job.missed or on job.refused"
        ));
    }
    Err(format!(
        "unknown trigger {text:?}: use manual, on-drop, at WHEN [ZONE], cron \"EXPR\" [ZONE], on order.state=STATE, on event=TYPE, on run.failed, on job.missed or on job.refused"
    ))
}

/// `2026-12-01T10:00 Europe/London`, `2026-12-01 10:00`, or RFC 3339; read by
/// [`crate::time`], so a time in the spring-forward gap runs when the gap ends (with a warning).
fn parse_at(text: &str) -> Result<time::Parsed, String> {
    let mut parts = text.rsplitn(2, ' ');
    let last = parts.next().unwrap_or("");
    let (when, tz) = match last.parse::<Tz>() {
        Ok(tz) => (parts.next().unwrap_or("").trim(), tz),
        Err(_) => (text, LONDON),
    };
    time::parse_in(when, tz).map_err(|_| {
        format!("at: cannot read {text:?} as a date-time, e.g. 2026-12-01T10:00 Europe/London")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_declarations_prose_and_their_errors() {
        let h = parse_header(
            "//! name: Port\n//! Ports a number: carefully.\n//! param number: phone? — the number\n//! param port_date: date\n//! trigger: manual\n",
        )
        .unwrap();
        assert_eq!(h.about, ["Ports a number: carefully."]);
        assert_eq!(h.params.names(), ["number", "port_date"]);
        assert!(h.notes.is_empty());
        for typo in [
            "//! parm n: integer\n",
            "//! Param n: integer\n",
            "//! param: n: integer\n",
        ] {
            let e = parse_header(typo).unwrap_err();
            assert!(
                e.message.contains("looks like a parameter declaration"),
                "{typo}: {}",
                e.message
            );
        }
        assert!(parse_header("//! Parameters are described below: see docs\n").is_ok());
        let e = parse_header("//! param n: phone\n//! param n: text\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "param n is declared twice")
        );
        let e = parse_header("//! name: x\n//! param when: colour\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown type"), "{}", e.message);
        let help = help_text(
            "r.rhai",
            &parse_header("//! param pw: secret = hunter2\n").unwrap(),
        );
        assert!(
            help.contains("pw: secret, default ***") && !help.contains("hunter2"),
            "{help}"
        );
    }

    fn parse_trigger(text: &str) -> Result<Trigger, String> {
        read_trigger(text).map(|(t, _)| t)
    }

    #[test]
    fn a_full_header_is_read() {
        let h = parse_header(
            "//! name: Port one number\n//! params: number, port_date\n//! trigger: on-drop\n\nlet x = 1;\n//! trigger: manual\n",
        )
        .unwrap();
        assert_eq!(h.name.as_deref(), Some("Port one number"));
        assert_eq!(
            h.params,
            Declared::Names(vec!["number".into(), "port_date".into()])
        );
        assert!(h.notes[0].contains("deprecated"), "{:?}", h.notes);
        assert_eq!(
            h.trigger,
            Trigger::OnDrop,
            "header lines after the code are not header"
        );
    }

    #[test]
    fn every_trigger_form_parses() {
        assert_eq!(parse_trigger("manual").unwrap(), Trigger::Manual);
        assert_eq!(
            parse_trigger("at 2026-12-01T10:00 Europe/London").unwrap(),
            Trigger::At("2026-12-01T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_trigger("at 2026-07-01 10:00").unwrap(),
            Trigger::At("2026-07-01T09:00:00Z".parse().unwrap()),
            "summer time: 10:00 in London is 09:00 UTC"
        );
        assert_eq!(
            parse_trigger("cron \"0 10 * * 1-5\" Europe/London").unwrap(),
            Trigger::Cron {
                expr: "0 10 * * 1-5".into(),
                tz: LONDON
            }
        );
        assert_eq!(
            parse_trigger("on order.state=completed").unwrap(),
            Trigger::OrderState("completed".into())
        );
        assert_eq!(parse_trigger("on run.failed").unwrap(), Trigger::RunFailed);
        assert_eq!(
            parse_trigger("on job.refused").unwrap(),
            Trigger::JobRefused
        );
        assert_eq!(
            parse_trigger("on job.missed  (alerts)").unwrap(),
            Trigger::JobMissed
        );
        assert_eq!(
            parse_trigger("on event=portLcpAccepted").unwrap(),
            Trigger::Event("portLcpAccepted".into())
        );
    }

    #[test]
    fn an_at_time_in_the_spring_gap_runs_when_it_ends_with_a_warning() {
        let h = parse_header("//! name: x\n//! trigger: at 2026-03-29 01:30\n").unwrap();
        assert_eq!(
            h.trigger,
            Trigger::At("2026-03-29T01:00:00Z".parse().unwrap())
        );
        let w = h.warning.unwrap();
        assert!(w.starts_with("line 2: ") && w.contains("02:00 BST"), "{w}");
        let h = parse_header("//! trigger: at 2026-10-25 01:30\n").unwrap();
        assert_eq!(
            h.trigger,
            Trigger::At("2026-10-25T00:30:00Z".parse().unwrap())
        );
        assert_eq!(h.warning, None);
    }

    #[test]
    fn a_catch_up_line_gives_the_window() {
        let h = parse_header("//! trigger: at 2099-12-01 10:00\n//! catch-up: 6h\n1").unwrap();
        assert_eq!(h.catch_up_secs, Some(6 * 3600));
        assert_eq!(
            parse_header("//! catch-up: 90").unwrap().catch_up_secs,
            Some(90)
        );
        let e = parse_header("//! name: x\n//! catch-up: soon\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("catch-up"), "{}", e.message);
    }

    #[test]
    fn bad_triggers_are_explained_with_their_line() {
        let e = parse_header("//! name: x\n//! trigger: sometimes\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown trigger"), "{}", e.message);
        assert!(parse_trigger("cron 0 10 * * *")
            .unwrap_err()
            .contains("quote"));
        assert!(parse_trigger("at someday").is_err());
        assert!(parse_trigger("on order.state=").is_err());
    }
}
