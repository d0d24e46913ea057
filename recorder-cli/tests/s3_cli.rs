//! `camrec record` into S3, against a real moto 5.1.22 server started on a
//! free loopback port (found like the library's tests do: $CAMREC_MOTO_SERVER
//! or $CAMREC_S3_TOOLS/moto/bin/moto_server, see scripts/s3-test-servers.sh).
//! Tests that need moto skip with a printed reason when it is not installed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use recorder_core::sink::s3::{S3Config, S3Store};

/// Never appears in any output.
const SECRET: &str = "Zq8camrecS3cliSECRETvalue0123456789abcd";

struct Moto {
    port: u16,
    child: Child,
}

impl Moto {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CAMREC_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let tools = std::env::var_os("CAMREC_S3_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camrec-s3")
        });
    let p = tools.join("moto/bin/moto_server");
    p.exists().then_some(p)
}

/// moto on a free port; `no_auth_requests`: moto checks signatures after
/// that many requests (None: never).
fn moto(no_auth_requests: Option<u32>) -> Option<Moto> {
    let Some(bin) = moto_bin() else {
        eprintln!(
            "SKIP: moto_server not installed (run scripts/s3-test-servers.sh install, or set CAMREC_MOTO_SERVER)"
        );
        return None;
    };
    let port = dead_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = no_auth_requests {
        cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
    }
    let child = cmd.spawn().expect("start moto_server");
    let m = Moto { port, child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not open port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(m)
}

/// A client for checking the bucket (the library's, pointed at moto).
async fn store(m: &Moto, bucket: &str, spool: &Path) -> S3Store {
    let mut c = S3Config::new(bucket)
        .with_endpoint(m.endpoint())
        .with_credentials("testing", "testing-secret");
    c.spool_dir = spool.to_owned();
    c.create_bucket = true;
    S3Store::connect(c).await.expect("connect to moto")
}

fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP (decode check): ffmpeg not installed");
    }
    ok
}

/// `{prefix}/{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.mp4`.
fn key_matches(key: &str, prefix: &str, camera: &str) -> bool {
    let Some(rest) = key.strip_prefix(&format!("{prefix}/{camera}/")) else {
        return false;
    };
    let Some((day, file)) = rest.split_once('/') else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let Some(time) = file.strip_suffix(&format!("_{camera}.mp4")) else {
        return false;
    };
    digits(day, 8) && digits(time, 6)
}

fn record_cmd(m: &Moto, secret: &str, tmp: &Path) -> Command {
    let mut c = camrec();
    c.env("S3_ENDPOINT", m.endpoint())
        .env("S3_ACCESS_KEY_ID", "testing")
        .env("S3_SECRET_ACCESS_KEY", secret)
        .env("TEMP_DIR", tmp)
        .current_dir(tmp);
    c
}

/// [`record_cmd`] with the right secret, bucket creation and JSON logs.
fn json_record_cmd(m: &Moto, tmp: &Path) -> Command {
    let mut c = record_cmd(m, SECRET, tmp);
    c.env("S3_CREATE_BUCKET", "true")
        .args(["--log-format", "json"]);
    c
}

