//! Re-muxes real encoder output (fixtures made by `tests/fixtures/make-fixtures.sh`)
//! and decodes our segments with Debian's ffmpeg.

mod support;

use std::time::Duration;

use recorder_core::mux::*;
use support::{fixtures::*, media::*, muxed::*};

struct Outcome {
    dir: tempfile::TempDir,
    files: Vec<std::path::PathBuf>,
    segments: Vec<Segment>,
}

fn remux(fixture_name: &str, cfg: MuxerConfig) -> Outcome {
    let (specs, frames) = load_fixture(&fixture(fixture_name));
    let mut mux = Muxer::new(specs, cfg).unwrap();
    let mut events = Vec::new();
    for f in frames {
        mux.push(f, &mut events).unwrap();
    }
    mux.finish(EndReason::Finished, &mut events);
    let segments = assemble(events);
    let dir = tempfile::tempdir().unwrap();
    let files = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.path().join(format!("seg{i}.mp4"));
            std::fs::write(&p, &s.bytes).unwrap();
            p
        })
        .collect();
    Outcome {
        dir,
        files,
        segments,
    }
}

fn check_against_source(fixture_name: &str) {
    if !have_ffmpeg() {
        panic!("ffmpeg/ffprobe are required (apt-get install ffmpeg)");
    }
    let src = fixture(fixture_name);
    let cfg = MuxerConfig {
        segment_duration: Duration::from_secs(2),
        ..MuxerConfig::default()
    };
    let out = remux(fixture_name, cfg);
    assert!(
        out.files.len() >= 3,
        "6 s at 2 s segments: got {} segments",
        out.files.len()
    );
    let mut video = 0;
    let mut audio = 0;
    for f in &out.files {
        let errors = ffmpeg_errors(f);
        assert!(
            errors.is_empty(),
            "{}: ffmpeg reported:\n{errors}",
            f.display()
        );
        assert!(
            first_frame_is_key(f),
            "{} does not start on a keyframe",
            f.display()
        );
        video += decoded_frames(f, "v");
        audio += decoded_frames(f, "a");
    }
    assert_eq!(
        video,
        decoded_frames(&src, "v"),
        "video frames: ours vs source"
    );
    // Audio sent before the first video keyframe cannot be placed (no
    // segment is open yet), and the source's edit list hides its AAC
    // priming frame from ffmpeg's count while we store it: one frame either way.
    let src_audio = decoded_frames(&src, "a");
    assert!(
        audio.abs_diff(src_audio) <= 1,
        "audio frames {audio} vs source {src_audio}"
    );
    // A/V start offset equal to the source's within one audio frame.
    let first = &out.files[0];
    let ours = start_time(first, "a") - start_time(first, "v");
    let theirs = start_time(&src, "a") - start_time(&src, "v");
    if std::env::var_os("KEEP_SEGMENTS").is_some() {
        let _ = out.dir.keep();
        eprintln!("kept {:?}", out.files);
        return;
    }
    assert!(
        (ours - theirs).abs() <= 1024.0 / 48_000.0 + 1e-6,
        "A/V offset {ours} vs source {theirs}"
    );
    // Segments tile the timeline: the summed durations cover the source.
    let total: i64 = out
        .segments
        .iter()
        .map(|s| s.end.as_ref().unwrap().duration_ns)
        .sum();
    assert!(
        (total - 6_000_000_000).abs() <= 40_000_000,
        "total duration {total} ns"
    );
    if std::env::var_os("KEEP_SEGMENTS").is_some() {
        let _ = out.dir.keep();
        eprintln!("kept {:?}", out.files);
    } else {
        drop(out.dir);
    }
}

#[test]
fn h264_without_bframes_decodes_cleanly() {
    check_against_source("h264_aac.mp4");
}

#[test]
fn h264_with_bframes_decodes_cleanly() {
    check_against_source("h264_bframes_aac.mp4");
}

#[test]
fn h265_decodes_cleanly() {
    check_against_source("h265_aac.mp4");
}

#[test]
fn bframe_presentation_order_survives() {
    let (_, frames) = load_fixture(&fixture("h264_bframes_aac.mp4"));
    let out = remux("h264_bframes_aac.mp4", MuxerConfig::default());
    // ffprobe's presentation timestamps of our single segment must be the
    // source's, in the same order.
    let ours: Vec<i64> = ffprobe_values(
        &out.files[0],
        &["-select_streams", "v:0", "-show_entries", "packet=pts"],
    )
    .into_iter()
    .map(|(_, v)| v.parse().unwrap())
    .collect();
    let source: Vec<i64> = frames
        .iter()
        .filter(|f| f.track == 0)
        .map(|f| f.pts)
        .collect();
    assert_eq!(ours.len(), source.len());
    let base = ours.iter().min().unwrap() - source.iter().min().unwrap();
    let shifted: Vec<i64> = ours.iter().map(|p| p - base).collect();
    assert_eq!(shifted, source);
}

