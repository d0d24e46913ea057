//! `camrec probe`: what a camera offers, against our simulator and against
//! GStreamer's RTSP server (a real server no one here wrote).

#[path = "../../recorder-core/tests/support/media.rs"]
#[allow(dead_code)]
mod media;

use std::path::Path;
use std::process::{Command, Stdio};

use camera_sim::{AuthMode, SimConfig, Simulator};

fn probe(url: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_camrec"))
        .args(["--log-format", "text", "probe", url])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run camrec probe");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn probe_describes_the_simulator() {
    let sim = Simulator::start_in_thread(
        SimConfig::demo().credentials("viewer", "Pr0be-Secret", AuthMode::Digest),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let (ok, out, err) = probe(&sim.url_with_credentials("/stream1"));
    assert!(ok, "probe failed:\n{out}\n{err}");
    // The built-in clip: 640x360 25 fps H.264 constrained baseline, AAC
    // mono 16 kHz; the simulator sends sender reports every second.
    assert!(out.contains("h264 (avc1.42"), "{out}");
    assert!(out.contains("640x360"), "{out}");
    assert!(out.contains("25.00 fps"), "{out}");
    assert!(out.contains("aac (mp4a.40.2) 16000 Hz 1 ch"), "{out}");
    assert!(
        !out.contains(", 0 sender reports"),
        "sender reports counted:\n{out}"
    );
    assert!(out.contains("camera clock is"), "{out}");
    assert!(out.contains("viewer:***@"), "{out}");
    assert!(!out.contains("Pr0be-Secret") && !err.contains("Pr0be-Secret"));
}

#[test]
fn probe_describes_gstreamer_rtsp_server() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../recorder-core/tests/fixtures/h264_aac.mp4");
    let Some(server) = media::GstServer::start(&fixture) else {
        return;
    };
    let url = format!("rtsp://127.0.0.1:{}/test", server.port);
    let (ok, out, err) = probe(&url);
    assert!(ok, "probe failed:\n{out}\n{err}");
    // tests/fixtures/make-fixtures.sh: 320x240 25 fps H.264 baseline + AAC
    // mono 48 kHz.
    assert!(out.contains("h264 (avc1.42"), "{out}");
    assert!(out.contains("320x240"), "{out}");
    assert!(out.contains("aac (mp4a.40.2) 48000 Hz 1 ch"), "{out}");
}

#[test]
fn probe_of_a_dead_port_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, out, err) = probe(&format!("rtsp://admin:Dead-Secret@127.0.0.1:{port}/x"));
    assert!(!ok);
    let text = format!("{out}{err}");
    assert!(text.contains("cannot reach the camera"), "{text}");
    assert!(!text.contains("Dead-Secret"), "{text}");
}
