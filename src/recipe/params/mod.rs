//! A recipe's parameters as a contract: declared in its header with a type, checked before
//! anything reaches BT, and typed by the declaration rather than guessed from the text.
//!
//! ```text
//! //! param number: phone? — the number to port in (default: a fresh sandbox number)
//! //! param port_date: date? — YYYY-MM-DD; default: the earliest date BT allows
//! //! param wait_secs: integer = 120 — how long to wait for each milestone
//! //! param product: [single|multi] = single — the kind of import order
//! //! param api_password: secret — never shown or written in clear
//! ```
//!
//! `TYPE` alone is required; `TYPE?` is optional (the recipe supplies its own default);
//! `TYPE = VALUE` is optional with that default, filled in before the recipe runs.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::fmt;

/// What a parameter holds.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamType {
    Text,
    Integer,
    Number,
    Bool,
    /// A UK date, `YYYY-MM-DD` or `DD/MM/YYYY`; the recipe sees `YYYY-MM-DD`.
    Date,
    /// A time in UK local time or RFC 3339; the recipe sees RFC 3339 (UTC).
    DateTime,
    /// A UK phone number, spaces and `+44` allowed; the recipe sees `01632960005`.
    Phone,
    /// A UK postcode; the recipe sees it upper-case with one space (`NE1 4ST`).
    Postcode,
    /// A UK area code: 0 and 2 to 4 more digits (`0121`, `020`).
    AreaCode,
    /// One of the listed words (numbers when they all are).
    OneOf(Vec<String>),
    /// Any of these types, tried in order (`integer|list`).
    Either(Vec<ParamType>),
    List,
    Map,
    /// Text that is never shown or written in clear.
    Secret,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Text => f.write_str("text"),
            ParamType::Integer => f.write_str("integer"),
            ParamType::Number => f.write_str("number"),
            ParamType::Bool => f.write_str("bool"),
            ParamType::Date => f.write_str("date"),
            ParamType::DateTime => f.write_str("datetime"),
            ParamType::Phone => f.write_str("phone"),
            ParamType::Postcode => f.write_str("postcode"),
            ParamType::AreaCode => f.write_str("area_code"),
            ParamType::OneOf(words) => write!(f, "[{}]", words.join("|")),
            ParamType::Either(types) => {
                let names: Vec<String> = types.iter().map(ToString::to_string).collect();
                f.write_str(&names.join("|"))
            }
            ParamType::List => f.write_str("list"),
            ParamType::Map => f.write_str("map"),
            ParamType::Secret => f.write_str("secret"),
        }
    }
}

