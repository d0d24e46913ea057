//! Checks the simulator against ffmpeg/ffprobe, a client that isn't ours.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use camera_sim::{AuthMode, MountConfig, SimConfig};
use common::start;

/// Runs a command, killing it if it exceeds `limit` so a hang fails the test.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    out
}

fn ffprobe_streams(url: &str) -> Output {
    run(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate",
            "-of",
            "compact",
            url,
        ]),
        Duration::from_secs(10),
    )
}

fn ffmpeg_decode(url: &str, transport: &str, seconds: u32) -> Output {
    run(
        Command::new("ffmpeg").args([
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(u64::from(seconds) + 10),
    )
}

fn assert_clean_decode(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors: {stderr}");
}

#[test]
fn ffprobe_sees_h264_and_aac() {
    let sim = start(SimConfig::demo());
    let out = ffprobe_streams(&sim.url("/stream1"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("codec_name=h264|width=640|height=360"),
        "{stdout}"
    );
    assert!(stdout.contains("codec_name=aac"), "{stdout}");
    assert!(stdout.contains("sample_rate=16000"), "{stdout}");
}

#[test]
fn ffmpeg_decodes_over_tcp() {
    let sim = start(SimConfig::demo());
    let out = ffmpeg_decode(&sim.url("/stream1"), "tcp", 3);
    assert_clean_decode(&out);
    let log = sim.frame_log("/stream1").unwrap();
    assert_eq!(log.sessions_started, 1);
    assert!(log.video_frames >= 75, "{log:?}");
    assert!(log.keyframes >= 3, "{log:?}");
    assert!(log.audio_frames >= 40, "{log:?}");
}

#[test]
fn ffmpeg_decodes_over_udp() {
    let sim = start(SimConfig::demo());
    let out = ffmpeg_decode(&sim.url("/stream1"), "udp", 3);
    assert_clean_decode(&out);
    assert!(sim.frame_log("/stream1").unwrap().rtcp_reports >= 2);
}

#[test]
fn wrong_password_is_rejected() {
    let sim = start(SimConfig::demo().credentials("admin", "secret", AuthMode::Digest));
    let url = sim
        .url("/stream1")
        .replace("rtsp://", "rtsp://admin:wrong@");
    let out = ffprobe_streams(&url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("401"), "{stderr}");
    let out = ffprobe_streams(&sim.url("/stream1"));
    assert!(!out.status.success());
    assert_eq!(sim.frame_log("/stream1").unwrap().sessions_started, 0);
}

#[test]
fn digest_auth_works_with_ffmpeg() {
    let sim = start(SimConfig::demo().credentials("admin", "secret", AuthMode::Digest));
    let out = ffmpeg_decode(&sim.url_with_credentials("/stream1"), "tcp", 2);
    assert_clean_decode(&out);
}

#[test]
fn basic_auth_works_with_ffprobe() {
    let sim = start(SimConfig::demo().credentials("admin", "secret", AuthMode::Basic));
    let out = ffprobe_streams(&sim.url_with_credentials("/stream1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("h264"));
}

#[test]
fn unknown_path_is_404() {
    let sim = start(SimConfig::demo());
    let out = ffprobe_streams(&sim.url("/nope"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn b_frames_decode_cleanly() {
    let sim = start(SimConfig::new().mount(MountConfig::new("/b", common::bframe_clip())));
    let out = ffmpeg_decode(&sim.url("/b"), "tcp", 3);
    assert_clean_decode(&out);
}

#[test]
fn h265_hev1_and_hvc1_decode_cleanly() {
    let sim = start(
        SimConfig::new()
            .mount(MountConfig::new("/hev1", common::hevc_clip("hev1")))
            .mount(MountConfig::new("/hvc1", common::hevc_clip("hvc1"))),
    );
    for path in ["/hev1", "/hvc1"] {
        let out = ffprobe_streams(&sim.url(path));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("codec_name=hevc|width=320|height=240"),
            "{path}: {stdout}"
        );
    }
    let out = ffmpeg_decode(&sim.url("/hvc1"), "tcp", 2);
    assert_clean_decode(&out);
}
