//! Time: wall-clock instants, media ticks and their conversions.
//!
//! Media timestamps count ticks of a track's clock (`timescale` ticks per
//! second: 90 000 for RTP video, the sampling rate for audio); wall-clock
//! time is [`WallTime`], nanoseconds since the Unix epoch. Every conversion
//! between ticks, nanoseconds and other timescales goes through
//! [`rescale_i128`] and so follows one rule: **round to the nearest, halves
//! away from zero**. Rounding to nearest makes ticks → ns → ticks return the
//! same tick for every timescale up to 1 GHz (flooring loses one tick
//! whenever the nanosecond value is not exact, e.g. 1024 ticks at 48 kHz).
//!
//! Calendar dates and RFC 3339 text come from [`jiff`], always in UTC.

use std::fmt;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// `value * to / from`, rounded to the nearest integer with halves away
/// from zero. A `from` of 0 is treated as 1 (no clock runs at 0 Hz, and a
/// conversion must not panic on hostile input).
///
/// Exact for every `value * to` that fits an `i128`; callers saturate the
/// result into the width they store.
pub fn rescale_i128(value: i128, from: u32, to: u32) -> i128 {
    let from = i128::from(from.max(1));
    let n = value.saturating_mul(i128::from(to));
    let half = from / 2;
    // Halves away from zero: shift by half a unit towards the sign, then
    // truncate (Rust's `/` rounds towards zero).
    if n >= 0 {
        n.saturating_add(half) / from
    } else {
        n.saturating_sub(half) / from
    }
}

/// `ticks` of a `timescale` Hz clock in nanoseconds (rounded as
/// [`rescale_i128`] does).
pub fn ticks_to_ns(ticks: i128, timescale: u32) -> i128 {
    rescale_i128(ticks, timescale, NANOS_PER_SEC as u32)
}

/// `ns` nanoseconds in ticks of a `timescale` Hz clock (rounded as
/// [`rescale_i128`] does).
pub fn ns_to_ticks(ns: i128, timescale: u32) -> i128 {
    rescale_i128(ns, NANOS_PER_SEC as u32, timescale)
}

/// A non-negative `value` from one timescale to another (a track's ticks to
/// a movie's milliseconds, say), rounded as [`rescale_i128`] does and
/// saturating at `u64::MAX`.
pub fn rescale(value: u64, from: u32, to: u32) -> u64 {
    u64::try_from(rescale_i128(i128::from(value), from, to)).unwrap_or(u64::MAX)
}

/// A length of time in `timescale` ticks, rounded as [`rescale_i128`] does
/// and saturating at `i64::MAX`.
pub fn duration_to_ticks(d: std::time::Duration, timescale: u32) -> i64 {
    let ns = i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
    i64::try_from(ns_to_ticks(ns, timescale)).unwrap_or(i64::MAX)
}

/// Wall-clock time as nanoseconds since the Unix epoch (UTC).
///
/// Kept as a plain integer so the muxer never reads a clock: the source
/// decides what "now" was for each frame (RTCP sender report or arrival).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(pub i64);

impl WallTime {
    /// Seconds between the NTP era (1900) and the Unix epoch (1970).
    const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

    /// The time as a 64-bit NTP timestamp (32.32 fixed point since 1900).
    pub fn to_ntp(self) -> u64 {
        let secs = self.0.div_euclid(NANOS_PER_SEC) + Self::NTP_UNIX_OFFSET_SECS;
        let nanos = self.0.rem_euclid(NANOS_PER_SEC) as u64;
        ((secs as u64) << 32) | ((nanos << 32) / NANOS_PER_SEC as u64)
    }

    /// Converts a 64-bit NTP timestamp back to Unix nanoseconds.
    pub fn from_ntp(ntp: u64) -> Self {
        let secs = (ntp >> 32) as i64 - Self::NTP_UNIX_OFFSET_SECS;
        let frac = ntp & 0xffff_ffff;
        WallTime(secs * NANOS_PER_SEC + ((frac * NANOS_PER_SEC as u64) >> 32) as i64)
    }

    /// Whole seconds since the Unix epoch (floor).
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// This time plus `ticks` of a clock running at `timescale` Hz
    /// (rounded as [`rescale_i128`] does, saturating).
    pub fn add_ticks(self, ticks: i64, timescale: u32) -> Self {
        self.add_ns(ticks_to_ns(i128::from(ticks), timescale))
    }