impl ParamType {
    fn parse(text: &str) -> Result<ParamType, String> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let words: Vec<String> = inner
                .split('|')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                return Err("a one-of type lists its words: [a|b|c]".into());
            }
            return Ok(ParamType::OneOf(words));
        }
        if t.contains('|') {
            return t
                .split('|')
                .map(ParamType::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(ParamType::Either);
        }
        Ok(match t {
            "text" | "string" => ParamType::Text,
            "integer" | "int" => ParamType::Integer,
            "number" => ParamType::Number,
            "bool" | "boolean" => ParamType::Bool,
            "date" => ParamType::Date,
            "datetime" | "date-time" => ParamType::DateTime,
            "phone" => ParamType::Phone,
            "postcode" => ParamType::Postcode,
            "area_code" | "areacode" => ParamType::AreaCode,
            "list" => ParamType::List,
            "map" => ParamType::Map,
            "secret" => ParamType::Secret,
            other => {
                return Err(format!(
                    "unknown type {other:?}: use text, integer, number, bool, date, datetime, phone, postcode, area_code, list, map, secret, [a|b|c] or a choice such as integer|list"
                ))
            }
        })
    }

    /// What a value of this type looks like, for errors and help.
    pub fn expected(&self) -> String {
        match self {
            ParamType::Text => "text".into(),
            ParamType::Integer => "a whole number".into(),
            ParamType::Number => "a number".into(),
            ParamType::Bool => "true or false".into(),
            ParamType::Date => "a date (YYYY-MM-DD or DD/MM/YYYY)".into(),
            ParamType::DateTime => {
                "a time (UK local \"2026-12-01 10:00\" or RFC 3339 \"2026-12-01T10:00:00Z\")".into()
            }
            ParamType::Phone => "a UK phone number (e.g. 01632 960005 or +44 1632 960005)".into(),
            ParamType::Postcode => "a UK postcode (e.g. NE1 4ST)".into(),
            ParamType::AreaCode => "a UK area code (0 and 2 to 4 digits, e.g. 0121)".into(),
            ParamType::OneOf(words) => format!("one of {}", words.join(", ")),
            ParamType::Either(types) => {
                let all: Vec<String> = types.iter().map(ParamType::expected).collect();
                all.join(" or ")
            }
            ParamType::List => "a list (a JSON array, e.g. [\"a\", \"b\"])".into(),
            ParamType::Map => "a map (a JSON object, e.g. {\"k\": \"v\"})".into(),
            ParamType::Secret => "text (secret)".into(),
        }
    }

    /// Reads `value` as this type: text from a command line or a form is parsed, JSON values
    /// must already be of the type (a number is not text, so nothing is guessed).
    pub fn read(&self, value: &Value) -> Result<Value, String> {
        // A secret's value is never repeated back, not even a wrong one.
        let got = || match self {
            ParamType::Secret => "a value that is not text".to_string(),
            _ => describe(value),
        };
        let wrong = || format!("expected {}, got {}", self.expected(), got());
        match (self, value) {
            (ParamType::Text | ParamType::Secret, Value::String(_)) => Ok(value.clone()),
            (ParamType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            (ParamType::Integer, Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| wrong()),
            (ParamType::Number, Value::Number(_)) => Ok(value.clone()),
            (ParamType::Number, Value::String(s)) => {
                let t = s.trim();
                if let Ok(i) = t.parse::<i64>() {
                    return Ok(Value::from(i));
                }
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(wrong)
            }
            (ParamType::Bool, Value::Bool(_)) => Ok(value.clone()),
            (ParamType::Bool, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "on" => Ok(Value::Bool(true)),
                "false" | "no" | "n" | "0" | "off" => Ok(Value::Bool(false)),
                _ => Err(wrong()),
            },
            (ParamType::Date, Value::String(s)) => {
                read_date(s).map(Value::String).ok_or_else(wrong)
            }
            (ParamType::DateTime, Value::String(s)) => crate::time::parse(s)
                .map(|p| Value::String(crate::time::rfc3339(p.at)))
                .map_err(|_| wrong()),
            (ParamType::Phone, Value::String(s)) => {
                read_phone(s).map(Value::String).ok_or_else(wrong)
            }
            (ParamType::Postcode, Value::String(s)) => {
                read_postcode(s).map(Value::String).ok_or_else(wrong)
            }
            (ParamType::Either(types), _) => types
                .iter()
                .find_map(|t| t.read(value).ok())
                .ok_or_else(wrong),
            (ParamType::AreaCode, Value::String(s)) => {
                let t = s.trim();
                let ok = t.starts_with('0')
                    && t.chars().nth(1).is_some_and(|c| ('1'..='9').contains(&c))
                    && (3..=5).contains(&t.len())
                    && t.chars().all(|c| c.is_ascii_digit());
                if ok {
                    Ok(Value::String(t.to_string()))
                } else {
                    Err(wrong())
                }
            }
            (ParamType::OneOf(words), Value::Number(n))
                if words.iter().any(|w| *w == n.to_string()) =>
            {
                Ok(value.clone())
            }
            (ParamType::OneOf(words), Value::String(s)) => {
                if words.iter().any(|w| w == s.trim()) {
                    // Numbers stay numbers when every choice is one (`[100|1000|10000]`).
                    let t = s.trim();
                    return Ok(match t.parse::<i64>() {
                        Ok(n) if words.iter().all(|w| w.parse::<i64>().is_ok()) => Value::from(n),
                        _ => Value::String(t.to_string()),
                    });
                }
                let hint = suggest(s.trim(), words.iter().map(String::as_str))
                    .map(|w| format!(" (did you mean {w:?}?)"))
                    .unwrap_or_default();
                Err(format!("{}{hint}", wrong()))
            }
            (ParamType::List, Value::Array(_)) | (ParamType::Map, Value::Object(_)) => {
                Ok(value.clone())
            }
            (ParamType::List | ParamType::Map, Value::String(s)) => {
                match serde_json::from_str::<Value>(s) {
                    Ok(v @ Value::Array(_)) if *self == ParamType::List => Ok(v),
                    Ok(v @ Value::Object(_)) if *self == ParamType::Map => Ok(v),
                    _ => Err(wrong()),
                }
            }
            _ => Err(wrong()),
        }
    }
}

