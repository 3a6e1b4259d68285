//! When to ask Kontomatik about a redirection again.
//!
//! First check at least 5 minutes after creation, then every 5–10 minutes with jitter (asking
//! more often earns 429), never after the id's 24 h window. A sign-in still open half an hour
//! after its link's hour has been left at the bank (or Kontomatik keeps it open): from then on
//! it is checked hourly until the window's last hour (normal pace again), so an abandoned link
//! costs about 45 status calls, not 190, and a late success is still found and imported. The jitter is derived from the id and
//! the check count, so it spreads load like a random one but is reproducible in tests.

use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::domain::machine::status_window;
use crate::domain::{RedirectionId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    pub first_check_after: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// The last check is made this long before the id is forgotten, so a redirection that never
    /// reached a final status is closed while we still hold its item.
    pub last_check_margin: Duration,
    /// A redirection still open this long after it was made (its link's hour and a margin for
    /// a sign-in started late in it) is checked at the slow pace from then on.
    pub settled_after: Duration,
    /// The slow pace: checks this far apart (with the same jitter as the normal pace).
    pub settled_interval: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            first_check_after: Duration::minutes(5),
            min_interval: Duration::minutes(5),
            max_interval: Duration::minutes(10),
            last_check_margin: Duration::minutes(10),
            settled_after: crate::domain::machine::link_lifetime() + Duration::minutes(30),
            settled_interval: Duration::minutes(60),
        }
    }
}

impl Pacing {
    /// A number in [0, 1) that depends only on the id and how many checks were made.
    pub fn jitter(id: &RedirectionId, checks: u32) -> f64 {
        let mut h = Sha256::new();
        h.update(id.as_str().as_bytes());
        h.update(checks.to_be_bytes());
        let d = h.finalize();
        let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        f64::from(n) / (f64::from(u32::MAX) + 1.0)
    }

    /// The last moment a check may be made for a redirection created at `created_at`.
    pub fn last_check_at(&self, created_at: Timestamp) -> Timestamp {
        created_at + status_window() - self.last_check_margin
    }

    pub fn first_poll_at(&self, created_at: Timestamp) -> Timestamp {
        created_at + self.first_check_after
    }

    /// The next check after one made at `now`. Never past the window's last check: once that
    /// moment has come, the next visit is at once, and it closes the window (a redirection
    /// still open must not leave the poll index before it is final).
    pub fn next_poll_at(
        &self,
        id: &RedirectionId,
        created_at: Timestamp,
        checks: u32,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let spread = (self.max_interval - self.min_interval).num_milliseconds() as f64;
        let jitter = Duration::milliseconds((spread * Self::jitter(id, checks)) as i64);
        // The slow pace ends an hour before the last check, so the window's last hour is
        // checked at the normal pace and a late success is still asked about before closing.
        let slow = now >= created_at + self.settled_after
            && now < self.last_check_at(created_at) - self.settled_interval - self.max_interval;
        let wait = if slow {
            self.settled_interval + jitter
        } else {
            self.min_interval + jitter
        };
        self.clamp(created_at, now + wait)
    }

    /// The next check after a 429 or an outage: no sooner than `retry_after` asks, and never
    /// sooner than the normal pace.
    pub fn after_deferral(
        &self,
        id: &RedirectionId,
        created_at: Timestamp,
        checks: u32,
        now: Timestamp,
        retry_after: Option<Duration>,
    ) -> Option<Timestamp> {
        let paced = self.next_poll_at(id, created_at, checks.wrapping_add(1), now)?;
        let asked = now + retry_after.unwrap_or_else(Duration::zero);
        self.clamp(created_at, paced.max(asked))
    }

