//! `camrec config check` and configuration errors, through the real binary.

mod common;

use common::{camrec, run, write};

const PASSWORD: &str = "Pa55w0rdXyz";
const S3_SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY";

/// Runs `config check -c FILE` on `toml`; returns (code, stdout, stderr).
fn check(toml: &str) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "camrec.toml", toml);
    let (code, out, err) = run(camrec()
        .args(["--log-format", "text", "config", "check", "-c"])
        .arg(&p));
    (code, out, err, p.display().to_string())
}

/// Asserts an invalid config: exit 2, the message names FILE:LINE:COL,
/// contains `what`, has a fix, and never shows the password.
fn assert_invalid(toml: &str, line: usize, what: &str, fix: &str) {
    let (code, out, err, path) = check(toml);
    assert_eq!(code, 2, "exit code; stderr:\n{err}");
    assert!(
        out.is_empty(),
        "nothing on stdout for an invalid config: {out}"
    );
    let loc = format!("{path}:{line}:");
    assert!(err.contains(&loc), "expected {loc} in:\n{err}");
    assert!(err.contains(what), "expected {what:?} in:\n{err}");
    assert!(
        err.contains("fix:") && err.contains(fix),
        "expected fix {fix:?} in:\n{err}"
    );
    assert!(!err.contains(PASSWORD), "password leaked:\n{err}");
}

#[test]
fn unknown_key_names_file_line_and_fix() {
    assert_invalid(
        "[output]\nsegment_duration_minutes = 15\nkey_templte = \"x\"\n",
        3,
        "unknown field `key_templte`",
        "correct its spelling",
    );
    assert_invalid(
        &format!(
            "[[cameras]]\nid = \"a\"\nurl = \"rtsp://admin:{PASSWORD}@cam/s\"\npasword = \"x\"\n"
        ),
        4,
        "unknown field `pasword`",
        "remove this key",
    );
}

#[test]
fn bad_urls_are_located_and_never_echoed() {
    assert_invalid(
        &format!("[[cameras]]\nid = \"a\"\nurl = \"rtsps://admin:{PASSWORD}@cam/s\"\n"),
        3,
        "rtsps://",
        "rtsp://user:password@host",
    );
    assert_invalid(
        &format!("\n[[cameras]]\nid = \"a\"\nurl = \"http://admin:{PASSWORD}@cam/s\"\n"),
        4,
        "only rtsp:// is supported",
        "rtsp://",
    );
    assert_invalid(
        "[[cameras]]\nid = \"a\"\nurl = \"rtsp:///nohost\"\n",
        3,
        "no host",
        "rtsp://",
    );
    // A type error on a line holding a URL must not quote the password.
    assert_invalid(
        &format!("[[cameras]]\nid = \"a\"\nurl = \"rtsp://admin:{PASSWORD}@cam/s\"\nenabled = \"rtsp://admin:{PASSWORD}@cam/s\"\n"),
        4,
        "invalid type",
        "true/false",
    );
}

#[test]
fn duplicate_ids_name_both_places() {
    let toml = "[[cameras]]\nid = \"door\"\nurl = \"rtsp://cam1/s\"\n\n[[cameras]]\nid = \"door\"\nurl = \"rtsp://cam2/s\"\n";
    assert_invalid(toml, 6, "used twice (first at", "distinct id");
    let (_, _, err, path) = check(toml);
    assert!(err.contains(&format!("first at {path}:2:")), "{err}");
}

#[test]
fn impossible_values_are_rejected_with_a_fix() {
    assert_invalid(
        "[output]\nsegment_duration_minutes = 0\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        2,
        "segment duration 0 s is too short",
        "segment_duration_minutes",
    );
    assert_invalid(
        "[output]\nsegment_duration_minutes = 0.05\nfragment_seconds = 10\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        3,
        "longer than the segment",
        "fragment_seconds",
    );
    // A per-camera override is located at the camera's line.
    assert_invalid(
        "[[cameras]]\nurl = \"rtsp://cam/s\"\nsegment_duration_minutes = -3\n",
        3,
        "segment duration must be a positive number",
        "segment_duration_minutes",
    );
    assert_invalid(
        "[defaults]\ntransport = \"sctp\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        2,
        "unknown RTSP transport",
        "\"udp\"",
    );
    assert_invalid("[[cameras]]\nname = \"x\"\n", 1, "no url", "add url =");
    assert_invalid(
        "[[cameras]]\nid = \"bad/id\"\nurl = \"rtsp://cam/s\"\n",
        2,
        "cannot name a folder",
        "letters, digits",
    );
    assert_invalid(
        "[storage]\nkind = \"s3\"\nbucket = \"b-1\"\npart_size_mib = 1\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        4,
        "part size 1 MiB",
        "between 5",
    );
    assert_invalid(
        "[storage]\nkind = \"ftp\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        2,
        "unknown storage kind",
        "kind = \"local\"",
    );
    assert_invalid(
        "[metrics]\nlisten = \"localhost\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
        2,
        "not an address",
        "127.0.0.1:9090",
    );
    assert_invalid("[output\n", 1, "", "TOML syntax");
}

