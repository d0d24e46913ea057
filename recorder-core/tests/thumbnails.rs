//! Thumbnails: H.264 keyframes decoded by OpenH264 into JPEGs that ffmpeg
//! reads back at the video's size and content, H.265 keyframes kept as
//! one-frame MP4s ffmpeg decodes, malformed keyframes refused without a
//! panic, and a recorder storing one per interval next to the segments.
#![cfg(feature = "thumbnails")]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig};
use recorder_core::mux::{Frame, TrackSpec};
use recorder_core::thumbnail::{
    h264_keyframe_to_jpeg, render_keyframe, KeyframeImage, ThumbnailConfig, ThumbnailError,
};
use recorder_core::{CodecConfig, LocalSink, ObjectNameTemplate, Recorder, RecorderEvent};
use support::{fixtures::*, media::*, recording::*};

/// The video track of a fixture and its first keyframe.
fn first_keyframe(name: &str) -> (TrackSpec, Frame) {
    let (specs, frames) = load_fixture(&fixture(name));
    let v = specs.iter().position(|t| t.codec.is_video()).unwrap();
    let f = frames
        .into_iter()
        .find(|f| f.track == v && f.keyframe)
        .unwrap();
    (specs[v].clone(), f)
}

/// `path` decoded by ffmpeg to packed RGB (the first video frame).
fn rgb_of(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn probe(path: &Path) -> (String, u64, u64) {
    let v = ffprobe_values(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
        ],
    );
    let get = |k: &str| v.iter().find(|(n, _)| n == k).unwrap().1.clone();
    (
        get("codec_name"),
        get("width").parse().unwrap(),
        get("height").parse().unwrap(),
    )
}

#[test]
fn h264_keyframe_becomes_a_jpeg_of_the_same_picture() {
    for name in ["h264_aac.mp4", "h264_bframes_aac.mp4"] {
        let (track, frame) = first_keyframe(name);
        let Some((w, h)) = track.codec.dimensions() else {
            panic!()
        };
        let t = h264_keyframe_to_jpeg(&track.codec, &frame.data, 85).unwrap();
        assert_eq!((t.width, t.height), (w, h), "{name}");
        let dir = tempfile::tempdir().unwrap();
        let jpg = dir.path().join("t.jpg");
        std::fs::write(&jpg, &t.jpeg).unwrap();
        assert_eq!(
            probe(&jpg),
            ("mjpeg".into(), u64::from(w), u64::from(h)),
            "{name}"
        );
        // Same picture as ffmpeg's own decode of the fixture's first frame
        // (testsrc2: colour bars, text, gradients), up to JPEG loss.
        let ours = rgb_of(&jpg);
        let theirs = rgb_of(&fixture(name));
        assert_eq!(ours.len(), theirs.len());
        let mse = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>()
            / ours.len() as f64;
        let psnr = 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
        eprintln!("{name}: PSNR {psnr:.1} dB against ffmpeg's decode");
        assert!(
            psnr > 30.0,
            "{name}: PSNR {psnr:.1} dB against ffmpeg's decode"
        );
    }
}

#[test]
fn malformed_keyframes_are_errors_not_panics() {
    let (track, frame) = first_keyframe("h264_aac.mp4");
    let data = frame.data.to_vec();
    // Cut short: the last NAL's length runs past the end.
    let e = h264_keyframe_to_jpeg(&track.codec, &data[..data.len() / 2], 80).unwrap_err();
    assert!(
        matches!(e, ThumbnailError::Malformed { what: "frame", .. }),
        "{e}"
    );
    // The avcC of another stream's SPS cut short.
    let CodecConfig::H264 {
        avcc,
        width,
        height,
    } = &track.codec
    else {
        panic!()
    };
    let cut = CodecConfig::H264 {
        avcc: avcc.slice(..9),
        width: *width,
        height: *height,
    };
    assert!(h264_keyframe_to_jpeg(&cut, &data, 80).is_err());
    // Well-framed, but the slice data is noise: the decoder must refuse or
    // conceal, never crash (a deterministic xorshift, 200 variants).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut errors = 0;
    for _ in 0..200 {
        let mut d = data.clone();
        for _ in 0..32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = 5 + (x as usize) % (d.len() - 5);
            d[at] = (x >> 32) as u8;
        }
        match h264_keyframe_to_jpeg(&track.codec, &d, 80) {
            Ok(t) => assert_eq!((t.width, t.height), (320, 240)),
            Err(_) => errors += 1,
        }
    }
    eprintln!("{errors} of 200 corrupted keyframes refused, the rest concealed");
}

#[test]
fn h265_keyframe_becomes_a_one_frame_mp4() {
    let (track, frame) = first_keyframe("h265_aac.mp4");
    let image = render_keyframe(&track, &frame, 80).unwrap();
    let KeyframeImage::Mp4 {
        bytes,
        width,
        height,
    } = &image
    else {
        panic!("H.265 gave {image:?}")
    };
    assert_eq!((*width, *height), (320, 240));
    assert_eq!(image.object_name("cam/x.jpg"), "cam/x.keyframe.mp4");
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("k.mp4");
    std::fs::write(&mp4, bytes).unwrap();
    assert_eq!(probe(&mp4), ("hevc".into(), 320, 240));
    assert_eq!(decoded_frames(&mp4, "v"), 1);
    assert_eq!(ffmpeg_errors(&mp4), "");
    // Not a keyframe: refused.
    let (_, frames) = load_fixture(&fixture("h265_aac.mp4"));
    let delta = frames
        .into_iter()
        .find(|f| f.track == 0 && !f.keyframe)
        .unwrap();
    assert!(matches!(
        render_keyframe(&track, &delta, 80),
        Err(ThumbnailError::NotKeyframe { .. })
    ));
}

