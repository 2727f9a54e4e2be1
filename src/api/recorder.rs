//! A record of the HTTP exchanges with BT, for seeing what went over the wire: the REPL's
//! `:last` and `:calls N`, and `btw run --trace-http FILE` (JSON lines).
//!
//! Off until switched on, so runs that do not ask pay one atomic load per call. Secrets never
//! enter a record: the `Authorization` header's value is replaced, token calls (which
//! carry the client secret and return tokens) are not recorded, and body fields whose names say
//! they hold a secret are masked. The `Authorization` value is replaced whole: `***` (the one mask, `crate::secrets`).

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How many exchanges the REPL can look back on.
const KEPT: usize = 50;
/// Longer bodies are cut (a list of thousands of orders would flood the terminal and the file).
const MAX_BODY_CHARS: usize = 64 * 1024;

/// One HTTP exchange, as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// When it was sent (RFC 3339, UTC).
    pub at: String,
    /// The operation it served, e.g. `ringfence numbers`.
    pub operation: String,
    pub method: String,
    pub url: String,
    /// Request headers as sent, secrets redacted.
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<Value>,
    /// `None` when no answer came (connection refused, timeout).
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// The answer's body: JSON when it parses, else the text.
    pub response_body: Option<Value>,
    pub duration_ms: u64,
    /// The `APIGW-Tracking-Header` sent: what BT support asks for.
    pub tracking_id: String,
    /// Why no answer came, when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The client's recorder: the last [`KEPT`] exchanges, and an optional JSON-lines file.
#[derive(Default)]
pub struct Recorder {
    on: AtomicBool,
    kept: Mutex<VecDeque<CallRecord>>,
    /// Exchanges kept so far, the dropped ones included: numbers stay put as old ones go.
    total: std::sync::atomic::AtomicUsize,
    /// Calls sent and not yet answered (by tracking id), with when they were sent: what a wait
    /// shows it waits for, and what an interrupted call is recorded as.
    in_flight: Mutex<Vec<(std::time::Instant, CallRecord)>>,
    trace: Mutex<Option<std::fs::File>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("on", &self.on.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts keeping the last exchanges.
    pub fn enable(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    /// Also writes every exchange to `file`, one JSON object a line.
    pub fn trace_to(&self, file: std::fs::File) {
        *self.trace.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        self.enable();
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Notes a call as sent and not yet answered (only while the recorder is on).
    pub fn begin(&self, call: &CallRecord) {
        if self.is_on() {
            let mut flying = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            flying.push((std::time::Instant::now(), call.clone()));
        }
    }

    /// The oldest call still waiting for its answer: its summary line and how long it has waited.
    pub fn waiting_for(&self) -> Option<(String, std::time::Duration)> {
        let flying = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        flying.first().map(|(t, c)| {
            let path = short_url(&c.url);
            (format!("{} {path}", c.method), t.elapsed())
        })
    }

    /// Records every unanswered call as interrupted (`why`): the REPL's Ctrl-C, which drops
    /// the call without an answer. Their outcome at BT is unknown.
    pub fn abandon_in_flight(&self, why: &str) {
        let flying: Vec<_> =
            std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()));
        for (t, mut c) in flying {
            c.duration_ms = t.elapsed().as_millis() as u64;
            c.error = Some(why.to_string());
            self.record(c);
        }
    }

    /// Keeps one exchange (and writes it to the trace file, if any).
    pub fn record(&self, mut call: CallRecord) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, c)| c.tracking_id != call.tracking_id);
        call.request_body = call.request_body.map(redact_body).map(cut);
        call.response_body = call.response_body.map(redact_body).map(cut);
        for (name, value) in call.request_headers.iter_mut() {
            if is_secret_header(name) {
                *value = redacted_header(value);
            }
        }
        // At -vvv each exchange is logged whole (redacted like everything kept).
        tracing::trace!("BT exchange\n{}", call.detail());
        if !self.is_on() {
            return;
        }
        if let Some(file) = self
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            if let Ok(line) = serde_json::to_string(&call) {
                // A trace that cannot be written must not fail the call it describes.
                let _ = writeln!(file, "{line}");
                let _ = file.flush();
            }
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(call);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Every kept exchange with its number in the session (1 the first), oldest first.
    pub fn numbered(&self) -> Vec<(usize, CallRecord)> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let first = self.total.load(Ordering::Relaxed) + 1 - kept.len();
        kept.iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| (first + i, c))
            .collect()
    }

    /// The last `n` exchanges, oldest first.
    pub fn last(&self, n: usize) -> Vec<CallRecord> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let skip = kept.len().saturating_sub(n);
        kept.iter().skip(skip).cloned().collect()
    }
}