/// A value as a person would name it in an error (a secret's text is never shown).
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > 60 => {
            format!("a text of {} characters", s.chars().count())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        Value::Null => "null".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

fn read_date(s: &str) -> Option<String> {
    let t = s.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%d/%m/%Y"))
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// A UK number: `0` then 9 or 10 digits, written with spaces, dashes, brackets or `+44`.
fn read_phone(s: &str) -> Option<String> {
    let mut digits: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    if let Some(rest) = digits
        .strip_prefix("+44")
        .or_else(|| digits.strip_prefix("0044"))
    {
        digits = format!("0{}", rest.trim_start_matches('0'));
    }
    // 0, then a digit from 1 (no UK number starts 00), 10 or 11 digits in all.
    let ok = digits.starts_with('0')
        && digits
            .chars()
            .nth(1)
            .is_some_and(|c| ('1'..='9').contains(&c))
        && (10..=11).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit());
    ok.then_some(digits)
}

/// A UK postcode: an outward code (`A9`, `A99`, `AA9`, `AA99`, `A9A`, `AA9A`) and an inward
/// code (`9AA`), with or without the space.
fn read_postcode(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = {
        let b = inward.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    let o = outward.as_bytes();
    let outward_ok = o[0].is_ascii_alphabetic()
        && o.iter().all(u8::is_ascii_alphanumeric)
        && o.iter().any(u8::is_ascii_digit)
        && (o.len() < 2 || o[1].is_ascii_alphanumeric());
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

/// The closest of `names` to `given`, when close enough to be a typo.
pub fn suggest<'a>(given: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|n| (strsim::jaro_winkler(given, n), n))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// One declared parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamType,
    /// Must be given (no `?` and no default).
    pub required: bool,
    /// Filled in when the parameter is not given.
    pub default: Option<Value>,
    pub description: String,
}

impl ParamSpec {
    /// Reads `NAME` and the text after `param NAME:` (`TYPE[?] [= DEFAULT] [— DESCRIPTION]`).
    pub fn parse(name: &str, text: &str) -> Result<ParamSpec, String> {
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "param {name:?}: a name is letters, digits and _ (e.g. port_date)"
            ));
        }
        // The first separator outside quotes: a quoted default may hold one, a description may
        // quote anything.
        let separator = [" — ", " -- "]
            .iter()
            .flat_map(|sep| text.match_indices(sep).map(|(i, m)| (i, m.len())))
            .filter(|(i, _)| text[..*i].matches('"').count().is_multiple_of(2))
            .min();
        let (spec, description) = match separator {
            Some((i, n)) => (text[..i].trim(), text[i + n..].trim()),
            None => (text.trim().trim_end_matches('—').trim(), ""),
        };
        let (type_text, default_text) = match spec.split_once('=') {
            Some((t, d)) if !t.trim_end().ends_with('[') => (t.trim(), Some(d.trim())),
            _ => (spec, None),
        };
        let (type_text, optional) = match type_text.strip_suffix('?') {
            Some(t) => (t.trim(), true),
            None => (type_text, false),
        };
        let kind = ParamType::parse(type_text).map_err(|e| format!("param {name}: {e}"))?;
        let default = match default_text {
            Some(d) => {
                let unquoted = d
                    .strip_prefix('"')
                    .and_then(|r| r.strip_suffix('"'))
                    .unwrap_or(d);
                let v = kind
                    .read(&Value::String(unquoted.to_string()))
                    .map_err(|e| {
                        format!("param {name}: the default {d} does not fit its type: {e}")
                    })?;
                Some(v)
            }
            None => None,
        };
        Ok(ParamSpec {
            name: name.to_string(),
            required: !optional && default.is_none(),
            kind,
            default,
            description: description.to_string(),
        })
    }

    /// One line for help: `number  phone, optional — the number to port in`.
    pub fn describe(&self) -> String {
        let need = match (&self.default, self.required) {
            (Some(_), _) if self.kind == ParamType::Secret => {
                format!("default {}", crate::secrets::MASK)
            }
            (Some(Value::String(s)), _) => format!("default {s:?}"),
            (Some(d), _) => format!("default {d}"),
            (None, true) => "required".into(),
            (None, false) => "optional".into(),
        };
        let mut line = format!("{}: {}, {need}", self.name, self.kind);
        if !self.description.is_empty() {
            line.push_str(&format!(" — {}", self.description));
        }
        line
    }
}