/// Records ~8 s of the simulator into s3://cams/site1 with 2 s segments:
/// every object lands under the documented name, decodes without a single
/// ffmpeg error, /metrics and /ready show the uploads, nothing is left in
/// the spool or as an open multipart upload, and the secret never appears
/// in any (JSON, debug-level) log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_to_s3_publishes_playable_segments() {
    let Some(m) = moto(None) else { return };
    let sim = sim(None);
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = json_record_cmd(&m, tmp.path());
    cmd.args([
        "-v",
        "record",
        "--status",
        "never",
        "--duration",
        "8s",
        "--segment",
        "2s",
        "--metrics-listen",
        "127.0.0.1:0",
        "--camera-id",
        "door",
        "--out",
        "s3://cams/site1",
        &url,
    ]);
    let mut run = Running::spawn(cmd);
    let addr = run.metrics_addr();
    run.wait_for_line("segment sealed for upload", Duration::from_secs(20));
    let uploaded = eventually(Duration::from_secs(20), "an upload in /metrics", || {
        let (code, body) = get(addr, "/metrics");
        assert_eq!(code, 200);
        metric(&body, "camrec_s3_segments_uploaded_total").filter(|v| *v >= 1.0)
    });
    assert!(uploaded >= 1.0);
    let (_, body) = get(addr, "/metrics");
    assert!(
        metric(&body, "camrec_s3_bytes_uploaded_total").unwrap() > 10_000.0,
        "{body}"
    );
    assert_eq!(metric(&body, "camrec_s3_upload_failures_total"), Some(0.0));
    assert_eq!(metric(&body, "camrec_s3_store_ready"), Some(1.0), "{body}");
    assert!(metric(&body, "camrec_s3_spool_limit_bytes").unwrap() > 0.0);
    let (code, ready) = get(addr, "/ready");
    assert_eq!(code, 200, "{ready}");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["storage"]["ready"], true, "{ready}");

    let (code, log) = run.wait(Duration::from_secs(60));
    let text = log.join("\n");
    assert_eq!(code, 0, "{text}");
    sim.shutdown();
    for l in &log {
        assert!(!l.contains(SECRET), "secret in a log line: {l}");
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
    }
    assert!(text.contains("connected to S3"), "{text}");
    assert!(text.contains("all uploads complete"), "{text}");
    assert!(!text.contains("segment stored"), "{text}");

    // The bucket: the documented names, each object playable.
    let spool = tempfile::tempdir().unwrap();
    let s = store(&m, "cams", spool.path()).await;
    let listed = s
        .client()
        .list_objects_v2()
        .bucket("cams")
        .send()
        .await
        .unwrap();
    let (thumbs, keys): (Vec<String>, Vec<String>) = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .partition(|k| k.ends_with(".jpg"));
    assert!(keys.len() >= 2, "expected several 2 s segments: {keys:?}");
    // One thumbnail (on by default, every 5 min, the first at once) next
    // to the segments, typed and sized in its metadata.
    assert_eq!(thumbs.len(), 1, "{thumbs:?}");
    assert!(
        key_matches(&thumbs[0].replace(".jpg", ".mp4"), "site1", "door"),
        "unexpected key {}",
        thumbs[0]
    );
    let head = s
        .client()
        .head_object()
        .bucket("cams")
        .key(&thumbs[0])
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/jpeg"));
    let meta = head.metadata().unwrap();
    assert_eq!(
        (
            meta.get("width").map(String::as_str),
            meta.get("height").map(String::as_str)
        ),
        (Some("640"), Some("360")),
        "{meta:?}"
    );
    for k in &keys {
        assert!(key_matches(k, "site1", "door"), "unexpected key {k}");
    }
    let sealed = text.matches("segment sealed for upload").count();
    assert_eq!(sealed, keys.len(), "every sealed segment is published");
    let open = s
        .client()
        .list_multipart_uploads()
        .bucket("cams")
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty(), "{:?}", open.uploads());
    let spooled = files(&tmp.path().join("camrec-spool"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .count();
    assert_eq!(spooled, 0, "spool left behind");
    if have_ffmpeg() {
        let dl = tempfile::tempdir().unwrap();
        for k in &keys {
            let o = s
                .client()
                .get_object()
                .bucket("cams")
                .key(k)
                .send()
                .await
                .unwrap();
            let data = o.body.collect().await.unwrap().into_bytes();
            let path = dl.path().join(k.replace('/', "_"));
            std::fs::write(&path, &data).unwrap();
            assert_eq!(top_boxes(&path)[..2], ["ftyp", "moov"], "{k}");
            let out = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{k}");
            let errs = String::from_utf8_lossy(&out.stderr);
            assert!(errs.trim().is_empty(), "{k}: ffmpeg errors:\n{errs}");
        }
    }
}

/// `--legacy-metrics` to S3: the old dashboards' upload families are per
/// camera (`camera_id`), and every uploaded segment has its upload
/// duration in the histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_upload_metrics_are_per_camera() {
    let Some(m) = moto(None) else { return };
    let sim = sim(None);
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = json_record_cmd(&m, tmp.path());
    cmd.args([
        "record",
        "--status",
        "never",
        "--duration",
        "6s",
        "--segment",
        "2s",
        "--metrics-listen",
        "127.0.0.1:0",
        "--legacy-metrics",
        "--camera-id",
        "door",
        "--out",
        "s3://legacy/site1",
        &url,
    ]);
    let mut run = Running::spawn(cmd);
    let addr = run.metrics_addr();
    let uploaded = "camera_segments_uploaded_total{camera_id=\"door\"}";
    let body = eventually(Duration::from_secs(30), "an upload in /metrics", || {
        let (code, body) = get(addr, "/metrics");
        assert_eq!(code, 200);
        metric(&body, uploaded).filter(|v| *v >= 1.0).map(|_| body)
    });
    let n = metric(&body, uploaded).unwrap();
    let count = "camera_segment_upload_duration_seconds_count{camera_id=\"door\"}";
    assert_eq!(metric(&body, count), Some(n), "{body}");
    let inf = "camera_segment_upload_duration_seconds_bucket{le=\"+Inf\",camera_id=\"door\"}";
    assert_eq!(metric(&body, inf), Some(n), "{body}");
    let sum = "camera_segment_upload_duration_seconds_sum{camera_id=\"door\"}";
    assert!(
        metric(&body, sum).is_some_and(|s| s > 0.0 && s < 30.0 * n),
        "{body}"
    );
    assert_eq!(
        metric(&body, "camera_upload_failures_total{camera_id=\"door\"}"),
        Some(0.0),
        "{body}"
    );
    assert!(
        metric(&body, "camera_segments_recorded_total{camera_id=\"door\"}").is_some_and(|r| r >= n),
        "{body}"
    );
    // No series without the camera.
    for l in body.lines().filter(|l| l.starts_with("camera_")) {
        assert!(l.contains("camera_id=\"door\""), "{l}");
    }
    // camrec's own families are still there.
    assert!(
        metric(&body, "camrec_s3_segments_uploaded_total").is_some_and(|v| v >= n),
        "{body}"
    );
    let (code, log) = run.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", log.join("\n"));
    sim.shutdown();
}

