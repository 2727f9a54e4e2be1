//! The sandbox clocks: simulated UTC time that runs at a configurable speed and can be advanced.
//!
//! `now = base + real elapsed since rebase × speed`. Advancing moves `base`; changing speed
//! rebases first so time never jumps. The clock serialises as a [`ClockSnapshot`] (the simulated
//! instant and the speed), so a persisted sandbox resumes from where its clock was.
//!
//! That clock is the shared one. A [`RunClock`] belongs to one run: it reads the shared now plus
//! its own offset, so advancing it moves only what was made on it (CONTRACT.md: Clocks).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Highest accepted speed factor (a million times real time).
pub const MAX_SPEED: f64 = 1_000_000.0;

/// What a clock looks like on disk: the simulated time, the speed, and the real time it was
/// taken at. Restoring it lets the clock run on at its speed for the time it was stored, so
/// manual advances stay in force and a real-time clock stays on real time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockSnapshot {
    pub now: DateTime<Utc>,
    pub speed: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<DateTime<Utc>>,
}

/// Simulated time; see the module docs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "ClockSnapshot", into = "ClockSnapshot")]
pub struct Clock {
    base: DateTime<Utc>,
    started: Instant,
    speed: f64,
}

fn sane_speed(speed: f64) -> f64 {
    if speed.is_finite() {
        speed.clamp(0.0, MAX_SPEED)
    } else {
        1.0
    }
}

impl Clock {
    /// A clock at real time now, running at `speed`.
    pub fn new(speed: f64) -> Self {
        Self::starting_at(Utc::now(), speed)
    }

    /// A clock that reads `now` at this instant and runs at `speed`.
    pub fn starting_at(now: DateTime<Utc>, speed: f64) -> Self {
        Clock {
            base: now,
            started: Instant::now(),
            speed: sane_speed(speed),
        }
    }

    /// The current sandbox time.
    pub fn now(&self) -> DateTime<Utc> {
        let simulated = self.started.elapsed().as_secs_f64() * self.speed;
        let micros = (simulated * 1_000_000.0).min(i64::MAX as f64 / 2.0) as i64;
        self.base
            .checked_add_signed(Duration::microseconds(micros))
            .unwrap_or(self.base)
    }

    /// Moves the clock forward (or back, for a negative duration).
    pub fn advance(&mut self, by: Duration) {
        if let Some(t) = self.base.checked_add_signed(by) {
            self.base = t;
        }
    }

    /// Changes the speed from now on; time read so far is kept.
    pub fn set_speed(&mut self, speed: f64) {
        self.base = self.now();
        self.started = Instant::now();
        self.speed = sane_speed(speed);
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn snapshot(&self) -> ClockSnapshot {
        ClockSnapshot {
            now: self.now(),
            speed: self.speed,
            taken_at: Some(Utc::now()),
        }
    }
}

impl From<ClockSnapshot> for Clock {
    fn from(s: ClockSnapshot) -> Self {
        let mut clock = Clock::starting_at(s.now, s.speed);
        if let Some(taken) = s.taken_at {
            let stored = (Utc::now() - taken).num_milliseconds().max(0) as f64 / 1000.0;
            let catch_up = (stored * clock.speed).min(10.0 * 366.0 * 86_400.0);
            clock.advance(secs_f64(catch_up));
        }
        clock
    }
}

impl From<Clock> for ClockSnapshot {
    fn from(c: Clock) -> Self {
        c.snapshot()
    }
}

/// Converts fractional seconds to a chrono duration (non-finite or negative → zero).
pub fn secs_f64(secs: f64) -> Duration {
    if !secs.is_finite() || secs <= 0.0 {
        return Duration::zero();
    }
    let micros = (secs * 1_000_000.0).min(1e17) as i64;
    Duration::microseconds(micros)
}

/// A run's clock: the shared clock's now plus an offset that only grows, so it runs at the shared
/// clock's speed and moves ahead only when its own run asks it to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunClock {
    /// How far ahead of the shared clock it is, in microseconds (never negative).
    pub offset_micros: i64,
    /// Real time it was last named by a request or an admin call, for retention.
    pub last_used: DateTime<Utc>,
}

/// Largest offset a run clock may hold: a thousand years (far inside chrono's range).
const MAX_OFFSET_MICROS: i64 = 1_000 * 366 * 86_400 * 1_000_000;

