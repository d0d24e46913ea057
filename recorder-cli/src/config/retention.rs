//! `[retention]` and the per-camera `retention_*` keys: sizes (`500GiB`),
//! ages (`30d`), and the library's [`RetentionPolicy`] built from them.

use std::time::Duration;

use recorder_core::retention::{Limits, RetentionPolicy};
use recorder_core::sink::sanitize_camera_id;

use super::file::{FileConfig, FileCtx};
use super::origin::{err, ConfigError, Origin, Val};
use super::Flags;

/// Longest age accepted: 100 years (far beyond any use, far below where
/// time arithmetic overflows).
const MAX_AGE: Duration = Duration::from_secs(100 * 366 * 86_400);

/// `500GiB`, `5 GB`, `1.5TiB`, `800M`, `1048576` (bytes): binary units
/// (`KiB` … `TiB`, and `K` `M` `G` `T`) count 1024s, decimal ones (`KB` …
/// `TB`) 1000s. Case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{t:?} is not a size; write e.g. 500GiB, 5GB or 800MiB"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => {
            return Err(format!(
                "{t:?}: unknown unit {unit:?}; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)"
            ))
        }
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{t:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// `30d`, `12h`, `2w`, `90m`, `1d12h`, `45s`: weeks, days, hours, minutes
/// and seconds; a unit is required (a bare number would be ambiguous).
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty age; write e.g. 30d, 12h or 2w".into());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("{t:?}: expected a number (e.g. 30d, 12h, 2w)"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{t:?} is not an age; write e.g. 30d, 12h or 2w"))?;
        let after = rest[num_end..].trim_start();
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(after.len());
        let unit = &after[..unit_end];
        let secs = match unit {
            "w" | "week" | "weeks" => 7.0 * 86_400.0,
            "d" | "day" | "days" => 86_400.0,
            "h" | "hour" | "hours" => 3600.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "" => {
                return Err(format!(
                    "{t:?}: a unit is needed after {n}: w, d, h, m or s (e.g. 30d)"
                ))
            }
            u => return Err(format!("{t:?}: unknown unit {u:?}; use w, d, h, m or s")),
        };
        total += n * secs;
        rest = after[unit_end..].trim_start();
    }
    let d = Duration::try_from_secs_f64(total).unwrap_or(Duration::MAX);
    if d > MAX_AGE {
        return Err(format!("{t:?} is more than 100 years"));
    }
    if d < Duration::from_secs(1) {
        return Err(format!("{t:?} is shorter than a second"));
    }
    Ok(d)
}

/// Sizes as people read them: `500 GiB`, `1.5 MiB`, `42 B`.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = (0..UNITS.len())
        .rev()
        .find(|&i| b >= 1u64 << (10 * i))
        .unwrap_or(0);
    let v = b as f64 / (1u64 << (10 * i)) as f64;
    if v.fract() == 0.0 {
        format!("{} {}", v as u64, UNITS[i])
    } else {
        format!("{v:.2} {}", UNITS[i])
    }
}

