//! `camrec record` end to end: the real binary against the camera simulator.

mod common;

use std::time::Duration;

use common::*;

const PASSWORD: &str = "Wr0ngPa55word";
const S3_SECRET: &str = "s3SecretKeyThatMustNeverLeak0123";

fn record_cmd(out: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--metrics-listen",
        "127.0.0.1:0",
        "--out",
    ])
    .arg(out)
    .args(extra);
    c
}

#[test]
fn metrics_change_while_recording_and_ready_turns_200() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Running::spawn(record_cmd(
        dir.path(),
        &[
            &sim.url("/stream1"),
            "--camera-id",
            "cam1",
            "--segment",
            "2s",
        ],
    ));
    let addr = rec.metrics_addr();
    assert_eq!(get(addr, "/health"), (200, "ok\n".to_string()));
    // Ready once the camera records.
    let body = eventually(Duration::from_secs(20), "/ready 200", || {
        let (code, body) = get(addr, "/ready");
        (code == 200).then_some(body)
    });
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cameras"][0]["state"], "recording");
    assert_eq!(v["storage"]["ready"], true);
    // Counters move between scrapes.
    let (code, m1) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let f1 = metric(&m1, "camrec_camera_frames_total{camera=\"cam1\"}").expect("frames metric");
    assert_eq!(
        metric(&m1, "camrec_camera_stream_connected{camera=\"cam1\"}"),
        Some(1.0)
    );
    let m2 = eventually(Duration::from_secs(20), "a segment recorded", || {
        let (_, m) = get(addr, "/metrics");
        (metric(&m, "camrec_camera_segments_recorded_total{camera=\"cam1\"}")? >= 1.0).then_some(m)
    });
    let f2 = metric(&m2, "camrec_camera_frames_total{camera=\"cam1\"}").unwrap();
    assert!(f2 > f1, "frames did not grow: {f1} -> {f2}");
    assert!(metric(&m2, "camrec_camera_bytes_recorded_total{camera=\"cam1\"}").unwrap() > 0.0);
    assert!(metric(&m2, "camrec_camera_last_frame_age_seconds{camera=\"cam1\"}").unwrap() < 5.0);
    for name in [
        "camrec_camera_reconnects_total{camera=\"cam1\"}",
        "camrec_camera_packets_lost_total{camera=\"cam1\"}",
        "camrec_camera_frames_skipped_total{camera=\"cam1\"}",
        "camrec_camera_sink_errors_total{camera=\"cam1\"}",
        "camrec_camera_ready{camera=\"cam1\"}",
    ] {
        assert!(metric(&m2, name).is_some(), "{name} missing:\n{m2}");
    }
    // A healthy disk keeps up: nothing dropped, nothing left waiting long.
    for name in [
        "camrec_camera_fragments_dropped_total{camera=\"cam1\"}",
        "camrec_camera_bytes_dropped_total{camera=\"cam1\"}",
    ] {
        assert_eq!(metric(&m2, name), Some(0.0), "{name}:\n{m2}");
    }
    assert!(metric(&m2, "camrec_camera_queued_bytes{camera=\"cam1\"}").is_some());
    // Thumbnails are on by default: the first at the first keyframe, a
    // JPEG next to the segments.
    eventually(Duration::from_secs(10), "a thumbnail", || {
        let (_, m) = get(addr, "/metrics");
        (metric(&m, "camrec_camera_thumbnails_total{camera=\"cam1\"}")? >= 1.0).then_some(())
    });
    let (_, m3) = get(addr, "/metrics");
    assert_eq!(
        metric(&m3, "camrec_camera_thumbnail_errors_total{camera=\"cam1\"}"),
        Some(0.0),
        "{m3}"
    );
    let jpgs: Vec<_> = files(dir.path())
        .into_iter()
        .filter(|p| {
            p.starts_with(dir.path().join("cam1")) && p.to_string_lossy().ends_with("_cam1.jpg")
        })
        .collect();
    assert_eq!(jpgs.len(), 1, "{jpgs:?}");
    // S3 families only with S3 storage (tests/s3_cli.rs).
    assert!(!m2.contains("camrec_s3_"), "{m2}");
    assert_eq!(get(addr, "/nope").0, 404);
    rec.signal("TERM");
    let (code, _) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0);
}

#[test]
fn sigterm_leaves_complete_files_and_a_dead_camera_does_not_disturb_a_live_one() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("rtsp://127.0.0.1:{}/stream1", dead_port());
    let mut rec = Running::spawn(record_cmd(
        dir.path(),
        &[
            &sim.url("/stream1"),
            &dead,
            "--camera-id",
            "good",
            "--camera-id",
            "dead",
            "--segment",
            "2s",
        ],
    ));
    let addr = rec.metrics_addr();
    // The dead camera retries (a network error, not a configuration one),
    // so it does not hold readiness down; the good one records.
    eventually(
        Duration::from_secs(30),
        "two segments from the good camera",
        || {
            let (_, m) = get(addr, "/metrics");
            (metric(&m, "camrec_camera_segments_recorded_total{camera=\"good\"}")? >= 2.0)
                .then_some(())
        },
    );
    let (code, body) = get(addr, "/ready");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cameras"][1]["id"], "dead");
    assert_eq!(v["cameras"][1]["reason"], "retrying", "{body}");
    // Mid-segment SIGTERM: the open segment is finished, not left as .part.
    std::thread::sleep(Duration::from_millis(700));
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0, "{}", log.join("\n"));
    let all = files(dir.path());
    assert!(
        all.iter().all(|p| !p.to_string_lossy().ends_with(".part")),
        "left .part files: {all:?}"
    );
    let good: Vec<_> = all
        .iter()
        .filter(|p| p.starts_with(dir.path().join("good")))
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert!(good.len() >= 3, "expected ≥ 3 segments: {all:?}");
    for f in &good {
        let boxes = top_boxes(f);
        assert_eq!(
            boxes.first().map(String::as_str),
            Some("ftyp"),
            "{f:?}: {boxes:?}"
        );
        assert!(boxes.iter().any(|b| b == "moov"), "{f:?}: {boxes:?}");
        assert!(boxes.iter().any(|b| b == "moof"), "{f:?}: {boxes:?}");
        assert!(
            !boxes.iter().any(|b| b.starts_with("TRUNCATED")),
            "{f:?}: {boxes:?}"
        );
    }
    assert!(
        !dir.path().join("dead").exists(),
        "the unreachable camera wrote something"
    );
    assert!(log
        .iter()
        .any(|l| l.contains("\"camera\":\"dead\"") && l.contains("cannot open the camera")));
}

