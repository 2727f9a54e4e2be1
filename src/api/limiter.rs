//! BT's rate limit, kept on our side: one limiter of calls per credential (every clone of a
//! client, on any sandbox clock, shares its client's), so every run of a process — and, with an
//! equal share each, every daemon on one store — stays inside the rate BT allows a credential.
//!
//! A token bucket (`per_sec` calls a second, bursts of up to `burst`), kept as the time the
//! bucket is next full (GCRA): a call reserves its turn at once and sleeps until then, so waiting
//! callers go in order and nothing spins. A 429 from BT pauses every caller for its
//! `Retry-After` and resumes at the steady rate, without a burst.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: calls a second, and how many may go at once after a quiet spell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_sec: f64,
    pub burst: u32,
}

/// The limiter of one credential's calls.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// This process's part of the limit: 1 alone, n when n daemons share the credential.
    share: u32,
    /// When the bucket is next full (the "theoretical arrival time"): a call may go once
    /// `tat - (burst - 1) × interval` has come.
    tat: Instant,
    /// No call goes before this (BT said 429 with `Retry-After`).
    paused_until: Option<Instant>,
}

/// How long a 429 without `Retry-After` pauses the calls.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        crate::metrics::rate_limit(limit.per_sec, 1);
        Limiter {
            limit,
            state: Mutex::new(State {
                share: 1,
                tat: Instant::now(),
                paused_until: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls a second this process may make now.
    pub fn rate(&self) -> f64 {
        self.limit.per_sec / self.state().share as f64
    }

    /// The limit as configured, before any sharing.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// `daemons` processes share the credential (counted from their heartbeats): each takes an
    /// equal share of the rate. Bursts are not divided: each is short, and BT's own limit is a
    /// rate.
    pub fn set_share(&self, daemons: usize) {
        let share = daemons.clamp(1, 10_000) as u32;
        let mut s = self.state();
        if s.share != share {
            s.share = share;
            crate::metrics::rate_limit(self.limit.per_sec / share as f64, share);
        }
    }

    /// How long the call asked for `now` must wait, its turn reserved.
    fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.state();
        let interval = Duration::from_secs_f64(s.share as f64 / self.limit.per_sec);
        let tau = interval * self.limit.burst.saturating_sub(1);
        let mut start = s.tat.checked_sub(tau).unwrap_or(now).max(now);
        if let Some(p) = s.paused_until {
            start = start.max(p);
        }
        s.tat = s.tat.max(start) + interval;
        start - now
    }

    /// Waits for this call's turn.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            crate::metrics::rate_waited(wait);
            tokio::time::sleep(wait).await;
        }
    }

    /// BT answered 429: nobody calls for `retry_after` (a second when BT gave none), then calls
    /// resume at the steady rate. True when this started a pause (one log line per pause).
    pub fn slow_down(&self, retry_after: Option<Duration>) -> bool {
        let now = Instant::now();
        let until = now + retry_after.unwrap_or(DEFAULT_PAUSE);
        let mut s = self.state();
        crate::metrics::rate_limited();
        let fresh = s.paused_until.is_none_or(|p| p <= now);
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
        // No burst after the pause: the bucket restarts empty.
        let interval = Duration::from_secs_f64(s.share as f64 / self.limit.per_sec);
        let tau = interval * self.limit.burst.saturating_sub(1);
        s.tat = s.tat.max(until + tau);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_sec: f64, burst: u32) -> Limiter {
        Limiter::new(RateLimit { per_sec, burst })
    }

    #[test]
    fn a_burst_goes_at_once_then_calls_are_spaced_by_the_rate() {
        let l = limiter(10.0, 3);
        let now = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| l.reserve(now)).collect();
        assert!(waits[..3].iter().all(|w| w.is_zero()), "{waits:?}");
        for (i, w) in waits[3..].iter().enumerate() {
            let want = Duration::from_millis(100 * (i as u64 + 1));
            assert!(w.abs_diff(want) < Duration::from_millis(2), "{waits:?}");
        }
    }

    #[test]
    fn sharing_divides_the_rate() {
        let l = limiter(10.0, 1);
        l.set_share(4);
        assert_eq!(l.rate(), 2.5);
        let now = Instant::now();
        assert!(l.reserve(now).is_zero());
        let next = l.reserve(now);
        assert!(next.abs_diff(Duration::from_millis(400)) < Duration::from_millis(2));
    }

    #[test]
    fn a_429_pauses_everyone_for_its_retry_after_then_no_burst() {
        let l = limiter(100.0, 10);
        assert!(l.slow_down(Some(Duration::from_secs(2))));
        assert!(!l.slow_down(Some(Duration::from_millis(500))), "one pause");
        let now = Instant::now();
        let first = l.reserve(now);
        assert!(first >= Duration::from_millis(1990), "{first:?}");
        let second = l.reserve(now);
        assert!(
            second >= first + Duration::from_millis(9),
            "{first:?} {second:?}"
        );
    }
}