/// One raw, unsigned IAM call (moto accepts it within its no-auth allowance).
fn iam(m: &Moto, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", m.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        m.port,
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

fn xml_field<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    let end = xml[start..].find("</").unwrap() + start;
    &xml[start..end]
}

/// moto checking signatures: a real access key with the wrong secret, and
/// an unknown key, each fail at start-up (exit 1) with a message naming the
/// key id, never the secret, and no camera is started.
#[test]
fn wrong_s3_secret_is_named_by_key_id() {
    let Some(m) = moto(Some(2)) else { return };
    let r = iam(&m, "Action=CreateUser&UserName=camrec&Version=2010-05-08");
    assert!(r.contains("<UserName>camrec</UserName>"), "{r}");
    let r = iam(
        &m,
        "Action=CreateAccessKey&UserName=camrec&Version=2010-05-08",
    );
    let key_id = xml_field(&r, "AccessKeyId").to_string();
    let real_secret = xml_field(&r, "SecretAccessKey").to_string();
    assert_ne!(real_secret, SECRET);
    let tmp = tempfile::tempdir().unwrap();
    for (id, what) in [
        (key_id.as_str(), "wrong secret"),
        ("AKIAUNKNOWN00000KEY", "unknown key"),
    ] {
        let (code, _, err) = run(record_cmd(&m, SECRET, tmp.path())
            .env("S3_ACCESS_KEY_ID", id)
            .args([
                "--log-format",
                "text",
                "record",
                "--no-metrics",
                "--status",
                "never",
                "--out",
                "s3://cams/x",
                "rtsp://127.0.0.1:9/none",
            ]));
        assert_eq!(code, 1, "{what}: {err}");
        assert!(
            err.contains(&format!("rejected access key id \"{id}\"")),
            "{what}: {err}"
        );
        assert!(err.contains("secret access key"), "{what}: {err}");
        assert!(!err.contains(SECRET), "{what}: secret leaked: {err}");
        assert!(!err.contains("starting camera"), "{what}: {err}");
    }
}

