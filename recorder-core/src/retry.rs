//! One retry policy for everything that waits before trying again: a
//! camera's reconnects ([`BackoffConfig`](crate::source::BackoffConfig)) and
//! the S3 requests (`S3Config::retry`).
//!
//! The wait grows exponentially, from [`RetryPolicy::initial`] doubling up to
//! [`RetryPolicy::max`], and is jittered so that many clients that failed
//! together (cameras behind one switch, uploads to one store that came back)
//! do not retry in lockstep. [`RetryPolicy`] is the pure description;
//! [`RetryState`] counts the failures of one operation and draws the random
//! part.
//!
//! ```
//! use std::time::Duration;
//! use recorder_core::retry::{Jitter, RetryPolicy, RetryState};
//!
//! let policy = RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(1))
//!     .with_jitter(Jitter::None)
//!     .with_max_attempts(Some(3));
//! let mut state = RetryState::new(policy);
//! // Three attempts: two waits between them, then give up.
//! assert_eq!(state.next_delay(), Some(Duration::from_millis(100)));
//! assert_eq!(state.next_delay(), Some(Duration::from_millis(200)));
//! assert_eq!(state.next_delay(), None);
//! ```

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How the random part of a wait is drawn from its window `w` (the
/// exponential delay for that attempt).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `w`.
    None,
    /// Uniform in `[0, w)`: spreads retries the most (what reconnecting
    /// cameras use).
    #[default]
    Full,
    /// Uniform in `[w/2, w)`: spread, but never much quicker than the plain
    /// exponential cadence (what S3 requests use).
    Equal,
}

/// Exponential backoff with jitter and an optional attempt limit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The window of the first retry.
    pub initial: Duration,
    /// The largest window (the window doubles up to this).
    pub max: Duration,
    /// Attempts in all (the first one included) before giving up; `None`:
    /// retry for as long as the caller wants.
    pub max_attempts: Option<u32>,
    /// How the wait is drawn from the window.
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// A policy whose window starts at `initial` and doubles up to `max`,
    /// with [`Jitter::Full`] and no attempt limit.
    pub fn new(initial: Duration, max: Duration) -> Self {
        RetryPolicy {
            initial,
            max,
            max_attempts: None,
            jitter: Jitter::Full,
        }
    }

    /// Sets the attempt limit (`None`: none).
    pub fn with_max_attempts(mut self, max_attempts: Option<u32>) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The window of retry number `attempt` (0-based):
    /// `min(max, initial · 2^attempt)`, without overflow.
    pub fn window(&self, attempt: u32) -> Duration {
        self.initial
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The wait before retry number `attempt` (0-based) given a uniform
    /// random value `unit` in `[0, 1)` (clamped; not finite counts as 0).
    /// Pure, for callers that bring their own randomness.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let window = self.window(attempt);
        match self.jitter {
            Jitter::None => window,
            Jitter::Full => window.mul_f64(unit),
            Jitter::Equal => {
                let half = window / 2;
                half + (window - half).mul_f64(unit)
            }
        }
    }

    /// Whether another attempt is allowed after `failures` failed ones.
    pub fn allows_another(&self, failures: u32) -> bool {
        self.max_attempts.is_none_or(|m| failures < m)
    }
}

/// The failures of one operation under a [`RetryPolicy`].
#[derive(Debug)]
pub struct RetryState {
    policy: RetryPolicy,
    failures: u32,
    /// `None`: the thread's generator (no seeding syscall per operation).
    rng: Option<StdRng>,
}

impl RetryState {
    /// A fresh state (no failure yet) with the thread's random generator.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryState {
            policy,
            failures: 0,
            rng: None,
        }
    }

    /// A fresh state with a fixed seed, for reproducible tests.
    pub fn with_seed(policy: RetryPolicy, seed: u64) -> Self {
        RetryState {
            policy,
            failures: 0,
            rng: Some(StdRng::seed_from_u64(seed)),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Failures since the start or the last [`reset`](Self::reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A uniform random value in `[0, 1)` from this state's generator.
    pub fn unit(&mut self) -> f64 {
        match &mut self.rng {
            Some(r) => r.gen(),
            None => rand::thread_rng().gen(),
        }
    }

    /// Records a failure and returns how long to wait before the next
    /// attempt, or `None` when the policy's attempt limit is reached.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let attempt = self.failures;
        self.failures = self.failures.saturating_add(1);
        if !self.policy.allows_another(self.failures) {
            return None;
        }
        let unit = self.unit();
        Some(self.policy.delay(attempt, unit))
    }

    /// Records a failure without asking for a delay (the caller waits on a
    /// cadence of its own, e.g. after a configuration error).
    pub fn note_failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// Starts again from [`RetryPolicy::initial`].
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn jitter_kinds_stay_in_their_window() {
        let p = RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(30));
        assert_eq!(ms(p.window(0)), 200);
        assert_eq!(ms(p.window(3)), 1600);
        assert_eq!(ms(p.window(u32::MAX)), 30_000);
        let none = p.clone().with_jitter(Jitter::None);
        assert_eq!(ms(none.delay(2, 0.3)), 800);
        let equal = p.clone().with_jitter(Jitter::Equal);
        assert_eq!(ms(equal.delay(2, 0.0)), 400);
        assert_eq!(ms(equal.delay(2, 0.5)), 600);
        assert!(equal.delay(2, 0.999_999) < Duration::from_millis(800));
        assert_eq!(ms(p.delay(2, 0.5)), 400);
        assert_eq!(p.delay(2, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn attempt_limit_counts_the_first_attempt() {
        let p = RetryPolicy::new(Duration::from_millis(1), Duration::from_millis(4))
            .with_max_attempts(Some(5));
        let mut s = RetryState::with_seed(p, 9);
        let waits: Vec<_> = std::iter::from_fn(|| s.next_delay()).collect();
        assert_eq!(waits.len(), 4, "5 attempts: 4 waits");
        assert_eq!(s.failures(), 5);
        s.reset();
        assert!(s.next_delay().is_some());
        let mut forever = RetryState::new(RetryPolicy::new(Duration::ZERO, Duration::ZERO));
        assert!((0..1000).all(|_| forever.next_delay().is_some()));
    }
}
