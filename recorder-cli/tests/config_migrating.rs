//! A migrating user's first step: `camrec config check` on the ffmpeg-based
//! recorder's `config.toml`, unchanged, with that deployment's environment
//! names (docs/migrating.md).

mod common;

use common::{camrec, run, write};

const PASSWORD: &str = "Cam-Pa55word";
const S3_SECRET: &str = "minio-SECRET-9f8e7d6c5b4a";

/// Written as the ffmpeg recorder documents it: two cameras (one
/// disabled), what each should deliver, and `[storage]` with its S3 keys.
fn ffmpeg_recorder_toml() -> String {
    format!(
        r#"# Camera recorder configuration
[[cameras]]
id = "cam1"
name = "Front Door"
url = "rtsp://admin:{PASSWORD}@192.168.1.64:554/Streaming/Channels/101"
enabled = true
resolution = "2560x1440"
fps = 15

[[cameras]]
id = "cam2"
name = "Back Yard"
url = "rtsp://admin:{PASSWORD}@192.168.1.65:554/Streaming/Channels/101"
enabled = false
resolution = "1920x1080"
fps = 10

[storage]
s3_endpoint = "http://minio:9000"
s3_bucket = "camera-recordings"
s3_region = "us-east-1"
segment_duration_minutes = 15
"#
    )
}

/// `camrec config check -c config.toml` with `env`.
fn check(env: &[(&str, &str)]) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "config.toml", &ffmpeg_recorder_toml());
    let (code, out, err) = run(camrec()
        .args(["--log-format", "text", "config", "check", "-c"])
        .arg(&p)
        .envs(env.iter().copied()));
    (code, out, err, p.display().to_string())
}

/// The line of `out` that sets `key` inside the block starting at `after`.
fn line<'a>(out: &'a str, after: &str, key: &str) -> &'a str {
    let start = out
        .find(after)
        .unwrap_or_else(|| panic!("{after} in\n{out}"));
    out[start..]
        .lines()
        .find(|l| l.starts_with(&format!("{key:<24} =")))
        .unwrap_or_else(|| panic!("{key} after {after} in\n{out}"))
}

#[test]
fn the_ffmpeg_recorders_config_toml_is_accepted_as_is() {
    let (code, out, err, path) = check(&[
        ("S3_ACCESS_KEY", "minio-access-key"),
        ("S3_SECRET_KEY", S3_SECRET),
    ]);
    assert_eq!(code, 0, "stderr:\n{err}\nstdout:\n{out}");
    assert!(
        err.contains("1 camera enabled, 1 disabled"),
        "stderr:\n{err}"
    );
    // Storage: the s3_* keys, at their place in the file.
    assert!(line(&out, "[storage]", "kind").contains("\"s3\""), "{out}");
    let bucket = line(&out, "[storage]", "bucket");
    assert!(
        bucket.contains("\"camera-recordings\"") && bucket.contains(&format!("{path}:20:")),
        "{bucket}"
    );
    let endpoint = line(&out, "[storage]", "endpoint");
    assert!(
        endpoint.contains("\"http://minio:9000\"") && endpoint.contains(&format!("{path}:19:")),
        "{endpoint}"
    );
    assert!(line(&out, "[storage]", "region").contains(&format!("{path}:21:")));
    assert!(line(&out, "[storage]", "force_path_style").contains("true"));
    // The keys from the ffmpeg recorder's variable names.
    assert!(
        line(&out, "[storage]", "access_key_id").contains("environment variable S3_ACCESS_KEY"),
        "{out}"
    );
    let secret = line(&out, "[storage]", "secret_access_key");
    assert!(
        secret.contains("\"***\"") && secret.contains("environment variable S3_SECRET_KEY"),
        "{secret}"
    );
    // Cameras: ids, names, enabled, expectations; the segment length from
    // [storage] segment_duration_minutes.
    let cam1 = "id                       = \"cam1\"";
    let cam2 = "id                       = \"cam2\"";
    assert!(line(&out, cam1, "enabled").contains("true"));
    assert!(line(&out, cam2, "enabled").contains("false"));
    assert!(line(&out, cam1, "name").contains("\"Front Door\""));
    let res = line(&out, cam1, "resolution");
    assert!(
        res.contains("\"2560x1440\"") && res.contains(&format!("{path}:7:")),
        "{res}"
    );
    assert!(line(&out, cam1, "fps").contains("= 15 "), "{out}");
    assert!(line(&out, cam2, "resolution").contains("\"1920x1080\""));
    let seg = line(&out, cam1, "segment_duration_minutes");
    assert!(
        seg.contains("= 15 ") && seg.contains(&format!("{path}:22:")),
        "{seg}"
    );
    // Secrets never appear.
    for s in [S3_SECRET, PASSWORD] {
        assert!(!out.contains(s) && !err.contains(s), "{s} printed");
    }
}

#[test]
fn camera_n_url_overrides_the_files_camera() {
    let (code, out, err, _) = check(&[
        (
            "CAMERA_1_URL",
            &format!("rtsp://viewer:{PASSWORD}@10.1.1.1/live"),
        ),
        ("S3_ACCESS_KEY", "minio-access-key"),
        ("S3_SECRET_KEY", S3_SECRET),
    ]);
    assert_eq!(code, 0, "{err}");
    let url = line(&out, "id                       = \"cam1\"", "url");
    assert!(
        url.contains("10.1.1.1/live") && url.contains("environment variable CAMERA_1_URL"),
        "{url}"
    );
    for s in [S3_SECRET, PASSWORD] {
        assert!(!out.contains(s) && !err.contains(s), "{s} printed");
    }
}

#[test]
fn a_key_only_half_given_is_an_error_naming_both_spellings() {
    let (code, out, err, _) = check(&[("S3_ACCESS_KEY", "minio-access-key")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("environment variable S3_ACCESS_KEY") && err.contains("S3_SECRET_KEY"),
        "{err}"
    );
}

/// A camera configured as `resolution = "1920x1080"`, `fps = 15` that
/// delivers the simulator's 640x360 at 25 fps: `camrec record` warns,
/// naming both, and records the stream as it comes.
#[test]
fn record_warns_when_a_camera_delivers_other_than_configured() {
    let sim = common::sim(None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"[[cameras]]
id = "cam1"
url = "{}"
resolution = "1920x1080"
fps = 15

[storage]
segment_duration_minutes = 0.05
"#,
            sim.url("/stream1")
        ),
    );
    let out = dir.path().join("rec");
    let mut c = camrec();
    c.args(["--log-format", "json", "record", "--no-metrics", "-c"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out);
    let mut rec = common::Running::spawn(c);
    let line = rec.wait_for_line("delivers", std::time::Duration::from_secs(30));
    assert!(
        line.contains("resolution 640x360 (configured 1920x1080)"),
        "{line}"
    );
    assert!(line.contains("fps (configured 15)"), "{line}");
    rec.signal("TERM");
    let (code, log) = rec.wait(std::time::Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log.join("\n"));
    // Warned once, not for every segment.
    assert_eq!(log.iter().filter(|l| l.contains("delivers")).count(), 1);
}