#[test]
fn reports_every_problem_at_once() {
    let (code, _, err, _) = check(
        "[output]\nsegment_duration_minutes = 0\n[[cameras]]\nid = \"a\"\nurl = \"ftp://x/\"\n[[cameras]]\nid = \"b\"\nurl = \"rtsp://cam/s\"\ntransport = \"quic\"\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("3 problems"), "{err}");
    // In file order.
    let (a, b, c) = (
        err.find(":2:28:").unwrap(),
        err.find(":5:7:").unwrap(),
        err.find(":9:13:").unwrap(),
    );
    assert!(a < b && b < c, "{err}");
}

#[test]
fn config_check_prints_the_effective_config_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "camrec.toml",
        &format!(
            "[storage]\nkind = \"s3\"\nbucket = \"cams\"\nendpoint = \"http://127.0.0.1:3900\"\nsecret_access_key = \"{S3_SECRET}\"\naccess_key_id = \"GK0123456789abcd\"\n\n[[cameras]]\nid = \"door\"\nurl = \"rtsp://admin:{PASSWORD}@10.0.0.5:554/stream1?pwd={PASSWORD}\"\n"
        ),
    );
    let (code, out, err) = run(camrec().args(["config", "check", "-c"]).arg(&p).env(
        "CAMERA2_RTSP_URL",
        format!("rtsp://viewer:{PASSWORD}@10.0.0.6/live"),
    ));
    assert_eq!(code, 0, "{err}");
    for text in [&out, &err] {
        assert!(!text.contains(PASSWORD), "camera password leaked:\n{text}");
        assert!(!text.contains(S3_SECRET), "S3 secret leaked:\n{text}");
        assert!(
            !text.contains("GK0123456789"),
            "access key id shown in full:\n{text}"
        );
    }
    assert!(
        out.contains("rtsp://admin:***@10.0.0.5:554/stream1?pwd=***"),
        "{out}"
    );
    assert!(out.contains("rtsp://viewer:***@10.0.0.6/live"), "{out}");
    assert!(
        out.contains("secret_access_key") && out.contains("\"***\""),
        "{out}"
    );
    assert!(
        out.contains("environment variable CAMERA2_RTSP_URL"),
        "{out}"
    );
    assert!(err.contains("configuration OK: 2 cameras"), "{err}");
}

#[test]
fn precedence_is_flags_then_env_then_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "camrec.toml",
        "[metrics]\nlisten = \"127.0.0.1:9100\"\n[output]\nsegment_duration_minutes = 5\n[storage]\ndir = \"/from/file\"\n[[cameras]]\nid = \"one\"\nname = \"File Name\"\nurl = \"rtsp://file-host/s\"\n",
    );
    let check = |env: &[(&str, &str)], flags: &[&str]| -> String {
        let mut c = camrec();
        c.args(["config", "check", "-c"]).arg(&p).args(flags);
        for (k, v) in env {
            c.env(k, v);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        out
    };
    // File only.
    let out = check(&[], &[]);
    assert!(out.contains("rtsp://file-host/s"), "{out}");
    assert!(out.contains("\"127.0.0.1:9100\""), "{out}");
    assert!(out.contains("segment_duration_minutes = 5 "), "{out}");
    assert!(out.contains("\"/from/file\""), "{out}");
    // Env over file: CAMERA1_* overrides the first [[cameras]] entry (its id stays).
    let env = [
        ("CAMERA1_RTSP_URL", "rtsp://env-host/s"),
        ("CAMERA1_NAME", "Env Name"),
        ("METRICS_PORT", "9200"),
    ];
    let out = check(&env, &[]);
    assert!(
        out.contains("rtsp://env-host/s") && !out.contains("file-host"),
        "{out}"
    );
    assert!(out.contains("\"Env Name\""), "{out}");
    assert!(out.contains("\"127.0.0.1:9200\""), "{out}");
    assert!(out.contains("id                       = \"one\""), "{out}");
    // Flags over env and file.
    let out = check(
        &env,
        &[
            "rtsp://flag-host/s",
            "--metrics-listen",
            "127.0.0.1:9300",
            "--segment",
            "2m",
            "--out",
            "/from/flag",
        ],
    );
    assert!(
        out.contains("rtsp://flag-host/s")
            && !out.contains("env-host")
            && !out.contains("file-host"),
        "{out}"
    );
    assert!(out.contains("\"127.0.0.1:9300\""), "{out}");
    assert!(out.contains("segment_duration_minutes = 2 "), "{out}");
    assert!(
        out.contains("\"/from/flag\"") && out.contains("flag --out"),
        "{out}"
    );
}

