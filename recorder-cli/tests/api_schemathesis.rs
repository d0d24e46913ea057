//! schemathesis (PyPI) against a running `camrec record`: every operation
//! of docs/api-openapi.json (the control API and the playback routes),
//! with generated valid and invalid input, gets no 5xx, and only answers
//! the document describes (status, content type, schema). Skipped with a
//! loud message when schemathesis is not installed
//! (scripts/install-test-deps.sh installs it).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use recorder_core::time::WallTime;

const TOKEN: &str = "schemathesis-token-0123456789";

/// Longest a schemathesis run may take (it takes about a minute and a
/// half on 2 cores).
const ST_DEADLINE: Duration = Duration::from_secs(180);

/// `st`: $CAMREC_SCHEMATHESIS, the venv install-test-deps.sh makes
/// ($CAMREC_TOOLS, default ~/.cache/camrec-tools), or PATH.
fn schemathesis() -> Option<PathBuf> {
    let tools = std::env::var_os("CAMREC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camrec-tools")
        });
    let venv = tools.join("schemathesis/bin/st");
    std::env::var_os("CAMREC_SCHEMATHESIS")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("st")])
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn schemathesis_finds_no_server_error() {
    let Some(st) = schemathesis() else {
        eprintln!(
            "\n*** SKIP schemathesis_finds_no_server_error: schemathesis is not installed \
             (run scripts/install-test-deps.sh, or set CAMREC_SCHEMATHESIS to its `st`) ***\n"
        );
        return;
    };
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "camrec.toml",
        &format!(
            "[[cameras]]\nid = \"cam\"\nurl = \"{}\"\n",
            sim.url("/stream1")
        ),
    );
    let mut c = camrec();
    c.env("CAMREC_API_TOKEN", TOKEN)
        .args([
            "--log-format",
            "json",
            "record",
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-thumbnails",
            "--status",
            "never",
            "--segment",
            "2s",
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("out"));
    let mut r = Running::spawn(c);
    let addr = r.metrics_addr();
    // Stored segments first, so the playback routes have something to
    // list, play and export (the fuzzer may stop or delete the camera
    // later; what is stored stays served).
    eventually(Duration::from_secs(30), "two finished segments", || {
        let (code, body) = get(addr, "/api/cameras");
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (code == 200 && v["cameras"][0]["segments"].as_u64() >= Some(2)).then_some(())
    });
    let schema = schema_with_recorded_examples(addr, dir.path());
    let har_path = dir.path().join("schemathesis.har");
    let (stdout, stderr) = (dir.path().join("st.out"), dir.path().join("st.err"));
    let started = Instant::now();
    let mut run = Command::new(&st)
        .current_dir(dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("run")
        .arg(&schema)
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        // No 5xx; and every answer is one the document describes: its
        // status, content type and (JSON) schema.
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "100", "--workers", "2", "--no-color"])
        // A request that hangs fails the run (an export is streamed as it
        // is read: even a long one answers at once).
        .args(["--request-timeout", "20"])
        .args(["--report", "har", "--report-har-path"])
        .arg(&har_path)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run schemathesis");
    // CI budget: the examples are bounded (--max-examples), the time too.
    // (schemathesis's own --max-time would fuzz until it is spent.)
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > ST_DEADLINE {
            let _ = run.kill();
            let _ = run.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = started.elapsed();
    let text = format!(
        "{}\n{}",
        std::fs::read_to_string(&stdout).unwrap_or_default(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    println!("{text}\nschemathesis took {took:?}");
    let status = status
        .unwrap_or_else(|| panic!("schemathesis did not finish within {ST_DEADLINE:?}:\n{text}"));
    assert!(status.success(), "schemathesis failed:\n{text}");
    // Every request and its answer, from the HAR report: the playback
    // routes were asked with the recorded examples and served real data.
    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
    let mut statuses: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
    let entries = har["log"]["entries"].as_array().unwrap();
    for e in entries {
        let url = e["request"]["url"].as_str().unwrap_or("");
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
        let path = path.split('?').next().unwrap_or(path);
        let status = e["response"]["status"].as_u64().unwrap_or(0);
        *statuses
            .entry(route_of(path))
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    println!(
        "{} requests; by route and status: {statuses:#?}",
        entries.len()
    );
    for (route, ok) in [
        ("recordings", 200),
        ("hls.m3u8", 200),
        ("files", 200),
        ("export.mp4", 200),
        ("/hls.min.js", 200),
    ] {
        let got = statuses.get(route).and_then(|s| s.get(&ok)).copied();
        assert!(got.unwrap_or(0) > 0, "no {ok} from {route}: {statuses:?}");
    }
    // camrec still answers (the fuzzer may well have deleted or changed
    // the camera: it holds the token) and stops cleanly.
    let (code, body) = get(addr, "/api/cameras");
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(addr, "/health").0, 200);
    r.signal("TERM");
    let (code, log) = r.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log.join("\n"));
}

/// A copy of docs/api-openapi.json whose playback parameters carry
/// examples from what is recorded (the camera, a window around its
/// segments, a stored segment's name), so schemathesis's examples phase
/// asks for real recordings, playlists, bytes and exports, not only 404s.
fn schema_with_recorded_examples(addr: SocketAddr, dir: &Path) -> PathBuf {
    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api-openapi.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(doc).unwrap()).unwrap();
    let (_, body) = get(addr, "/api/cameras");
    let cams: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cam = &cams["cameras"][0];
    let at = |field: &str, plus_ns: i64| {
        let t = WallTime::parse_rfc3339(cam[field].as_str().unwrap()).unwrap();
        WallTime(t.0 + plus_ns).to_rfc3339()
    };
    let (start, end) = (
        at("first_recording", -1_000_000_000),
        at("last_recording", 1_000_000_000),
    );
    let (code, body) = get(
        addr,
        &format!("/api/cameras/cam/recordings?start={start}&end={end}"),
    );
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = list["segments"][0]["name"].as_str().unwrap().to_owned();
    let examples = [
        ("id", "cam".to_owned()),
        ("start", start),
        ("end", end),
        ("name", name),
        ("shift_us", "0".to_owned()),
    ];
    for path in [
        "/api/cameras/{id}/recordings",
        "/api/cameras/{id}/hls.m3u8",
        "/api/cameras/{id}/files/{name}",
        "/api/cameras/{id}/export.mp4",
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array_mut()
            .unwrap();
        for p in params {
            if let Some((_, v)) = examples.iter().find(|(n, _)| p["name"] == *n) {
                p["example"] = if p["schema"]["type"] == "integer" {
                    serde_json::json!(v.parse::<u64>().unwrap())
                } else {
                    serde_json::json!(v)
                };
            }
        }
    }
    let out = dir.join("api-openapi.json");
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    out
}

/// What a request path is for: a playback route (`recordings`, `files`,
/// ...: its last part under `/api/cameras/{id}/`), a page asset, or the
/// control API.
fn route_of(path: &str) -> String {
    let rest = path
        .strip_prefix("/api/cameras/")
        .and_then(|r| r.split_once('/'));
    match rest {
        Some((_, tail)) if tail.starts_with("files/") => "files".to_owned(),
        Some((_, tail)) if ["recordings", "hls.m3u8", "export.mp4"].contains(&tail) => {
            tail.to_owned()
        }
        _ if ["/", "/app.js", "/hls.min.js", "/hls.js.LICENSE"].contains(&path) => path.to_owned(),
        _ => "control API".to_owned(),
    }
}
