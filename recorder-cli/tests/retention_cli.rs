//! Retention through the real binary: `camrec prune` on a prepared folder,
//! and `camrec record` with a size limit exporting retention's metrics.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn put(root: &Path, name: &str, len: usize) {
    let p = root.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, vec![1u8; len]).unwrap();
}

fn prune(root: &Path, extra: &[&str]) -> (i32, String, String) {
    run(camrec()
        .args(["--log-format", "text", "prune", "--from"])
        .arg(root)
        .args(extra))
}

/// Oldest first: 2024-01-01 00:00:00, :05, :10 of camera a; 00:00:07 of b.
fn prepared() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "a/20240101/000000_a.mp4", 1000);
    put(r, "a/20240101/000005_a.mp4", 1000);
    put(r, "a/20240101/000010_a.mp4", 1000);
    put(r, "a/20240101/000015_a.mp4.part", 5000);
    put(r, "b/20240101/000007_b.mp4", 1000);
    put(r, "clips/a/20231231/235959_a.mp4", 300);
    put(r, "clips/a/20231230/000000_a.mp4", 300);
    put(r, "clips/a/20231230/000000_a.mp4.pin", 0);
    put(r, "notes/holiday.mp4", 10);
    dir
}

#[test]
fn prune_dry_run_lists_and_apply_deletes_the_oldest() {
    let dir = prepared();
    let r = dir.path();
    // The folder lock prune takes is not a recording.
    let listing = |r: &Path| -> Vec<_> {
        files(r)
            .into_iter()
            .filter(|p| !p.ends_with(recorder_core::sink::OUTPUT_LOCK_FILE))
            .collect()
    };
    let before = listing(r);
    let (code, out, err) = prune(
        r,
        &[
            "--dry-run",
            "--total-max-bytes",
            "2000",
            "--clips-max-bytes",
            "0",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Four segments of 1000 bytes over 2000 in total: the two oldest of
    // any camera; the unpinned clip; never the .part, the pin, others.
    let listed: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("would delete:"))
        .collect();
    assert_eq!(listed.len(), 3, "{out}");
    assert!(
        listed[0].contains("clips/a/20231231/235959_a.mp4 (300 bytes, clip, clips_max_bytes"),
        "{out}"
    );
    assert!(
        listed[1].contains("a/20240101/000000_a.mp4 (1000 bytes, segment, total_max_bytes"),
        "{out}"
    );
    assert!(
        listed[2].contains("a/20240101/000005_a.mp4 (1000 bytes"),
        "{out}"
    );
    assert!(out.contains("would delete 3 files, 2300 bytes"), "{out}");
    assert!(out.contains("1 pinned, 1 open"), "{out}");
    assert!(out.contains("1 .mp4 not named by the template"), "{out}");
    assert_eq!(listing(r), before, "a dry run deletes nothing");

    let (code, out, err) = prune(
        r,
        &[
            "--apply",
            "--total-max-bytes",
            "2000",
            "--clips-max-bytes",
            "0",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 3 files, 2300 bytes"), "{out}");
    for gone in [
        "a/20240101/000000_a.mp4",
        "a/20240101/000005_a.mp4",
        "clips/a/20231231/235959_a.mp4",
    ] {
        assert!(!r.join(gone).exists(), "{gone}");
    }
    assert!(
        !r.join("clips/a/20231231").exists(),
        "emptied folder removed"
    );
    for kept in [
        "a/20240101/000010_a.mp4",
        "a/20240101/000015_a.mp4.part",
        "b/20240101/000007_b.mp4",
        "clips/a/20231230/000000_a.mp4",
        "notes/holiday.mp4",
    ] {
        assert!(r.join(kept).exists(), "{kept}");
    }
    // Within the limit now: nothing more.
    let (_, out, _) = prune(r, &["--apply", "--total-max-bytes", "2000"]);
    assert!(out.contains("deleted 0 files"), "{out}");
}

#[test]
fn prune_by_age_per_camera_from_a_config_file() {
    let dir = prepared();
    let r = dir.path();
    let cfg = tempfile::tempdir().unwrap();
    // Camera b keeps everything for a century; a's files are from 2024
    // and go with a 1-day limit; the file gives the default.
    let p = write(
        cfg.path(),
        "camrec.toml",
        "[retention]\nmax_age = \"1d\"\n[[cameras]]\nid = \"b\"\nurl = \"rtsp://cam/b\"\nretention_max_age = \"36500d\"\n",
    );
    let (code, out, err) = prune(r, &["--apply", "-c", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 3 files, 3000 bytes"), "{out}");
    assert!(out.contains("camera_max_age"), "{out}");
    assert!(r.join("b/20240101/000007_b.mp4").exists());
    assert!(!r.join("a/20240101/000010_a.mp4").exists());
    assert!(r.join("a/20240101/000015_a.mp4.part").exists());
}

/// `prepared()` with thumbnails named `thumbs/{camera}/{YYYYMMDD}-{HHMMSS}.jpg`
/// (100 bytes each, 1 s into each segment; H.265's as `.keyframe.mp4`),
/// a thumbnail under the default name and a clip's thumbnail and sidecar.
fn prepared_with_thumbnails() -> tempfile::TempDir {
    let dir = prepared();
    let r = dir.path();
    for name in [
        "thumbs/a/20240101-000001.jpg",
        "thumbs/a/20240101-000006.keyframe.mp4",
        "thumbs/a/20240101-000011.jpg",
        "thumbs/b/20240101-000008.jpg",
        "a/20240101/000001_a.jpg",
        "clips/a/20231230/000000_a.jpg",
        "clips/a/20231230/000000_a.json",
    ] {
        put(r, name, 100);
    }
    dir
}

const THUMBNAIL_TEMPLATE: &str = "thumbs/{camera}/{YYYYMMDD}-{HHMMSS}.jpg";

/// After `--max-bytes 1100` with the thumbnail template known: camera a
/// keeps its newest segment and its thumbnail, b everything.
fn assert_thumbnails_went_with_their_segments(r: &Path, out: &str) {
    assert!(out.contains("deleted 4 files, 2200 bytes"), "{out}");
    assert!(
        out.contains("deleted: thumbs/a/20240101-000006.keyframe.mp4 (100 bytes, thumbnail, camera_max_bytes"),
        "{out}"
    );
    for gone in [
        "a/20240101/000000_a.mp4",
        "thumbs/a/20240101-000001.jpg",
        "a/20240101/000005_a.mp4",
        "thumbs/a/20240101-000006.keyframe.mp4",
    ] {
        assert!(!r.join(gone).exists(), "{gone}\n{out}");
    }
    for kept in [
        "a/20240101/000010_a.mp4",
        "thumbs/a/20240101-000011.jpg",
        "b/20240101/000007_b.mp4",
        "thumbs/b/20240101-000008.jpg",
        // Neither template names it: not retention's.
        "a/20240101/000001_a.jpg",
        "notes/holiday.mp4",
        // Clips keep their own rule, their thumbnails and sidecars theirs.
        "clips/a/20231230/000000_a.mp4",
        "clips/a/20231230/000000_a.jpg",
        "clips/a/20231230/000000_a.json",
        "clips/a/20231231/235959_a.mp4",
    ] {
        assert!(r.join(kept).exists(), "{kept}\n{out}");
    }
}

#[test]
fn prune_deletes_thumbnails_of_a_custom_template_with_their_segments() {
    // Under the default thumbnail template the custom-named thumbnails are
    // not retention's: a dry run lists segments only, and the default-named
    // picture as the thumbnail of a's first segment.
    let dir = prepared_with_thumbnails();
    let r = dir.path();
    let (code, out, err) = prune(r, &["--dry-run", "--max-bytes", "1100"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("thumbs/"), "{out}");
    assert!(
        out.contains("would delete: a/20240101/000001_a.jpg (100 bytes, thumbnail"),
        "{out}"
    );

    // The template from the configuration file.
    let cfg = tempfile::tempdir().unwrap();
    let p = write(
        cfg.path(),
        "camrec.toml",
        &format!("[thumbnails]\nkey_template = \"{THUMBNAIL_TEMPLATE}\"\n"),
    );
    let (code, out, err) = prune(
        r,
        &["--apply", "--max-bytes", "1100", "-c", p.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("thumbnails named by {THUMBNAIL_TEMPLATE:?}")),
        "{out}"
    );
    assert_thumbnails_went_with_their_segments(r, &out);
    // Within the limit now, thumbnails included.
    let (_, out, _) = prune(
        r,
        &["--apply", "--max-bytes", "1100", "-c", p.to_str().unwrap()],
    );
    assert!(out.contains("deleted 0 files"), "{out}");

    // The same from --thumbnail-template, without a configuration file.
    let dir = prepared_with_thumbnails();
    let r = dir.path();
    let (code, out, err) = prune(
        r,
        &[
            "--apply",
            "--max-bytes",
            "1100",
            "--thumbnail-template",
            THUMBNAIL_TEMPLATE,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_thumbnails_went_with_their_segments(r, &out);

    // A template that cannot name thumbnails is refused, naming the flag.
    let (code, _, err) = prune(
        r,
        &[
            "--dry-run",
            "--max-bytes",
            "1100",
            "--thumbnail-template",
            "thumbs/{camera}/{unix}.png",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--thumbnail-template") && err.contains(".jpg"),
        "{err}"
    );
}

#[test]
fn prune_usage_errors() {
    let dir = prepared();
    let r = dir.path();
    // Neither --dry-run nor --apply.
    assert_eq!(prune(r, &["--max-age", "1d"]).0, 2);
    // No limit.
    let (code, _, err) = prune(r, &["--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("no retention limit"), "{err}");
    // Bad values name the flag and the fix.
    let (code, _, err) = prune(r, &["--dry-run", "--max-age", "30"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--max-age") && err.contains("unit is needed"),
        "{err}"
    );
    let (code, _, err) = prune(r, &["--dry-run", "--min-free", "5 parsecs"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown unit"), "{err}");
    // Not a folder.
    let (code, _, err) = prune(&r.join("missing"), &["--dry-run", "--max-age", "1d"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a folder"), "{err}");
    // A folder another camrec works in.
    let lock = r.join(recorder_core::sink::OUTPUT_LOCK_FILE);
    if let Ok(mut holder) = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
    {
        std::thread::sleep(Duration::from_millis(300));
        let (code, _, err) = prune(r, &["--apply", "--max-age", "1d"]);
        let _ = holder.kill();
        let _ = holder.wait();
        assert_ne!(code, 0);
        assert!(
            err.contains("another camrec") || err.contains("in use"),
            "{err}"
        );
        assert!(r.join("a/20240101/000000_a.mp4").exists());
    }
}

#[test]
fn config_check_shows_retention() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "camrec.toml",
        "[retention]\nmax_bytes = \"500GiB\"\nmin_free = \"5GiB\"\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://cam/a\"\nretention_max_age = \"7d\"\n",
    );
    let (code, out, err) = run(camrec().args(["config", "check", "-c"]).arg(&p));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[retention]"), "{out}");
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k} missing:\n{out}"))
            .to_string()
    };
    assert!(line("max_bytes ").contains("\"500GiB\""), "{out}");
    assert!(
        line("min_free ").contains("\"5GiB\"") && line("min_free ").contains(":3:"),
        "{out}"
    );
    assert!(line("retention_max_age ").contains("\"7d\""), "{out}");
    assert!(line("retention_max_bytes ").contains("\"500GiB\""), "{out}");
    // With S3 storage, a size limit (no lifecycle form) is refused with
    // its position; an age is a lifecycle rule.
    let p = write(
        dir.path(),
        "s3.toml",
        "[storage]\nkind = \"s3\"\nbucket = \"videos\"\n[retention]\nmax_bytes = \"5GiB\"\n[[cameras]]\nurl = \"rtsp://cam/a\"\n",
    );
    let (code, _, err) = run(camrec()
        .args(["--log-format", "text", "config", "check", "-c"])
        .arg(&p));
    assert_eq!(code, 2);
    assert!(err.contains(":5:") && err.contains("lifecycle"), "{err}");
}

#[test]
fn record_with_a_size_limit_keeps_it_and_exports_retention_metrics() {
    record_with_a_size_limit(None);
}

#[test]
fn record_with_a_custom_thumbnail_template_deletes_its_thumbnails_with_their_segments() {
    record_with_a_size_limit(Some("thumbs/{camera}/{unix}.jpg"));
}

/// `camrec record --max-bytes 200KiB` with a thumbnail every 2 s, named
/// by the default template or by `thumbnail_template` (from a
/// configuration file).
fn record_with_a_size_limit(thumbnail_template: Option<&str>) {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let cfg = tempfile::tempdir().unwrap();
    let mut rec = Running::spawn({
        let mut c = camrec();
        c.args([
            "--log-format",
            "json",
            "record",
            "--metrics-listen",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(r)
        .args([
            &sim.url("/stream1"),
            "--camera-id",
            "cam",
            "--segment",
            "2s",
        ])
        .args(["--max-bytes", "200KiB", "--status", "never"])
        // Thumbnails count toward the camera's limit and go oldest first.
        .args(["--thumbnail-interval", "2s"]);
        if let Some(t) = thumbnail_template {
            let p = write(
                cfg.path(),
                "camrec.toml",
                &format!("[thumbnails]\nkey_template = \"{t}\"\n"),
            );
            c.arg("-c").arg(p);
        }
        c
    });
    rec.wait_for_line(
        "retention: accounted for the recordings",
        Duration::from_secs(20),
    );
    let addr = rec.metrics_addr();
    let m = eventually(
        Duration::from_secs(60),
        "a segment deleted by retention",
        || {
            let (_, m) = get(addr, "/metrics");
            (metric(&m, "camrec_camera_segments_deleted_total{camera=\"cam\"}")? >= 2.0)
                .then_some(m)
        },
    );
    let stored = metric(&m, "camrec_camera_stored_bytes{camera=\"cam\"}").unwrap();
    assert!(stored > 0.0 && stored <= 200.0 * 1024.0, "{m}");
    let oldest = metric(
        &m,
        "camrec_camera_oldest_recording_timestamp_seconds{camera=\"cam\"}",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(oldest > now - 60.0 && oldest < now, "{oldest} vs {now}");
    assert_eq!(
        metric(
            &m,
            "camrec_camera_retention_floor_before_max_age{camera=\"cam\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "camrec_retention_delete_errors_total"),
        Some(0.0)
    );
    let (_, m) = get(addr, "/metrics");
    let thumbnails = metric(&m, "camrec_camera_thumbnails_total{camera=\"cam\"}").unwrap();
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0, "{}", log.join("\n"));
    let kept_files: Vec<_> = files(r)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mp4" || e == "jpg"))
        .collect();
    let kept: u64 = kept_files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(kept <= 200 * 1024, "{kept} bytes kept after the last pass");
    let jpgs = kept_files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .count();
    assert!(
        thumbnails >= 3.0 && (jpgs as f64) < thumbnails,
        "old thumbnails deleted: {jpgs} left of {thumbnails}"
    );
    if let Some(t) = thumbnail_template {
        // Every picture is named by the template, and none outlived its
        // segment: none is older than the oldest segment kept.
        let start = |tpl: &recorder_core::sink::ObjectNameTemplate, p: &Path| {
            let name = p.strip_prefix(r).unwrap().to_str().unwrap();
            tpl.match_name(name)
                .and_then(|f| f.start)
                .unwrap_or_else(|| panic!("{name} is not named by {tpl}"))
        };
        let oldest = |ext: &str, tpl: &recorder_core::sink::ObjectNameTemplate| {
            kept_files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .map(|p| start(tpl, p))
                .min()
                .unwrap()
        };
        let oldest_segment = oldest("mp4", &Default::default());
        let oldest_thumbnail = oldest("jpg", &t.parse().unwrap());
        assert!(
            oldest_thumbnail >= oldest_segment,
            "{oldest_thumbnail:?} < {oldest_segment:?}: {kept_files:?}"
        );
    }
    assert!(
        log.iter().any(|l| l.contains("retention summary")),
        "{}",
        log.join("\n")
    );
}