impl RunClock {
    /// A clock at the shared now, used at `now` (real time).
    pub fn new(now: DateTime<Utc>) -> Self {
        RunClock {
            offset_micros: 0,
            last_used: now,
        }
    }

    pub fn offset(&self) -> Duration {
        Duration::microseconds(self.offset_micros.clamp(0, MAX_OFFSET_MICROS))
    }

    /// Moves it `by` ahead (a negative or zero duration does nothing).
    pub fn advance(&mut self, by: Duration) {
        if by <= Duration::zero() {
            return;
        }
        let micros = by.num_microseconds().unwrap_or(MAX_OFFSET_MICROS).max(0);
        self.offset_micros = self
            .offset_micros
            .saturating_add(micros)
            .clamp(0, MAX_OFFSET_MICROS);
    }

    /// What it reads when the shared clock reads `shared`.
    pub fn now(&self, shared: DateTime<Utc>) -> DateTime<Utc> {
        shared.checked_add_signed(self.offset()).unwrap_or(shared)
    }
}

/// Whether `id` may name a run clock: 1–64 of `[A-Za-z0-9._:-]`.
pub fn valid_clock_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Every clock's now, read once (a tick or a check judges all objects at the same instant): the
/// shared clock's, and each live run clock's that is ahead of it. An object on a clock that is
/// gone, or still at the shared now, reads the shared.
#[derive(Debug, Clone)]
pub struct Nows {
    pub shared: DateTime<Utc>,
    pub runs: std::collections::BTreeMap<String, DateTime<Utc>>,
}

impl Nows {
    /// The shared clock alone at `now`.
    pub fn shared(now: DateTime<Utc>) -> Self {
        Nows {
            shared: now,
            runs: Default::default(),
        }
    }

    /// The now of the clock an object was made on (`None`: the shared clock).
    pub fn of(&self, clock: Option<&str>) -> DateTime<Utc> {
        clock
            .and_then(|c| self.runs.get(c))
            .copied()
            .unwrap_or(self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_speed() {
        let t0 = "2026-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut c = Clock::starting_at(t0, 0.0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::hours(2));
        assert_eq!(c.now(), t0 + Duration::hours(2));
        c.set_speed(f64::NAN);
        assert_eq!(c.speed(), 1.0);
        c.set_speed(1e12);
        assert_eq!(c.speed(), MAX_SPEED);
    }

    #[test]
    fn snapshot_round_trip() {
        let t0 = "2026-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let c = Clock::starting_at(t0, 0.0);
        let json = serde_json::to_string(&c).unwrap();
        let back: Clock = serde_json::from_str(&json).unwrap();
        assert_eq!(back.now(), t0);
        assert_eq!(back.speed(), 0.0);
    }

    #[test]
    fn a_stored_clock_runs_on_at_its_speed() {
        let taken = Utc::now() - Duration::hours(1);
        let t0 = "2026-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let back = Clock::from(ClockSnapshot {
            now: t0,
            speed: 1.0,
            taken_at: Some(taken),
        });
        let drift = (back.now() - (t0 + Duration::hours(1))).num_seconds().abs();
        assert!(drift < 5, "{drift}");
    }

    #[test]
    fn run_clocks_only_move_forward() {
        let t0 = "2026-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut c = RunClock::new(t0);
        assert_eq!(c.now(t0), t0);
        c.advance(Duration::hours(-3));
        assert_eq!(c.now(t0), t0);
        c.advance(Duration::days(4));
        assert_eq!(c.now(t0), t0 + Duration::days(4));
        c.advance(Duration::MAX);
        assert!(c.now(t0) > t0);
        assert!(valid_clock_id("run-1.a_b:c") && valid_clock_id(&"x".repeat(64)));
        assert!(!valid_clock_id("") && !valid_clock_id(&"x".repeat(65)));
        assert!(!valid_clock_id("a b") && !valid_clock_id("a/b") && !valid_clock_id("é"));
    }

    #[test]
    fn secs_conversion() {
        assert_eq!(secs_f64(2.5), Duration::milliseconds(2500));
        assert_eq!(secs_f64(-1.0), Duration::zero());
        assert_eq!(secs_f64(f64::INFINITY), Duration::zero());
    }
}