/// What a recipe says of its parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Declared {
    /// Nothing: parameters are passed as given, unchecked.
    #[default]
    Nothing,
    /// The old `params: a, b` line: names only, advisory (nothing is refused).
    Names(Vec<String>),
    /// `param NAME: TYPE …` lines: the contract every run is checked against.
    Typed(Vec<ParamSpec>),
}

impl Declared {
    /// The typed declarations, if the recipe has them.
    pub fn typed(&self) -> Option<&[ParamSpec]> {
        match self {
            Declared::Typed(specs) => Some(specs),
            _ => None,
        }
    }

    /// The declared names (typed or not).
    pub fn names(&self) -> Vec<&str> {
        match self {
            Declared::Nothing => vec![],
            Declared::Names(n) => n.iter().map(String::as_str).collect(),
            Declared::Typed(specs) => specs.iter().map(|s| s.name.as_str()).collect(),
        }
    }

    /// The parameters declared `secret`.
    pub fn secret_names(&self) -> Vec<String> {
        self.typed()
            .unwrap_or_default()
            .iter()
            .filter(|s| s.kind == ParamType::Secret)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Checks `given` against the declaration and returns the values the recipe sees: typed by
    /// the declaration, defaults filled in. `supplied` names keys the run's origin adds itself
    /// (a trigger's `order_id`, …), which count as declared. Recipes without typed declarations
    /// get what was given, unchecked.
    pub fn check(
        &self,
        recipe: &str,
        given: &Map<String, Value>,
        supplied: &[&str],
    ) -> Result<Map<String, Value>, ParamErrors> {
        let Declared::Typed(specs) = self else {
            return Ok(given.clone());
        };
        let mut errors = Vec::new();
        let mut out = Map::new();
        for (key, value) in given {
            match specs.iter().find(|s| &s.name == key) {
                // null says "not given": the default (or the recipe's own) applies.
                Some(_) if value.is_null() => {}
                Some(spec)
                    if spec.required && value.as_str().is_some_and(|t| t.trim().is_empty()) =>
                {
                    errors.push(format!("parameter {key:?} is required and empty"))
                }
                Some(spec) => match spec.kind.read(value) {
                    Ok(v) => {
                        out.insert(key.clone(), v);
                    }
                    Err(e) => errors.push(format!("parameter {key:?} ({}): {e}", spec.kind)),
                },
                None if supplied.contains(&key.as_str()) => {
                    out.insert(key.clone(), value.clone());
                }
                None => {
                    let names = specs.iter().map(|s| s.name.as_str());
                    let hint = suggest(key, names)
                        .map(|n| format!("; did you mean {n:?}?"))
                        .unwrap_or_default();
                    errors.push(format!("unknown parameter {key:?}{hint}"));
                }
            }
        }
        for spec in specs {
            let given_value = given.get(&spec.name).filter(|v| !v.is_null());
            if out.contains_key(&spec.name) || given_value.is_some() {
                continue;
            }
            if let Some(d) = &spec.default {
                out.insert(spec.name.clone(), d.clone());
            } else if spec.required {
                errors.push(format!(
                    "missing required parameter {:?} ({})",
                    spec.name,
                    spec.kind.expected()
                ));
            }
        }
        if errors.is_empty() {
            return Ok(out);
        }
        Err(ParamErrors {
            recipe: recipe.to_string(),
            errors,
            takes: specs.iter().map(ParamSpec::describe).collect(),
        })
    }
}

/// Why a recipe's parameters were refused: every problem at once, and what it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamErrors {
    pub recipe: String,
    pub errors: Vec<String>,
    /// The recipe's parameters, one line each.
    pub takes: Vec<String>,
}

impl fmt::Display for ParamErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recipe {}: ", self.recipe)?;
        f.write_str(&self.errors.join("; "))?;
        f.write_str(" (nothing was sent to BT)\nIt takes:")?;
        if self.takes.is_empty() {
            f.write_str(" no parameters")
        } else {
            self.takes.iter().try_for_each(|t| write!(f, "\n  {t}"))
        }
    }
}

/// Keys a trigger adds to the parameters of the runs it starts (see the daemon's triggers).
pub const TRIGGER_KEYS: &[&str] = &[
    "order_id",
    "event_type",
    "event_id",
    "state",
    "event",
    "run_id",
    "recipe",
    "error",
    "job_id",
    "due",
];

#[cfg(test)]
mod tests;
