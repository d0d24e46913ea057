//! The ranges of duration settings, shared by the flags' parsers and the
//! file's checks.

use std::time::Duration;

/// The range a duration setting accepts: checked at parse time for flags
/// and again for the file's values, so one absurd number (`1e300`) is a
/// usage error naming the range rather than an overflow deep inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Shortest accepted value.
    pub min: Duration,
    /// Longest accepted value.
    pub max: Duration,
}

const HOUR: u64 = 3600;

/// `--segment` / `segment_duration_minutes`: 1 s to 24 h.
pub const SEGMENT: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * HOUR),
};
/// `--fragment` / `fragment_seconds`: 0.1 s to 60 s.
pub const FRAGMENT: Bounds = Bounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(60),
};
/// `--stall-timeout` / `stall_timeout_seconds`: 1 s to 1 h.
pub const STALL_TIMEOUT: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(HOUR),
};
/// Anything else (`--duration`, the simulator's faults): up to a year,
/// far beyond any use and far below where time arithmetic overflows.
pub const ANY: Bounds = Bounds {
    min: Duration::ZERO,
    max: Duration::from_secs(366 * 24 * HOUR),
};

impl Bounds {
    /// Whether `d` lies in the range.
    pub fn contains(&self, d: Duration) -> bool {
        (self.min..=self.max).contains(&d)
    }

    /// The range as people read it: `1 s to 24 h`.
    pub fn describe(&self) -> String {
        format!("{} to {}", human(self.min), human(self.max))
    }
}

/// `100 ms`, `60 s`, `24 h`: hours when whole, else seconds or milliseconds.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0 s".into()
    } else if ms % (HOUR as u128 * 1000) == 0 {
        format!("{} h", ms / (HOUR as u128 * 1000))
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{ms} ms")
    } else {
        format!("{} s", d.as_secs_f64())
    }
}
