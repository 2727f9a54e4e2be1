//! Fault injection: rules that delay, fail or drop API requests, and the middleware that applies them.
//!
//! Reliability tests use these to simulate a bad network and a struggling BT (see CONTRACT.md,
//! "Fault injection (admin)"). Rules live in memory beside the world (never in the state file);
//! the middleware sits in front of the gateway so that every API path, the token call included,
//! can be faulted, while `/__sandbox/*` never is.

use crate::error::{ApiError, FieldError};
use crate::wire::ADMIN_PREFIX;
use axum::http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;

/// Largest `latency_ms` / `jitter_ms`: ten minutes is longer than any client timeout worth testing.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Largest `retry_after_secs`: one day.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// What a dropping rule loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drop {
    /// Close the connection without processing the request.
    Before,
    /// Process the request (state changes happen), then close the connection without answering.
    After,
}

/// One fault rule; see CONTRACT.md for the semantics of each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// e.g. `"POST"`; `None` = any method.
    pub method: Option<String>,
    /// e.g. `"/bt-wholesale/v1/order/productOrder"`; `None` = any path.
    pub path_prefix: Option<String>,
    /// Fixed delay.
    pub latency_ms: u64,
    /// Plus a uniform random `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Answer this status (with the gateway FailureResponse) instead of processing.
    pub status: Option<u16>,
    /// Probability that `status` or `drop` fires on a request the rule applies to.
    pub error_rate: f64,
    /// With `status`: send `Retry-After`.
    pub retry_after_secs: Option<u64>,
    pub drop: Option<Drop>,
    /// Apply to the next N matching requests only.
    pub count: Option<u32>,
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule {
            method: None,
            path_prefix: None,
            latency_ms: 0,
            jitter_ms: 0,
            status: None,
            // A rule with a status is meant to fire unless told otherwise.
            error_rate: 1.0,
            retry_after_secs: None,
            drop: None,
            count: None,
        }
    }
}

impl FaultRule {
    /// Trims and upper-cases the method so that listing shows what is compared.
    pub fn normalise(&mut self) {
        if let Some(m) = self.method.as_mut() {
            *m = m.trim().to_ascii_uppercase();
        }
    }

    /// Every problem with the rule, keyed by its JSON field name.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut bad = |field: &str, msg: String| errs.push(FieldError::new(field, msg));
        if let Some(m) = &self.method {
            let m = m.trim();
            if m.is_empty() || Method::from_bytes(m.as_bytes()).is_err() {
                bad("method", format!("`{m}` is not an HTTP method"));
            }
        }
        if let Some(p) = &self.path_prefix {
            if !p.starts_with('/') {
                bad("path_prefix", format!("`{p}` must start with `/`"));
            } else if p.starts_with(ADMIN_PREFIX) {
                bad(
                    "path_prefix",
                    format!("`{p}`: {ADMIN_PREFIX} paths are never faulted"),
                );
            }
        }
        if self.latency_ms > MAX_DELAY_MS {
            bad("latency_ms", format!("must be at most {MAX_DELAY_MS}"));
        }
        if self.jitter_ms > MAX_DELAY_MS {
            bad("jitter_ms", format!("must be at most {MAX_DELAY_MS}"));
        }
        if let Some(s) = self.status {
            if !(400..=599).contains(&s) {
                bad("status", format!("{s} is not from 400 to 599"));
            }
        }
        if !(self.error_rate.is_finite() && (0.0..=1.0).contains(&self.error_rate)) {
            bad("error_rate", "must be a number from 0 to 1".to_string());
        }
        match self.retry_after_secs {
            Some(_) if self.status.is_none() => {
                bad("retry_after_secs", "needs a status".to_string());
            }
            Some(s) if s > MAX_RETRY_AFTER_SECS => {
                bad(
                    "retry_after_secs",
                    format!("must be at most {MAX_RETRY_AFTER_SECS}"),
                );
            }
            _ => {}
        }
        if self.status.is_some() && self.drop.is_some() {
            bad(
                "drop",
                "a rule either answers a status or drops, not both".to_string(),
            );
        }
        if self.count == Some(0) {
            bad("count", "must be at least 1".to_string());
        }
        errs
    }

    /// `Ok` when the rule can be used; otherwise every problem in one message.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(problems
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "))
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// Keys of [`parse_fault`]'s form and the rule fields they set.
const SPEC_KEYS: [(&str, &str); 9] = [
    ("method", "method"),
    ("path", "path_prefix"),
    ("latency", "latency_ms"),
    ("jitter", "jitter_ms"),
    ("status", "status"),
    ("rate", "error_rate"),
    ("retry_after", "retry_after_secs"),
    ("drop", "drop"),
    ("count", "count"),
];