/// A bucket that does not exist (and create_bucket off): exit 1, the
/// bucket named, and how to fix it.
#[test]
fn missing_bucket_is_clear() {
    let Some(m) = moto(None) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(record_cmd(&m, SECRET, tmp.path())
        .env("S3_BUCKET", "no-such-bucket")
        .args([
            "--log-format",
            "text",
            "record",
            "--no-metrics",
            "--status",
            "never",
            "rtsp://127.0.0.1:9/none",
        ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bucket \"no-such-bucket\" does not exist")
            && err.contains("S3_CREATE_BUCKET"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
}

/// Nothing listening at the endpoint: exit 1 naming the endpoint (no moto
/// needed).
#[test]
fn unreachable_endpoint_is_clear() {
    let port = dead_port();
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(camrec()
        .env("S3_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("S3_ACCESS_KEY_ID", "AKIAEXAMPLE0000")
        .env("S3_SECRET_ACCESS_KEY", SECRET)
        .env("TEMP_DIR", tmp.path())
        .args([
            "--log-format",
            "text",
            "record",
            "--no-metrics",
            "--status",
            "never",
            "--out",
            "s3://cams",
            "rtsp://127.0.0.1:9/none",
        ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot reach the S3 endpoint") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!err.contains(SECRET));
}

/// A malformed `--out s3://` or an impossible S3 setting is a usage error
/// (exit 2) found before anything is contacted.
#[test]
fn bad_s3_settings_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let base = |out: &str| {
        let mut c = camrec();
        c.env("TEMP_DIR", tmp.path()).args([
            "--log-format",
            "text",
            "record",
            "--no-metrics",
            "--out",
            out,
            "rtsp://127.0.0.1:9/none",
        ]);
        c
    };
    let (code, _, err) = run(&mut base("s3:///prefix-only"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("flag --out") && err.contains("names no bucket"),
        "{err}"
    );
    let (code, _, err) = run(base("s3://Bad_Bucket/x").env("S3_ENDPOINT", "http://127.0.0.1:9"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid bucket name"), "{err}");
    let (code, _, err) = run(base("s3://cams/x").env("S3_ACCESS_KEY_ID", "AKIAEXAMPLE0000"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("without a secret access key"), "{err}");
}

/// A second SIGTERM exits at once (status 130) even while the first one's
/// graceful shutdown is still waiting for a store that went away; what was
/// not uploaded stays in the spool for the next start's recovery.
#[test]
fn second_signal_exits_at_once_and_keeps_the_spool() {
    let Some(m) = moto(None) else { return };
    let sim = sim(None);
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = json_record_cmd(&m, tmp.path());
    cmd.args([
        "record",
        "--status",
        "never",
        "--no-metrics",
        "--segment",
        "60s",
        "--camera-id",
        "yard",
        "--out",
        "s3://cams/site2",
        &url,
    ]);
    let mut run = Running::spawn(cmd);
    run.wait_for_line("recording", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    // The store goes away: the graceful shutdown will wait for uploads
    // that cannot complete.
    drop(m);
    run.signal("TERM");
    run.wait_for_line("stopping", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "still waiting for the store"
    );
    let asked = Instant::now();
    run.signal("TERM");
    let (code, log) = run.wait(Duration::from_secs(10));
    sim.shutdown();
    assert_eq!(code, 130, "{}", log.join("\n"));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "exited {:?} after the second signal",
        asked.elapsed()
    );
    assert!(
        log.iter().any(|l| l.contains("second signal")),
        "{}",
        log.join("\n")
    );
    let spooled: Vec<_> = files(tmp.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("yard"))
        .collect();
    assert!(
        !spooled.is_empty(),
        "the unsent segment stays in the spool for recovery"
    );
}
