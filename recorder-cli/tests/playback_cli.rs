//! `camrec serve` end to end: a recording of the camera simulator with a
//! gap (two runs of `camrec record`), served from the folder and from a
//! Garage bucket; playlists decoded by ffmpeg, frames counted by ffprobe
//! on the stored files, ranges and errors checked over real HTTP.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const CAMERA: &str = "cam1";

/// Records the simulator twice into `out` (a folder or s3:// URL) with a
/// pause between: at least three 2-second segments and one gap.
fn record_with_gap(out: &str, env: &[(&str, String)]) {
    let sim = sim(None);
    for (i, secs) in ["5s", "3s"].iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
        let mut c = camrec();
        c.args([
            "record",
            "--no-metrics",
            "--no-thumbnails",
            "--status",
            "never",
        ])
        .args([
            "--segment",
            "2s",
            "--duration",
            secs,
            "--camera-id",
            CAMERA,
            "--out",
            out,
        ])
        .arg(sim.url("/stream1"));
        for (k, v) in env {
            c.env(k, v);
        }
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "camrec record failed:\n{err}");
    }
}

/// `camrec serve` on a free port, stopped on drop.
struct Serve {
    _run: Running,
    addr: SocketAddr,
}

fn serve(from: &str, env: &[(&str, String)], extra: &[&str]) -> Serve {
    let port = dead_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = camrec();
    c.args(["serve", "--from", from, "--listen", &addr.to_string()])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut run = Running::spawn(c);
    run.wait_for_line("serving recordings", Duration::from_secs(20));
    Serve { _run: run, addr }
}

fn json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (code, body) = get(addr, path);
    let v =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (code, v)
}

/// Asserts a JSON error with this status whose message contains `needle`.
fn assert_error(addr: SocketAddr, path: &str, status: u16, needle: &str) {
    let (code, v) = json(addr, path);
    assert_eq!(code, status, "{path}: {v}");
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error field: {v}"));
    assert!(msg.contains(needle), "{path}: {msg:?} lacks {needle:?}");
}

