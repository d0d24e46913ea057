//! RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.250Z`), written
//! straight into a buffer: the 24 h playlist writes one per fragment
//! (86 400), where a general formatter costs a large part of the budget.

use recorder_core::time::WallTime;

fn digits(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(buf[..width].iter().map(|&b| b as char));
}

/// Appends `t` (truncated to milliseconds) as RFC 3339 in UTC. The date
/// comes from the library's calendar ([`WallTime::to_utc`]); only the
/// digits are written here. Years outside 0..=9999 fall back to the
/// general formatter.
pub fn push_rfc3339(out: &mut String, t: WallTime) {
    let ms_of_day = t.0.div_euclid(1_000_000).rem_euclid(86_400_000) as u64;
    // Truncating to milliseconds never crosses midnight: `t`'s own date.
    let date = t.to_utc().date();
    let (y, m, d) = (date.year(), date.month(), date.day());
    if !(0..=9999).contains(&y) {
        out.push_str(&t.to_rfc3339());
        return;
    }
    digits(out, y as u64, 4);
    out.push('-');
    digits(out, m as u64, 2);
    out.push('-');
    digits(out, d as u64, 2);
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
