//! Human durations on the command line: `15m`, `30s`, `1h30m`, `500ms`, `90`.
//!
//! `humantime` reads them; what earlier versions accepted beyond it (bare
//! seconds, fractions such as `2.5s`) still works. Units stop at hours:
//! days and longer make no sense for segments or timeouts, and `M` would
//! be months where `m` is minutes.

use std::time::Duration;

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
            Ok(Duration::from_secs_f64(secs))
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
        total = total.checked_add(unit.mul_f64(n))?;
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
}