/// A size as a configuration value that reads back exactly: `"500GiB"`,
/// or the bytes when no binary unit divides it.
pub fn size_value(b: u64) -> String {
    for (i, unit) in [(4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")] {
        let m = 1u64 << (10 * i);
        if b >= m && b % m == 0 {
            return format!("{}{unit}", b / m);
        }
    }
    b.to_string()
}

/// Ages as written: `30d`, `1d12h`, `90s`.
pub fn human_age(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

/// The retention settings, each with where it was set.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Each camera's segments: maximum age.
    pub max_age: Val<Option<Duration>>,
    /// Each camera's segments: maximum bytes.
    pub max_bytes: Val<Option<u64>>,
    /// All segments: maximum age.
    pub total_max_age: Val<Option<Duration>>,
    /// All segments: maximum bytes.
    pub total_max_bytes: Val<Option<u64>>,
    /// Unpinned clips: maximum age.
    pub clips_max_age: Val<Option<Duration>>,
    /// Unpinned clips: maximum bytes.
    pub clips_max_bytes: Val<Option<u64>>,
    /// Free space to keep on the volume.
    pub min_free: Val<Option<u64>>,
}

impl Retention {
    /// Whether any limit is set (for any camera: see [`Retention::active_with`]).
    fn any_global(&self) -> bool {
        self.max_age.v.is_some()
            || self.max_bytes.v.is_some()
            || self.total_max_age.v.is_some()
            || self.total_max_bytes.v.is_some()
            || self.clips_max_age.v.is_some()
            || self.clips_max_bytes.v.is_some()
            || self.min_free.v.is_some()
    }

    /// Where the first setting was made (for "retention needs local
    /// storage").
    pub fn first_origin(&self) -> Option<&Origin> {
        [
            (self.max_age.v.is_some(), &self.max_age.at),
            (self.max_bytes.v.is_some(), &self.max_bytes.at),
            (self.total_max_age.v.is_some(), &self.total_max_age.at),
            (self.total_max_bytes.v.is_some(), &self.total_max_bytes.at),
            (self.clips_max_age.v.is_some(), &self.clips_max_age.at),
            (self.clips_max_bytes.v.is_some(), &self.clips_max_bytes.at),
            (self.min_free.v.is_some(), &self.min_free.at),
        ]
        .into_iter()
        .find(|(set, _)| *set)
        .map(|(_, at)| at)
    }

    /// The library's policy: these limits, with each camera's own.
    pub fn policy<'a>(
        &self,
        cameras: impl IntoIterator<Item = (&'a str, Option<Duration>, Option<u64>)>,
    ) -> RetentionPolicy {
        let limits = |age: Option<Duration>, bytes: Option<u64>| {
            let mut l = Limits::none();
            if let Some(a) = age {
                l = l.with_max_age(a);
            }
            if let Some(b) = bytes {
                l = l.with_max_bytes(b);
            }
            l
        };
        let mut p = RetentionPolicy::new()
            .with_per_camera(limits(self.max_age.v, self.max_bytes.v))
            .with_total(limits(self.total_max_age.v, self.total_max_bytes.v))
            .with_clips(limits(self.clips_max_age.v, self.clips_max_bytes.v));
        if let Some(f) = self.min_free.v {
            p = p.with_min_free_bytes(f);
        }
        for (id, age, bytes) in cameras {
            let own = limits(age, bytes);
            if own != p.per_camera {
                p = p.with_camera(sanitize_camera_id(id).into_owned(), own);
            }
        }
        p
    }

    /// Whether anything is limited, counting per-camera keys.
    pub fn active_with(&self, cameras: &[super::Camera]) -> bool {
        self.any_global()
            || cameras
                .iter()
                .any(|c| c.retention_max_age.v.is_some() || c.retention_max_bytes.v.is_some())
    }
}

/// Retention flags (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct RetentionFlags {
    /// `--max-age`.
    pub max_age: Option<Duration>,
    /// `--max-bytes`.
    pub max_bytes: Option<u64>,
    /// `--total-max-age`.
    pub total_max_age: Option<Duration>,
    /// `--total-max-bytes`.
    pub total_max_bytes: Option<u64>,
    /// `--clips-max-age`.
    pub clips_max_age: Option<Duration>,
    /// `--clips-max-bytes`.
    pub clips_max_bytes: Option<u64>,
    /// `--min-free`.
    pub min_free: Option<u64>,
}

