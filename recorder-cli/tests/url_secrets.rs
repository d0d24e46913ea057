//! Credentials in a camera URL's path or query (XMEye-style
//! `/user=admin&password=X&channel=1`, `?user=admin&pass=X`) reach the
//! camera but nothing else: no log line, file or folder name, metric label,
//! `/ready` body or `config check` output.

mod common;

use std::path::Path;
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig, Simulator};
use common::*;

const PATH_SECRET: &str = "PathPw7731xq";
const QUERY_SECRET: &str = "QueryPw0451zk";
const USER: &str = "camuser93";

fn mount_path() -> String {
    format!("/user={USER}&password={PATH_SECRET}&channel=1&stream=0.sdp")
}

fn query() -> String {
    format!("?usr={USER}&pass={QUERY_SECRET}")
}

/// Asserts none of the secrets (nor the user name) is in `text`.
fn assert_clean(what: &str, text: &str) {
    for s in [PATH_SECRET, QUERY_SECRET, USER] {
        assert!(!text.contains(s), "{s:?} in {what}:\n{text}");
    }
}

/// Every file and folder under `dir`: no secret in any name or content.
fn assert_clean_tree(dir: &Path) {
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let name = e.path().to_string_lossy().into_owned();
        assert_clean("a file or folder name", &name);
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            for s in [PATH_SECRET, QUERY_SECRET] {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{s:?} inside {name}"
                );
            }
        }
    }
}

#[test]
fn config_check_never_shows_path_or_query_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let url = format!("rtsp://10.0.0.5{}{}", mount_path(), query());
    let cfg = write(
        dir.path(),
        "camrec.toml",
        &format!("[storage]\ndir = {out:?}\n\n[[cameras]]\nurl = \"{url}\"\n"),
    );
    for fmt in ["text", "json"] {
        let (code, stdout, stderr) = run(camrec()
            .args(["--log-format", fmt, "config", "check", "-c"])
            .arg(&cfg));
        assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert_clean("config check stdout", &stdout);
        assert_clean("config check stderr", &stderr);
        assert!(
            stdout.contains("password=***") && stdout.contains("pass=***"),
            "the redacted URL is shown:\n{stdout}"
        );
        assert!(
            stdout.contains("10-0-0-5-channel-1-stream-0-sdp"),
            "derived id from host and the public path:\n{stdout}"
        );
    }
    // The same URL given on the command line.
    let (code, stdout, stderr) = run(camrec()
        .args(["--log-format", "text", "config", "check", "--out"])
        .arg(&out)
        .arg(&url));
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_clean("config check stdout", &stdout);
    assert_clean("config check stderr", &stderr);
}

#[test]
fn recording_with_path_and_query_credentials_leaks_them_nowhere() {
    let sim = Simulator::start_in_thread(
        SimConfig::new().mount(MountConfig::demo(mount_path())),
        "127.0.0.1:0".parse().unwrap(),
    )
    .expect("start sim");
    // Path credentials only: the simulator derives its Content-Base from
    // the request URI, query included, so a query breaks its SETUP; query
    // credentials are covered by the other two tests.
    let url = sim.url(&mount_path());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--duration",
        "6s",
        "--segment",
        "3s",
        "--metrics-listen",
        "127.0.0.1:0",
        "--out",
    ])
    .arg(&out)
    .arg(&url)
    .env("RUST_LOG", "trace");
    let mut rec = Running::spawn(c);
    let addr = rec.metrics_addr();
    // Until the camera's first segment file exists (or camrec has ended).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files(&out).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !files(&out).is_empty(),
        "nothing recorded:\n{}",
        rec.log().join("\n")
    );
    let (_, metrics) = get(addr, "/metrics");
    let (_, ready) = get(addr, "/ready");
    assert_clean("/metrics", &metrics);
    assert_clean("/ready", &ready);
    assert!(
        metrics.contains("camera=\"127-0-0-1-channel-1-stream-0-sdp\""),
        "derived id in the metric labels:\n{metrics}\n{}",
        rec.log().join("\n")
    );
    let (code, log) = rec.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", log.join("\n"));
    for (i, line) in log.iter().enumerate() {
        assert_clean(&format!("log line {i}"), line);
    }
    let recorded = files(&out);
    assert!(
        recorded
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "mp4")),
        "{recorded:?}\n{}",
        log.join("\n")
    );
    assert_clean_tree(&out);
}

#[test]
fn unreachable_camera_errors_never_show_path_or_query_credentials() {
    let url = format!(
        "rtsp://127.0.0.1:{}{}{}",
        dead_port(),
        mount_path(),
        query()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--duration",
        "3s",
        "--out",
    ])
    .arg(&out)
    .arg(&url)
    .env("RUST_LOG", "trace");
    let rec = Running::spawn(c);
    let (_, log) = rec.wait(Duration::from_secs(60));
    assert!(
        log.iter().any(|l| l.contains("password=***")),
        "the redacted URL is logged:\n{}",
        log.join("\n")
    );
    for (i, line) in log.iter().enumerate() {
        assert_clean(&format!("log line {i}"), line);
    }
    assert_clean_tree(dir.path());
}
