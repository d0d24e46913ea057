//! `camrec s3 lifecycle` against a real S3 server (moto): the retention
//! settings become the bucket's lifecycle rules, a difference is reported
//! with exit code 3, `--apply` writes them, and retention settings that
//! have no S3 form are usage errors naming the setting.

mod common;

use std::time::Duration;

use common::*;

fn lifecycle(m: &Moto, spool: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut c = m.camrec(spool);
    c.args(["s3", "lifecycle", "--out", "s3://cams/site1"])
        .args([
            "rtsp://10.0.0.5/porch",
            "--camera-id",
            "porch",
            "rtsp://10.0.0.6/yard",
            "--camera-id",
            "yard",
        ])
        .args(extra);
    run(&mut c)
}

#[test]
fn retention_becomes_bucket_rules_and_apply_writes_them() {
    let Some(m) = moto() else { return };
    m.create_bucket("cams");
    let spool = tempfile::tempdir().unwrap();
    let limits = ["--max-age", "30d", "--clips-max-age", "90d"];

    let (code, out, err) = lifecycle(&m, spool.path(), &limits);
    assert_eq!(code, 3, "differs, nothing written: {out}{err}");
    for want in [
        "missing: camrec-recordings-porch on \"site1/porch/\": expire after 30 days",
        "missing: camrec-recordings-yard on \"site1/yard/\": expire after 30 days",
        "missing: camrec-clips on \"site1/clips/\" tagged camrec-pinned=false: expire after 90 days",
        "missing: camrec-abort-incomplete-uploads on \"site1/\": abort incomplete uploads after 1 days",
        "--apply",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }

    let mut apply = limits.to_vec();
    apply.push("--apply");
    let (code, out, err) = lifecycle(&m, spool.path(), &apply);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("applied"), "{out}");

    let (code, out, err) = lifecycle(&m, spool.path(), &limits);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing to do"), "{out}");

    // A shorter age: one rule per camera differs.
    let (code, out, _) = lifecycle(
        &m,
        spool.path(),
        &["--max-age", "7d", "--clips-max-age", "90d"],
    );
    assert_eq!(code, 3);
    assert_eq!(out.matches("differs:").count(), 2, "{out}");
    // Part of a day rounds up, and says so.
    let (_, out, _) = lifecycle(
        &m,
        spool.path(),
        &["--max-age", "36h", "--clips-max-age", "90d"],
    );
    assert!(
        out.contains("whole days, so 1day 12h becomes 2 day(s)"),
        "{out}"
    );
}

#[test]
fn retention_without_an_s3_form_is_a_usage_error() {
    let Some(m) = moto() else { return };
    let spool = tempfile::tempdir().unwrap();
    for (flags, names) in [
        (&["--max-bytes", "1GiB"][..], "max_bytes"),
        (&["--min-free", "1GiB"][..], "min_free"),
        (&["--total-max-age", "30d"][..], "total_max_age"),
    ] {
        let (code, out, err) = lifecycle(&m, spool.path(), flags);
        assert_eq!(code, 2, "{flags:?}: {out}{err}");
        assert!(err.contains(names), "{names} not named: {err}");
        assert!(err.contains("retention is by age only"), "{err}");
    }
    // On a folder, the command says what it is for.
    let mut c = camrec();
    c.args([
        "s3",
        "lifecycle",
        "--out",
        "/tmp/x",
        "rtsp://10.0.0.5/p",
        "--max-age",
        "1d",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs S3 storage"), "{err}");
}

#[test]
fn per_camera_ages_need_the_camera_in_the_key() {
    let Some(m) = moto() else { return };
    let spool = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "camrec.toml",
        r#"
[output]
key_template = "{YYYYMMDD}/{camera}_{HHMMSS}.mp4"
[retention]
max_age = "30d"
[[cameras]]
id = "porch"
url = "rtsp://10.0.0.5/porch"
retention_max_age = "90d"
[[cameras]]
id = "yard"
url = "rtsp://10.0.0.6/yard"
"#,
    );
    let mut c = m.camrec(spool.path());
    c.args(["s3", "lifecycle", "--out", "s3://cams/site1", "--config"])
        .arg(&cfg);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("camrec.toml:9:"), "located: {err}");
    assert!(err.contains("start with {camera}/"), "{err}");
}

/// `camrec record` on S3 with retention set reads the bucket's rules at
/// start-up: a bucket without them gets a warning per missing rule naming
/// the command that fixes it, and recording goes on; once applied, the
/// warning is gone.
#[test]
fn record_warns_at_start_when_the_bucket_differs() {
    let Some(m) = moto() else { return };
    m.create_bucket("cams");
    let sim = sim(None);
    let url = sim.url("/stream1");
    let spool = tempfile::tempdir().unwrap();
    let start = |spool: &std::path::Path| {
        let mut c = m.camrec(spool);
        c.args([
            "--log-format",
            "text",
            "record",
            "--status",
            "never",
            "--no-metrics",
        ])
        .args([url.as_str(), "--camera-id", "porch", "--max-age", "30d"])
        .args(["--out", "s3://cams/site1"]);
        Running::spawn(c)
    };
    let mut r = start(spool.path());
    let line = r.wait_for_line("lifecycle rules differ", Duration::from_secs(30));
    assert!(line.contains("camrec s3 lifecycle --apply"), "{line}");
    assert!(line.contains("camrec-recordings-porch"), "{line}");
    r.wait_for_line("recording", Duration::from_secs(30));
    r.signal("INT");
    let (code, log) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", log.join("\n"));

    let mut c = m.camrec(spool.path());
    c.args(["s3", "lifecycle", "--out", "s3://cams/site1", url.as_str()])
        .args(["--camera-id", "porch", "--max-age", "30d", "--apply"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}{err}");
    let mut r = start(spool.path());
    r.wait_for_line("recording", Duration::from_secs(30));
    r.signal("INT");
    let (code, log) = r.wait(Duration::from_secs(60));
    assert_eq!(code, 0);
    assert!(
        !log.iter().any(|l| l.contains("lifecycle rules differ")),
        "{}",
        log.join("\n")
    );
}