/// An age from the file, checked.
pub(super) fn file_age(
    v: Option<Val<String>>,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<Option<Duration>>> {
    let v = v?;
    match parse_age(&v.v) {
        Ok(d) => Some(Val {
            v: Some(d),
            at: v.at,
        }),
        Err(e) => {
            errors.push(err(
                &v.at,
                format!("{key}: {e}"),
                format!("write {key} = \"30d\" (units w, d, h, m, s; at least 1s, at most 100 years), or leave it out for no age limit"),
            ));
            None
        }
    }
}

/// A size from the file, checked.
pub(super) fn file_size(
    v: Option<Val<String>>,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<Option<u64>>> {
    let v = v?;
    match parse_size(&v.v) {
        Ok(b) => Some(Val {
            v: Some(b),
            at: v.at,
        }),
        Err(e) => {
            errors.push(err(
                &v.at,
                format!("{key}: {e}"),
                format!("write {key} = \"500GiB\" (B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB), or leave it out for no size limit"),
            ));
            None
        }
    }
}

/// `[retention]`, then flags.
pub(super) fn build(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Retention {
    let none_age = || Val::default(None);
    let mut r = Retention {
        max_age: none_age(),
        max_bytes: Val::default(None),
        total_max_age: none_age(),
        total_max_bytes: Val::default(None),
        clips_max_age: none_age(),
        clips_max_bytes: Val::default(None),
        min_free: Val::default(None),
    };
    if let Some(f) = &file.retention {
        let s = |v: &Option<toml::Spanned<String>>| cx.map(v, |x| x);
        r.max_age.put(file_age(s(&f.max_age), "max_age", errors));
        r.max_bytes
            .put(file_size(s(&f.max_bytes), "max_bytes", errors));
        r.total_max_age
            .put(file_age(s(&f.total_max_age), "total_max_age", errors));
        r.total_max_bytes
            .put(file_size(s(&f.total_max_bytes), "total_max_bytes", errors));
        r.clips_max_age
            .put(file_age(s(&f.clips_max_age), "clips_max_age", errors));
        r.clips_max_bytes
            .put(file_size(s(&f.clips_max_bytes), "clips_max_bytes", errors));
        r.min_free
            .put(file_size(s(&f.min_free), "min_free", errors));
    }
    let rf = &flags.retention;
    let flag = |n: &str| Origin::Flag(n.into());
    if let Some(v) = rf.max_age {
        r.max_age.set(Some(v), flag("--max-age"));
    }
    if let Some(v) = rf.max_bytes {
        r.max_bytes.set(Some(v), flag("--max-bytes"));
    }
    if let Some(v) = rf.total_max_age {
        r.total_max_age.set(Some(v), flag("--total-max-age"));
    }
    if let Some(v) = rf.total_max_bytes {
        r.total_max_bytes.set(Some(v), flag("--total-max-bytes"));
    }
    if let Some(v) = rf.clips_max_age {
        r.clips_max_age.set(Some(v), flag("--clips-max-age"));
    }
    if let Some(v) = rf.clips_max_bytes {
        r.clips_max_bytes.set(Some(v), flag("--clips-max-bytes"));
    }
    if let Some(v) = rf.min_free {
        r.min_free.set(Some(v), flag("--min-free"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500GiB"), Ok(500 << 30));
        assert_eq!(parse_size("5 GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_size("800m"), Ok(800 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("5 weeks").unwrap_err().contains("unknown unit"));
        assert!(parse_size("GiB").unwrap_err().contains("500GiB"));
        assert!(parse_size("-5GiB").is_err());
        assert!(parse_size("1e30TiB").is_err());
        assert!(parse_size("99999999999TiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("1d12h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_age("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("90 minutes"), Ok(Duration::from_secs(5400)));
        assert!(parse_age("30").unwrap_err().contains("unit is needed"));
        assert!(parse_age("3M").unwrap_err().contains("unknown unit"));
        assert!(parse_age("").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("0s").unwrap_err().contains("shorter"));
        assert!(parse_age("1e9w").is_err());
        assert!(parse_age("99999999999999999999d")
            .unwrap_err()
            .contains("100 years"));
    }

    #[test]
    fn shown_as_written() {
        assert_eq!(human_size(500 << 30), "500 GiB");
        assert_eq!(human_size(1_572_864), "1.50 MiB");
        assert_eq!(human_size(42), "42 B");
        assert_eq!(size_value(500 << 30), "500GiB");
        assert_eq!(size_value(1_572_864), "1536KiB");
        assert_eq!(size_value(5_000_000_000), "5000000000");
        for b in [500u64 << 30, 1_572_864, 5_000_000_000, 0, 1] {
            assert_eq!(parse_size(&size_value(b)), Ok(b));
        }
        assert_eq!(human_age(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(human_age(Duration::from_secs(36 * 3600 + 5)), "1d12h5s");
    }
}
