//! The live per-camera table on a terminal, redrawn in place every second
//! (like `docker stats`). Rates come from the difference between two
//! snapshots.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder_core::recorder::CameraSnapshot;
use recorder_core::sink::s3::S3Status;
use tokio::sync::watch;

use crate::logging::LogTail;
use crate::metrics::S3Watch;

/// Per-camera rates between two snapshots.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// Video frames per second.
    pub fps: f64,
    /// Stored bits per second.
    pub bitrate: f64,
}

/// Rates from `prev` to `now` over `dt`.
pub fn rates(prev: &CameraSnapshot, now: &CameraSnapshot, dt: Duration) -> Rates {
    let secs = dt.as_secs_f64().max(1e-3);
    Rates {
        fps: now.video_frames.saturating_sub(prev.video_frames) as f64 / secs,
        bitrate: now.bytes_recorded.saturating_sub(prev.bytes_recorded) as f64 * 8.0 / secs,
    }
}

/// `1.5 MB`, `830 kB`.
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// `2.1 Mbit/s`.
pub fn human_bitrate(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.1} Mb/s", bps / 1e6)
    } else {
        format!("{:.0} kb/s", bps / 1e3)
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The S3 line under the table (the store's counters cover every camera).
pub fn s3_line(st: &S3Status, spool_limit: u64) -> String {
    format!(
        "S3: {} segments uploaded ({}), {} pending, spool {} of {}, lag {}, {} failed requests",
        st.segments_uploaded,
        human_bytes(st.bytes_uploaded),
        st.segments_pending,
        human_bytes(st.spool_bytes),
        human_bytes(spool_limit),
        st.upload_lag
            .map_or("-".to_string(), |d| format!("{:.0}s", d.as_secs_f64())),
        st.upload_failures
    )
}

/// The RES cell: the delivered resolution, with the configured one after
/// `!=` when the camera delivers something else.
fn resolution_cell(delivered: Option<(u16, u16)>, expected: Option<(u32, u32)>) -> String {
    match (delivered, expected) {
        (None, _) => "-".into(),
        (Some((w, h)), Some((ew, eh))) if (u32::from(w), u32::from(h)) != (ew, eh) => {
            format!("{w}x{h}!={ew}x{eh}")
        }
        (Some((w, h)), _) => format!("{w}x{h}"),
    }
}

/// The table for one refresh (`footer`: extra lines such as [`s3_line`]);
/// The last column: why nothing is stored while connected comes first (the
/// last error may be old news), else the last error.
fn problem_cell(s: &CameraSnapshot) -> String {
    match (s.not_storing, &s.last_error) {
        (Some(r), _) if s.state == recorder_core::CameraState::Recording => {
            format!("NOT STORING: {}", r.explain())
        }
        (_, Some(e)) => e.clone(),
        _ => "-".into(),
    }
}

/// `expected` gives a camera's configured resolution, if any.
pub fn render(
    rows: &[(CameraSnapshot, Rates)],
    expected: &dyn Fn(&str) -> Option<(u32, u32)>,
    footer: &[String],
    log: &[String],
    width: usize,
) -> Vec<String> {
    let mut out = vec![format!(
        "{:<16} {:<10} {:<9} {:>6} {:>10} {:>9} {:>9} {:>5}  {:<14} {}",
        "CAMERA",
        "STATE",
        "RES",
        "FPS",
        "BITRATE",
        "STORED",
        "SEGMENTS",
        "RECON",
        "SEGMENT",
        "LAST ERROR"
    )];
    for (s, r) in rows {
        let line = format!(
            "{:<16} {:<10} {:<9} {:>6.1} {:>10} {:>9} {:>9} {:>5}  {:<14} {}",
            truncate(&s.id, 16),
            s.state.as_str(),
            resolution_cell(s.video_resolution, expected(&s.id)),
            r.fps,
            human_bitrate(r.bitrate),
            human_bytes(s.bytes_recorded),
            s.segments_recorded,
            s.reconnects,
            truncate(s.current_segment.as_deref().unwrap_or("-"), 14),
            problem_cell(s)
        );
        out.push(line);
    }
    out.extend(footer.iter().cloned());
    if !log.is_empty() {
        out.push(String::new());
        out.push("recent warnings (full log: --log-file):".into());
        out.extend(log.iter().cloned());
    }
    out.into_iter().map(|l| truncate(&l, width)).collect()
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &usize| *w >= 40)
        .unwrap_or(120)
}

/// Runs the view until `stop` turns true; leaves the last table on screen.
pub async fn run(
    snapshots: impl Fn() -> Vec<CameraSnapshot>,
    expected: std::collections::HashMap<String, (u32, u32)>,
    s3: Option<Arc<S3Watch>>,
    tail: LogTail,
    mut stop: watch::Receiver<bool>,
) {
    tail.set_capturing(true);
    // Keyed by id: cameras come and go at run time (the control API, a
    // reload), and a new one starts with zero rates.
    let by_id = |v: &[CameraSnapshot]| -> std::collections::HashMap<String, CameraSnapshot> {
        v.iter().map(|s| (s.id.clone(), s.clone())).collect()
    };
    let mut prev = by_id(&snapshots());
    let mut prev_t = Instant::now();
    let mut drawn = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "\x1b[?25l"); // hide the cursor
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let now_t = Instant::now();
        let now = snapshots();
        let rows: Vec<(CameraSnapshot, Rates)> = now
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    rates(prev.get(&n.id).unwrap_or(n), n, now_t - prev_t),
                )
            })
            .collect();
        let footer: Vec<String> = s3
            .iter()
            .map(|w| s3_line(&w.last(), w.spool_limit))
            .collect();
        let lines = render(
            &rows,
            &|id: &str| expected.get(id).copied(),
            &footer,
            &tail.lines(),
            terminal_width(),
        );
        let mut buf = String::new();
        if drawn > 0 {
            buf.push_str(&format!("\x1b[{drawn}A"));
        }
        buf.push_str("\r\x1b[J");
        for l in &lines {
            buf.push_str(l);
            buf.push('\n');
        }
        let _ = stderr.write_all(buf.as_bytes());
        let _ = stderr.flush();
        drawn = lines.len();
        prev = by_id(&now);
        prev_t = now_t;
        if stopping {
            break;
        }
    }
    let _ = write!(stderr, "\x1b[?25h");
    tail.set_capturing(false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_core::recorder::CameraStatus;

    #[test]
    fn rates_and_rendering() {
        let st = CameraStatus::new("front");
        let a = st.snapshot();
        let mut b = a.clone();
        b.video_frames += 50;
        b.frames += 90;
        b.bytes_recorded += 250_000;
        let r = rates(&a, &b, Duration::from_secs(2));
        assert_eq!(
            r,
            Rates {
                fps: 25.0,
                bitrate: 1_000_000.0
            }
        );
        let mut b2 = b.clone();
        b2.last_error = Some("x".repeat(300));
        let s3 = s3_line(
            &S3Status {
                segments_uploaded: 4,
                bytes_uploaded: 2_000_000,
                segments_pending: 1,
                spool_bytes: 300_000,
                upload_lag: Some(Duration::from_secs(2)),
                upload_failures: 5,
                ..S3Status::default()
            },
            1_000_000_000,
        );
        assert_eq!(
            s3,
            "S3: 4 segments uploaded (2.0 MB), 1 pending, spool 300 kB of 1.00 GB, lag 2s, 5 failed requests"
        );
        b2.video_resolution = Some((640, 360));
        let lines = render(
            &[(b2, r)],
            &|_: &str| Some((1920, 1080)),
            &[s3],
            &["WARN something".into()],
            100,
        );
        assert!(lines[1].contains("640x360!=1920x1080"), "{lines:?}");
        assert_eq!(
            resolution_cell(Some((640, 360)), Some((640, 360))),
            "640x360"
        );
        assert_eq!(resolution_cell(None, Some((640, 360))), "-");
        assert!(lines[2].starts_with("S3: 4 segments"), "{lines:?}");
        assert!(lines[0].starts_with("CAMERA"));
        assert!(
            lines[1].contains("front")
                && lines[1].contains("25.0")
                && lines[1].contains("1.0 Mb/s")
        );
        assert!(lines[1].contains("250 kB"));
        assert!(lines.iter().all(|l| l.chars().count() <= 100));
        assert!(lines.last().unwrap().contains("WARN something"));
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(2_340_000_000), "2.34 GB");
        assert_eq!(human_bitrate(800_000.0), "800 kb/s");
    }
}
