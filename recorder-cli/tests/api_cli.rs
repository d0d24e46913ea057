//! The control API against the real binary recording the simulator:
//! authentication, bad input, clips, the Go service's routes, and cameras
//! added, removed and reloaded while another records on untouched.

mod common;
#[path = "../../recorder-core/tests/support/media.rs"]
#[allow(dead_code)]
mod media;
#[path = "common/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig, SimHandle, Simulator};
use common::*;
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789abcdef";

fn sim_with(mounts: &[&str]) -> SimHandle {
    let mut cfg = SimConfig::new();
    for m in mounts {
        cfg = cfg.mount(MountConfig::demo(*m));
    }
    Simulator::start_in_thread(cfg, "127.0.0.1:0".parse().unwrap()).unwrap()
}

fn camera_toml(id: &str, url: &str) -> String {
    format!("[[cameras]]\nid = \"{id}\"\nurl = \"{url}\"\n\n")
}

/// `camrec record` with `config` (written to `dir/camrec.toml`), output
/// in `dir/out`, JSON logs.
fn start(dir: &Path, config: &str, token: Option<&str>) -> (Running, SocketAddr) {
    start_env(dir, config, token, &[])
}

/// [`start`] with more environment variables.
fn start_env(
    dir: &Path,
    config: &str,
    token: Option<&str>,
    env: &[(&str, &std::ffi::OsStr)],
) -> (Running, SocketAddr) {
    let file = write(dir, "camrec.toml", config);
    let mut c = camrec();
    c.envs(env.iter().copied());
    if let Some(t) = token {
        c.env("CAMREC_API_TOKEN", t);
    }
    c.args([
        "--log-format",
        "json",
        "record",
        "--metrics-listen",
        "127.0.0.1:0",
        "--config",
    ])
    .arg(&file)
    .arg("--out")
    .arg(dir.join("out"));
    let mut r = Running::spawn(c);
    let addr = r.metrics_addr();
    (r, addr)
}

fn wait_recording(addr: SocketAddr, id: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("camera {id} recording"),
        || {
            let (code, v) = request_json(addr, "GET", &format!("/api/cameras/{id}"), None, None);
            (code == 200 && v["state"] == "recording").then_some(())
        },
    );
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

/// One simulated camera `cam` recorded with [`TOKEN`], recording.
fn one_camera() -> (SimHandle, tempfile::TempDir, Running, SocketAddr) {
    let sim = sim_with(&["/stream1"]);
    let dir = tempfile::tempdir().unwrap();
    let (r, addr) = start(
        dir.path(),
        &camera_toml("cam", &sim.url("/stream1")),
        Some(TOKEN),
    );
    wait_recording(addr, "cam");
    (sim, dir, r, addr)
}

