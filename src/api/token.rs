//! The OAuth token exchange: one token shared by every call, fetched once however many callers
//! need it at the same moment, retried like any safe call.

use super::auth::{refresh_after, CachedToken, Secret};
use super::client::{transport_error, BtClient};
use super::error::{ApiError, BtError};
use super::operation::Operation;
use super::retry::{retry_after, retryable_status, Failure};
use base64::Engine as _;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl BtClient {
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
    pub(super) async fn invalidate(&self, generation: u64) {
        let mut guard = self.inner.token.lock().await;
        if guard.as_ref().map(|t| t.generation) == Some(generation) {
            *guard = None;
        }
    }

    /// On the sandbox, the token is asked for on the shared clock (no clock header), whatever
    /// clock this client is on: one token serves every run of the process, and a run that moves
    /// its own clock days ahead must not expire it for the others.
    async fn fetch_token(&self) -> Result<(Secret, u64), ApiError> {
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
        opts.retry
            .run(
                || self.fetch_token_once(&url, &basic),
                |pause| self.note_retry(pause),
            )
            .await
    }

    /// One token request. A transport failure or a transient status may be retried: asking
    /// for a token changes nothing at BT.
    async fn fetch_token_once(&self, url: &str, basic: &str) -> Result<(Secret, u64), Failure> {
        let opts = &self.inner.options;
        let stats = &self.inner.stats;
        self.rate_turn().await;
        stats.calls.fetch_add(1, Ordering::Relaxed);
        stats.token_requests.fetch_add(1, Ordering::Relaxed);
        let tracking = uuid::Uuid::new_v4().to_string();
        let started = std::time::Instant::now();
        let request = self
            .inner
            .http
            .get(url)
            .query(&[("grant_type", "client_credentials")])
            .header("Authorization", format!("Basic {basic}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("APIGW-Tracking-Header", &tracking)
            .timeout(opts.call_timeout)
            .build();
        // Shown like any call (`-v`, `--trace-http`, `:last`): the recorder masks the Basic
        // credentials and the token in the answer.
        let mut record = request.as_ref().ok().and_then(|r| {
            let mut record = self.start_record(OP, "GET", r.url().as_str(), None, &tracking)?;
            record.request_headers = super::client::header_pairs(r.headers());
            self.recorder().sending(&record);
            Some(record)
        });
        let sent = match request {
            Ok(r) => self.inner.http.execute(r).await,
            Err(e) => Err(e),
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let error = transport_error(OP.as_str(), url, &e, opts.call_timeout);
                self.finish_record(record, started, |r| r.error = Some(error.to_string()));
                return Err(Failure {
                    error,
                    retryable: true,
                    retry_after: None,
                });
            }
        };
        let status = resp.status();
        super::client::log_call(
            OP.as_str(),
            "GET",
            "/oauth/accesstoken",
            status.as_u16(),
            started,
            &tracking,
        );
        if let Some(r) = record.as_mut() {
            r.status = Some(status.as_u16());
            r.response_headers = super::client::header_pairs(resp.headers());
        }
        if status.is_redirection() {
            let to = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_string();
            self.finish_record(record, started, |_| {});
            return Err(Failure::fatal(ApiError::Refused {
                operation: OP.into(),
                detail: format!(
                    "the token endpoint answered {} redirecting to {to}; redirects are not followed, so credentials never leave the configured host",
                    status.as_u16()
                ),
            }));
        }
        let wait = retry_after(&resp);
        self.note_status(status.as_u16(), wait);
        let text = resp.text().await.unwrap_or_default();
        self.finish_record(record, started, |r| {
            r.response_body = super::recorder::body_value(&text)
        });
        if status.is_success() {
            return parse_token(&text).map_err(Failure::fatal);
        }
        let bt = BtError::from_body(OP.as_str(), status.as_u16(), &text);
        Err(Failure {
            retryable: retryable_status(bt.status),
            retry_after: wait,
            error: ApiError::Bt(Box::new(bt)),
        })
    }
}

const OP: Operation = Operation::AccessToken;

fn parse_token(text: &str) -> Result<(Secret, u64), ApiError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ApiError::Decode {
        operation: OP.into(),
        detail: format!("body is not JSON ({e})"),
    })?;
    let token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Decode {
            operation: OP.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_body_is_parsed() {
        let (t, e) =
            parse_token(r#"{"accessToken":"abc","tokenType":"BearerToken","expiresIn":899}"#)
                .unwrap();
        assert_eq!(t.expose(), "abc");
        assert_eq!(e, 899);
        assert!(parse_token(r#"{"tokenType":"BearerToken"}"#).is_err());
    }
}