#[test]
fn wrong_password_makes_ready_503_and_no_secret_reaches_logs_or_endpoints() {
    let sim = sim(Some(("admin", "right-password")));
    let dir = tempfile::tempdir().unwrap();
    let url = sim
        .url("/stream1")
        .replace("rtsp://", &format!("rtsp://admin:{PASSWORD}@"));
    let mut cmd = record_cmd(dir.path(), &[&url, "--camera-id", "locked"]);
    cmd.env("S3_SECRET_ACCESS_KEY", S3_SECRET)
        .env("S3_ACCESS_KEY_ID", "AKIAEXAMPLE000000")
        .env("RUST_LOG", "trace");
    let mut rec = Running::spawn(cmd);
    let addr = rec.metrics_addr();
    let body = eventually(Duration::from_secs(30), "/ready 503 with a reason", || {
        let (code, body) = get(addr, "/ready");
        (code == 503 && body.contains("configuration_error")).then_some(body)
    });
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["cameras"][0]["id"], "locked");
    assert_eq!(v["cameras"][0]["ready"], false);
    assert_eq!(v["cameras"][0]["reason"], "configuration_error", "{body}");
    // A reason code, not the camera's error text (user name, host).
    assert!(
        !body.contains("admin") && !body.contains("127.0.0.1"),
        "{body}"
    );
    let (_, metrics) = get(addr, "/metrics");
    assert_eq!(
        metric(&metrics, "camrec_camera_ready{camera=\"locked\"}"),
        Some(0.0)
    );
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0);
    assert!(log.len() > 5, "expected a trace log: {log:?}");
    for (i, line) in log.iter().enumerate() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "line {i} is not JSON: {line}"
        );
        assert!(
            !line.contains(PASSWORD),
            "camera password in log line {i}: {line}"
        );
        assert!(
            !line.contains(S3_SECRET),
            "S3 secret in log line {i}: {line}"
        );
    }
    assert!(
        log.iter().any(|l| l.contains("admin:***@")),
        "redacted URL expected in logs"
    );
    for text in [&body, &metrics] {
        assert!(!text.contains(PASSWORD) && !text.contains(S3_SECRET));
    }
}

#[test]
fn config_file_with_a_disabled_camera_records_only_the_enabled_one() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let cfg = write(
        dir.path(),
        "camrec.toml",
        &format!(
            "[output]\nsegment_duration_minutes = 0.05\n\n[storage]\ndir = {out:?}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[[cameras]]\nid = \"on\"\nurl = \"{u}\"\n\n[[cameras]]\nid = \"off\"\nurl = \"{u}\"\nenabled = false\n",
            u = sim.url("/stream1")
        ),
    );
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--duration",
        "5s",
        "--config",
    ])
    .arg(&cfg);
    let mut rec = Running::spawn(c);
    let addr = rec.metrics_addr();
    let (_, m) = get(addr, "/metrics");
    assert_eq!(metric(&m, "camrec_cameras_enabled"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "camrec_cameras_disabled"), Some(1.0), "{m}");
    assert!(!m.contains("camera=\"off\""), "{m}");
    let (code, log) = rec.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert!(out.join("on").is_dir(), "{:?}", files(&out));
    assert!(!out.join("off").exists());
    assert!(log
        .iter()
        .any(|l| l.contains("\"camera\":\"off\"") && l.contains("not started")));
    assert!(
        log.iter()
            .all(|l| !(l.contains("\"camera\":\"off\"") && l.contains("starting camera"))),
        "the disabled camera was started"
    );
}

#[test]
fn ready_is_503_while_first_connecting_then_200_once_retrying_a_network_error() {
    // A "camera" that accepts TCP and never answers: DESCRIBE times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("rtsp://{}/stream1", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(3) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Running::spawn(record_cmd(dir.path(), &[&url, "--camera-id", "mute"]));
    let addr = rec.metrics_addr();
    let (code, body) = get(addr, "/ready");
    assert_eq!(code, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cameras"][0]["reason"], "connecting", "{body}");
    assert_eq!(get(addr, "/health").0, 200);
    let body = eventually(Duration::from_secs(30), "/ready 200", || {
        let (code, body) = get(addr, "/ready");
        (code == 200).then_some(body)
    });
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cameras"][0]["reason"], "retrying", "{body}");
    assert!(!body.contains("127.0.0.1"), "{body}");
    rec.signal("TERM");
    assert_eq!(rec.wait(Duration::from_secs(40)).0, 0);
    drop(held);
}
