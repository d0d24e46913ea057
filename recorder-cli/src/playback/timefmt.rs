//! RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.250Z`), written
//! straight into a buffer: the 24 h playlist writes one per fragment
//! (86 400), where a general formatter costs a large part of the budget.

use recorder_core::time::WallTime;

/// The calendar date of a day count since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn digits(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(buf[..width].iter().map(|&b| b as char));
}

/// Appends `t` (truncated to milliseconds) as RFC 3339 in UTC. Years
/// outside 0..=9999 fall back to the general formatter.
pub fn push_rfc3339(out: &mut String, t: WallTime) {
    let ms = t.0.div_euclid(1_000_000);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        out.push_str(&t.to_rfc3339());
        return;
    }
    let ms_of_day = ms_of_day as u64;
    digits(out, y as u64, 4);
    out.push('-');
    digits(out, u64::from(m), 2);
    out.push('-');
    digits(out, u64::from(d), 2);
    out.push('T');
    digits(out, ms_of_day / 3_600_000, 2);
    out.push(':');
    digits(out, ms_of_day / 60_000 % 60, 2);
    out.push(':');
    digits(out, ms_of_day / 1000 % 60, 2);
    out.push('.');
    digits(out, ms_of_day % 1000, 3);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(ns: i64) -> String {
        let mut s = String::new();
        push_rfc3339(&mut s, WallTime(ns));
        s
    }

    #[test]
    fn known_instants() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt(1_714_564_800_250_999_999), "2024-05-01T12:00:00.250Z");
        assert_eq!(fmt(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(fmt(-1), "1969-12-31T23:59:59.999Z");
    }

    proptest! {
        /// The same text as the library's general formatter.
        #[test]
        fn agrees_with_the_general_formatter(ns in i64::MIN..i64::MAX) {
            prop_assert_eq!(fmt(ns), WallTime(ns).to_rfc3339());
        }
    }
}