fn key_list() -> String {
    SPEC_KEYS
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

fn spec_number<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("fault `{key}={value}`: expected {what}"))
}

/// Parses the command-line form `key=value,key=value` (keys: method, path, latency (ms),
/// jitter (ms), status, rate, retry_after (s), drop, count), e.g.
/// `path=/bt-wholesale/v1/order/productOrder,method=POST,drop=after,count=1`.
pub fn parse_fault(spec: &str) -> Result<FaultRule, String> {
    let mut rule = FaultRule::default();
    let mut seen: Vec<&str> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "fault `{part}`: expected key=value (keys: {})",
                key_list()
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        // `retry-after` is how the header is spelt, so accept it too.
        let canonical = if key.eq_ignore_ascii_case("retry-after") {
            "retry_after"
        } else {
            key
        };
        let Some(&(name, _)) = SPEC_KEYS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(canonical))
        else {
            return Err(format!("fault: unknown key `{key}` (keys: {})", key_list()));
        };
        if seen.contains(&name) {
            return Err(format!("fault: `{name}` given twice"));
        }
        seen.push(name);
        if value.is_empty() {
            return Err(format!("fault `{name}=`: a value is required"));
        }
        match name {
            "method" => rule.method = Some(value.to_string()),
            "path" => rule.path_prefix = Some(value.to_string()),
            "latency" => {
                rule.latency_ms = spec_number(name, value.trim_end_matches("ms"), "milliseconds")?
            }
            "jitter" => {
                rule.jitter_ms = spec_number(name, value.trim_end_matches("ms"), "milliseconds")?
            }
            "status" => rule.status = Some(spec_number(name, value, "an HTTP status")?),
            "rate" => rule.error_rate = spec_number(name, value, "a number from 0 to 1")?,
            "retry_after" => {
                rule.retry_after_secs = Some(spec_number(name, value, "whole seconds")?)
            }
            "count" => rule.count = Some(spec_number(name, value, "a whole number")?),
            _ => {
                rule.drop = Some(match value.to_ascii_lowercase().as_str() {
                    "before" => Drop::Before,
                    "after" => Drop::After,
                    _ => {
                        return Err(format!(
                            "fault `drop={value}`: expected `before` or `after`"
                        ))
                    }
                })
            }
        }
    }
    if seen.is_empty() {
        return Err(format!(
            "fault: empty spec (expected key=value pairs, keys: {})",
            key_list()
        ));
    }
    rule.normalise();
    let problems = rule.problems();
    if let Some(e) = problems.first() {
        // Name the command-line key the user typed, not the JSON field.
        let key = SPEC_KEYS
            .iter()
            .find(|(_, f)| *f == e.field)
            .map_or(e.field.as_str(), |(k, _)| k);
        return Err(format!("fault `{key}`: {}", e.message));
    }
    Ok(rule)
}

