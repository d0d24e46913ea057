//! Reconnect delays: exponential backoff with full jitter.
//!
//! Full jitter (a uniform delay in `[0, min(cap, base·2ⁿ))`) spreads
//! hundreds of cameras that lost the same switch over the whole window
//! instead of having them reconnect in lockstep. Configuration errors (a
//! wrong password) will not fix themselves in a second, and hammering a
//! camera with bad credentials can lock the account, so they use a slow,
//! separate cadence.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Backoff tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The window of the first retry.
    pub base: Duration,
    /// The largest window.
    pub cap: Duration,
    /// A session that stayed up this long counts as healthy: the next
    /// failure starts again from `base`. Short on purpose: cameras that
    /// drop every session after a few seconds (Tapo: ~15 s) must be
    /// reconnected at once every time, not at an ever slower pace.
    pub stable_after: Duration,
    /// Delay after a configuration error (401, 404, no usable stream).
    pub config_error_delay: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            stable_after: Duration::from_secs(2),
            config_error_delay: Duration::from_secs(60),
        }
    }
}

impl BackoffConfig {
    /// The delay for retry number `attempt` (0-based) given a uniform random
    /// value `unit` in `[0, 1)`. Pure, for callers that bring their own
    /// randomness.
    pub fn delay(&self, attempt: u32, unit: f64, config_error: bool) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if config_error {
            // ±10% so cameras sharing a misconfigured NVR do not retry in step.
            return self.config_error_delay.mul_f64(0.9 + 0.2 * unit);
        }
        let window = self
            .base
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.cap)
            .min(self.cap);
        window.mul_f64(unit)
    }
}

/// Backoff state for one camera.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff seeded from the OS.
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: StdRng::from_entropy(),
        }
    }

    /// A backoff with a fixed seed, for reproducible tests.
    pub fn with_seed(config: BackoffConfig, seed: u64) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Records a failure and returns how long to wait before reconnecting.
    pub fn next_delay(&mut self, config_error: bool) -> Duration {
        let unit: f64 = self.rng.gen();
        let d = self.config.delay(self.attempt, unit, config_error);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Records that a session ended after `uptime`; a long enough session
    /// resets the backoff so a camera that drops once a day reconnects at
    /// once.
    pub fn session_ended(&mut self, uptime: Duration) {
        if uptime >= self.config.stable_after {
            self.reset();
        }
    }

    /// Starts again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
