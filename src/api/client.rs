//! The HTTP core every BT call goes through: tracking header, bearer token, retries, timeouts.

use super::auth::{CachedToken, Credentials, Secret};
use super::error::{ApiError, BtError};
use super::recorder::{body_value, CallRecord, Recorder};
use super::request::{Kind, Page, Request};
use super::retry::{retry_after, retryable_status, Failure, RetryPolicy};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Everything the client needs to know about where and how to call BT.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Scheme, host and port, no trailing slash: `https://api-testa.business.bt.com`.
    pub base_url: String,
    pub credentials: Credentials,
    /// Time allowed for one HTTP exchange.
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// When set, mutating calls are refused with this explanation (the live profile without `--confirm-live`).
    pub refuse_mutations: Option<String>,
    /// BT's rate limit for this credential; `None`: calls go as fast as they come.
    pub rate: Option<super::RateLimit>,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        ClientOptions {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            credentials,
            call_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            refuse_mutations: None,
            rate: None,
        }
    }
}

#[derive(Default, Debug)]
pub(super) struct Stats {
    pub(super) calls: AtomicU64,
    pub(super) token_requests: AtomicU64,
    pub(super) retries: AtomicU64,
    /// Per-call latencies (µs) are kept only while this is on (`btw bench`): off, it costs one load.
    latency_on: std::sync::atomic::AtomicBool,
    latencies: std::sync::Mutex<Vec<u32>>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) options: ClientOptions,
    pub(super) token: Mutex<Option<CachedToken>>,
    pub(super) generation: AtomicU64,
    pub(super) stats: Stats,
    pub(super) recorder: Recorder,
    /// Every call of every clone waits its turn here (one limiter per credential).
    pub(super) limiter: Option<super::Limiter>,
}

/// The sandbox-only header naming the clock a request runs on (BT never sees it: it is sent
/// only on the sandbox profile, by a client put [`on_clock`](BtClient::on_clock)).
pub const SANDBOX_CLOCK_HEADER: &str = "X-Sandbox-Clock";

/// The BT client. Cheap to clone; clones share the connection pool and the token.
#[derive(Clone)]
pub struct BtClient {
    pub(super) inner: Arc<Inner>,
    /// The sandbox clock this client's calls run on; `None`: the shared clock.
    clock: Option<Arc<str>>,
}

impl std::fmt::Debug for BtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtClient")
            .field("base_url", &self.inner.options.base_url)
            .finish_non_exhaustive()
    }
}

