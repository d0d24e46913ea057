//! Several `camrec` processes on one host: a second recorder on the same
//! output folder or S3 spool is refused at start, `camrec repair` refuses a
//! folder a live recorder holds, and the first recorder never notices.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// The `.part` file being written under `dir` (waits for it).
fn wait_for_part(dir: &Path) -> PathBuf {
    eventually(Duration::from_secs(20), "a .part file", || {
        files(dir)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(".mp4.part"))
    })
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Waits until `part` grows past `than` (the first recorder keeps going).
fn grows(part: &Path, than: u64) {
    eventually(Duration::from_secs(10), "the live .part to grow", || {
        (len(part) > than).then_some(())
    });
}

fn local_recorder(url: &str, dir: &Path) -> Running {
    let mut c = camrec();
    c.args([
        "--log-format",
        "text",
        "record",
        "--status",
        "never",
        "--no-metrics",
        url,
        "--camera-id",
        "cam",
        "--segment",
        "60s",
        "--out",
    ])
    .arg(dir);
    Running::spawn(c)
}

#[test]
fn second_recorder_and_repair_on_a_live_output_folder_are_refused() {
    let sim = sim(None);
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let mut first = local_recorder(&url, &dir);
    let part = wait_for_part(&dir);
    let before = len(&part);

    // A second recorder on the same folder.
    let (code, out, err) = run(camrec()
        .args([
            "--log-format",
            "text",
            "record",
            "--status",
            "never",
            "--no-metrics",
            &url,
            "--camera-id",
            "cam",
            "--duration",
            "3s",
            "--out",
        ])
        .arg(&dir));
    println!("second recorder: exit {code}\n{out}{err}");
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&*dir.to_string_lossy()),
        "names the folder: {err}"
    );
    assert!(err.contains("in use by another running camrec"), "{err}");

    // `camrec repair` on it while the first records.
    let (code, out, err) = run(camrec().arg("repair").arg(&dir));
    println!("repair: exit {code}\n{out}{err}");
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&*dir.to_string_lossy()),
        "names the folder: {err}"
    );
    assert!(err.contains("in use by another running camrec"), "{err}");

    // The first recorder's file was neither cut nor renamed, and it goes on.
    assert!(part.exists(), "the live .part is still there");
    grows(&part, before.max(len(&part)));
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first recorder still runs"
    );
    first.signal("INT");
    let (code, log) = first.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert!(!part.exists(), "finished at shutdown");
    assert_eq!(
        files(&dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .count(),
        1
    );

    // Once the first has stopped, the folder is free again.
    let (code, _, err) = run(camrec().arg("repair").arg(&dir));
    assert_eq!(code, 0, "{err}");
}

fn s3_recorder(m: &Moto, spool: &Path, url: &str, camera: &str, extra: &[&str]) -> Command {
    let mut c = m.camrec(spool);
    c.env("S3_CREATE_BUCKET", "true")
        .args([
            "--log-format",
            "text",
            "record",
            "--status",
            "never",
            "--no-metrics",
            url,
            "--camera-id",
            camera,
        ])
        .args(extra)
        .args(["--out", "s3://cams/site1"]);
    c
}

#[test]
fn second_recorder_on_a_live_spool_is_refused() {
    let Some(m) = moto() else { return };
    let sim = sim(None);
    let url = sim.url("/stream1");
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let mut first = Running::spawn(s3_recorder(&m, &spool, &url, "one", &["--segment", "60s"]));
    let live = eventually(Duration::from_secs(20), "a spool file", || {
        files(&spool)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "spool"))
    });
    let before = len(&live);
    // Private: only the recorder's user may read what is being uploaded.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&spool), 0o700);
        assert_eq!(mode(&live), 0o600);
    }

    let (code, out, err) = run(&mut s3_recorder(
        &m,
        &spool,
        &url,
        "two",
        &["--duration", "3s"],
    ));
    println!("second recorder: exit {code}\n{out}{err}");
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&*spool.to_string_lossy()),
        "names the spool: {err}"
    );
    assert!(err.contains("S3_SPOOL_DIR"), "says what to change: {err}");

    // The first recorder's spool file was not taken for a leftover.
    assert!(live.exists());
    grows(&live, before.max(len(&live)));
    assert!(first.child.try_wait().unwrap().is_none());
    first.signal("INT");
    let (code, log) = first.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", log.join("\n"));
}