#[test]
fn env_only_deployment_variables_are_understood() {
    let (code, out, err) = run(camrec().args(["config", "check"]).envs([
        ("CAMERA1_RTSP_URL", "rtsp://admin:x@192.168.1.10/stream1"),
        ("CAMERA2_RTSP_URL", "rtsp://192.168.1.11/stream1"),
        ("CAMERA2_NAME", "Garage Door"),
        ("S3_BUCKET", "videos"),
        ("S3_ENDPOINT", "http://minio:9000"),
        ("S3_REGION", "eu-west-1"),
        ("S3_ACCESS_KEY_ID", "minioadmin-key"),
        ("S3_SECRET_ACCESS_KEY", S3_SECRET),
        ("MAX_CONCURRENT_UPLOADS", "2"),
        ("TEMP_DIR", "/var/tmp/cam"),
        ("METRICS_PORT", "9109"),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("id                       = \"camera1\""),
        "{out}"
    );
    assert!(
        out.contains("id                       = \"garage-door\""),
        "{out}"
    );
    assert!(out.contains("kind                     = \"s3\""), "{out}");
    assert!(
        out.contains("\"eu-west-1\"") && out.contains("\"http://minio:9000\""),
        "{out}"
    );
    assert!(out.contains("max_concurrent_uploads   = 2 "), "{out}");
    assert!(out.contains("\"/var/tmp/cam/camrec-spool\""), "{out}");
    assert!(out.contains("\"127.0.0.1:9109\""), "{out}");
    assert!(!out.contains(S3_SECRET) && !err.contains(S3_SECRET));
}

#[test]
fn no_cameras_is_a_config_error() {
    let (code, _, err) = run(camrec().args(["--log-format", "text", "config", "check"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no cameras configured") && err.contains("CAMERA1_RTSP_URL"),
        "{err}"
    );
}

#[test]
fn out_s3_url_selects_s3_and_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "camrec.toml",
        "[storage]\nkind = \"local\"\ndir = \"/srv/rec\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
    );
    let (code, out, err) = run(camrec()
        .args([
            "--log-format",
            "text",
            "config",
            "check",
            "--out",
            "s3://videos/site1",
        ])
        .arg("--config")
        .arg(&cfg)
        .env("S3_ENDPOINT", "http://127.0.0.1:3900")
        .env("S3_SECRET_ACCESS_KEY", S3_SECRET)
        .env("S3_ACCESS_KEY_ID", "AKIAEXAMPLE0000"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kind                     = \"s3\""), "{out}");
    assert!(
        out.contains("bucket                   = \"videos\""),
        "{out}"
    );
    assert!(
        out.contains("prefix                   = \"site1/\""),
        "{out}"
    );
    assert!(out.contains("# flag --out"), "{out}");
    assert!(
        !out.contains(S3_SECRET) && !err.contains(S3_SECRET),
        "{out}"
    );
}

#[test]
fn help_documents_exit_codes_and_usage_errors_exit_2() {
    let (code, out, _) = run(camrec().arg("--help"));
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes: 0 ok; 1 runtime failure; 2 usage or configuration error; 130"),
        "{out}"
    );
    let (code, _, _) = run(camrec().args(["record", "--segment", "soon"]));
    assert_eq!(code, 2);
    let (code, _, err) = run(camrec().args(["config", "check", "-c", "/nonexistent/camrec.toml"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read /nonexistent/camrec.toml"),
        "{err}"
    );
}

#[test]
fn the_documented_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/camrec.example.toml");
    let (code, out, err) = run(camrec().args(["config", "check", "-c", example]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rtsp://admin:***@192.168.1.10:554/stream1"),
        "{out}"
    );
    assert!(!out.contains("secret@"), "{out}");
    assert!(err.contains("2 cameras enabled, 1 disabled"), "{err}");
}