#[test]
fn wall_clock_aligned_segments_start_on_boundaries() {
    let (specs, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let cfg = MuxerConfig {
        segment_duration: Duration::from_secs(2),
        align_to_wall_clock: true,
        ..MuxerConfig::default()
    };
    let mut mux = Muxer::new(specs, cfg).unwrap();
    let mut events = Vec::new();
    // Start the wall clock at x.5 s so boundaries fall mid-GOP: a segment
    // must then end at the first keyframe at or after the boundary.
    for mut f in frames {
        f.wall = WallTime(f.wall.0 + 500_000_000);
        mux.push(f, &mut events).unwrap();
    }
    mux.finish(EndReason::Finished, &mut events);
    let segs = assemble(events);
    for s in &segs[1..] {
        let secs = s.start.wall_start.0 as f64 / 1e9;
        let into = secs.rem_euclid(2.0);
        assert!(
            into < 1.0 + 1e-6,
            "segment starts {into} s after a 2 s boundary (GOP is 1 s)"
        );
    }
    for s in &segs[..segs.len() - 1] {
        assert_eq!(s.end.as_ref().unwrap().reason, EndReason::WallClockBoundary);
    }
}

#[test]
fn g711_audio_is_stored_so_ffmpeg_decodes_it() {
    let (mut specs, frames) = load_fixture(&fixture("h264_aac.mp4"));
    // Replace the AAC track with 8 kHz G.711: 20 ms packets of 160 bytes.
    for (mu_law, codec_name) in [(true, "pcm_mulaw"), (false, "pcm_alaw")] {
        specs[1] = TrackSpec {
            timescale: 8000,
            codec: CodecConfig::G711 {
                mu_law,
                sample_rate: 8000,
                channels: 1,
            },
        };
        let video: Vec<Frame> = frames.iter().filter(|f| f.track == 0).cloned().collect();
        let mut input = Vec::new();
        let mut audio_pts = 0i64;
        for v in video {
            while audio_pts * i64::from(specs[0].timescale) / 8000 <= v.pts {
                let payload: Vec<u8> = (0..160).map(|i| ((audio_pts + i) % 251) as u8).collect();
                input.push(Frame {
                    track: 1,
                    pts: audio_pts,
                    wall: v.wall,
                    keyframe: true,
                    duration_hint: Some(160),
                    data: bytes::Bytes::from(payload),
                });
                audio_pts += 160;
            }
            input.push(v);
        }
        let mut mux = Muxer::new(specs.clone(), MuxerConfig::default()).unwrap();
        let mut events = Vec::new();
        for f in input {
            mux.push(f, &mut events).unwrap();
        }
        mux.finish(EndReason::Finished, &mut events);
        let segs = assemble(events);
        assert_eq!(segs.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g711.mp4");
        std::fs::write(&path, &segs[0].bytes).unwrap();
        let errors = ffmpeg_errors(&path);
        assert!(errors.is_empty(), "{codec_name}: {errors}");
        let codec = ffprobe_values(
            &path,
            &[
                "-select_streams",
                "a:0",
                "-show_entries",
                "stream=codec_name,sample_rate",
            ],
        );
        assert!(
            codec.contains(&("codec_name".into(), codec_name.into())),
            "{codec:?}"
        );
        assert!(
            codec.contains(&("sample_rate".into(), "8000".into())),
            "{codec:?}"
        );
        // 6 s of 20 ms packets decode to 6 s of samples.
        let dur: f64 = ffprobe_values(
            &path,
            &["-select_streams", "a:0", "-show_entries", "stream=duration"],
        )
        .into_iter()
        .find(|(k, _)| k == "duration")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
        assert!((dur - 6.0).abs() < 0.1, "{codec_name} audio lasts {dur} s");
    }
}

/// An edit list makes players start between keyframes: the frames before
/// the edit are stored (they are needed to decode the first presented
/// one) and sit before presentation time zero. ffmpeg applies a fragmented
/// file's edit as a time offset: those frames get negative timestamps, and
/// time 0 is the frame the edit names.
#[test]
fn edit_start_presents_from_the_exact_frame() {
    if !have_ffmpeg() {
        panic!("ffmpeg/ffprobe are required (apt-get install ffmpeg)");
    }
    let (specs, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let mut mux = Muxer::new(specs, MuxerConfig::default()).unwrap();
    // 13 frames (0.52 s at 25 fps) after the first keyframe.
    mux.set_edit_start(Duration::from_millis(520));
    let mut events = Vec::new();
    for f in frames {
        mux.push(f, &mut events).unwrap();
    }
    mux.finish(EndReason::Finished, &mut events);
    let segments = assemble(events);
    assert_eq!(segments.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, &segments[0].bytes).unwrap();
    let errors = ffmpeg_errors(&clip);
    assert!(errors.is_empty(), "{errors}");
    let parsed = parse_segment(&segments[0].bytes);
    // Presented: 6 s of video less 0.52 s (audio runs 16 ms longer).
    assert!(
        (5480..=5500).contains(&parsed.mvhd_duration_ms),
        "presented duration {}",
        parsed.mvhd_duration_ms
    );
    let pts: Vec<f64> = ffprobe_values(
        &clip,
        &["-select_streams", "v:0", "-show_entries", "frame=pts_time"],
    )
    .into_iter()
    .map(|(_, v)| v.parse().unwrap())
    .collect();
    assert_eq!(pts.len(), 150);
    let zero = pts.iter().position(|p| *p >= -0.001).unwrap();
    assert_eq!(zero, 13, "{pts:?}");
    assert!(pts[zero].abs() < 0.001, "{}", pts[zero]);
    // The picture at time 0 is the source's frame 13.
    let md5 = |p: &std::path::Path| -> Vec<String> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-map", "0:v:0", "-f", "framemd5", "-"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit(',').next().unwrap().trim().to_owned())
            .collect()
    };
    let ours = md5(&clip);
    let theirs = md5(&fixture("h264_aac.mp4"));
    assert_eq!(ours.len(), 150);
    assert_eq!(ours[zero], theirs[13]);
    assert_ne!(theirs[12], theirs[13], "the fixture's frames differ");
}