    /// The system clock now.
    pub fn now() -> Self {
        let ns = jiff::Timestamp::now().as_nanosecond();
        WallTime(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// This time plus `ns` nanoseconds, saturating.
    pub fn add_ns(self, ns: i128) -> Self {
        let sum = i128::from(self.0).saturating_add(ns);
        WallTime(sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// The same instant as a [`jiff::Timestamp`] (every `i64` of
    /// nanoseconds is within its range).
    pub fn to_timestamp(self) -> jiff::Timestamp {
        jiff::Timestamp::from_nanosecond(i128::from(self.0))
            .expect("i64 nanoseconds are within jiff's range")
    }

    /// The UTC calendar date and time of day.
    pub fn to_utc(self) -> jiff::civil::DateTime {
        jiff::tz::Offset::UTC.to_datetime(self.to_timestamp())
    }

    /// RFC 3339 in UTC with milliseconds (truncated), e.g.
    /// `2024-05-01T12:00:00.250Z`: what object metadata carries.
    pub fn to_rfc3339(self) -> String {
        Rfc3339(self).to_string()
    }

    /// Parses an RFC 3339 timestamp (any offset; `None` if malformed or
    /// outside the range of [`WallTime`]).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let ts: jiff::Timestamp = s.parse().ok()?;
        i64::try_from(ts.as_nanosecond()).ok().map(WallTime)
    }
}

/// Formats a [`WallTime`] as RFC 3339 (see [`WallTime::to_rfc3339`])
/// without an intermediate `String`.
#[derive(Copy, Clone, Debug)]
pub struct Rfc3339(pub WallTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Floor to whole milliseconds first (in i128: flooring `i64::MIN`
        // leaves the i64 range), so the printer has no digits to round.
        let ns = i128::from(self.0 .0);
        let ms = jiff::Timestamp::from_nanosecond(ns - ns.rem_euclid(1_000_000))
            .expect("i64 nanoseconds are within jiff's range");
        write!(f, "{ms:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounding_is_to_nearest_halves_away_from_zero() {
        assert_eq!(rescale_i128(5, 10, 1), 1);
        assert_eq!(rescale_i128(-5, 10, 1), -1);
        assert_eq!(rescale_i128(4, 10, 1), 0);
        assert_eq!(rescale_i128(-4, 10, 1), 0);
        assert_eq!(rescale_i128(7, 0, 1), 7);
        // 20 ms at 8 kHz is 160 ticks even from a value a hair short.
        assert_eq!(ns_to_ticks(19_999_999, 8000), 160);
        // 1024 ticks at 48 kHz: 21 333 333.3 ns.
        assert_eq!(ticks_to_ns(1024, 48_000), 21_333_333);
        assert_eq!(ticks_to_ns(2048, 48_000), 42_666_667);
        assert_eq!(rescale(u64::MAX, 1, 1000), u64::MAX);
        assert_eq!(rescale(1500, 90_000, 1000), 17);
        assert_eq!(
            duration_to_ticks(std::time::Duration::from_millis(40), 90_000),
            3600
        );
        assert_eq!(
            duration_to_ticks(std::time::Duration::MAX, 90_000),
            i64::MAX
        );
    }

    #[test]
    fn wall_time_arithmetic() {
        assert_eq!(WallTime(10).add_ticks(1, 90_000), WallTime(11_121));
        assert_eq!(WallTime(i64::MAX).add_ns(1), WallTime(i64::MAX));
        let t = WallTime(1_714_564_800_250_000_000);
        assert_eq!(WallTime::from_ntp(t.to_ntp()).0 / 1000, t.0 / 1000);
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(WallTime(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            WallTime(1_714_564_800_250_000_000).to_rfc3339(),
            "2024-05-01T12:00:00.250Z"
        );
        assert_eq!(
            WallTime(1_714_564_800_999_999_999).to_rfc3339(),
            "2024-05-01T12:00:00.999Z"
        );
        assert_eq!(WallTime(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(WallTime(i64::MIN).to_rfc3339(), "1677-09-21T00:12:43.145Z");
    }

    #[test]
    fn rfc3339_roundtrip_and_errors() {
        for t in [
            0i64,
            1_714_564_800_250_000_000,
            951_782_400_000_000_000,
            -1_000_000,
        ] {
            let s = WallTime(t).to_rfc3339();
            assert_eq!(WallTime::parse_rfc3339(&s), Some(WallTime(t)), "{s}");
        }
        assert_eq!(
            WallTime::parse_rfc3339("2024-05-01T14:00:00.250+02:00"),
            Some(WallTime(1_714_564_800_250_000_000))
        );
        assert_eq!(WallTime::parse_rfc3339("garbage"), None);
        assert_eq!(WallTime::parse_rfc3339("9999-01-01T00:00:00Z"), None);
    }

    #[test]
    fn utc_calendar() {
        let c = WallTime(-1).to_utc();
        assert_eq!(
            (
                c.year(),
                c.month(),
                c.day(),
                c.hour(),
                c.minute(),
                c.second()
            ),
            (1969, 12, 31, 23, 59, 59)
        );
    }

    proptest! {
        #[test]
        fn ticks_round_trip_through_ns(ticks in -(1i64 << 52)..(1i64 << 52), ts in 1u32..=1_000_000_000) {
            let ns = ticks_to_ns(i128::from(ticks), ts);
            prop_assert_eq!(ns_to_ticks(ns, ts), i128::from(ticks));
        }

        #[test]
        fn rescale_never_panics(v in any::<i128>(), a in any::<u32>(), b in any::<u32>()) {
            let _ = rescale_i128(v, a, b);
        }
    }
}