impl BtClient {
    pub fn new(options: ClientOptions) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            // BT's gateway never redirects a valid call; a redirect (above all on the token call,
            // which carries the secret) is reported, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("btw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Refused {
                operation: "start the BT client".into(),
                detail: e.to_string(),
            })?;
        let limiter = options.rate.map(super::Limiter::new);
        Ok(BtClient {
            inner: Arc::new(Inner {
                http,
                options,
                token: Mutex::new(None),
                generation: AtomicU64::new(0),
                stats: Stats::default(),
                recorder: Recorder::default(),
                limiter,
            }),
            clock: None,
        })
    }

    /// This client with its calls on sandbox clock `id` (created by the sandbox on first use):
    /// what a run does to its own time then moves only what it made. Shares the pool, the token
    /// and the record with `self`. Only for the sandbox profile.
    pub fn on_clock(&self, id: &str) -> BtClient {
        BtClient {
            inner: self.inner.clone(),
            clock: Some(Arc::from(id)),
        }
    }

    /// The sandbox clock this client's calls run on, if any.
    pub fn clock(&self) -> Option<&str> {
        self.clock.as_deref()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.options.base_url
    }

    /// The pooled HTTP client, for calls outside BT's gateway conventions (sandbox admin).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The record of exchanges (`:last`, `--trace-http`); off until switched on.
    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    /// HTTP calls sent so far (each attempt counts, token calls included).
    pub fn calls_made(&self) -> u64 {
        self.inner.stats.calls.load(Ordering::Relaxed)
    }

    /// Token requests sent so far.
    pub fn token_requests(&self) -> u64 {
        self.inner.stats.token_requests.load(Ordering::Relaxed)
    }

    /// Retries made so far (attempts after the first, for any reason).
    pub fn retries_made(&self) -> u64 {
        self.inner.stats.retries.load(Ordering::Relaxed)
    }

    /// Starts (or stops) keeping the latency of every API call, for `btw bench`.
    pub fn record_latencies(&self, on: bool) {
        self.inner.stats.latency_on.store(on, Ordering::Relaxed);
    }

    /// The latencies kept so far (send to body read, per attempt, token calls excluded), emptied.
    pub fn take_latencies(&self) -> Vec<Duration> {
        let mut kept = self
            .inner
            .stats
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *kept)
            .into_iter()
            .map(|us| Duration::from_micros(us as u64))
            .collect()
    }

    fn note_latency(&self, started: Instant) {
        let stats = &self.inner.stats;
        if stats.latency_on.load(Ordering::Relaxed) {
            let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
            stats
                .latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(us);
        }
    }

    /// The rate limiter every call of this credential waits on, if there is one.
    pub fn limiter(&self) -> Option<&super::Limiter> {
        self.inner.limiter.as_ref()
    }

    /// Waits for the next call's turn under the rate limit.
    pub(super) async fn rate_turn(&self) {
        if let Some(l) = &self.inner.limiter {
            l.acquire().await;
        }
    }

    /// A 429 slows every caller of the credential down for BT's `Retry-After`.
    pub(super) fn note_status(&self, status: u16, retry_after: Option<Duration>) {
        if status != 429 {
            return;
        }
        if let Some(l) = &self.inner.limiter {
            if l.slow_down(retry_after) {
                tracing::warn!(
                    "BT answered 429 (too many requests): every call waits {} ms, then goes at {:.1} a second",
                    retry_after.unwrap_or(Duration::from_secs(1)).as_millis(),
                    l.rate()
                );
            }
        }
    }

    /// Counts a retry and says why it waits.
    pub(super) fn note_retry(&self, pause: Duration) {
        self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(wait_ms = pause.as_millis() as u64, "retrying");
    }

    /// Sends `req` with a fresh tracking header and the bearer token; on any 401 fetches a new
    /// token once and repeats the call once; retries safe calls on transient failures.
    pub(crate) async fn send(&self, req: Request) -> Result<Page, ApiError> {
        let opts = &self.inner.options;
        if req.kind == Kind::Mutating {
            if let Some(why) = &opts.refuse_mutations {
                return Err(ApiError::Refused {
                    operation: req.operation.into(),
                    detail: why.clone(),
                });
            }
        }
        let url = format!("{}{}", opts.base_url, req.path);
        // One refresh per call, however many retries it takes.
        let refreshed = AtomicBool::new(false);
        opts.retry
            .run(
                || async {
                    match self.send_once(&req, &url).await {
                        Err(f)
                            if is_refused_token(&f) && !refreshed.swap(true, Ordering::Relaxed) =>
                        {
                            // The gateway refused the token before doing anything (expired, revoked,
                            // purged after a clock jump), so repeating the call is safe even for a
                            // mutating one: one fresh token, one more try.
                            self.invalidate(f.generation).await;
                            self.send_once(&req, &url).await.map_err(|f| f.failure)
                        }
                        other => other.map_err(|f| f.failure),
                    }
                },
                |pause| self.note_retry(pause),
            )
            .await
    }

    /// The HTTP request for `req`: a fresh tracking header, the bearer token, the call timeout.
    fn request_builder(
        &self,
        req: &Request,
        url: &str,
        token: &Secret,
        tracking: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url)
            .header("APIGW-Tracking-Header", tracking)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/json")
            .timeout(self.inner.options.call_timeout);
        if let Some(clock) = &self.clock {
            builder = builder.header(SANDBOX_CLOCK_HEADER, clock.as_ref());
        }
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        builder
    }

    /// One attempt: token, request, answer.
    async fn send_once(&self, req: &Request, url: &str) -> Result<Page, Attempt> {
        let (token, generation) = self.token().await.map_err(|e| Attempt {
            failure: Failure::fatal(e),
            generation: 0,
            status: None,
        })?;
        let fail = |failure: Failure, status: Option<(u16, String)>| Attempt {
            failure,
            generation,
            status,
        };
        let tracking = uuid::Uuid::new_v4().to_string();
        let opts = &self.inner.options;
        let builder = self.request_builder(req, url, &token, &tracking);
        self.rate_turn().await;
        self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        let call_started = Instant::now();
        let mut record = self.start_record(
            req.operation,
            req.method.as_str(),
            url,
            req.body.clone(),
            &tracking,
        );
        let sent = self.execute(builder, &mut record).await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                self.note_latency(call_started);
                crate::metrics::bt_call(req.operation.as_str(), 0, call_started.elapsed());
                let error = transport_error(req.operation.as_str(), url, &e, opts.call_timeout);
                self.finish_record(record, call_started, |r| r.error = Some(error.to_string()));
                // A connect error means nothing was sent, so even a mutating call may go again.
                let retryable = req.kind == Kind::Safe || e.is_connect();
                return Err(fail(
                    Failure {
                        error,
                        retryable,
                        retry_after: None,
                    },
                    None,
                ));
            }
        };
        let status = resp.status();
        let counts = list_counts(resp.headers());
        let wait = retry_after(&resp);
        let answer_headers = header_pairs(resp.headers());
        self.note_status(status.as_u16(), wait);
        if let Some(r) = record.as_mut() {
            r.status = Some(status.as_u16());
            r.response_headers = header_pairs(resp.headers());
        }
        let text = resp.text().await;
        self.note_latency(call_started);
        self.finish_record(record, call_started, |r| match &text {
            Ok(t) => r.response_body = body_value(t),
            Err(e) => r.error = Some(format!("response body lost: {e}")),
        });
        let text = text.map_err(|e| {
            // Headers came, the body did not: BT processed the call.
            fail(
                Failure::fatal(ApiError::Transport {
                    operation: req.operation.into(),
                    url: url.to_string(),
                    detail: format!("response body lost: {e}"),
                    maybe_sent: true,
                }),
                None,
            )
        })?;
        note_call(req, status.as_u16(), call_started, &tracking);
        let page = page_or_failure(req, status, &text, counts, wait).map(|mut p| {
            p.headers = answer_headers;
            p
        });
        page.map_err(|(mut failure, status)| {
            if let ApiError::Bt(bt) = &mut failure.error {
                bt.tracking_id = Some(tracking.clone());
                bt.name_script_keys(req.body.as_ref());
            }
            fail(failure, status)
        })
    }

    /// Sends the request, noting its final URL and headers in `record`.
    async fn execute(
        &self,
        builder: reqwest::RequestBuilder,
        record: &mut Option<CallRecord>,
    ) -> reqwest::Result<reqwest::Response> {
        let request = builder.build()?;
        if let Some(r) = record.as_mut() {
            r.url = request.url().to_string();
            r.request_headers = header_pairs(request.headers());
            self.inner.recorder.sending(r);
        }
        self.inner.http.execute(request).await
    }

    /// Completes a record with its duration and what `fill` adds, and keeps it.
    pub(super) fn finish_record(
        &self,
        record: Option<CallRecord>,
        started: Instant,
        fill: impl FnOnce(&mut CallRecord),
    ) {
        if let Some(mut r) = record {
            r.duration_ms = started.elapsed().as_millis() as u64;
            fill(&mut r);
            self.inner.recorder.record(r);
        }
    }

    /// A record for a call when the recorder is on (filled in as the exchange goes).
    pub(super) fn start_record(
        &self,
        operation: super::operation::Operation,
        method: &str,
        url: &str,
        body: Option<Value>,
        tracking: &str,
    ) -> Option<CallRecord> {
        if !self.inner.recorder.is_on() && !tracing::enabled!(tracing::Level::TRACE) {
            return None;
        }
        let record = CallRecord {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            operation: operation.as_str().to_string(),
            method: method.to_string(),
            url: url.to_string(),
            request_headers: Vec::new(),
            request_body: body,
            status: None,
            response_headers: Vec::new(),
            response_body: None,
            duration_ms: 0,
            tracking_id: tracking.to_string(),
            error: None,
            seq: 0,
        };
        // Kept as in flight until it ends, so an interrupted call is still seen (`:calls`).
        Some(self.inner.recorder.begin(record))
    }
}

