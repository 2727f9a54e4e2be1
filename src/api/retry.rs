//! When and how long to wait before calling BT again: the one retry policy every call shares,
//! driven by `backon` (exponential backoff with jitter, capped in count and total time, and
//! never shorter than the `Retry-After` BT asked for).

use super::error::ApiError;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::{Duration, Instant};

/// How safe calls are retried: exponential backoff with jitter, capped in count and total time.
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

    /// The pauses between attempts. backon's jitter adds up to the pause again, so the ceiling
    /// it grows to is half of `max_delay`: every pause stays within `base_delay..=max_delay`,
    /// gaps still grow, and concurrent clients spread out.
    fn backoff(&self) -> ExponentialBuilder {
        let base = self.base_delay.min(self.max_delay);
        ExponentialBuilder::new()
            .with_min_delay(base)
            .with_max_delay((self.max_delay / 2).max(base))
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy runs out. `on_retry` is
    /// told of every retry before its pause.
    pub(crate) async fn run<T, Fut>(
        &self,
        attempt: impl FnMut() -> Fut,
        mut on_retry: impl FnMut(Duration),
    ) -> Result<T, ApiError>
    where
        Fut: Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        let cap = self.total_cap;
        attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| f.retryable && started.elapsed() < cap)
            // BT's Retry-After is a floor: never call again sooner than asked.
            .adjust(|f, pause| pause.map(|p| f.retry_after.map_or(p, |ra| ra.max(p))))
            .notify(|_, pause| on_retry(pause))
            .await
            .map_err(|f| f.error)
    }
}

/// A failed attempt, and whether another may be made.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ApiError,
    pub retryable: bool,
    /// BT's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure no retry can mend.
    pub fn fatal(error: ApiError) -> Self {
        Failure {
            error,
            retryable: false,
            retry_after: None,
        }
    }
}

/// Statuses that say "try again later" rather than "no".
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The `Retry-After` header in seconds (BT sends delta-seconds), bounded to five minutes.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(300.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn pauses_grow_within_bounds_and_are_counted() {
        let p = RetryPolicy::default();
        let pauses: Vec<Duration> = p.backoff().build().collect();
        assert_eq!(pauses.len(), p.max_attempts as usize - 1);
        for (i, d) in pauses.iter().enumerate() {
            assert!(*d >= p.base_delay && *d <= p.max_delay, "pause {i}: {d:?}");
        }
        assert_eq!(RetryPolicy::none().backoff().build().count(), 0);
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

    #[tokio::test]
    async fn retry_after_is_a_floor_and_fatal_stops_at_once() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let mut pauses = Vec::new();
        let r: Result<(), ApiError> = p
            .run(
                || {
                    calls += 1;
                    let first = calls == 1;
                    async move {
                        Err(Failure {
                            error: ApiError::Cancelled {
                                operation: "x".into(),
                            },
                            retryable: first,
                            retry_after: Some(Duration::from_millis(30)),
                        })
                    }
                },
                |pause| pauses.push(pause),
            )
            .await;
        assert!(r.is_err());
        assert_eq!(pauses, vec![Duration::from_millis(30)]);
    }
}
