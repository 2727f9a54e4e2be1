//! A record of the HTTP exchanges with BT, for seeing what went over the wire: the REPL's
//! `:last` and `:calls N`, and `btw run --trace-http FILE` (JSON lines).
//!
//! Off until switched on, so runs that do not ask pay one atomic load per call. Secrets never
//! enter a record: the `Authorization` header's value is replaced whole by `***` (the one mask,
//! `crate::secrets`), token calls included (their Basic credentials and the token they return),
//! and body fields whose names say they hold a secret are masked.
//!
//! Each call is numbered when it starts and kept as *in flight* until it ends, so a call that
//! never ends (Ctrl-C dropped it) can still be listed, as interrupted, and a slow one named
//! while it runs.

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// The call's number in this process, from 1 in the order calls started (0: not counted).
    #[serde(skip)]
    pub seq: u64,
}

/// The client's recorder: the last [`KEPT`] exchanges, and an optional JSON-lines file.
#[derive(Default)]
pub struct Recorder {
    on: AtomicBool,
    kept: Mutex<VecDeque<CallRecord>>,
    /// Calls started and not yet ended, with when they started.
    in_flight: Mutex<Vec<(CallRecord, Instant)>>,
    next_seq: std::sync::atomic::AtomicU64,
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

    /// Numbers a call that is starting and, when on, keeps it as in flight.
    pub fn begin(&self, mut call: CallRecord) -> CallRecord {
        call.seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        if self.is_on() {
            self.in_flight()
                .push((redacted(call.clone()), Instant::now()));
        }
        call
    }

    /// Updates an in-flight call with what was just sent (final URL, headers).
    pub fn sending(&self, call: &CallRecord) {
        if let Some(entry) = self.in_flight().iter_mut().find(|(c, _)| c.seq == call.seq) {
            entry.0 = redacted(call.clone());
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Vec<(CallRecord, Instant)>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The oldest call still in flight, and how long it has run.
    pub fn oldest_in_flight(&self) -> Option<(CallRecord, Duration)> {
        self.in_flight()
            .iter()
            .min_by_key(|(c, _)| c.seq)
            .map(|(c, at)| (c.clone(), at.elapsed()))
    }

    /// Ends every call still in flight as `why` (their futures were dropped: Ctrl-C, a timeout),
    /// so they are listed and written to the trace like any other. Returns how many there were.
    pub fn abandon_in_flight(&self, why: &str) -> usize {
        let calls: Vec<_> = std::mem::take(&mut *self.in_flight());
        let n = calls.len();
        for (mut call, at) in calls {
            call.duration_ms = at.elapsed().as_millis() as u64;
            call.error = Some(why.to_string());
            self.keep(call);
        }
        n
    }

    /// Keeps one exchange (and writes it to the trace file, if any).
    pub fn record(&self, call: CallRecord) {
        let call = redacted(call);
        if call.seq != 0 {
            self.in_flight().retain(|(c, _)| c.seq != call.seq);
        }
        self.keep(call);
    }

    /// Logs, traces and keeps a redacted record.
    fn keep(&self, call: CallRecord) {
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
        // Listed in the order calls started: one that ends late goes back to its place.
        let at = kept
            .iter()
            .rposition(|c| c.seq <= call.seq)
            .map_or(0, |i| i + 1);
        kept.insert(at, call);
    }

    /// The last `n` exchanges, oldest first.
    pub fn last(&self, n: usize) -> Vec<CallRecord> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let skip = kept.len().saturating_sub(n);
        kept.iter().skip(skip).cloned().collect()
    }

    /// Call number `seq`, if it is still kept.
    pub fn get(&self, seq: u64) -> Option<CallRecord> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|c| c.seq == seq).cloned()
    }
}

/// A record with its secrets masked and its bodies cut to size.
fn redacted(mut call: CallRecord) -> CallRecord {
    call.request_body = call.request_body.map(redact_body).map(cut);
    call.response_body = call.response_body.map(redact_body).map(cut);
    for (name, value) in call.request_headers.iter_mut() {
        if is_secret_header(name) {
            *value = redacted_header(value);
        }
    }
    call
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

/// A body as it came: JSON when it parses, else the text.
pub(crate) fn body_value(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

/// What an in-flight call that never ended is recorded with (`:calls` shows it as its status).
pub const INTERRUPTED: &str = "interrupted";

impl CallRecord {
    /// The path and query of the URL, without scheme and host: `/bt-wholesale/v1/…?x=1`.
    pub fn path(&self) -> &str {
        let after_scheme = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    }

    /// The status as a list shows it: `200`, `interrupted`, `no answer`.
    pub fn status_text(&self) -> String {
        match (self.status, self.error.as_deref()) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) if e.starts_with(INTERRUPTED) => INTERRUPTED.into(),
            (None, _) => "no answer".into(),
        }
    }

    /// One line of `:calls`: `  3  10:02:01  GET  /path  200  12 ms  tracking-id`.
    pub fn list_line(&self) -> String {
        let time = chrono::DateTime::parse_from_rfc3339(&self.at)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|_| self.at.clone());
        let mut path = self.path().to_string();
        if path.chars().count() > 110 {
            path = path.chars().take(109).collect::<String>() + "…";
        }
        format!(
            "{:>3}  {time}  {:<6} {path}  {}  {} ms  {}",
            self.seq,
            self.method,
            self.status_text(),
            self.duration_ms,
            self.tracking_id
        )
    }

    /// One line: `POST /path → 201 in 12 ms (tracking …)`.
    pub fn summary(&self) -> String {
        let status = self.status_text();
        format!(
            "{} {} → {status} in {} ms (tracking {})",
            self.method, self.url, self.duration_ms, self.tracking_id
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
            seq: 0,
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
