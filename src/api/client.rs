//! The HTTP core every BT call goes through: tracking header, bearer token, retries, timeouts.

use super::auth::{refresh_after, CachedToken, Credentials, Secret};
use super::error::{ApiError, BtError};
use base64::Engine as _;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How safe calls are retried: exponential backoff with full jitter, capped in count and total time.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry is started once this much time has passed since the first attempt.
    pub total_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            total_cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        }
    }

    /// The pause before retry number `retry` (1-based): full jitter over an exponential ceiling.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let half = ceiling / 2;
        // Half fixed, half random: gaps still grow, and concurrent clients spread out.
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

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
        }
    }
}

/// Whether a call may be repeated without changing anything at BT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Safe,
    Mutating,
}

/// One BT call, described before it is sent.
#[derive(Debug)]
pub(crate) struct Request {
    pub operation: &'static str,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    pub kind: Kind,
}

impl Request {
    pub fn get(operation: &'static str, path: impl Into<String>) -> Self {
        Request {
            operation,
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            kind: Kind::Safe,
        }
    }

    pub fn post(operation: &'static str, path: impl Into<String>, body: Value) -> Self {
        Request {
            operation,
            method: Method::POST,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            kind: Kind::Mutating,
        }
    }

    /// A PATCH: changes something at BT, but repeating it with the same body changes nothing more.
    pub fn patch(operation: &'static str, path: impl Into<String>, body: Value) -> Self {
        Request {
            method: Method::PATCH,
            ..Request::post(operation, path, body)
        }
    }