/// What ffprobe counts in the first video stream of a file or URL:
/// `frames` decoded or `packets` read.
fn ffprobe_count(input: &str, what: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            &format!("-count_{what}"),
            "-select_streams",
            "v:0",
        ])
        .args([
            "-show_entries",
            &format!("stream=nb_read_{what}"),
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .expect("ffprobe");
    // An HLS input prints its stream once per program: the first line.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim().trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("ffprobe {input}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Video frames ffprobe decodes from a file or URL.
fn stored_frames(input: &str) -> u64 {
    ffprobe_count(input, "frames")
}

/// Decodes a playlist with `ffmpeg -v error ... -f null -`: (video frames
/// decoded, ffmpeg's error output).
fn decode(url: &str) -> (u64, String) {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-i", url, "-map", "0:v:0", "-f", "null", "-",
        ])
        .args(["-progress", "pipe:1", "-nostats"])
        .output()
        .expect("ffmpeg");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let frames = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn day_window(v: &serde_json::Value) -> String {
    let first = v["first_recording"].as_str().unwrap();
    let last = v["last_recording"].as_str().unwrap();
    // A minute around the recording.
    let start = recorder_core::time::WallTime::parse_rfc3339(first).unwrap();
    let end = recorder_core::time::WallTime::parse_rfc3339(last).unwrap();
    format!(
        "start={}&end={}",
        recorder_core::time::WallTime(start.0 - 30_000_000_000).to_rfc3339(),
        recorder_core::time::WallTime(end.0 + 30_000_000_000).to_rfc3339()
    )
}

/// What a served recording looks like, checked the same way on a folder
/// and a bucket; returns the recordings JSON.
fn check_served(addr: SocketAddr, stored: &dyn Fn(&serde_json::Value) -> u64) -> serde_json::Value {
    let (code, cams) = json(addr, "/api/cameras");
    assert_eq!(code, 200);
    let cam = &cams["cameras"][0];
    assert_eq!(cam["id"], CAMERA, "{cams}");
    let window = day_window(cam);
    let (code, rec) = json(addr, &format!("/api/cameras/{CAMERA}/recordings?{window}"));
    assert_eq!(code, 200, "{rec}");
    let segs = rec["segments"].as_array().unwrap().clone();
    assert!(segs.len() >= 3, "at least 3 segments: {rec}");
    let gaps = rec["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "one gap between the two runs: {rec}");
    assert!(gaps[0]["duration"].as_f64().unwrap() >= 2.5, "{rec}");
    assert_eq!(cam["first_recording"], segs[0]["start"]);
    assert_eq!(cam["last_recording"], segs.last().unwrap()["end"]);
    for s in &segs {
        assert_eq!(s["codecs"][0], "h264", "{s}");
        assert_eq!(s["resolution"], "640x360", "{s}");
    }

    // Each segment's own window: every stored frame decodes, no error.
    let mut total = 0;
    for s in &segs {
        let want = stored(s);
        assert_eq!(
            s["video_frames"].as_u64(),
            Some(want),
            "index vs ffprobe: {s}"
        );
        total += want;
        let url = format!(
            "http://{addr}/api/cameras/{CAMERA}/hls.m3u8?start={}&end={}",
            s["start"].as_str().unwrap(),
            s["end"].as_str().unwrap()
        );
        let (frames, errors) = decode(&url);
        assert_eq!(errors, "", "ffmpeg errors decoding {url}");
        assert_eq!(frames, want, "frames decoded from {url}");
    }

    // The whole window: one playlist over every segment and the gap.
    let path = format!("/api/cameras/{CAMERA}/hls.m3u8?{window}");
    let (code, head, body) = get_with_headers(addr, &path, "");
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    let p = String::from_utf8(body).unwrap();
    let count = |tag: &str| p.lines().filter(|l| l.starts_with(tag)).count();
    assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n"), "{p}");
    assert!(p.ends_with("#EXT-X-ENDLIST\n"));
    assert_eq!(count("#EXT-X-TARGETDURATION:"), 1);
    assert_eq!(count("#EXT-X-MAP:"), segs.len());
    assert_eq!(count("#EXT-X-DISCONTINUITY"), segs.len() - 1);
    let fragments: u64 = segs.iter().map(|s| s["fragments"].as_u64().unwrap()).sum();
    assert_eq!(count("#EXTINF:") as u64, fragments);
    assert_eq!(count("#EXT-X-PROGRAM-DATE-TIME:") as u64, fragments);
    assert_eq!(count("#EXT-X-BYTERANGE:") as u64, fragments);
    // ffmpeg gets the continuous timeline by default (its User-Agent),
    // whatever the store: it decodes every stored frame.
    let url = format!("http://{addr}{path}");
    let (frames, errors) = decode(&url);
    assert_eq!(errors, "", "ffmpeg errors decoding {url}");
    assert_eq!(frames, total, "frames decoded from {url}");
    // As stored (each segment from zero): every frame is delivered;
    // ffmpeg, ignoring EXT-X-DISCONTINUITY, would drop some of them.
    let url = format!("http://{addr}{path}&timeline=stored");
    let (_, errors) = decode(&url);
    assert_eq!(errors, "", "ffmpeg errors decoding {url}");
    assert_eq!(
        ffprobe_count(&url, "packets"),
        total,
        "every stored frame is in the playlist"
    );

    // One increasing decode timeline (the default when camrec serves the
    // bytes; asked for here so a presigned bucket is covered too): ffmpeg,
    // which reads a playlist as one stream and ignores
    // EXT-X-DISCONTINUITY, decodes every stored frame.
    let path = format!("{path}&timeline=continuous");
    let (code, p) = get(addr, &path);
    assert_eq!(code, 200, "{p}");
    let later: u64 = segs[1..]
        .iter()
        .map(|s| s["fragments"].as_u64().unwrap())
        .sum();
    // Media lines: served by camrec, every later segment's moved.
    let media: Vec<&str> = p.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(media.iter().all(|l| l.starts_with("files/")), "{p}");
    let shifted = media.iter().filter(|l| !l.ends_with("?shift_us=0")).count();
    assert_eq!(shifted as u64, later, "{p}");
    assert!(!p.contains("X-Amz-Signature"), "served by camrec: {p}");
    let discontinuities = p.lines().filter(|l| *l == "#EXT-X-DISCONTINUITY").count();
    assert_eq!(discontinuities, segs.len() - 1, "{p}");
    let url = format!("http://{addr}{path}");
    let (frames, errors) = decode(&url);
    assert_eq!(errors, "", "ffmpeg errors decoding {url}");
    assert_eq!(frames, total, "frames decoded from {url}");
    rec
}

#[test]
fn folder_playback_playlists_ranges_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_owned();
    record_with_gap(&out, &[]);
    let srv = serve(&out, &[], &[]);
    let addr = srv.addr;
    let root = dir.path().to_path_buf();
    let file_of = |s: &serde_json::Value| -> PathBuf { root.join(s["name"].as_str().unwrap()) };
    let rec = check_served(addr, &|s| stored_frames(file_of(s).to_str().unwrap()));

    // The bytes route: whole, a range, a suffix, past the end.
    let seg = &rec["segments"][1];
    let url = seg["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("/api/cameras/{CAMERA}/files/")),
        "{url}"
    );
    let bytes = std::fs::read(file_of(seg)).unwrap();
    let (code, head, body) = get_with_headers(addr, url, "");
    assert_eq!(code, 200);
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert_eq!(body, bytes);
    let (code, head, body) = get_with_headers(addr, url, "Range: bytes=100-1123\r\n");
    assert_eq!(code, 206);
    assert!(
        head.contains(&format!("content-range: bytes 100-1123/{}", bytes.len())),
        "{head}"
    );
    assert_eq!(body, bytes[100..1124]);
    let (code, _, body) = get_with_headers(addr, url, "Range: bytes=-10\r\n");
    assert_eq!(code, 206);
    assert_eq!(body, bytes[bytes.len() - 10..]);
    let (code, head, body) =
        get_with_headers(addr, url, &format!("Range: bytes={}-\r\n", bytes.len()));
    assert_eq!(code, 416);
    assert!(
        head.contains(&format!("content-range: bytes */{}", bytes.len())),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("past the end"), "{v}");

    // A folder's playlist is continuous by default; a shifted fragment is
    // the stored one with only its decode times changed.
    let w = day_window(&json(addr, "/api/cameras").1["cameras"][0]);
    let (_, p) = get(addr, &format!("/api/cameras/{CAMERA}/hls.m3u8?{w}"));
    let (_, stored) = get(
        addr,
        &format!("/api/cameras/{CAMERA}/hls.m3u8?{w}&timeline=stored"),
    );
    assert!(p.contains("shift_us="), "{p}");
    assert!(!stored.contains("shift_us="), "{stored}");
    let media = p
        .lines()
        .find(|l| l.starts_with("files/") && !l.ends_with("?shift_us=0"))
        .expect("a shifted fragment");
    let range_line = p
        .lines()
        .take_while(|l| *l != media)
        .filter(|l| l.starts_with("#EXT-X-BYTERANGE:"))
        .last()
        .unwrap();
    let (len, at) = range_line["#EXT-X-BYTERANGE:".len()..]
        .split_once('@')
        .unwrap();
    let (len, at): (usize, usize) = (len.parse().unwrap(), at.parse().unwrap());
    let range = format!("Range: bytes={at}-{}\r\n", at + len - 1);
    let media_path = format!("/api/cameras/{CAMERA}/{media}");
    let (code, _, moved) = get_with_headers(addr, &media_path, &range);
    assert_eq!(code, 206);
    let plain = media_path.split_once('?').unwrap().0;
    let (_, _, as_stored) = get_with_headers(addr, plain, &range);
    assert_eq!(moved.len(), len);
    assert_eq!(as_stored.len(), len);
    let differing = moved.iter().zip(&as_stored).filter(|(a, b)| a != b).count();
    assert!(
        (1..=16).contains(&differing),
        "only the decode times (8 bytes per track) change: {differing} bytes differ"
    );
    // Shifts apply to one whole fragment at a time (a range starting late,
    // or ending inside the `moof`, is refused), and are numbers.
    for (from, to) in [(at + 1, at + len - 1), (at, at + 60)] {
        let (code, _, body) =
            get_with_headers(addr, &media_path, &format!("Range: bytes={from}-{to}\r\n"));
        let body = String::from_utf8_lossy(&body);
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("are not one fragment"), "{body}");
    }
    assert_error(addr, &format!("{plain}?shift_us=soon"), 400, "shift_us");
    assert_error(
        addr,
        &format!("/api/cameras/{CAMERA}/hls.m3u8?{w}&timeline=linear"),
        400,
        "is not one of: continuous",
    );

    // Only names the archive lists, for their own camera.
    let name = seg["name"].as_str().unwrap();
    assert_error(
        addr,
        &format!("/api/cameras/other/files/{name}"),
        404,
        "no segment",
    );
    assert_error(
        addr,
        &format!("/api/cameras/{CAMERA}/files/..%2F..%2Fetc%2Fpasswd"),
        404,
        "no segment",
    );
    assert_error(
        addr,
        &format!("/api/cameras/{CAMERA}/files/{CAMERA}/../../etc/passwd"),
        404,
        "no segment",
    );
    std::fs::write(dir.path().join(CAMERA).join("notes.txt"), "x").unwrap();
    assert_error(
        addr,
        &format!("/api/cameras/{CAMERA}/files/{CAMERA}/notes.txt"),
        404,
        "no segment",
    );

    // Errors: missing camera, bad windows, huge windows; all JSON.
    let (start, end) = ("2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z");
    for route in ["recordings", "hls.m3u8"] {
        assert_error(
            addr,
            &format!("/api/cameras/nope/{route}?start={start}&end={end}"),
            404,
            "no camera \"nope\"",
        );
        assert_error(
            addr,
            &format!("/api/cameras/{CAMERA}/{route}?start={end}&end={start}"),
            400,
            "is not before end",
        );
        assert_error(
            addr,
            &format!("/api/cameras/{CAMERA}/{route}?end={end}"),
            400,
            "start is missing",
        );
        assert_error(
            addr,
            &format!("/api/cameras/{CAMERA}/{route}?start={start}&start={start}&end={end}"),
            400,
            "query: ",
        );
        assert_error(
            addr,
            &format!("/api/cameras/{CAMERA}/{route}?start=noon&end={end}"),
            400,
            "not an RFC 3339",
        );
    }
    assert_error(
        addr,
        &format!(
            "/api/cameras/{CAMERA}/hls.m3u8?start=2024-05-01T00:00:00Z&end=2024-05-03T00:00:00Z"
        ),
        400,
        "longer than the 1day allowed",
    );
    // A camera with nothing in the window is an empty list, not a 404.
    let (code, v) = json(
        addr,
        &format!("/api/cameras/{CAMERA}/recordings?start={start}&end={end}"),
    );
    assert_eq!(
        (code, v["segments"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Windows at the ends of what a time can be (the earliest one's hour
    // starts before it) are answered, not a dropped connection.
    let earliest = "start=1677-09-21T00:12:43.145224192Z&end=1677-09-21T01:00:00Z";
    let latest = "start=2262-04-11T00:00:00Z&end=2262-04-11T23:47:16.854775807Z";
    for window in [earliest, latest] {
        let (code, v) = json(addr, &format!("/api/cameras/{CAMERA}/recordings?{window}"));
        assert_eq!(
            (code, v["segments"].as_array().map(Vec::len)),
            (200, Some(0)),
            "{window}"
        );
        let (code, _) = get(addr, &format!("/api/cameras/{CAMERA}/hls.m3u8?{window}"));
        assert_eq!(code, 200, "{window}");
        assert_error(
            addr,
            &format!("/api/cameras/{CAMERA}/export.mp4?{window}"),
            404,
            "nothing was recorded",
        );
    }
    check_exports(addr, &out, &rec);
    // The page and its script are served.
    let (code, page) = get(addr, "/");
    assert_eq!(code, 200);
    assert!(page.contains("hls.min.js"));
    let (code, head, js) = get_with_headers(addr, "/hls.min.js", "");
    assert_eq!(code, 200);
    assert!(head.contains("text/javascript"));
    assert!(js.len() > 100_000);
    drop(srv);
}

/// The Garage endpoint and the environment that points camrec at it.
fn garage_env(g: &Garage, spool: &Path) -> (String, Vec<(&'static str, String)>) {
    let endpoint = format!("http://127.0.0.1:{}", g.port);
    let env = vec![
        ("S3_ENDPOINT", endpoint.clone()),
        ("S3_ACCESS_KEY_ID", GARAGE_KEY_ID.to_string()),
        ("S3_SECRET_ACCESS_KEY", GARAGE_SECRET.to_string()),
        ("S3_REGION", "garage".to_string()),
        ("S3_SPOOL_DIR", spool.display().to_string()),
    ];
    (endpoint, env)
}

#[test]
fn bucket_playback_through_presigned_urls() {
    let Some(g) = garage() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let (endpoint, env) = garage_env(&g, spool.path());
    let url = format!("s3://{GARAGE_BUCKET}/play");
    record_with_gap(&url, &env);
    let srv = serve(&url, &env, &[]);
    let addr = srv.addr;
    // Stored frames: ffprobe reads each object through its presigned URL.
    let rec = check_served(addr, &|s| stored_frames(s["url"].as_str().unwrap()));
    let seg = &rec["segments"][0];
    let presigned = seg["url"].as_str().unwrap();
    assert!(presigned.starts_with(&endpoint), "{presigned}");
    assert!(presigned.contains("X-Amz-Signature="), "{presigned}");
    // The playlist points at the bucket, never at camrec.
    let w = day_window(&json(addr, "/api/cameras").1["cameras"][0]);
    let (_, p) = get(addr, &format!("/api/cameras/{CAMERA}/hls.m3u8?{w}"));
    assert!(!p.contains("files/"), "{p}");
    assert_eq!(
        p.lines().filter(|l| l.contains("X-Amz-Signature=")).count(),
        p.lines().filter(|l| l.starts_with("#EXTINF")).count()
            + rec["segments"].as_array().unwrap().len()
    );
    // The bytes route redirects to the bucket.
    let name = seg["name"].as_str().unwrap();
    let (code, head, _) =
        get_with_headers(addr, &format!("/api/cameras/{CAMERA}/files/{name}"), "");
    assert_eq!(code, 307);
    assert!(
        head.contains(&format!("location: {endpoint}").to_ascii_lowercase()),
        "{head}"
    );
    let _ = Path::new(name);
    drop(srv);

    // --proxy-bucket: the same recording through camrec's bytes route
    // (for browsers when the bucket has no CORS rule), ranges included.
    let srv = serve(&url, &env, &["--proxy-bucket"]);
    let addr = srv.addr;
    let rec = check_served(addr, &|s| {
        let url = s["url"].as_str().unwrap();
        assert!(url.starts_with("/api/cameras/"), "{url}");
        stored_frames(&format!("http://{addr}{url}"))
    });
    let seg = &rec["segments"][0];
    let path = seg["url"].as_str().unwrap();
    let (code, _, whole) = get_with_headers(addr, path, "");
    assert_eq!(code, 200);
    assert_eq!(whole.len() as u64, seg["bytes"].as_u64().unwrap());
    let (code, head, part) = get_with_headers(addr, path, "Range: bytes=100-1123\r\n");
    assert_eq!(code, 206);
    assert!(
        head.contains(&format!("content-range: bytes 100-1123/{}", whole.len())),
        "{head}"
    );
    assert_eq!(part, whole[100..1124]);
    let (_, p) = get(addr, &format!("/api/cameras/{CAMERA}/hls.m3u8?{w}"));
    assert!(!p.contains("X-Amz-Signature"), "{p}");
    drop(srv);
}

/// The interpreter with playwright: $CAMREC_PLAYWRIGHT_PYTHON, else the
/// venv scripts/install-test-deps.sh makes.
fn playwright_python() -> Option<PathBuf> {
    let p = std::env::var_os("CAMREC_PLAYWRIGHT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/camrec-browser/venv/bin/python")
        });
    p.exists().then_some(p)
}

fn ms(t: &serde_json::Value) -> i64 {
    recorder_core::time::WallTime::parse_rfc3339(
        t.as_str().unwrap_or_else(|| panic!("not a time: {t}")),
    )
    .unwrap()
    .0 / 1_000_000
}

/// The browser's interpreter, or None (skipped, with the reason printed).
fn browser() -> Option<PathBuf> {
    let Some(python) = playwright_python() else {
        eprintln!("SKIP: playwright not installed (run scripts/install-test-deps.sh, or set CAMREC_PLAYWRIGHT_PYTHON)");
        return None;
    };
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!("SKIP: /usr/bin/chromium not installed (run scripts/install-test-deps.sh)");
        return None;
    }
    Some(python)
}

/// Drives the page served at `addr` in chromium and checks it; the
/// screenshot goes to target/test-artifacts/`shot_name`.
fn check_page(python: &Path, addr: SocketAddr, shot_name: &str) {
    let (_, cams) = json(addr, "/api/cameras");
    let (_, rec) = json(
        addr,
        &format!(
            "/api/cameras/{CAMERA}/recordings?{}",
            day_window(&cams["cameras"][0])
        ),
    );
    let segs = rec["segments"].as_array().unwrap();
    let gap = &rec["gaps"][0];
    // Play from 0.5 s into the first segment; seek to 0.7 s after the gap.
    let play_at = recorder_core::time::WallTime((ms(&segs[0]["start"]) + 500) * 1_000_000);
    let seek_to = recorder_core::time::WallTime((ms(&gap["end"]) + 700) * 1_000_000);
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join(shot_name);
    let _ = std::fs::remove_file(&shot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/playback_page.py");
    let o = Command::new(python)
        .arg(script)
        .arg(format!("http://{addr}"))
        .args([CAMERA, &play_at.to_rfc3339(), &seek_to.to_rfc3339()])
        .arg(&shot)
        .output()
        .expect("run the playwright script");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    eprintln!("browser: {v}");
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["h264"], true, "chromium plays H.264 through MSE: {v}");
    // The day timeline: a span per segment, the one gap, at their times.
    let spans: Vec<(i64, i64)> = v["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (ms(&s[0]), ms(&s[1])))
        .collect();
    let want: Vec<(i64, i64)> = segs
        .iter()
        .map(|s| (ms(&s["start"]), ms(&s["end"])))
        .collect();
    assert_eq!(spans, want, "{v}");
    assert_eq!(v["gaps"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        (ms(&v["gaps"][0][0]), ms(&v["gaps"][0][1])),
        (ms(&gap["start"]), ms(&gap["end"]))
    );
    for w in v["zoom_span_px"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["zoom_gap_px"].as_array().unwrap())
    {
        assert!(
            w.as_f64().unwrap() > 10.0,
            "visible on the magnified timeline: {v}"
        );
    }
    // Plays from where asked, and keeps playing.
    assert!(
        (ms(&v["play_started_at"]) - play_at.0 / 1_000_000).abs() <= 1000,
        "{v}"
    );
    assert!(
        v["advanced"].as_f64().unwrap() >= 2.0,
        "currentTime advances: {v}"
    );
    assert_eq!(v["paused"], false);
    // A wall-clock seek across the gap lands within 1 s and plays on.
    let landed = ms(&v["seek_landed"]);
    assert!(
        (landed - seek_to.0 / 1_000_000).abs() <= 1000,
        "seek to {seek_to:?} landed at {landed}: {v}"
    );
    assert!(v["advanced_after_seek"].as_f64().unwrap() >= 1.0, "{v}");
    assert_eq!(v["error_text"], "", "{v}");
    assert_eq!(v["console_errors"].as_array().map(Vec::len), Some(0), "{v}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} ({size} bytes)",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn web_page_in_chromium_shows_the_gap_plays_and_seeks_by_wall_clock() {
    let Some(python) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_owned();
    record_with_gap(&out, &[]);
    let srv = serve(&out, &[], &[]);
    check_page(&python, srv.addr, "playback_page.png");
    drop(srv);
}

#[test]
fn record_serves_the_playback_routes_for_what_it_records() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .args(["--no-thumbnails", "--status", "never", "--segment", "2s"])
    .args(["--camera-id", CAMERA, "--out"])
    .arg(dir.path())
    .arg(sim.url("/stream1"));
    let mut rec = Running::spawn(c);
    let addr = rec.metrics_addr();
    // Once two segments are finished, they are listed and play.
    let cams = eventually(Duration::from_secs(30), "two finished segments", || {
        let (code, v) = json(addr, "/api/cameras");
        (code == 200 && v["cameras"][0]["segments"].as_u64() >= Some(2)).then_some(v)
    });
    let window = day_window(&cams["cameras"][0]);
    let (code, list) = json(addr, &format!("/api/cameras/{CAMERA}/recordings?{window}"));
    assert_eq!(code, 200);
    let seg = &list["segments"][0];
    let url = format!(
        "http://{addr}/api/cameras/{CAMERA}/hls.m3u8?start={}&end={}",
        seg["start"].as_str().unwrap(),
        seg["end"].as_str().unwrap()
    );
    let (frames, errors) = decode(&url);
    assert_eq!(errors, "");
    let file = dir.path().join(seg["name"].as_str().unwrap());
    assert_eq!(frames, stored_frames(file.to_str().unwrap()));
    let (code, page) = get(addr, "/");
    assert_eq!(code, 200);
    assert!(page.contains("camrec recordings"));
    rec.signal("INT");
    let (code, _) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0);
}

/// Seconds of the first video stream of an MP4 (ffprobe), and ffmpeg's
/// error output decoding it.
fn probe_mp4(path: &Path) -> (f64, String) {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "format=duration",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let d = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(-1.0);
    // `-enc_time_base:v -1`: the null output keeps the file's own time
    // base. ffmpeg otherwise picks 1/avg_frame_rate when its r_frame_rate
    // guess fails (a simulator stamping late frames under load), and an
    // export across a gap (the last frame held for seconds) has a low
    // average rate: frames 40 ms apart then collide in the output's time
    // base and ffmpeg reports non-increasing dts to its own muxer, which
    // says nothing of whether the file decodes.
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-enc_time_base:v", "-1", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    (d, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The export route: inside a segment, across segments, across the gap;
/// the same bytes as `camrec export` writes, a playable MP4 of the length
/// asked for; limits and errors.
fn check_exports(addr: SocketAddr, folder: &str, rec: &serde_json::Value) {
    let segs = rec["segments"].as_array().unwrap();
    let t = |v: &serde_json::Value, plus_ms: i64| {
        recorder_core::time::WallTime((ms(v) + plus_ms) * 1_000_000).to_rfc3339()
    };
    let gap = &rec["gaps"][0];
    let cases = [
        (
            "inside one segment",
            t(&segs[0]["start"], 300),
            t(&segs[0]["start"], 1500),
        ),
        (
            "across segments",
            t(&segs[0]["start"], 1000),
            t(&segs[1]["end"], -200),
        ),
        (
            "across the gap",
            t(&gap["start"], -1000),
            t(&gap["end"], 1000),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (what, start, end) in &cases {
        let path = format!("/api/cameras/{CAMERA}/export.mp4?start={start}&end={end}");
        let (code, head, body) = get_with_headers(addr, &path, "");
        assert_eq!(code, 200, "{what}: {}", String::from_utf8_lossy(&body));
        assert!(head.contains("content-type: video/mp4"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("content-disposition: attachment"), "{head}");
        let served = tmp.path().join("served.mp4");
        std::fs::write(&served, &body).unwrap();
        // The command line's export of the same range: the same file.
        let cli = tmp.path().join("cli.mp4");
        let mut c = camrec();
        c.args([
            "export", "--from", folder, "--camera", CAMERA, "--start", start, "--end", end, "-o",
        ])
        .arg(&cli);
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "camrec export: {err}");
        assert!(
            std::fs::read(&cli).unwrap() == body,
            "{what}: the route serves what camrec export writes"
        );
        let (duration, errors) = probe_mp4(&served);
        assert_eq!(errors, "", "{what}: ffmpeg errors");
        // Within a frame (25 fps) of what was asked for (a gap keeps
        // wall-clock time).
        let asked = (ms(&serde_json::json!(end)) - ms(&serde_json::json!(start))) as f64 / 1000.0;
        assert!(
            (duration - asked).abs() <= 0.041,
            "{what}: {duration} s for {asked} s asked"
        );
    }
    let (s, e) = (&cases[0].1, &cases[0].2);
    assert_error(
        addr,
        &format!("/api/cameras/nope/export.mp4?start={s}&end={e}"),
        404,
        "no camera",
    );
    assert_error(
        addr,
        &format!("/api/cameras/{CAMERA}/export.mp4?start={e}&end={s}"),
        400,
        "is not before end",
    );
    assert_error(
        addr,
        &format!(
            "/api/cameras/{CAMERA}/export.mp4?start=2024-05-01T12:00:00Z&end=2024-05-01T12:01:00Z"
        ),
        404,
        "nothing was recorded",
    );
    assert_error(
        addr,
        &format!(
            "/api/cameras/{CAMERA}/export.mp4?start=2024-05-01T00:00:00Z&end=2024-05-02T00:00:01Z"
        ),
        400,
        "longer than the 1day allowed",
    );
}

/// Lets pages from `origin` fetch the bucket's objects (what a browser
/// needs for presigned URLs), through the S3 API.
fn allow_cors(endpoint: &str, origin: &str) {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = recorder_core::sink::S3Config::new(GARAGE_BUCKET)
            .with_endpoint(endpoint)
            .with_credentials(GARAGE_KEY_ID, GARAGE_SECRET)
            .with_region("garage")
            .with_force_path_style(true);
        let archive = recorder_core::archive::Archive::s3(cfg).await;
        let s3 = archive.s3_archive().unwrap();
        let rule = CorsRule::builder()
            .allowed_origins(origin)
            .allowed_methods("GET")
            .allowed_methods("HEAD")
            .allowed_headers("*")
            .expose_headers("Content-Range")
            .expose_headers("Content-Length")
            .build()
            .unwrap();
        s3.client()
            .put_bucket_cors()
            .bucket(GARAGE_BUCKET)
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("PutBucketCors");
    });
}

#[test]
fn web_page_plays_a_bucket_through_presigned_urls() {
    let Some(python) = browser() else {
        return;
    };
    let Some(g) = garage() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let (endpoint, env) = garage_env(&g, spool.path());
    let url = format!("s3://{GARAGE_BUCKET}/page");
    record_with_gap(&url, &env);
    let srv = serve(&url, &env, &[]);
    allow_cors(&endpoint, &format!("http://{}", srv.addr));
    check_page(&python, srv.addr, "playback_page_bucket.png");
    drop(srv);
}
