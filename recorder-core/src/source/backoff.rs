//! Reconnect delays: exponential backoff with full jitter, on the shared
//! [`RetryPolicy`].
//!
//! Full jitter (a uniform delay in `[0, min(cap, base·2ⁿ))`) spreads
//! hundreds of cameras that lost the same switch over the whole window
//! instead of having them reconnect in lockstep. Configuration errors (a
//! wrong password) will not fix themselves in a second, and hammering a
//! camera with bad credentials can lock the account, so they use a slow,
//! separate cadence.

use std::time::Duration;

use crate::retry::{Jitter, RetryPolicy, RetryState};

/// Backoff tuning: the shared [`RetryPolicy`] plus what only reconnects
/// need (a reset after a stable session, a slow cadence for configuration
/// errors).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The exponential part: window of the first retry (`initial`), largest
    /// window (`max`), jitter. Its `max_attempts` is not used: a camera is
    /// reconnected for as long as it is configured.
    pub retry: RetryPolicy,
    /// A session that stayed up this long counts as healthy: the next
    /// failure starts again from `retry.initial`. Short on purpose: cameras
    /// that drop every session after a few seconds (Tapo: ~15 s) must be
    /// reconnected at once every time, not at an ever slower pace.
    pub stable_after: Duration,
    /// Delay after a configuration error (401, 404, no usable stream).
    pub config_error_delay: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            retry: RetryPolicy::new(Duration::from_millis(500), Duration::from_secs(30))
                .with_jitter(Jitter::Full),
            stable_after: Duration::from_secs(2),
            config_error_delay: Duration::from_secs(60),
        }
    }
}

impl BackoffConfig {
    /// Sets the exponential part.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how long a session must last to reset the backoff.
    pub fn with_stable_after(mut self, stable_after: Duration) -> Self {
        self.stable_after = stable_after;
        self
    }

    /// Sets the delay after a configuration error.
    pub fn with_config_error_delay(mut self, delay: Duration) -> Self {
        self.config_error_delay = delay;
        self
    }

    /// The delay for retry number `attempt` (0-based) given a uniform random
    /// value `unit` in `[0, 1)`. Pure, for callers that bring their own
    /// randomness.
    pub fn delay(&self, attempt: u32, unit: f64, config_error: bool) -> Duration {
        if config_error {
            let unit = if unit.is_finite() {
                unit.clamp(0.0, 1.0)
            } else {
                0.0
            };
            // ±10% so cameras sharing a misconfigured NVR do not retry in step.
            // Saturates: `mul_f64` panics past `Duration::MAX`.
            let secs = self.config_error_delay.as_secs_f64() * (0.9 + 0.2 * unit);
            return Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        }
        self.retry.delay(attempt, unit)
    }
}

/// Backoff state for one camera.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    state: RetryState,
}

impl Backoff {
    /// A backoff with the thread's random generator.
    pub fn new(config: BackoffConfig) -> Self {
        let state = RetryState::new(Self::unlimited(&config));
        Backoff { config, state }
    }

    /// A backoff with a fixed seed, for reproducible tests.
    pub fn with_seed(config: BackoffConfig, seed: u64) -> Self {
        let state = RetryState::with_seed(Self::unlimited(&config), seed);
        Backoff { config, state }
    }

    fn unlimited(config: &BackoffConfig) -> RetryPolicy {
        config.retry.clone().with_max_attempts(None)
    }

    /// The configuration.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.state.failures()
    }

    /// Records a failure and returns how long to wait before reconnecting.
    pub fn next_delay(&mut self, config_error: bool) -> Duration {
        if config_error {
            let unit = self.state.unit();
            self.state.note_failure();
            return self.config.delay(0, unit, true);
        }
        // Unlimited policy: always a delay.
        self.state.next_delay().unwrap_or(self.config.retry.max)
    }

    /// Records that a session ended after `uptime`; a long enough session
    /// resets the backoff so a camera that drops once a day reconnects at
    /// once.
    pub fn session_ended(&mut self, uptime: Duration) {
        if uptime >= self.config.stable_after {
            self.reset();
        }
    }

    /// Starts again from `retry.initial`.
    pub fn reset(&mut self) {
        self.state.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_config_error_delay_saturates() {
        let cfg = BackoffConfig {
            config_error_delay: Duration::MAX,
            ..BackoffConfig::default()
        };
        assert_eq!(cfg.delay(0, 0.99, true), Duration::MAX);
    }

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn windows_double_up_to_cap() {
        let c = BackoffConfig::default();
        // unit just below 1 gives (almost) the full window.
        let top = |n| ms(c.delay(n, 0.999_999, false));
        assert_eq!(top(0), 499);
        assert_eq!(top(1), 999);
        assert_eq!(top(2), 1999);
        assert_eq!(top(5), 15_999);
        assert_eq!(top(6), 29_999);
        assert_eq!(top(7), 29_999);
        assert_eq!(top(40), 29_999);
        assert_eq!(top(u32::MAX), 29_999);
        assert_eq!(c.delay(3, 0.0, false), Duration::ZERO);
        assert_eq!(ms(c.delay(3, 0.5, false)), 2000);
    }

    #[test]
    fn bad_random_values_are_clamped() {
        let c = BackoffConfig::default();
        assert_eq!(c.delay(0, f64::NAN, false), Duration::ZERO);
        assert_eq!(c.delay(0, -3.0, false), Duration::ZERO);
        assert_eq!(ms(c.delay(0, 7.0, false)), 500);
    }

    #[test]
    fn config_errors_use_slow_cadence() {
        let c = BackoffConfig::default();
        assert_eq!(ms(c.delay(0, 0.0, true)), 54_000);
        assert_eq!(ms(c.delay(0, 0.5, true)), 60_000);
        assert_eq!(ms(c.delay(9, 1.0, true)), 66_000);
    }

    #[test]
    fn seeded_sequence_is_reproducible_and_bounded() {
        let mut a = Backoff::with_seed(BackoffConfig::default(), 7);
        let mut b = Backoff::with_seed(BackoffConfig::default(), 7);
        for n in 0..20u32 {
            let da = a.next_delay(false);
            assert_eq!(da, b.next_delay(false));
            let window = Duration::from_millis(500)
                .saturating_mul(1 << n.min(20))
                .min(Duration::from_secs(30));
            assert!(da < window, "attempt {n}: {da:?} >= {window:?}");
        }
        assert_eq!(a.attempts(), 20);
    }

    /// Regression (found by the e2e Tapo test): with a 30 s threshold a
    /// camera that drops every 15 s never counted as healthy, so each
    /// reconnect waited longer, up to 30 s of lost video per drop.
    #[test]
    fn tapo_style_drops_reconnect_quickly_forever() {
        let mut b = Backoff::with_seed(BackoffConfig::default(), 3);
        for _ in 0..50 {
            b.session_ended(Duration::from_secs(15));
            assert!(b.next_delay(false) < Duration::from_millis(500));
        }
    }

    #[test]
    fn stable_session_resets() {
        let mut b = Backoff::with_seed(BackoffConfig::default(), 1);
        for _ in 0..5 {
            b.next_delay(false);
        }
        b.session_ended(Duration::from_millis(1500));
        assert_eq!(b.attempts(), 5, "a short session keeps backing off");
        b.session_ended(Duration::from_secs(2));
        assert_eq!(b.attempts(), 0);
        assert!(b.next_delay(false) < Duration::from_millis(500));
    }
}