/// What BT's answer means: a page, or a failure (with BT's status and code when it said no).
fn page_or_failure(
    req: &Request,
    status: StatusCode,
    text: &str,
    (total_count, result_count): (Option<u64>, Option<u64>),
    wait: Option<Duration>,
) -> Result<Page, (Failure, Option<(u16, String)>)> {
    if status.is_success() {
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).map_err(|e| {
                let error = ApiError::Decode {
                    operation: req.operation.into(),
                    detail: format!("body is not JSON ({e})"),
                };
                (Failure::fatal(error), None)
            })?
        };
        return Ok(Page {
            status: status.as_u16(),
            body,
            total_count,
            result_count,
            headers: Vec::new(),
        });
    }
    let bt = BtError::from_body(req.operation.as_str(), status.as_u16(), text);
    let code = bt.code.clone();
    let failure = Failure {
        retryable: req.kind == Kind::Safe && retryable_status(status.as_u16()),
        retry_after: wait,
        error: ApiError::Bt(Box::new(bt)),
    };
    Err((failure, Some((status.as_u16(), code))))
}

/// `X-Total-Count` and `X-Result-Count` of a list answer.
fn list_counts(headers: &reqwest::header::HeaderMap) -> (Option<u64>, Option<u64>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (header("x-total-count"), header("x-result-count"))
}

