//! Human durations on the command line: `15m`, `30s`, `1h30m`, `500ms`, `90`.
//!
//! `humantime` reads them; what earlier versions accepted beyond it (bare
//! seconds, fractions such as `2.5s`) still works. Units stop at hours:
//! days and longer make no sense for segments or timeouts, and `M` would
//! be months where `m` is minutes.

use std::time::Duration;

pub use recorder_cli::config::limits::{Bounds, ANY, FRAGMENT, SEGMENT, STALL_TIMEOUT};

/// `--segment`: a duration in [`SEGMENT`].
pub fn segment(s: &str) -> Result<Duration, String> {
    parse_within(s, SEGMENT)
}

/// `--fragment`: a duration in [`FRAGMENT`].
pub fn fragment(s: &str) -> Result<Duration, String> {
    parse_within(s, FRAGMENT)
}

/// `--stall-timeout`: a duration in [`STALL_TIMEOUT`].
pub fn stall_timeout(s: &str) -> Result<Duration, String> {
    parse_within(s, STALL_TIMEOUT)
}

/// `--thumbnail-interval`: a duration in 1 s to 24 h.
pub fn thumbnail_interval(s: &str) -> Result<Duration, String> {
    parse_within(s, recorder_cli::config::thumbnails::INTERVAL)
}

/// Any other duration flag: a duration in [`ANY`].
pub fn any(s: &str) -> Result<Duration, String> {
    parse_within(s, ANY)
}

/// Parses `s` and checks it against `b`, naming the range when it misses.
pub fn parse_within(s: &str, b: Bounds) -> Result<Duration, String> {
    let d = parse(s)?;
    if b.contains(d) {
        Ok(d)
    } else {
        Err(format!(
            "{:?} is out of range: allowed {}",
            s.trim(),
            b.describe()
        ))
    }
}

/// The units accepted, as `humantime` spells them (milliseconds to hours).
const UNITS: &[&str] = &[
    "ms", "msec", "millis", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute",
    "minutes", "h", "hr", "hrs", "hour", "hours",
];

/// Parses `1h30m`, `15m`, `30s`, `500ms`, `2.5s`, or bare seconds.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. 15m, 30s or 1h".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            // Saturating: too large for a Duration is simply out of every range.
            Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
        } else {
            Err(format!("{s:?} is not a duration"))
        };
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "{s:?}: expected a number before {s:?} (e.g. 15m, 30s, 1h30m)"
        ));
    }
    if let Some(u) = s
        .split(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
        .find(|u| !u.is_empty() && !UNITS.contains(u))
    {
        return Err(format!("{s:?}: unknown unit {u:?}; use h, m, s or ms"));
    }
    humantime::parse_duration(s)
        .ok()
        .or_else(|| with_fractions(s))
        .ok_or_else(|| format!("{s:?} is not a duration; write e.g. 15m, 30s or 1h30m"))
}

/// `2.5s`, `1.5h30m`: humantime takes whole numbers only, so each part's
/// unit is measured by humantime and scaled here.
fn with_fractions(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| num_end + i);
        let n: f64 = rest[..num_end].parse().ok()?;
        let unit =
            humantime::parse_duration(&format!("1{}", rest[num_end..unit_end].trim())).ok()?;
        // `mul_f64` panics on overflow; a value that large saturates and
        // then fails the caller's range check instead.
        let part = Duration::try_from_secs_f64(unit.as_secs_f64() * n).unwrap_or(Duration::MAX);
        total = total.saturating_add(part);
        rest = rest[unit_end..].trim_start();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2.5s"), Ok(Duration::from_millis(2500)));
    }

    #[test]
    fn earlier_inputs_still_parse() {
        for (s, want) in [
            ("15min", 900_000),
            ("1h30m15s", 5_415_000),
            ("1.5h", 5_400_000),
            ("0.5m", 30_000),
            ("1.5h30m", 7_200_000),
            ("10s", 10_000),
            ("0", 0),
            ("0.1", 100),
            (" 30s ", 30_000),
        ] {
            assert_eq!(parse(s), Ok(Duration::from_millis(want)), "{s}");
        }
        // humantime's spellings come along.
        assert_eq!(parse("1h 30min"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2 minutes"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        assert!(parse("").unwrap_err().contains("15m"));
        assert!(parse("5 weeks").is_err());
        assert!(parse("m").unwrap_err().contains("expected a number"));
        assert!(parse("-3").is_err());
        assert!(parse("3M").unwrap_err().contains("unknown unit"));
        assert!(parse("1d").is_err());
        assert!(parse("1..5s").is_err());
    }

    #[test]
    fn huge_values_saturate_and_fail_the_range_not_panic() {
        for s in [
            "1e300",
            "1e19",
            "99999999999999999999h",
            "1e30",
            "18446744073709551616s",
        ] {
            let d = parse(s).unwrap();
            assert!(!SEGMENT.contains(d), "{s}");
            let e = segment(s).unwrap_err();
            assert!(e.contains("1 s to 24 h"), "{e}");
        }
        assert!(fragment("61s").unwrap_err().contains("100 ms to 60 s"));
        assert!(stall_timeout("2h").unwrap_err().contains("1 s to 1 h"));
        assert_eq!(segment("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(fragment("0.1"), Ok(Duration::from_millis(100)));
        assert!(fragment("0").is_err());
        assert!(any("NaN").is_err());
        assert!(any("inf").is_err());
        assert!(any("-1s").is_err());
    }
}