    /// A POST that changes nothing at BT (a search or a check), so it may be retried like a GET.
    pub fn safe(mut self) -> Self {
        self.kind = Kind::Safe;
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// A successful answer: status, JSON body, and the list headers when present.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub body: Value,
    /// `X-Total-Count`: all matches of a list query.
    pub total_count: Option<u64>,
    /// `X-Result-Count`: matches in this page.
    pub result_count: Option<u64>,
}

#[derive(Default, Debug)]
struct Stats {
    calls: AtomicU64,
    token_requests: AtomicU64,
    retries: AtomicU64,
    /// Per-call latencies (µs) are kept only while this is on (`btw bench`): off, it costs one load.
    latency_on: std::sync::atomic::AtomicBool,
    latencies: std::sync::Mutex<Vec<u32>>,
}

struct Inner {
    http: reqwest::Client,
    options: ClientOptions,
    token: Mutex<Option<CachedToken>>,
    generation: AtomicU64,
    stats: Stats,
}

/// The BT client. Cheap to clone; clones share the connection pool and the token.
#[derive(Clone)]
pub struct BtClient {
    inner: Arc<Inner>,
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
        Ok(BtClient {
            inner: Arc::new(Inner {
                http,
                options,
                token: Mutex::new(None),
                generation: AtomicU64::new(0),
                stats: Stats::default(),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.options.base_url
    }

    /// The pooled HTTP client, for calls outside BT's gateway conventions (sandbox admin).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
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

    /// Drops the cached token, so the next call fetches a new one.
    pub async fn forget_token(&self) {
        *self.inner.token.lock().await = None;
    }

    /// A valid bearer token: the cached one, or one fetched now. Concurrent callers wait on the
    /// same lock, so however many need a token at once, one request is sent.
    pub async fn token(&self) -> Result<(Secret, u64), ApiError> {
        let mut guard = self.inner.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if Instant::now() < t.refresh_after {
                return Ok((t.token.clone(), t.generation));
            }
        }
        let (token, expires_in) = self.fetch_token().await?;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *guard = Some(CachedToken {
            token: token.clone(),
            refresh_after: refresh_after(Instant::now(), expires_in),
            generation,
        });
        Ok((token, generation))
    }

    /// Forgets the token of `generation` if it is still the cached one (another caller may have
    /// refreshed it already, and that fresh token must be kept).
    async fn invalidate(&self, generation: u64) {
        let mut guard = self.inner.token.lock().await;
        if guard.as_ref().map(|t| t.generation) == Some(generation) {
            *guard = None;
        }
    }

    async fn fetch_token(&self) -> Result<(Secret, u64), ApiError> {
        const OP: &str = "get access token";
        let opts = &self.inner.options;
        if opts.credentials.client_key.is_empty() || opts.credentials.client_secret.is_empty() {
            return Err(ApiError::Refused {
                operation: OP.into(),
                detail: "no client key and secret configured (set BTW_CLIENT_KEY and BTW_CLIENT_SECRET, or the profile in btw.toml)".into(),
            });
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            opts.credentials.client_key,
            opts.credentials.client_secret.expose()
        ));
        let url = format!("{}/oauth/accesstoken", opts.base_url);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
            self.inner
                .stats
                .token_requests
                .fetch_add(1, Ordering::Relaxed);
            let sent = self
                .inner
                .http
                .get(&url)
                .query(&[("grant_type", "client_credentials")])
                .header("Authorization", format!("Basic {basic}"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
                .timeout(opts.call_timeout)
                .send()
                .await;
            let (bt, wait) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_redirection() {
                        let to = resp
                            .headers()
                            .get("location")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("?")
                            .to_string();
                        return Err(ApiError::Refused {
                            operation: OP.into(),
                            detail: format!(
                                "the token endpoint answered {} redirecting to {to}; redirects are not followed, so credentials never leave the configured host",
                                status.as_u16()
                            ),
                        });
                    }
                    let wait = retry_after(&resp);
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return parse_token(&text);
                    }
                    (BtError::from_body(OP, status.as_u16(), &text), wait)
                }
                Err(e) => {
                    let err = transport_error(OP, &url, &e, opts.call_timeout);
                    if attempt < opts.retry.max_attempts && started.elapsed() < opts.retry.total_cap
                    {
                        self.pause(attempt, None).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            if retryable_status(bt.status)
                && attempt < opts.retry.max_attempts
                && started.elapsed() < opts.retry.total_cap
            {
                self.pause(attempt, wait).await;
                continue;
            }
            return Err(ApiError::Bt(Box::new(bt)));
        }
    }

    async fn pause(&self, attempt: u32, retry_after: Option<Duration>) {
        self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        let backoff = self.inner.options.retry.backoff(attempt);
        let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
        tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
    }

    /// Sends `req` with a fresh tracking header and the bearer token; refreshes the token once on
    /// 401 code 42; retries safe calls on transient failures.
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
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let (token, generation) = self.token().await?;
            let tracking = uuid::Uuid::new_v4().to_string();
            let mut builder = self
                .inner
                .http
                .request(req.method.clone(), &url)
                .header("APIGW-Tracking-Header", &tracking)
                .header("Authorization", format!("Bearer {}", token.expose()))
                .header("Accept", "application/json")
                .timeout(opts.call_timeout);
            if !req.query.is_empty() {
                builder = builder.query(&req.query);
            }
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
            let call_started = Instant::now();
            match builder.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let header = |name: &str| {
                        resp.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    };
                    let total_count = header("x-total-count");
                    let result_count = header("x-result-count");
                    let wait = retry_after(&resp);
                    let text = resp.text().await;
                    self.note_latency(call_started);
                    let text = match text {
                        Ok(t) => t,
                        Err(e) => {
                            // Headers came, the body did not: BT processed the call.
                            return Err(ApiError::Transport {
                                operation: req.operation.into(),
                                url: url.clone(),
                                detail: format!("response body lost: {e}"),
                                maybe_sent: true,
                            });
                        }
                    };
                    tracing::debug!(
                        op = req.operation,
                        method = %req.method,
                        path = %req.path,
                        status = status.as_u16(),
                        ms = call_started.elapsed().as_millis() as u64,
                        tracking = %tracking,
                        "BT call"
                    );
                    if status.is_success() {
                        let body = if text.trim().is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).map_err(|e| ApiError::Decode {
                                operation: req.operation.into(),
                                detail: format!("body is not JSON ({e})"),
                            })?
                        };
                        return Ok(Page {
                            status: status.as_u16(),
                            body,
                            total_count,
                            result_count,
                        });
                    }
                    let bt = BtError::from_body(req.operation, status.as_u16(), &text);
                    if status == StatusCode::UNAUTHORIZED && bt.code == "42" && !refreshed {
                        // Expired under us (clock skew, revoked): one fresh token, one more try.
                        refreshed = true;
                        self.invalidate(generation).await;
                        continue;
                    }
                    if req.kind == Kind::Safe
                        && retryable_status(status.as_u16())
                        && attempt < opts.retry.max_attempts
                        && started.elapsed() < opts.retry.total_cap
                    {
                        self.pause(attempt, wait).await;
                        continue;
                    }
                    return Err(ApiError::Bt(Box::new(bt)));
                }
                Err(e) => {
                    self.note_latency(call_started);
                    let err = transport_error(req.operation, &url, &e, opts.call_timeout);
                    // A connect error means nothing was sent, so even a mutating call may go again.
                    let may_retry = req.kind == Kind::Safe || e.is_connect();
                    if may_retry
                        && attempt < opts.retry.max_attempts
                        && started.elapsed() < opts.retry.total_cap
                    {
                        self.pause(attempt, None).await;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }
}

fn parse_token(text: &str) -> Result<(Secret, u64), ApiError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ApiError::Decode {
        operation: "get access token".into(),
        detail: format!("body is not JSON ({e})"),
    })?;
    let token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Decode {
            operation: "get access token".into(),
            detail: "no accessToken in the answer".into(),
        })?;
    // BT documents seconds; accept a numeric string too.
    let expires_in = match v.get("expiresIn") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(899),
        Some(Value::String(s)) => s.parse().unwrap_or(899),
        _ => 899,
    };
    Ok((Secret::new(token), expires_in))
}

fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(300.0)))
}

fn transport_error(op: &str, url: &str, e: &reqwest::Error, timeout: Duration) -> ApiError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 1..10 {
            let d = p.backoff(retry);
            let ceiling = (p.base_delay * (1 << retry)).min(p.max_delay);
            assert!(d >= ceiling / 2 && d <= ceiling, "{retry}: {d:?}");
        }
    }

    #[test]
    fn token_body_is_parsed() {
        let (t, e) =
            parse_token(r#"{"accessToken":"abc","tokenType":"BearerToken","expiresIn":899}"#)
                .unwrap();
        assert_eq!(t.expose(), "abc");
        assert_eq!(e, 899);
        assert!(parse_token(r#"{"tokenType":"BearerToken"}"#).is_err());
    }

    #[test]
    fn only_transient_statuses_retry() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(!retryable_status(s));
        }
    }
}