/// Rules from an admin body: one rule object or an array of them; 400/29 listing every problem
/// (field `"[i].name"` in an array, `"name"` for a single rule).
pub fn rules_from_json(body: &Value) -> Result<Vec<FaultRule>, ApiError> {
    let (items, indexed): (Vec<&Value>, bool) = match body {
        Value::Array(a) => (a.iter().collect(), true),
        other => (vec![other], false),
    };
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = if indexed {
            format!("[{i}]")
        } else {
            String::new()
        };
        let field = |name: &str| match (prefix.is_empty(), name.is_empty()) {
            (true, _) => name.to_string(),
            (false, true) => prefix.clone(),
            (false, false) => format!("{prefix}.{name}"),
        };
        let Some(obj) = item.as_object() else {
            errors.push(FieldError::new(field(""), "must be a fault rule object"));
            continue;
        };
        // One field at a time, so that each type error names its field (serde's do not).
        let mut typed = true;
        for (k, v) in obj {
            let mut single = serde_json::Map::new();
            single.insert(k.clone(), v.clone());
            if let Err(e) = serde_json::from_value::<FaultRule>(Value::Object(single)) {
                errors.push(FieldError::new(field(k), e.to_string()));
                typed = false;
            }
        }
        if !typed {
            continue;
        }
        match serde_json::from_value::<FaultRule>(item.clone()) {
            Ok(mut rule) => {
                rule.normalise();
                let problems = rule.problems();
                if problems.is_empty() {
                    rules.push(rule);
                }
                errors.extend(
                    problems
                        .into_iter()
                        .map(|e| FieldError::new(field(&e.field), e.message)),
                );
            }
            Err(e) => errors.push(FieldError::new(field(""), e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(ApiError::schema(errors))
    }
}

/// `Ok` when every starting rule of a configuration is valid (else `InvalidInput`).
pub fn check_config(rules: &[FaultRule]) -> std::io::Result<()> {
    for (i, rule) in rules.iter().enumerate() {
        let mut rule = rule.clone();
        rule.normalise();
        rule.validate().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("sandbox fault rule {i}: {e}"),
            )
        })?;
    }
    Ok(())
}

/// A rule as listed: the rule plus how much of it is left and how often it acted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveRule {
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Requests it may still apply to; `None` = unlimited.
    pub remaining: Option<u32>,
    /// Requests it applied to.
    pub applied: u64,
    /// Times its status or drop fired.
    pub fired: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Process normally (after processing, wait the delay).
    Pass,
    /// Wait, then answer this failure without processing.
    Status(ApiError),
    /// Lose the connection, before or after processing.
    Drop(Drop),
}

/// The verdict of the rules on one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub delay: Duration,
    pub effect: Effect,
}

/// The current rules. Counting happens under the lock, so `count` is exact under concurrency.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<LiveRule>>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Faults {
        let faults = Faults::default();
        faults.add(rules);
        faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LiveRule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends rules (assumed valid) and answers the whole list.
    pub fn add(&self, rules: Vec<FaultRule>) -> Vec<LiveRule> {
        let mut list = self.lock();
        list.extend(rules.into_iter().map(|mut rule| {
            rule.normalise();
            LiveRule {
                remaining: rule.count,
                rule,
                applied: 0,
                fired: 0,
            }
        }));
        list.clone()
    }

    pub fn list(&self) -> Vec<LiveRule> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The first live rule matching the request applies to it (using one of its count).
    pub fn decide(&self, method: &str, path: &str, rng: &mut impl Rng) -> Option<Decision> {
        let mut list = self.lock();
        let live = list
            .iter_mut()
            .find(|l| l.remaining != Some(0) && l.rule.matches(method, path))?;
        if let Some(n) = live.remaining.as_mut() {
            *n -= 1;
        }
        live.applied += 1;
        let rule = &live.rule;
        let jitter = if rule.jitter_ms > 0 {
            rng.random_range(0..=rule.jitter_ms)
        } else {
            0
        };
        let delay = Duration::from_millis(rule.latency_ms.saturating_add(jitter));
        let has_effect = rule.status.is_some() || rule.drop.is_some();
        // `random` is in [0, 1): a rate of 1 always fires and 0 never does.
        let effect = if has_effect && rng.random::<f64>() < rule.error_rate {
            live.fired += 1;
            match (rule.status, rule.drop) {
                (Some(s), _) => Effect::Status(failure_for(s, rule.retry_after_secs)),
                (None, Some(d)) => Effect::Drop(d),
                (None, None) => Effect::Pass,
            }
        } else {
            Effect::Pass
        };
        Some(Decision { delay, effect })
    }
}

