//! Fault-injection soak: repeated `kill -9` at random moments, and a camera
//! that drops its session every few seconds for a long time. After each
//! trial every file is decoded with ffmpeg and its frames counted against
//! what the simulator sent.
//!
//! The short form runs with the tests (3 kill trials, 30 s of drops). The
//! long form, whose results are in `docs/reliability.md`:
//!
//! ```sh
//! SOAK_KILL_TRIALS=20 SOAK_DROP_SECS=600 SOAK_DROP_EVERY=15 \
//!   cargo test --release -p recorder-cli --test soak -- --nocapture --test-threads 1
//! ```

#[path = "../../recorder-core/tests/support/media.rs"]
#[allow(dead_code)]
mod media;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use camera_sim::{Faults, MountConfig, SimConfig, Simulator};
use media::*;

const FPS: f64 = 25.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn camrec() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camrec"));
    c.args(["--log-format", "json"]).env_remove("RUST_LOG");
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Decodes every finished file: (video frames stored, unplayable files).
fn check_files(dir: &Path) -> (u64, usize, usize) {
    let files = segments(dir);
    let mut frames = 0;
    let mut bad = 0;
    for f in &files {
        let r = inspect(f);
        if !r.errors.is_empty() || !r.first_frame_key {
            eprintln!(
                "unplayable {}: key={} errors={}",
                f.display(),
                r.first_frame_key,
                r.errors
            );
            bad += 1;
        }
        frames += r.video.decoded;
    }
    assert!(
        files_with_suffix(dir, ".mp4.part").is_empty(),
        "a .part survived repair in {}",
        dir.display()
    );
    (frames, files.len(), bad)
}

#[test]
fn kill_9_at_random_moments() {
    let trials = env_or("SOAK_KILL_TRIALS", 3);
    let sim =
        Simulator::start_in_thread(SimConfig::demo(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut rows = Vec::new();
    for trial in 0..trials {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let alive_ms = 1500 + rng % 6000;
        let dir = tmp.path().join(format!("trial{trial}"));
        let before = sim.frame_log("/stream1").unwrap();
        let mut child = camrec()
            .args([
                "record",
                "--no-metrics",
                &url,
                "--camera-id",
                "cam",
                "--segment",
                "60s",
                "--out",
            ])
            .arg(&dir)
            .spawn()
            .unwrap();
        wait_for_part(&dir, 1, Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(alive_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let sent = sim
            .frame_log("/stream1")
            .unwrap()
            .since(&before)
            .video_frames;
        let status = camrec().arg("repair").arg(&dir).status().unwrap();
        assert!(status.success(), "camrec repair failed");
        let (stored, files, bad) = check_files(&dir);
        let lost = sent.saturating_sub(stored) as f64 / FPS;
        rows.push((trial, alive_ms, sent, stored, lost, files, bad));
    }
    sim.shutdown();
    eprintln!("| trial | killed after (ms of recording) | frames sent | frames stored | seconds lost | files | unplayable |");
    eprintln!("|---|---|---|---|---|---|---|");
    for (t, ms, sent, stored, lost, files, bad) in &rows {
        eprintln!("| {t} | {ms} | {sent} | {stored} | {lost:.2} | {files} | {bad} |");
    }
    for (t, _, _, _, lost, files, bad) in &rows {
        assert_eq!(*bad, 0, "trial {t}: unplayable files");
        assert_eq!(
            *files, 1,
            "trial {t}: the crash must leave exactly one repaired file"
        );
        // One fragment (≤ 1 s, a GOP here) may be open, plus frames in
        // flight between the camera and the kill.
        assert!(*lost <= 2.0, "trial {t}: {lost:.2} s lost");
    }
}

#[test]
fn session_dropped_every_few_seconds() {
    let secs = env_or("SOAK_DROP_SECS", 30);
    let every = env_or("SOAK_DROP_EVERY", 5);
    let faults = Faults {
        close_after: Some(Duration::from_secs(every)),
        ..Faults::none()
    };
    let sim = Simulator::start_in_thread(
        SimConfig::new().mount(MountConfig::demo("/tapo").faults(faults)),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let before = sim.frame_log("/tapo").unwrap();
    let segment = (secs / 2).max(10);
    let status = camrec()
        .args([
            "record",
            "--no-metrics",
            &sim.url("/tapo"),
            "--camera-id",
            "tapo",
        ])
        .args([
            "--segment",
            &format!("{segment}s"),
            "--duration",
            &format!("{secs}s"),
            "--out",
        ])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let log = sim.frame_log("/tapo").unwrap().since(&before);
    sim.shutdown();
    let (stored, files, bad) = check_files(&dir);
    let sessions = log.sessions_started;
    let lost = log.video_frames.saturating_sub(stored);
    eprintln!(
        "drops every {every} s for {secs} s: {sessions} sessions, {} frames sent, {stored} stored ({lost} lost), {files} files, {bad} unplayable",
        log.video_frames
    );
    assert_eq!(bad, 0);
    assert!(
        sessions >= secs / every,
        "the simulator dropped {sessions} sessions"
    );
    // Continuing segments across drops: files follow --segment, not drops.
    let expected = secs.div_ceil(segment) as usize;
    assert!(
        files <= expected + 1,
        "{files} files for {secs} s at {segment} s segments: drops must not split files"
    );
    // Every frame the camera sent reaches a file (a frame or two may be in
    // flight when a session is cut).
    assert!(
        lost <= 2 * sessions,
        "{lost} frames lost over {sessions} sessions"
    );
}
