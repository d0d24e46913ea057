//! End to end against a real third-party RTSP server: GStreamer's
//! (`tests/support/gst_rtsp_server.py`) serving ffmpeg-made MP4 files once
//! each. `Recorder` + `LocalSink` record them; ffmpeg checks that the files
//! hold every frame of the source file, decode cleanly, start on keyframes
//! and keep audio aligned.
//!
//! Skips (with a printed reason) only when python3-gi is missing.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use recorder_core::recorder::Recorder;
use support::{media::*, recording::*};

/// Records `file` served once by GStreamer, with `segment` long segments.
/// Stops as soon as every frame of the file has arrived (GStreamer plays a
/// file once; a reconnect would record it again), or when frames stop.
async fn record_file(file: &Path, segment: Duration) -> Option<(FileReport, Vec<FileReport>)> {
    let source = {
        let f = file.to_owned();
        tokio::task::spawn_blocking(move || inspect(&f))
            .await
            .unwrap()
    };
    let server = GstServer::start(file)?;
    let recorder = Recorder::new();
    let rec = add(&recorder, camera("gst", &server.url(), segment));
    let want = source.video.packets + source.audio.as_ref().map_or(0, |a| a.packets);
    let t0 = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = rec.status.snapshot().frames;
        if n >= want {
            break;
        }
        if n != last {
            (last, last_change) = (n, Instant::now());
        }
        // The end of the file: nothing new for 1.5 s (less than the 3 s
        // stall timeout, so no reconnect and replay has started).
        if n > 0 && last_change.elapsed() > Duration::from_millis(1500) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "frames stopped at {n} of {want}; errors {:?}",
            rec.errors()
        );
    }
    assert!(recorder.shutdown(Duration::from_secs(10)).await);
    drop(server);
    assert_no_parts(rec.path());
    let files = rec.segments();
    let reports = tokio::task::spawn_blocking(move || inspect_all(&files))
        .await
        .unwrap();
    println!(
        "{}: source {} video / {} audio; stored {} / {} in {} files; status {:?}",
        file.display(),
        source.video.packets,
        source.audio.as_ref().map_or(0, |a| a.packets),
        total_video(&reports),
        total_audio(&reports),
        reports.len(),
        rec.status.snapshot()
    );
    Some((source, reports))
}

/// `reorder`: the video's decode delay in seconds (B-frames). Audio is
/// cut between segments where the keyframe *arrives* (its decode time),
/// so with B-frames a segment after the first starts with up to that much
/// audio before its first presented video frame. A/V sync inside the file
/// is unaffected (one timeline); only the cut point differs. Known
/// limitation, see docs/testing.md.
fn check(source: &FileReport, reports: &[FileReport], min_files: usize, reorder: f64) {
    assert!(reports.len() >= min_files, "{} files", reports.len());
    for r in reports {
        r.assert_clean();
        r.assert_av_aligned_within(reorder);
        assert_eq!(
            (r.video.width, r.video.height),
            (source.video.width, source.video.height)
        );
        assert!(
            r.max_video_gap() <= 0.041,
            "{}: gap {:.3} s",
            r.path.display(),
            r.max_video_gap()
        );
    }
    // Every video frame of the file, exactly once: GStreamer starts with
    // the file's first (key)frame and we stop before it could replay.
    assert_eq!(total_video(reports), source.video.packets);
    // Audio: all but 3 AAC frames at the session's start: gst's RTP-Info
    // sequence number is one ahead of its first audio packet (counted as
    // a lost packet, see source_gst.rs), and the audio frames that arrive
    // before the first video keyframe cannot start a segment.
    let (sa, ra) = (source.audio.as_ref().unwrap().packets, total_audio(reports));
    assert!(ra <= sa && ra + 3 >= sa, "audio {ra} of {sa}");
}

/// The committed fixture: 6 s 320x240 H.264 High with B-frames, 48 kHz AAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gst_bframes_file_is_recorded_whole() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gst_h264_bframes_aac.mp4");
    let Some((source, reports)) = record_file(&file, Duration::from_secs(2)).await else {
        return;
    };
    check(&source, &reports, 3, 0.08);
}

/// A clip made now: 8 s 640x360 H.264 Main without B-frames, 44.1 kHz AAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gst_baseline_file_is_recorded_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("clip.mp4");
    make_clip(
        &file,
        8,
        "640x360",
        44_100,
        &["-profile:v", "main", "-bf", "0"],
    );
    let Some((source, reports)) = record_file(&file, Duration::from_secs(3)).await else {
        return;
    };
    check(&source, &reports, 2, 0.0);
}