/// Records the simulator's H.264 demo (640x360) and an H.265 fixture for
/// ~13 s with a 4 s thumbnail interval: one thumbnail at the first
/// keyframe, then one per interval, at the template's names, each read
/// back by ffprobe at the video's size, and events and counters agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_stores_one_thumbnail_per_interval() {
    let sim = start_sim(
        SimConfig::new()
            .mount(MountConfig::demo("/h264"))
            .mount(MountConfig::new("/h265", fixture("h265_aac.mp4"))),
    );
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    let interval = Duration::from_secs(4);
    let thumbs = ThumbnailConfig::default()
        .with_interval(interval)
        .with_template("thumbs/{camera}/{YYYYMMDD}/{HHMMSS}.jpg".parse().unwrap())
        .unwrap();
    let mut status = Vec::new();
    for cam in ["h264", "h265"] {
        let cfg = camera(cam, &sim.url(&format!("/{cam}")), Duration::from_secs(60))
            .with_thumbnails(thumbs.clone());
        let sink = LocalSink::new(dir.path(), ObjectNameTemplate::default()).unwrap();
        status.push(recorder.add_camera(cfg, sink).unwrap());
    }
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert!(recorder.shutdown(Duration::from_secs(15)).await);

    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    for (cam, st) in ["h264", "h265"].iter().zip(&status) {
        let stored: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                RecorderEvent::ThumbnailStored {
                    camera,
                    name,
                    location,
                    content_type,
                    width,
                    height,
                    wall,
                    bytes,
                } if camera == cam => Some((
                    name.clone(),
                    location.clone(),
                    *content_type,
                    (*width, *height),
                    *wall,
                    *bytes,
                )),
                RecorderEvent::ThumbnailFailed { camera, message } if camera == cam => {
                    panic!("{cam}: {message}")
                }
                _ => None,
            })
            .collect();
        let (suffix, content, dims, codec) = if *cam == "h264" {
            (".jpg", "image/jpeg", (640, 360), "mjpeg")
        } else {
            (".keyframe.mp4", "video/mp4", (320, 240), "hevc")
        };
        let files = files_with_suffix(&dir.path().join("thumbs"), suffix)
            .into_iter()
            .filter(|p| p.starts_with(dir.path().join("thumbs").join(cam)))
            .collect::<Vec<_>>();
        // 13 s of keyframes every second, one thumbnail at the first and
        // then at the first keyframe 4 s (or, with arrival jitter, 5 s)
        // after the previous: 3 or 4.
        assert!((3..=4).contains(&stored.len()), "{cam}: {stored:?}");
        assert_eq!(files.len(), stored.len(), "{cam}: {files:?} vs {stored:?}");
        let snap = st.snapshot();
        assert_eq!(snap.thumbnails_stored, stored.len() as u64, "{cam}");
        assert_eq!(snap.thumbnail_errors, 0, "{cam}");
        for w in stored.windows(2) {
            let gap = (w[1].4 .0 - w[0].4 .0) as f64 / 1e9;
            assert!(
                (3.8..=5.2).contains(&gap),
                "{cam}: thumbnails {gap:.2} s apart"
            );
        }
        for (name, location, ct, d, wall, bytes) in &stored {
            assert_eq!((*ct, *d), (content, dims), "{cam}");
            let path = Path::new(location);
            assert_eq!(std::fs::metadata(path).unwrap().len(), *bytes, "{location}");
            assert!(
                files.iter().any(|f| f == path),
                "{location} not among {files:?}"
            );
            assert_eq!(path, dir.path().join(name));
            let want = thumbs.template.render(cam, *wall, 0);
            assert_eq!(name, &want.replace(".jpg", suffix));
            let (c, pw, ph) = probe(path);
            assert_eq!(
                (c.as_str(), pw, ph),
                (codec, u64::from(d.0), u64::from(d.1)),
                "{name}"
            );
            assert_eq!(decoded_frames(path, "v"), 1, "{name}");
        }
    }
    // Segments were recorded alongside, untouched by the thumbnails.
    assert!(!files_with_suffix(&dir.path().join("h264"), ".mp4").is_empty());
    assert!(files_with_suffix(dir.path(), ".tmp").is_empty());
}

/// A thumbnail that cannot be stored (its folder's place is taken by a
/// file) is an error event and a counted error; the segments go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thumbnail_that_cannot_be_stored_is_counted_and_recording_goes_on() {
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo("/h264")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thumbs"), b"not a folder").unwrap();
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    let thumbs = ThumbnailConfig::default()
        .with_interval(Duration::from_secs(1))
        .with_template("thumbs/{camera}/{HHMMSS}.jpg".parse().unwrap())
        .unwrap();
    let cfg = camera("cam", &sim.url("/h264"), Duration::from_secs(2)).with_thumbnails(thumbs);
    let sink = LocalSink::new(dir.path(), ObjectNameTemplate::default()).unwrap();
    let status = recorder.add_camera(cfg, sink).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(recorder.shutdown(Duration::from_secs(15)).await);
    let mut failed = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        match ev {
            RecorderEvent::ThumbnailFailed { message, .. } => failed.push(message),
            RecorderEvent::ThumbnailStored { name, .. } => panic!("stored {name}"),
            _ => {}
        }
    }
    let snap = status.snapshot();
    assert!(failed.len() >= 2, "{failed:?}");
    assert!(failed[0].contains("thumbs/cam/"), "{failed:?}");
    assert_eq!(snap.thumbnail_errors, failed.len() as u64);
    assert_eq!(snap.thumbnails_stored, 0);
    assert!(snap.segments_recorded >= 1, "{snap:?}");
    assert_eq!(
        snap.sink_errors, 0,
        "a thumbnail error is not a segment error"
    );
}