#[test]
fn changes_need_the_token_and_bad_input_is_a_4xx_with_a_message() {
    let (_sim, _dir, _r, addr) = one_camera();
    // Reading is open.
    let (code, v) = request_json(addr, "GET", "/api/cameras", None, None);
    assert_eq!(code, 200);
    assert_eq!(v["cameras"][0]["id"], "cam");
    // Changing is not, without the right token.
    for (method, path) in [
        ("POST", "/api/cameras/cam/stop"),
        ("POST", "/api/cameras/cam/clips"),
        ("DELETE", "/api/cameras/cam"),
        ("POST", "/api/reload"),
        ("POST", "/api/v1/recording/stop/cam"),
    ] {
        let (code, v) = request_json(addr, method, path, None, Some("{}"));
        assert_eq!(code, 401, "{method} {path}: {v}");
        assert!(error_of(&v).contains("Authorization: Bearer"), "{v}");
        let (code, v) = request_json(addr, method, path, Some("wrong"), Some("{}"));
        assert_eq!(code, 401, "{method} {path}: {v}");
        assert!(error_of(&v).contains("wrong"), "{v}");
    }
    let t = Some(TOKEN);
    // Clip requests: body, status, what the message says.
    let clip_bodies = [
        ("{not json", 400, "not valid JSON"),
        (r#"{"pre_s": -1, "post_s": 2}"#, 400, "pre_s must be"),
        (r#"{"pre_s": 1e300, "post_s": 2}"#, 400, "pre_s must be"),
        (r#"{"pre_s": 1, "post_s": -3}"#, 400, "post_s must be"),
        (r#"{"pre_s": 61, "post_s": 2}"#, 400, "pre-roll"),
        (r#"{"pre_s": 1, "post_s": 7200}"#, 400, "longer than camera"),
        (r#"{"pre_s": "x"}"#, 400, "bad request body"),
        (r#"{"pre": 1}"#, 400, "unknown field"),
    ];
    for (body, want, says) in clip_bodies {
        let (code, v) = request_json(addr, "POST", "/api/cameras/cam/clips", t, Some(body));
        assert_eq!(code, want, "{body}: {v}");
        assert!(error_of(&v).contains(says), "{body}: {v}");
    }
    let bad = [
        (
            "POST",
            "/api/cameras/nope/clips",
            Some(r#"{"pre_s": 1, "post_s": 1}"#),
            404,
            "no camera `nope`",
        ),
        ("POST", "/api/cameras/nope/stop", None, 404, "no camera"),
        ("DELETE", "/api/cameras/nope", None, 404, "no camera"),
        (
            "PUT",
            "/api/cameras/cam",
            Some("[1]"),
            400,
            "not a JSON object",
        ),
        (
            "PUT",
            "/api/cameras/cam",
            Some(r#"{"url": "http://x"}"#),
            400,
            "rtsp",
        ),
        ("POST", "/api/cameras", Some(r#"{"id": "x"}"#), 400, "url"),
        (
            "POST",
            "/api/cameras",
            Some(r#"{"id": "cam", "url": "rtsp://127.0.0.1:1/x"}"#),
            409,
            "exists already",
        ),
        ("POST", "/api/clips/nope/end", None, 404, "no clip"),
        ("DELETE", "/api/clips/nope", None, 404, "no clip"),
        (
            "POST",
            "/api/v1/recording/start/nope",
            None,
            404,
            "not found",
        ),
    ];
    for (method, path, body, want, says) in bad {
        let (code, v) = request_json(addr, method, path, t, body);
        assert_eq!(code, want, "{method} {path} {body:?}: {v}");
        assert!(error_of(&v).contains(says), "{method} {path} {body:?}: {v}");
    }
    for path in [
        "/api/clips?since=yesterday",
        "/api/clips?status=DONE",
        "/api/clips?bogus=1",
        "/api/clips/nope",
        "/api/cameras/nope",
        "/api/v1/recording/status/nope",
    ] {
        let (code, v) = request_json(addr, "GET", path, None, None);
        assert!((400..500).contains(&code), "{path}: {code} {v}");
        assert!(!error_of(&v).is_empty());
    }
}

#[test]
fn without_a_token_changes_are_off_unless_allowed_for_localhost() {
    let sim = sim_with(&["/stream1"]);
    let dir = tempfile::tempdir().unwrap();
    let (r, addr) = start(dir.path(), &camera_toml("cam", &sim.url("/stream1")), None);
    let (code, v) = request_json(addr, "POST", "/api/cameras/cam/stop", None, None);
    assert_eq!(code, 403, "{v}");
    assert!(error_of(&v).contains("CAMREC_API_TOKEN"), "{v}");
    assert!(
        error_of(&v).contains("allow_localhost_without_token"),
        "{v}"
    );
    drop(r);
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[api]\nallow_localhost_without_token = true\n\n{}",
        camera_toml("cam", &sim.url("/stream1"))
    );
    let (_r, addr) = start(dir.path(), &cfg, None);
    let (code, v) = request_json(addr, "POST", "/api/cameras/cam/stop", None, None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["paused"], true);
}

#[test]
fn clips_and_the_go_service_routes() {
    let (_sim, dir, _r, addr) = one_camera();
    std::thread::sleep(Duration::from_secs(3));
    let t = Some(TOKEN);
    let (code, v) = request_json(
        addr,
        "POST",
        "/api/cameras/cam/clips",
        t,
        Some(r#"{"pre_s": 2, "post_s": 2, "label": "doorbell"}"#),
    );
    assert_eq!(code, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["extended"], false);
    let clip = eventually(Duration::from_secs(30), "clip completed", || {
        let (code, v) = request_json(addr, "GET", &format!("/api/clips/{id}"), None, None);
        assert_eq!(code, 200, "{v}");
        assert_ne!(v["status"], "FAILED", "{v}");
        (v["status"] == "COMPLETED").then_some(v)
    });
    let file = Path::new(clip["location"].as_str().unwrap()).to_path_buf();
    assert!(
        file.starts_with(dir.path().join("out/clips/cam")),
        "{}",
        file.display()
    );
    assert!(media::ffmpeg_errors(&file).is_empty());
    assert!(
        (clip["duration_s"].as_f64().unwrap() - 4.0).abs() < 0.05,
        "{clip}"
    );
    assert_eq!(clip["ended"], "post_roll");
    let (_, list) = request_json(
        addr,
        "GET",
        "/api/clips?camera=cam&status=completed&since=0",
        None,
        None,
    );
    assert_eq!(list["clips"].as_array().unwrap().len(), 1, "{list}");
    let (_, list) = request_json(
        addr,
        "GET",
        "/api/clips?since=2100-01-01T00:00:00Z",
        None,
        None,
    );
    assert!(list["clips"].as_array().unwrap().is_empty(), "{list}");
    let (code, _) = request(addr, "DELETE", &format!("/api/clips/{id}"), t, None);
    assert_eq!(code, 204);
    assert!(!file.exists() && !file.with_extension("json").exists());
    // An open-ended clip, ended through the API.
    let (code, v) = request_json(
        addr,
        "POST",
        "/api/cameras/cam/clips",
        t,
        Some(r#"{"pre_s": 1, "label": "event"}"#),
    );
    assert_eq!(code, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_secs(2));
    let (code, v) = request_json(
        addr,
        "POST",
        &format!("/api/clips/{id}/end"),
        t,
        Some(r#"{"post_s": 1}"#),
    );
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["ended_by_request"], true);
    let v = eventually(Duration::from_secs(30), "open-ended clip completed", || {
        let (_, v) = request_json(addr, "GET", &format!("/api/clips/{id}"), None, None);
        (v["status"] == "COMPLETED").then_some(v)
    });
    let d = v["duration_s"].as_f64().unwrap();
    assert!((3.9..4.4).contains(&d), "{v}");

    // The Go recording service's routes and field names.
    let (code, v) = request_json(addr, "GET", "/api/v1/recording/status/cam", None, None);
    assert_eq!(code, 200);
    for k in [
        "camera_id",
        "camera_name",
        "status",
        "started_at",
        "last_segment_at",
        "segment_count",
        "total_bytes",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["status"], "recording");
    let (code, v) = request_json(addr, "POST", "/api/v1/recording/stop/cam", t, None);
    assert_eq!(code, 200);
    assert_eq!(v["status"], "stopped");
    // The pause takes effect at the camera's next frame.
    let all = eventually(Duration::from_secs(10), "the open segment stored", || {
        let (_, all) = request_json(addr, "GET", "/api/v1/recording/status", None, None);
        (all["total_segments"].as_u64() >= Some(1)).then_some(all)
    });
    for k in [
        "total_recordings",
        "active_recordings",
        "total_segments",
        "total_bytes",
        "recordings_by_camera",
    ] {
        assert!(all.get(k).is_some(), "{k} missing in {all}");
    }
    assert_eq!(all["total_recordings"], 1);
    assert_eq!(all["active_recordings"], 0);
    assert_eq!(all["recordings_by_camera"]["cam"]["status"], "stopped");
    assert!(
        all["total_segments"].as_u64().unwrap() >= 1,
        "stopping stored the open segment: {all}"
    );
    let (code, v) = request_json(addr, "POST", "/api/v1/recording/start/cam", t, None);
    assert_eq!(code, 200);
    assert_eq!(v["status"], "recording");
}

/// Video frames stored for camera `id`: every segment's frames, decoded.
fn stored_frames(out: &Path, id: &str) -> (usize, u64) {
    let files: Vec<_> = media::segments(&out.join(id));
    let frames = files.iter().map(|f| media::decoded_frames(f, "v")).sum();
    (files.len(), frames)
}

#[test]
fn cameras_added_removed_and_reloaded_leave_the_others_recording() {
    let sim = sim_with(&["/a", "/b", "/c", "/d"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = camera_toml("a", &sim.url("/a")) + &camera_toml("b", &sim.url("/b"));
    let (mut r, addr) = start(dir.path(), &base, Some(TOKEN));
    let t = Some(TOKEN);
    wait_recording(addr, "a");
    wait_recording(addr, "b");
    // Add c through the API, remove b.
    let body = format!(
        r#"{{"id": "c", "url": "{}", "name": "Side door"}}"#,
        sim.url("/c")
    );
    let (code, v) = request_json(addr, "POST", "/api/cameras", t, Some(&body));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["name"], "Side door");
    wait_recording(addr, "c");
    eventually(Duration::from_secs(20), "b writing a segment", || {
        let (_, v) = request_json(addr, "GET", "/api/cameras/b", None, None);
        v["current_segment"].is_string().then_some(())
    });
    let (code, _) = request(addr, "DELETE", "/api/cameras/b", t, None);
    assert_eq!(code, 204);
    let (code, _) = request(addr, "GET", "/api/cameras/b", None, None);
    assert_eq!(code, 404);
    assert_eq!(
        stored_frames(&out, "b").0,
        1,
        "b's segment was closed: {:?}",
        media::files_under(&out)
    );
    // An invalid file changes nothing and says where it is wrong.
    let file = dir.path().join("camrec.toml");
    std::fs::write(&file, format!("{base}[[cameras]]\nid = \"d\"\nurl = 5\n")).unwrap();
    let (code, v) = request_json(addr, "POST", "/api/reload", t, None);
    assert_eq!(code, 400, "{v}");
    assert!(error_of(&v).contains("camrec.toml:"), "{v}");
    let (_, list) = request_json(addr, "GET", "/api/cameras", None, None);
    // Cameras that are gone but have recordings stay listed, marked
    // `configured: false`, so their recordings can still be played.
    let cams = list["cameras"].as_array().unwrap();
    let ids: Vec<&str> = cams
        .iter()
        .filter(|c| c["configured"] != false)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c"]);
    let b = cams
        .iter()
        .find(|c| c["id"] == "b")
        .expect("b's recordings listed");
    assert_eq!(b["configured"], false, "{b}");
    assert!(b["first_recording"].is_string(), "{b}");
    // SIGHUP with a file of a (unchanged) and d (new); c is not in the
    // file, so it goes.
    std::fs::write(
        &file,
        camera_toml("a", &sim.url("/a")) + &camera_toml("d", &sim.url("/d")),
    )
    .unwrap();
    r.signal("HUP");
    r.wait_for_line("configuration reloaded", Duration::from_secs(20));
    wait_recording(addr, "d");
    let (code, _) = request(addr, "GET", "/api/cameras/c", None, None);
    assert_eq!(code, 404);
    // Change d through the API: restarted; the same settings again: not.
    let body = format!(r#"{{"url": "{}", "fragment_seconds": 2}}"#, sim.url("/d"));
    let (code, v) = request_json(addr, "PUT", "/api/cameras/d", t, Some(&body));
    assert_eq!((code, &v["restarted"]), (200, &Value::Bool(true)), "{v}");
    let (code, v) = request_json(addr, "PUT", "/api/cameras/d", t, Some(&body));
    assert_eq!((code, &v["restarted"]), (200, &Value::Bool(false)), "{v}");
    // A reload with d changed in the file restarts d only.
    std::fs::write(
        &file,
        camera_toml("a", &sim.url("/a"))
            + &camera_toml("d", &sim.url("/d"))
            + "fragment_seconds = 3\n",
    )
    .unwrap();
    let (code, report) = request_json(addr, "POST", "/api/reload", t, None);
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["changed"], serde_json::json!(["d"]), "{report}");
    assert_eq!(report["unchanged"], serde_json::json!(["a"]), "{report}");
    assert_eq!(report["added"], serde_json::json!([]), "{report}");
    assert_eq!(report["removed"], serde_json::json!([]), "{report}");
    wait_recording(addr, "d");
    std::thread::sleep(Duration::from_secs(2));
    // The metrics and readiness follow: d is reported, b and c are not.
    let (_, metrics) = get(addr, "/metrics");
    assert!(
        metrics.contains("camrec_camera_frames_total{camera=\"d\""),
        "{metrics}"
    );
    assert!(
        !metrics.contains("camera=\"b\"") && !metrics.contains("camera=\"c\""),
        "{metrics}"
    );
    let (code, ready) = get(addr, "/ready");
    assert_eq!(code, 200, "{ready}");
    let ring = metric(&metrics, "camrec_camera_pre_roll_bytes{camera=\"a\"}").unwrap();
    assert!(
        ring > 10_000.0,
        "a's pre-roll ring holds its last seconds: {ring}"
    );
    // Camera a never noticed: one session, one segment, every frame the
    // simulator sent is in it.
    let (_, a) = request_json(addr, "GET", "/api/cameras/a", None, None);
    assert_eq!(a["counters"]["reconnects"], 0, "{a}");
    assert_eq!(sim.frame_log("/a").unwrap().sessions_started, 1);
    close_sessions(&sim, "/a");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = sim.frame_log("/a").unwrap();
    r.signal("TERM");
    let (code, log) = r.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log.join("\n"));
    let (files, frames) = stored_frames(&out, "a");
    println!(
        "camera a: sent {} video frames in {} sessions; stored {frames} in {files} files",
        sent.video_frames, sent.sessions_started
    );
    assert_eq!(files, 1);
    assert_eq!(frames, sent.video_frames);
}

fn close_sessions(sim: &SimHandle, path: &str) {
    sim.set_faults(
        path,
        camera_sim::Faults {
            close_after: Some(Duration::ZERO),
            ..camera_sim::Faults::none()
        },
    )
    .unwrap();
}

/// A webhook receiver (https with `tls`): answers the first POST with 503,
/// the rest with 200, and keeps every body it accepted.
struct Hook {
    addr: SocketAddr,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn hook_on(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Hook {
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (b, n) = (bodies.clone(), requests.clone());
    let addr = tls::serve(tls, move |body| {
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return "503 Service Unavailable";
        }
        b.lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap());
        "200 OK"
    });
    Hook {
        addr,
        bodies,
        requests,
    }
}

fn hook() -> Hook {
    hook_on(None)
}

#[test]
fn webhook_receives_segments_and_clips_with_retries() {
    let sim = sim_with(&["/stream1"]);
    let h = hook();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[api]\nwebhook_url = \"http://{}/hook?site=1\"\n\n{}\nsegment_duration_minutes = 0.05\n",
        h.addr,
        camera_toml("cam", &sim.url("/stream1")).trim_end()
    );
    let (_r, addr) = start(dir.path(), &cfg, Some(TOKEN));
    wait_recording(addr, "cam");
    std::thread::sleep(Duration::from_secs(3));
    let (code, v) = request_json(
        addr,
        "POST",
        "/api/cameras/cam/clips",
        Some(TOKEN),
        Some(r#"{"pre_s": 1, "post_s": 1, "label": "hook"}"#),
    );
    assert_eq!(code, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let bodies = eventually(
        Duration::from_secs(40),
        "a segment and the clip posted",
        || {
            let b = h.bodies.lock().unwrap().clone();
            let seg = b
                .iter()
                .any(|v| v["type"] == "segment" && v["camera"] == "cam");
            let clip = b
                .iter()
                .any(|v| v["type"] == "clip" && v["id"] == id.as_str());
            (seg && clip).then_some(b)
        },
    );
    let clip = bodies.iter().find(|v| v["type"] == "clip").unwrap();
    assert_eq!(clip["status"], "COMPLETED");
    assert!(
        Path::new(clip["location"].as_str().unwrap()).exists(),
        "{clip}"
    );
    let seg = bodies.iter().find(|v| v["type"] == "segment").unwrap();
    assert!(
        Path::new(seg["location"].as_str().unwrap()).exists(),
        "{seg}"
    );
    assert!(seg["video_frames"].as_u64().unwrap() > 0, "{seg}");
    // The refused first POST was sent again: nothing was lost.
    let n = h.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(n, h.bodies.lock().unwrap().len() + 1);
    // Deliveries are metrics: at least the events received so far (more
    // may have been posted since), none given up on or dropped.
    let (code, text) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let value = |name: &str| {
        metric(&text, name).unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    };
    assert!(
        value("camrec_webhook_events_delivered_total") >= bodies.len() as f64,
        "{text}"
    );
    assert_eq!(value("camrec_webhook_events_failed_total"), 0.0);
    assert_eq!(value("camrec_webhook_events_dropped_total"), 0.0);
}

/// A webhook receiver serving https with a certificate for 127.0.0.1 from
/// a CA made for the test (openssl), and a camera to record with it: the
/// simulator, the CA's PEM file, the receiver, the config.
fn https_hook(pki: &Path) -> (SimHandle, std::path::PathBuf, Hook, String) {
    let ca = tls::make_ca(pki);
    let h = hook_on(Some(tls::server_config(
        pki,
        "server",
        "IP:127.0.0.1,DNS:localhost",
    )));
    let sim = sim_with(&["/stream1"]);
    let cfg = format!(
        "{}\nsegment_duration_minutes = 0.05\n",
        camera_toml("cam", &sim.url("/stream1")).trim_end()
    );
    (sim, ca, h, cfg)
}

/// An https receiver whose CA is trusted through `SSL_CERT_FILE` gets the
/// stored segments (the refused first POST too, sent again); credentials
/// and query values of the URL stay out of the log.
#[test]
fn webhook_posts_over_https_to_a_receiver_trusted_by_ssl_cert_file() {
    let pki = tempfile::tempdir().unwrap();
    let (_sim, ca, h, cfg) = https_hook(pki.path());
    let url = format!(
        "https://hook:pw-8f3a@127.0.0.1:{}/hook?key=k-51b7",
        h.addr.port()
    );
    let dir = tempfile::tempdir().unwrap();
    let (r, addr) = start_env(
        dir.path(),
        &cfg,
        None,
        &[
            ("CAMREC_WEBHOOK_URL", url.as_ref()),
            ("SSL_CERT_FILE", ca.as_os_str()),
        ],
    );
    let bodies = eventually(Duration::from_secs(40), "two segments posted", || {
        let b = h.bodies.lock().unwrap().clone();
        (b.iter().filter(|v| v["type"] == "segment").count() >= 2).then_some(b)
    });
    for seg in bodies.iter() {
        assert_eq!(seg["camera"], "cam", "{seg}");
        assert!(
            Path::new(seg["location"].as_str().unwrap()).exists(),
            "{seg}"
        );
        assert!(seg["video_frames"].as_u64().unwrap() > 0, "{seg}");
    }
    let n = h.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(n, h.bodies.lock().unwrap().len() + 1);
    let (code, text) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let delivered = metric(&text, "camrec_webhook_events_delivered_total").unwrap();
    assert!(delivered >= bodies.len() as f64, "{text}");
    assert_eq!(
        metric(&text, "camrec_webhook_events_failed_total"),
        Some(0.0)
    );
    let log = r.log().join("\n");
    assert!(
        log.contains("posting stored segments and clips to the webhook"),
        "{log}"
    );
    assert!(!log.contains("pw-8f3a") && !log.contains("k-51b7"), "{log}");
}

/// Without the CA (no `SSL_CERT_FILE`: the system's store), the https
/// receiver's certificate is not trusted: nothing is delivered, a warning
/// says so and how to fix it, and recording goes on.
#[test]
fn webhook_https_with_an_untrusted_certificate_warns_and_recording_goes_on() {
    let pki = tempfile::tempdir().unwrap();
    let (_sim, _ca, h, cfg) = https_hook(pki.path());
    let url = format!("https://127.0.0.1:{}/hook", h.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let (mut r, addr) = start_env(
        dir.path(),
        &cfg,
        None,
        &[("CAMREC_WEBHOOK_URL", url.as_ref())],
    );
    let line = r.wait_for_line("webhook POST failed; retrying", Duration::from_secs(30));
    assert!(
        line.contains(&format!("certificate of {} not trusted", h.addr))
            && line.contains("SSL_CERT_FILE"),
        "{line}"
    );
    let out = dir.path().join("out");
    eventually(Duration::from_secs(30), "segments still written", || {
        let n = files(&out)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .count();
        (n >= 3).then_some(())
    });
    assert_eq!(h.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    let (_, text) = get(addr, "/metrics");
    assert_eq!(
        metric(&text, "camrec_webhook_events_delivered_total"),
        Some(0.0),
        "{text}"
    );
}

/// `config check` shows the API and clip settings with their origins, the
/// token redacted; bad values are named with file:line.
#[test]
fn config_check_shows_api_and_clip_settings() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        "[api]\nallow_localhost_without_token = true\n\n[clips]\npre_roll_seconds = 20\nkey_template = \"events/{camera}/{YYYYMMDD}/{HHMMSS}_{label}.mp4\"\n\n[[cameras]]\nid = \"cam\"\nurl = \"rtsp://192.0.2.1/s\"\n",
    );
    let (code, out, err) = run(camrec()
        .args(["config", "check", "-c"])
        .arg(&good)
        .env("CAMREC_API_TOKEN", TOKEN)
        .env(
            "CAMREC_WEBHOOK_URL",
            "https://indexer.example:8443/camrec?key=HookKey42",
        ));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "{out}");
    assert!(
        !out.contains("HookKey42"),
        "the webhook's key is masked: {out}"
    );
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .to_owned()
    };
    assert!(
        line("token ").contains("\"***\"") && line("token ").contains("CAMREC_API_TOKEN"),
        "{out}"
    );
    assert!(
        line("allow_localhost_without_token").contains("good.toml:2"),
        "{out}"
    );
    assert!(
        line("webhook_url").contains("\"https://indexer.example:8443/camrec?key=***\"")
            && line("webhook_url").contains("CAMREC_WEBHOOK_URL"),
        "{out}"
    );
    assert!(
        line("pre_roll_seconds").contains("20") && line("pre_roll_seconds").contains("good.toml:5"),
        "{out}"
    );
    let bad = write(
        dir.path(),
        "bad.toml",
        "[clips]\npre_roll_seconds = 61\nkey_template = \"clips/{label}.avi\"\n\n[api]\nwebhook_url = \"ftp://x\"\n\n[[cameras]]\nurl = \"rtsp://192.0.2.1/s\"\n",
    );
    let (code, _, err) = run(camrec().args(["config", "check", "-c"]).arg(&bad));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.toml:2:") && err.contains("pre_roll_seconds = 61"),
        "{err}"
    );
    assert!(err.contains("bad.toml:3:") && err.contains(".mp4"), "{err}");
    assert!(
        err.contains("bad.toml:6:") && err.contains("http://") && err.contains("https://"),
        "{err}"
    );
}