fn is_secret_header(name: &str) -> bool {
    crate::secrets::is_secret_name(name) || name.eq_ignore_ascii_case("x-callback-credentials")
}

/// The whole value goes, scheme included: logs are checked for `Bearer ` to catch any leak.
fn redacted_header(_value: &str) -> String {
    crate::secrets::MASK.into()
}

fn is_secret_key(key: &str) -> bool {
    crate::secrets::is_secret_name(key)
}

fn redact_body(v: Value) -> Value {
    match v {
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .map(|(k, v)| {
                    if is_secret_key(&k) && !v.is_null() {
                        (k, Value::String(crate::secrets::MASK.into()))
                    } else {
                        (k, redact_body(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_body).collect()),
        other => other,
    }
}

fn cut(v: Value) -> Value {
    let len = match &v {
        Value::String(s) => s.len(),
        _ => v.to_string().len(),
    };
    if len <= MAX_BODY_CHARS {
        return v;
    }
    let text = match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let mut end = MAX_BODY_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Value::String(format!("{}… ({len} bytes in all)", &text[..end]))
}

/// A URL without its scheme and host: what a one-line listing shows.
pub fn short_url(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// A body as it came: JSON when it parses, else the text.
pub(crate) fn body_value(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

impl CallRecord {
    /// One line: `POST /path → 201 in 12 ms (tracking …)`.
    pub fn summary(&self) -> String {
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no answer".into());
        format!(
            "{} {} → {status} in {} ms (tracking {})",
            self.method, self.url, self.duration_ms, self.tracking_id
        )
    }

    /// One line of `:calls`: number, time, method, path, status, elapsed, tracking id.
    pub fn list_line(&self, n: usize) -> String {
        let time = self.at.get(11..19).unwrap_or(&self.at);
        let status = match (self.status, &self.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) if e.starts_with("interrupted") => "interrupted".into(),
            (None, _) => "no answer".into(),
        };
        let mut path = short_url(&self.url).to_string();
        if path.chars().count() > 80 {
            path = format!("{}…", path.chars().take(79).collect::<String>());
        }
        format!(
            "{n:>3}  {time}  {:<6} {path}  {status}  {} ms  {}",
            self.method, self.duration_ms, self.tracking_id
        )
    }

    /// The whole exchange for a reader: headers, pretty bodies, status, time, tracking id.
    pub fn detail(&self) -> String {
        let mut out = format!("{}  [{}, {}]\n", self.summary(), self.operation, self.at);
        for (k, v) in &self.request_headers {
            out.push_str(&format!("> {k}: {v}\n"));
        }
        if let Some(b) = &self.request_body {
            out.push_str(&pretty(b));
            out.push('\n');
        }
        match self.status {
            Some(s) => out.push_str(&format!("< {s}\n")),
            None => out.push_str(&format!(
                "< no answer: {}\n",
                self.error.as_deref().unwrap_or("")
            )),
        }
        for (k, v) in &self.response_headers {
            out.push_str(&format!("< {k}: {v}\n"));
        }
        if let Some(b) = &self.response_body {
            out.push_str(&pretty(b));
            out.push('\n');
        }
        out.trim_end().to_string()
    }
}

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call() -> CallRecord {
        CallRecord {
            at: "2026-01-01T00:00:00Z".into(),
            operation: "get order".into(),
            method: "POST".into(),
            url: "http://x/y".into(),
            request_headers: vec![("Authorization".into(), "Bearer abc.def".into())],
            request_body: Some(json!({"client_secret": "s3", "a": [{"accessToken": "t"}]})),
            status: Some(200),
            response_headers: vec![],
            response_body: Some(json!({"ok": true})),
            duration_ms: 3,
            tracking_id: "T1".into(),
            error: None,
        }
    }

    #[test]
    fn secrets_are_redacted_before_keeping() {
        let r = Recorder::default();
        r.record(call());
        assert!(r.last(5).is_empty(), "off until switched on");
        r.enable();
        r.record(call());
        let kept = r.last(5);
        let text = serde_json::to_string(&kept[0]).unwrap();
        assert!(!text.contains("abc.def") && !text.contains("s3") && !text.contains("\"t\""));
        assert!(text.contains("\"Authorization\",\"***\""), "{text}");
        assert!(kept[0].detail().contains("tracking T1"));
    }

    #[test]
    fn keeps_only_the_last_calls() {
        let r = Recorder::default();
        r.enable();
        for _ in 0..KEPT + 5 {
            r.record(call());
        }
        assert_eq!(r.last(1000).len(), KEPT);
        assert_eq!(r.last(2).len(), 2);
    }
}