/// The gateway FailureResponse for an injected status (table in CONTRACT.md).
pub fn failure_for(status: u16, retry_after_secs: Option<u64>) -> ApiError {
    let mut e = match status {
        400 => ApiError::invalid_body("The request body is invalid"),
        401 => ApiError::expired_credentials(),
        403 => ApiError::access_denied("Access denied"),
        404 => ApiError::not_found("Resource not found"),
        405 => ApiError::method_not_allowed(),
        415 => ApiError::unsupported_media_type(),
        429 => ApiError::too_many_requests(),
        500 => ApiError::internal(),
        503 => ApiError::unavailable(),
        504 => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "08",
            "Gateway timeout",
            "Gateway timeout",
        ),
        other => {
            let code = StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = code
                .canonical_reason()
                .map_or_else(|| format!("HTTP {other}"), str::to_string);
            ApiError::new(code, &other.to_string(), reason.clone(), reason)
        }
    };
    // Exactly as configured: a faulted 429 without `retry_after_secs` has no Retry-After.
    e.retry_after = retry_after_secs.map(|s| u32::try_from(s).unwrap_or(u32::MAX));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn parse_examples() {
        let r =
            parse_fault("path=/bt-wholesale/v1/order/productOrder,method=post,drop=after,count=1")
                .unwrap();
        assert_eq!(
            r.path_prefix.as_deref(),
            Some("/bt-wholesale/v1/order/productOrder")
        );
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.drop, Some(Drop::After));
        assert_eq!(r.count, Some(1));
        assert_eq!(r.error_rate, 1.0);

        let r = parse_fault("status=503,count=3,path=/bt-wholesale/v1/whc").unwrap();
        assert_eq!((r.status, r.count), (Some(503), Some(3)));

        let r = parse_fault(" latency=200 ").unwrap();
        assert_eq!(r.latency_ms, 200);
        assert_eq!(
            r,
            FaultRule {
                latency_ms: 200,
                ..FaultRule::default()
            }
        );

        let r = parse_fault("status=429,retry-after=5,rate=0.5,jitter=10ms,latency=5ms").unwrap();
        assert_eq!(r.retry_after_secs, Some(5));
        assert_eq!(r.error_rate, 0.5);
        assert_eq!((r.latency_ms, r.jitter_ms), (5, 10));
    }

    #[test]
    fn parse_errors_name_the_key() {
        let err = |s: &str| parse_fault(s).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("status").contains("key=value"));
        assert!(err("colour=red").contains("unknown key `colour`"));
        assert!(err("status=abc").contains("status=abc"));
        assert!(err("status=700").contains("status"));
        assert!(err("latency=-1").contains("latency=-1"));
        assert!(err("rate=1.5").contains("rate"));
        assert!(err("drop=sideways").contains("before"));
        assert!(err("count=0").contains("count"));
        assert!(err("count=1,count=2").contains("twice"));
        assert!(err("retry_after=5").contains("retry_after"));
        assert!(err("status=503,drop=before").contains("drop"));
        assert!(err("path=bt").contains("path"));
        assert!(err("path=/__sandbox/journal").contains("never faulted"));
        assert!(err("method=").contains("value is required"));
        assert!(err("method=GE T").contains("method"));
    }

    #[test]
    fn json_rules_and_their_errors() {
        let rules = rules_from_json(&json!({"status": 503, "count": 2})).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].error_rate, 1.0);
        let rules =
            rules_from_json(&json!([{"latency_ms": 5}, {"drop": "before", "method": "get"}]))
                .unwrap();
        assert_eq!(rules[1].method.as_deref(), Some("GET"));

        let e =
            rules_from_json(&json!([{"latency_ms": 5}, {"status": "x", "colour": 1}])).unwrap_err();
        assert_eq!(e.code, "29");
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"[1].status"), "{fields:?}");
        assert!(fields.contains(&"[1].colour"), "{fields:?}");
        let e = rules_from_json(&json!({"error_rate": 2.0})).unwrap_err();
        assert_eq!(e.errors[0].field, "error_rate");
        let e = rules_from_json(&json!("status=503")).unwrap_err();
        assert_eq!(e.errors[0].field, "");
    }

    #[test]
    fn first_matching_rule_applies_and_counts_down() {
        let f = Faults::new(vec![
            FaultRule {
                method: Some("post".into()),
                status: Some(503),
                count: Some(2),
                ..FaultRule::default()
            },
            FaultRule {
                latency_ms: 3,
                ..FaultRule::default()
            },
        ]);
        let mut rng = rng();
        // GET skips the POST rule.
        let d = f.decide("GET", "/x", &mut rng).unwrap();
        assert_eq!(
            (d.delay, d.effect),
            (Duration::from_millis(3), Effect::Pass)
        );
        for _ in 0..2 {
            let d = f.decide("POST", "/x", &mut rng).unwrap();
            assert!(matches!(d.effect, Effect::Status(ref e) if e.code == "05"));
        }
        let d = f.decide("POST", "/x", &mut rng).unwrap();
        assert_eq!(d.effect, Effect::Pass);
        let list = f.list();
        assert_eq!(
            (list[0].remaining, list[0].applied, list[0].fired),
            (Some(0), 2, 2)
        );
        assert_eq!((list[1].remaining, list[1].applied), (None, 2));
        f.clear();
        assert!(f.decide("GET", "/x", &mut rng).is_none());
    }

    #[test]
    fn rates_and_jitter() {
        let f = Faults::new(vec![FaultRule {
            drop: Some(Drop::Before),
            error_rate: 0.0,
            latency_ms: 10,
            jitter_ms: 5,
            ..FaultRule::default()
        }]);
        let mut rng = rng();
        for _ in 0..200 {
            let d = f.decide("GET", "/", &mut rng).unwrap();
            assert_eq!(d.effect, Effect::Pass);
            assert!((10..=15).contains(&d.delay.as_millis()));
        }
        assert_eq!(f.list()[0].fired, 0);
    }

    #[test]
    fn path_prefix_matching() {
        let f = Faults::new(vec![FaultRule {
            path_prefix: Some("/bt-wholesale/v1/whc".into()),
            ..FaultRule::default()
        }]);
        let mut rng = rng();
        assert!(f
            .decide("GET", "/bt-wholesale/v1/whc/resourceInventory", &mut rng)
            .is_some());
        assert!(f
            .decide("GET", "/bt-wholesale/v1/order", &mut rng)
            .is_none());
    }

    #[test]
    fn failure_bodies() {
        assert_eq!(failure_for(503, None).code, "05");
        assert_eq!(failure_for(500, None).code, "01");
        assert_eq!(failure_for(504, None).code, "08");
        let e = failure_for(429, None);
        assert_eq!((e.code.as_str(), e.retry_after), ("80", None));
        assert_eq!(failure_for(429, Some(7)).retry_after, Some(7));
        let e = failure_for(502, None);
        assert_eq!((e.code.as_str(), e.reason.as_str()), ("502", "Bad Gateway"));
        assert_eq!(failure_for(408, None).reason, "Request Timeout");
        assert_eq!(failure_for(599, None).status.as_u16(), 599);
    }

    #[test]
    fn listing_shape() {
        let f = Faults::new(vec![parse_fault("status=503,count=1").unwrap()]);
        let v = serde_json::to_value(f.list()).unwrap();
        assert_eq!(v[0]["status"], 503);
        assert_eq!(v[0]["remaining"], 1);
        assert_eq!(v[0]["method"], Value::Null);
        assert_eq!(v[0]["applied"], 0);
        assert!(check_config(&[parse_fault("latency=1").unwrap()]).is_ok());
        assert!(check_config(&[FaultRule {
            count: Some(0),
            ..FaultRule::default()
        }])
        .is_err());
    }
}
