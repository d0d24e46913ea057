//! Bad arguments through the real binary: every overflowing or nonsensical
//! duration or size is a usage error (exit code 2) naming the setting and
//! its range, never a panic; a timed run in which a camera stored nothing
//! exits 1 and says why, without the password.

mod common;

use common::*;

/// Runs `camrec config check` with `args`, expecting a usage error.
fn usage_error(args: &[&str]) -> String {
    let (code, out, err) = run(camrec().args(["config", "check"]).args(args));
    assert_eq!(code, 2, "{args:?}\nstdout: {out}\nstderr: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

fn assert_names(err: &str, words: &[&str]) {
    for w in words {
        assert!(err.contains(w), "{w:?} missing in: {err}");
    }
}

#[test]
fn overflowing_duration_flags_are_usage_errors_naming_the_range() {
    for (flag, value, range) in [
        ("--segment", "1e300", "1 s to 24 h"),
        ("--segment", "99999999999999999999h", "1 s to 24 h"),
        ("--segment", "25h", "1 s to 24 h"),
        ("--stall-timeout", "1e19", "1 s to 1 h"),
        ("--stall-timeout", "18446744073709551616s", "1 s to 1 h"),
        ("--fragment", "1e30", "100 ms to 60 s"),
        ("--fragment", "61s", "100 ms to 60 s"),
    ] {
        let err = usage_error(&["rtsp://10.0.0.5/x", flag, value]);
        assert_names(&err, &[flag, range]);
    }
    for (flag, value) in [
        ("--segment", "nan"),
        ("--segment", "inf"),
        ("--stall-timeout", "-5"),
        ("--fragment", "NaN"),
    ] {
        let err = usage_error(&["rtsp://10.0.0.5/x", &format!("{flag}={value}")]);
        assert_names(&err, &[flag]);
    }
    let (code, _, err) = run(camrec().args(["record", "--duration", "1e300", "rtsp://10.0.0.5/x"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--duration") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn overflowing_file_values_are_usage_errors_naming_the_setting_and_range() {
    let dir = tempfile::tempdir().unwrap();
    for (body, words) in [
        (
            "[output]\nsegment_duration_minutes = 1e300\n",
            &[
                "segment duration",
                "1 s to 24 h",
                "segment_duration_minutes",
            ][..],
        ),
        (
            "[output]\nsegment_duration_minutes = inf\n",
            &["segment duration", "1 s to 24 h"][..],
        ),
        (
            "[output]\nsegment_duration_minutes = nan\n",
            &["segment duration", "1 s to 24 h"][..],
        ),
        (
            "[output]\nsegment_duration_minutes = -1\n",
            &["segment duration", "1 s to 24 h"][..],
        ),
        (
            "[output]\nfragment_seconds = 1e30\n",
            &["fragment duration", "100 ms to 60 s", "fragment_seconds"][..],
        ),
        (
            "[defaults]\nstall_timeout_seconds = 1e19\n",
            &["stall timeout", "1 s to 1 h", "stall_timeout_seconds"][..],
        ),
    ] {
        let cfg = write(
            dir.path(),
            "c.toml",
            &format!("{body}\n[[cameras]]\nurl = \"rtsp://10.0.0.5/x\"\n"),
        );
        let err = usage_error(&["--config", cfg.to_str().unwrap()]);
        assert_names(&err, words);
    }
}

#[test]
fn huge_or_negative_sizes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = "[storage]\nkind = \"s3\"\nbucket = \"recordings\"\n";
    for (extra, words) in [
        // 2^44 MiB = 2^64 bytes.
        (
            "spool_limit_mib = 17592186044416\n",
            &["spool limit", "1 PiB", "spool_limit_mib"][..],
        ),
        (
            "spool_limit_mib = 9223372036854775807\n",
            &["spool limit", "1 PiB"][..],
        ),
        (
            "spool_limit_mib = -1\n",
            &["spool_limit_mib", "negative"][..],
        ),
        (
            "part_size_mib = 9223372036854775807\n",
            &["part size", "part_size_mib", "5120"][..],
        ),
        (
            "part_size_mib = -5\n",
            &["part_size_mib", "negative", "5120"][..],
        ),
    ] {
        let cfg = write(
            dir.path(),
            "c.toml",
            &format!("{s3}{extra}\n[[cameras]]\nurl = \"rtsp://10.0.0.5/x\"\n"),
        );
        let err = usage_error(&["--config", cfg.to_str().unwrap()]);
        assert_names(&err, words);
    }
    // The same through the environment.
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!("{s3}\n[[cameras]]\nurl = \"rtsp://10.0.0.5/x\"\n"),
    );
    let (code, _, err) = run(camrec().env("S3_SPOOL_LIMIT", "99999999T").args([
        "config",
        "check",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert_names(&err, &["spool limit", "1 PiB", "S3_SPOOL_LIMIT"]);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn non_ascii_or_control_access_key_ids_are_usage_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    for id in [
        "ключключключключ",
        "AKIAIOSFODNN7EXAMPLé",
        "AKIA\\u0007IOSFODNN7",
    ] {
        let cfg = write(
            dir.path(),
            "c.toml",
            &format!(
                "[storage]\nkind = \"s3\"\nbucket = \"recordings\"\naccess_key_id = \"{id}\"\nsecret_access_key = \"s3cr3t-never-shown\"\n\n[[cameras]]\nurl = \"rtsp://10.0.0.5/x\"\n"
            ),
        );
        let err = usage_error(&["--config", cfg.to_str().unwrap()]);
        assert_names(&err, &["access key id", "printable ASCII"]);
        assert!(!err.contains("s3cr3t-never-shown"), "{err}");
    }
    // Through the environment, into `record` (which checks before starting).
    let (code, _, err) = run(camrec()
        .env("S3_ACCESS_KEY_ID", "ключключключключ")
        .env("S3_SECRET_ACCESS_KEY", "s3cr3t-never-shown")
        .args([
            "record",
            "--duration",
            "1s",
            "--out",
            "s3://recordings/x",
            "rtsp://10.0.0.5/x",
        ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("s3cr3t-never-shown"),
        "{err}"
    );
}

fn timed_record(url: &str, out: &std::path::Path) -> (i32, String) {
    let (code, stdout, stderr) = run(camrec()
        .args([
            "--log-format",
            "json",
            "record",
            "--no-metrics",
            "--status",
            "never",
            "--duration",
            "3s",
            "--camera-id",
            "cam",
            "--out",
        ])
        .arg(out)
        .arg(url));
    assert!(!stderr.contains("panicked"), "{stderr}");
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn a_timed_run_against_an_unreachable_camera_exits_1_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("rtsp://admin:Unreach4bleSecret@127.0.0.1:{}/x", dead_port());
    let (code, log) = timed_record(&url, dir.path());
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("recorded nothing"), "{log}");
    assert!(log.contains("cannot reach the camera"), "{log}");
    assert!(!log.contains("Unreach4bleSecret"), "{log}");
}

#[test]
fn a_timed_run_with_a_wrong_password_exits_1_and_says_why_without_the_password() {
    let sim = sim(Some(("admin", "right-password")));
    let dir = tempfile::tempdir().unwrap();
    let url = sim
        .url("/stream1")
        .replacen("rtsp://", "rtsp://admin:Wr0ngPa55wordX@", 1);
    let (code, log) = timed_record(&url, dir.path());
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("recorded nothing"), "{log}");
    assert!(log.contains("camera summary"), "{log}");
    assert!(log.contains("401 Unauthorized"), "{log}");
    assert!(!log.contains("Wr0ngPa55wordX"), "{log}");
    assert!(!log.contains("right-password"), "{log}");
}

#[test]
fn a_timed_run_that_records_exits_0() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let (code, log) = timed_record(&sim.url("/stream1"), dir.path());
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("recorded nothing"), "{log}");
}
