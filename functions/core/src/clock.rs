//! Time is injected: production reads the system clock, tests and the sandbox run on a simulated one
//! that only moves when told to, so 1 h link life and the 24 h window are tested in milliseconds.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until advanced. Clones share the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl SimClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// A fixed, readable start: 2026-11-02 09:00:00 UTC.
    pub fn at_default_start() -> Self {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        Self::new(start)
    }

    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        *now += by;
        *now
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means another thread panicked while holding a plain timestamp;
        // the value is still a valid time.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// A clock that runs `factor` times faster than real time from a starting point, for the local
/// run where a person wants to watch 1 h expiry happen in a minute.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    origin_real: DateTime<Utc>,
    origin_sim: DateTime<Utc>,
    factor: f64,
    offset: Arc<Mutex<Duration>>,
}

impl ScaledClock {
    pub fn new(factor: f64) -> Self {
        let now = Utc::now();
        Self {
            origin_real: now,
            origin_sim: now,
            factor: if factor.is_finite() && factor > 0.0 {
                factor
            } else {
                1.0
            },
            offset: Arc::new(Mutex::new(Duration::zero())),
        }
    }

    /// Jumps ahead by `by` on top of the scaled time (an operator's "skip ahead").
    pub fn advance(&self, by: Duration) {
        let mut off = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *off += by;
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = Utc::now() - self.origin_real;
        let scaled_ms = (real.num_milliseconds() as f64 * self.factor) as i64;
        let off = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        self.origin_sim + Duration::milliseconds(scaled_ms) + off
    }
}

/// Waiting between two polls. Production sleeps; tests move the simulated clock instead, so the
/// 2–5 s import polling costs no real time.
#[async_trait::async_trait]
pub trait Pause: Send + Sync + std::fmt::Debug {
    async fn pause(&self, d: std::time::Duration);
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioPause;

#[async_trait::async_trait]
impl Pause for TokioPause {
    async fn pause(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await;
    }
}

#[async_trait::async_trait]
impl Pause for SimClock {
    /// Moves the simulated clock by `d`, and lets a little real time pass (at most 25 ms) so
    /// that concurrent work in flight — another request saving its outcome — can finish, as it
    /// would during a real pause.
    async fn pause(&self, d: std::time::Duration) {
        self.advance(Duration::from_std(d).unwrap_or_else(|_| Duration::seconds(1)));
        tokio::time::sleep(d.min(std::time::Duration::from_millis(25))).await;
    }
}

/// Sleeps a scaled-down time (the local run's speed-up), while the scaled clock moves the
/// full amount.
#[derive(Debug, Clone, Copy)]
pub struct ScaledPause {
    pub factor: f64,
}

#[async_trait::async_trait]
impl Pause for ScaledPause {
    async fn pause(&self, d: std::time::Duration) {
        let f = if self.factor.is_finite() && self.factor > 0.0 {
            self.factor
        } else {
            1.0
        };
        tokio::time::sleep(d.div_f64(f)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_moves_only_when_advanced_and_clones_share_time() {
        let c = SimClock::at_default_start();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        let other = c.clone();
        other.advance(Duration::hours(1));
        assert_eq!(c.now() - t0, Duration::hours(1));
    }

    #[test]
    fn scaled_clock_runs_ahead_of_real_time() {
        let c = ScaledClock::new(60.0);
        let t0 = c.now();
        c.advance(Duration::minutes(5));
        assert!(c.now() - t0 >= Duration::minutes(5));
        assert_eq!(ScaledClock::new(f64::NAN).factor, 1.0);
    }
}
