use std::process::Command;

use proptest::prelude::*;

use bytes::Bytes;

use super::*;
use crate::index::testutil::{synth_segments, synth_segments_with, Audio, T0};

const MS: i64 = 1_000_000;

/// Runs both passes over in-memory segments and returns the file.
fn export(segs: &[(Vec<u8>, SegmentIndex)], start_ms: i64, end_ms: i64) -> (Vec<u8>, ExportPlan) {
    let idx: Vec<&SegmentIndex> = segs.iter().map(|s| &s.1).collect();
    let sel = select(
        &idx,
        WallTime(T0 + start_ms * MS),
        WallTime(T0 + end_ms * MS),
    )
    .unwrap();
    let reads: Vec<Bytes> = sel
        .reads()
        .iter()
        .map(|r| {
            Bytes::copy_from_slice(&segs[r.segment].0[r.range.start as usize..r.range.end as usize])
        })
        .collect();
    let plan = ExportPlan::new(&idx, &sel, &reads).unwrap();
    let mut out = plan.header_bytes().to_vec();
    for p in plan.pieces() {
        out.extend_from_slice(&segs[p.segment].0[p.range.start as usize..p.range.end as usize]);
    }
    assert_eq!(out.len() as u64, plan.total_len());
    (out, plan)
}

fn ffprobe(file: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Decodes `bytes` with ffmpeg: no error lines; returns the duration and
/// the first video frame's presentation time, from ffprobe.
fn check(bytes: &[u8]) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("out.mp4");
    std::fs::write(&f, bytes).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&f)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    // The synthetic frames are not real H.264: only container errors
    // count here (the end-to-end tests decode real video).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.lines()
            .any(|l| l.contains("mov,mp4") || l.contains("moov")),
        "{err}"
    );
    let dur: f64 = ffprobe(&f, &["-show_entries", "format=duration", "-of", "csv=p=0"])
        .parse()
        .unwrap();
    let first: f64 = ffprobe(
        &f,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    .next()
    .unwrap_or("nan")
    .parse()
    .unwrap_or(f64::NAN);
    (dur, first)
}

#[test]
fn inside_one_segment() {
    let segs = synth_segments(&[(0, 10_000)], true);
    let (bytes, plan) = export(&segs, 2_520, 6_000);
    assert_eq!(plan.duration(), Duration::from_millis(3_480));
    assert!(plan.truncated().is_none());
    // From the keyframe at 2 s to the end of the fragment holding 6 s.
    assert_eq!(plan.video_frames(), 100);
    let (dur, _) = check(&bytes);
    assert!((dur - 3.48).abs() <= 0.04, "duration {dur}");
}

#[test]
fn across_a_gap_keeps_wall_clock_time() {
    let segs = synth_segments(&[(0, 4_000), (6_000, 4_000)], true);
    let (bytes, plan) = export(&segs, 1_000, 9_000);
    assert_eq!(plan.duration(), Duration::from_secs(8));
    // 3 s before the gap, 3 s after it.
    assert_eq!(plan.video_frames(), 150);
    let (dur, _) = check(&bytes);
    assert!((dur - 8.0).abs() <= 0.04, "duration {dur}");
}

#[test]
fn start_before_the_recording_is_clamped_and_errors_are_named() {
    let segs = synth_segments(&[(1_000, 3_000)], false);
    let (_, plan) = export(&segs, 0, 2_000);
    assert_eq!(plan.start(), WallTime(T0 + 1_000 * MS));
    assert_eq!(plan.duration(), Duration::from_secs(1));
    let idx: Vec<&SegmentIndex> = segs.iter().map(|s| &s.1).collect();
    assert!(matches!(
        select(&idx, WallTime(T0), WallTime(T0)),
        Err(ExportError::EmptyRange { .. })
    ));
    assert!(matches!(
        select(&idx, WallTime(T0 + 5_000 * MS), WallTime(T0 + 6_000 * MS)),
        Err(ExportError::NothingRecorded { .. })
    ));
}

#[test]
fn format_change_ends_the_export() {
    let mut segs = synth_segments(&[(0, 2_000)], true);
    segs.extend(synth_segments(&[(2_000, 2_000)], false));
    let (bytes, plan) = export(&segs, 0, 4_000);
    let t = plan.truncated().expect("truncated at the change");
    assert_eq!(t.at, WallTime(T0 + 2_000 * MS));
    assert!(t.reason.contains("changes format"), "{}", t.reason);
    assert_eq!(plan.duration(), Duration::from_secs(2));
    let (dur, _) = check(&bytes);
    assert!((dur - 2.0).abs() <= 0.04, "duration {dur}");
}

#[test]
fn pcm_audio_keeps_the_tables_small() {
    // 8,000 one-byte samples a second: stored with one size and one
    // duration for the whole track, not per sample.
    let segs = synth_segments_with(&[(0, 10_000)], Audio::Pcm);
    let (bytes, plan) = export(&segs, 0, 10_000);
    assert_eq!(plan.duration(), Duration::from_secs(10));
    assert!(
        plan.header_bytes().len() < 8_000,
        "{} byte header",
        plan.header_bytes().len()
    );
    let (dur, _) = check(&bytes);
    assert!((dur - 10.0).abs() <= 0.04, "duration {dur}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pcm.mp4");
    std::fs::write(&f, &bytes).unwrap();
    let audio = ffprobe(
        &f,
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,duration",
            "-of",
            "csv=p=0",
        ],
    );
    let (codec, adur) = audio.split_once(',').unwrap();
    assert_eq!(codec, "pcm_mulaw");
    assert!(
        (adur.parse::<f64>().unwrap() - 10.0).abs() <= 0.05,
        "{audio}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Stored bytes come from a folder or bucket anyone may write: an
    /// export of corrupted headers fails or succeeds, never panics, and
    /// its pieces stay inside the segments.
    #[test]
    fn corrupted_reads_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        tracks_dropped in any::<bool>(),
    ) {
        let segs = synth_segments(&[(0, 3_000), (4_000, 2_000)], true);
        let mut idx: Vec<SegmentIndex> = segs.iter().map(|s| s.1.clone()).collect();
        if tracks_dropped {
            // An index that disagrees with its file.
            for f in &mut idx[0].fragments {
                f.decode_start.truncate(1);
                f.samples.truncate(1);
            }
        }
        let refs: Vec<&SegmentIndex> = idx.iter().collect();
        let sel = select(&refs, WallTime(T0 + 500 * MS), WallTime(T0 + 5_500 * MS)).unwrap();
        let mut reads: Vec<Vec<u8>> = sel
            .reads()
            .iter()
            .map(|r| segs[r.segment].0[r.range.start as usize..r.range.end as usize].to_vec())
            .collect();
        let total: usize = reads.iter().map(Vec::len).sum();
        for (at, v) in &flips {
            let mut i = at.index(total);
            for r in reads.iter_mut() {
                if i < r.len() {
                    r[i] = *v;
                    break;
                }
                i -= r.len();
            }
        }
        let reads: Vec<Bytes> = reads.into_iter().map(Bytes::from).collect();
        if let Ok(plan) = ExportPlan::new(&refs, &sel, &reads) {
            for p in plan.pieces() {
                prop_assert!(p.range.end <= segs[p.segment].0.len() as u64);
            }
        }
    }
}