    /// `at`, but never past the window's last check. (`Some` always: the callers' events
    /// carry an optional next visit, and an open redirection always has one.)
    fn clamp(&self, created_at: Timestamp, at: Timestamp) -> Option<Timestamp> {
        Some(at.min(self.last_check_at(created_at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::machine::tests::t0;

    fn id(s: &str) -> RedirectionId {
        RedirectionId::parse(s).expect("id")
    }

    #[test]
    fn first_check_waits_five_minutes() {
        let p = Pacing::default();
        assert_eq!(p.first_poll_at(t0()) - t0(), Duration::minutes(5));
    }

    #[test]
    fn checks_are_5_to_10_minutes_apart_and_jittered() {
        let p = Pacing::default();
        let mut waits = vec![];
        for i in 0..200 {
            let now = t0() + Duration::minutes(30);
            let next = p
                .next_poll_at(&id(&format!("r{i}")), t0(), 3, now)
                .expect("inside window");
            let wait = next - now;
            assert!(wait >= Duration::minutes(5), "{wait}");
            assert!(wait <= Duration::minutes(10), "{wait}");
            waits.push(wait.num_seconds());
        }
        waits.sort_unstable();
        waits.dedup();
        assert!(waits.len() > 100, "jitter spreads the checks");
    }

    /// Every check an id that never reaches a final status gets over its window.
    fn checks_of_a_link_left_open(p: &Pacing, id: &RedirectionId) -> Vec<Timestamp> {
        let mut at = p.first_poll_at(t0());
        let mut checks = vec![];
        while at < p.last_check_at(t0()) {
            checks.push(at);
            let n = u32::try_from(checks.len()).expect("few");
            at = p.next_poll_at(id, t0(), n, at).expect("inside window");
        }
        checks.push(at);
        checks
    }

    #[test]
    fn a_link_left_open_is_checked_hourly_after_its_hour_and_a_margin() {
        let p = Pacing::default();
        let mut counts = vec![];
        for i in 0..50 {
            let checks = checks_of_a_link_left_open(&p, &id(&format!("open{i}")));
            // Within the link's hour and its margin: the normal pace, 5–10 minutes apart.
            let early: Vec<_> = checks
                .iter()
                .filter(|t| **t <= t0() + p.settled_after)
                .collect();
            assert!(early.len() >= 10, "{}", early.len());
            // After it: never more than 70 minutes apart, and the window is still closed.
            for pair in checks.windows(2) {
                assert!(pair[1] - pair[0] <= Duration::minutes(70));
            }
            assert_eq!(checks.last(), Some(&p.last_check_at(t0())));
            // The window's last hour is at the normal pace: a real check shortly before closing.
            let n = checks.len();
            assert!(checks[n - 1] - checks[n - 2] <= Duration::minutes(10));
            counts.push(checks.len());
        }
        counts.sort_unstable();
        // At the normal pace all day this was 150 to 280 calls per abandoned link.
        assert!(counts[counts.len() - 1] <= 50, "{counts:?}");
    }

    #[test]
    fn jitter_is_reproducible() {
        assert_eq!(Pacing::jitter(&id("a"), 1), Pacing::jitter(&id("a"), 1));
        assert_ne!(Pacing::jitter(&id("a"), 1), Pacing::jitter(&id("a"), 2));
    }

    #[test]
    fn no_check_after_the_window() {
        let p = Pacing::default();
        let last = p.last_check_at(t0());
        assert!(last < t0() + Duration::hours(24));
        let near = last - Duration::minutes(2);
        assert_eq!(p.next_poll_at(&id("a"), t0(), 100, near), Some(last));
        // A check answered at or after the last moment: the next visit is due at once (and
        // closes the window), never dropped.
        assert_eq!(p.next_poll_at(&id("a"), t0(), 100, last), Some(last));
        assert_eq!(
            p.next_poll_at(&id("a"), t0(), 100, t0() + Duration::hours(25)),
            Some(last)
        );
    }

    #[test]
    fn a_deferral_honours_retry_after_but_never_speeds_up() {
        let p = Pacing::default();
        let now = t0() + Duration::minutes(20);
        let long = p
            .after_deferral(&id("a"), t0(), 2, now, Some(Duration::minutes(30)))
            .expect("in window");
        assert_eq!(long - now, Duration::minutes(30));
        let short = p
            .after_deferral(&id("a"), t0(), 2, now, Some(Duration::seconds(1)))
            .expect("in window");
        assert!(short - now >= Duration::minutes(5));
    }
}