/// Headers as (name, value) text pairs; the recorder redacts the secret ones.
pub(super) fn header_pairs(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or("(not text)").to_string(),
            )
        })
        .collect()
}

/// A failed attempt, with what a token refresh needs to know.
struct Attempt {
    failure: Failure,
    /// The generation of the token the attempt used.
    generation: u64,
    /// BT's status and code, when BT answered.
    status: Option<(u16, String)>,
}

/// 401, whatever BT's code (41 invalid, 42 expired): the token was refused at the gateway.
fn is_refused_token(a: &Attempt) -> bool {
    matches!(&a.status, Some((s, _)) if *s == StatusCode::UNAUTHORIZED.as_u16())
}

/// A transport failure as an error that names the operation and never the query string.
pub(super) fn transport_error(
    op: &str,
    url: &str,
    e: &reqwest::Error,
    timeout: Duration,
) -> ApiError {
    if e.is_timeout() {
        return ApiError::Timeout {
            operation: op.into(),
            secs: timeout.as_secs_f64(),
        };
    }
    // Strip the query: it may carry names, never secrets, but keep messages short.
    let short_url = url.split('?').next().unwrap_or(url).to_string();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    ApiError::Transport {
        operation: op.into(),
        url: short_url,
        detail,
        maybe_sent: !e.is_connect(),
    }
}

/// One line per answered call at `-v` (what BT support needs to find it again), and its metrics.
fn note_call(req: &Request, status: u16, started: Instant, tracking: &str) {
    log_call(
        req.operation.as_str(),
        req.method.as_str(),
        &req.path,
        status,
        started,
        tracking,
    );
    crate::metrics::bt_call(req.operation.as_str(), status, started.elapsed());
}

/// The `-v` line of an answered call, the token's included.
pub(super) fn log_call(
    op: &str,
    method: &str,
    path: &str,
    status: u16,
    started: Instant,
    tracking: &str,
) {
    tracing::info!(
        target: "btw::calls",
        op,
        method,
        path,
        status,
        ms = started.elapsed().as_millis() as u64,
        tracking = %tracking,
        "BT call"
    );
}
