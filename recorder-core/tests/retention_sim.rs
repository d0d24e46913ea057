//! Retention end to end: the camera simulator recorded with 5 s segments
//! while a `Pruner` keeps the folder within a small size, then on a small
//! tmpfs with a free-space floor.
//!
//! `CAMREC_TEST_RETENTION_SECS` (default 75) sets how long each recording
//! runs and `CAMREC_TEST_RETENTION_MIB` (default 1) the size limit, for a
//! longer soak (the simulator's clip is about 26 KB/s, 130 KB per segment).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig};
use recorder_core::recorder::{Recorder, RecorderEvent};
use recorder_core::retention::{Limits, Pruner, RetentionPolicy, PIN_SUFFIX};
use recorder_core::sink::{LocalSink, ObjectNameTemplate};
use support::recording::{camera, start_sim};

const PATH: &str = "/stream1";
const SEGMENT: Duration = Duration::from_secs(5);

fn run_secs() -> u64 {
    std::env::var("CAMREC_TEST_RETENTION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(75)
}

/// Every regular file under `dir`, with its size, by relative name.
fn listing(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => {
                    // A file deleted between the listing and the stat is
                    // simply not there.
                    if let Ok(m) = std::fs::metadata(&p) {
                        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                        out.insert(rel, m.len());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn write(root: &Path, name: &str, len: usize) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, vec![0u8; len]).unwrap();
    p
}

/// What the test saw of one recording.
#[derive(Default)]
struct Seen {
    /// Every segment the recorder stored, in order, with its bytes.
    stored: Vec<(String, u64)>,
    errors: Vec<String>,
    dropped: u64,
}

/// Records the simulator into `root` for `secs` with `policy`, calling
/// `sample` with the folder's listing every 250 ms.
async fn record_with_retention(
    root: &Path,
    policy: RetentionPolicy,
    secs: u64,
    mut sample: impl FnMut(&BTreeMap<String, u64>, &Seen),
) -> (Pruner, Seen) {
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo(PATH)));
    let template = ObjectNameTemplate::default();
    let (pruner, scanned) = Pruner::open(root, template.clone(), policy).unwrap();
    println!("start-up walk: {scanned:?}");
    let recorder = Recorder::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut events = recorder.subscribe();
    let watcher = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                let mut s = seen.lock().unwrap();
                match ev {
                    RecorderEvent::SegmentStored(r) => s.stored.push((r.name.clone(), r.bytes)),
                    RecorderEvent::Error { message, .. } => s.errors.push(message),
                    RecorderEvent::FragmentsDropped { fragments, .. } => s.dropped += fragments,
                    _ => {}
                }
            }
        })
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(pruner.clone().run(
        recorder.subscribe(),
        stop,
        Duration::from_millis(500),
    ));
    let sink = LocalSink::new(root, template).unwrap();
    recorder
        .add_camera(camera("cam", &sim.url(PATH), SEGMENT), sink)
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let files = listing(root);
        sample(&files, &seen.lock().unwrap());
    }
    assert!(recorder.shutdown(Duration::from_secs(10)).await);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    watcher.abort();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    sim.shutdown();
    (pruner, seen)
}

fn is_segment(name: &str) -> bool {
    name.starts_with("cam/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_keeps_the_folder_within_one_segment_oldest_first() {
    let secs = run_secs();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Left by an "earlier run": three old segments, an old clip, an old
    // pinned clip, a pinned old segment, and a file that is not ours.
    let old = [
        "cam/20200101/000000_cam.mp4",
        "cam/20200101/000005_cam.mp4",
        "cam/20200102/000000_cam.mp4",
    ];
    for o in old {
        write(root, o, 100_000);
    }
    write(root, "cam/20190101/000000_cam.mp4", 50_000);
    write(root, &format!("cam/20190101/000000_cam.mp4{PIN_SUFFIX}"), 0);
    write(root, "clips/cam/20200101/000000_cam.mp4", 30_000);
    let pinned_clip = "clips/cam/20190101/000000_cam.mp4";
    write(root, pinned_clip, 30_000);
    write(root, &format!("{pinned_clip}{PIN_SUFFIX}"), 0);
    write(root, "notes/holiday.mp4", 10_000);

    let max_bytes: u64 = std::env::var("CAMREC_TEST_RETENTION_MIB")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(1 << 20, |m| (m * 1048576.0) as u64);
    let policy = RetentionPolicy::new()
        .with_per_camera(Limits::none().with_max_bytes(max_bytes))
        .with_clips(Limits::none().with_max_bytes(0));
    // The folder (segments, finished and open) over time.
    let mut worst_over: i64 = i64::MIN;
    let mut largest_segment: u64 = 0;
    let mut parts_seen = std::collections::BTreeSet::new();
    let mut order_violations = Vec::new();
    let (pruner, seen) = record_with_retention(root, policy, secs, |files, seen| {
        let bytes: u64 = files
            .iter()
            .filter(|(n, _)| is_segment(n))
            .map(|(_, b)| b)
            .sum();
        largest_segment = seen
            .stored
            .iter()
            .map(|s| s.1)
            .max()
            .unwrap_or(0)
            .max(largest_segment);
        worst_over = worst_over.max(bytes as i64 - max_bytes as i64);
        for (n, _) in files.iter().filter(|(n, _)| n.ends_with(".part")) {
            parts_seen.insert(n.clone());
        }
        // Oldest first: once a stored segment is gone, every older one is
        // gone too.
        let stored: Vec<&String> = seen.stored.iter().map(|s| &s.0).collect();
        if let Some(newest_gone) = stored.iter().rposition(|n| !files.contains_key(*n)) {
            if let Some(kept) = stored[..newest_gone]
                .iter()
                .find(|n| files.contains_key(**n))
            {
                order_violations.push(format!(
                    "{kept} kept after {} was deleted",
                    stored[newest_gone]
                ));
            }
            // The pre-existing old segments went before any new one.
            for o in old {
                if files.contains_key(o) {
                    order_violations.push(format!("{o} kept after a newer segment was deleted"));
                }
            }
        }
    })
    .await;
    let snap = pruner.snapshot();
    println!(
        "{secs} s: stored {} segments (largest {largest_segment} bytes), retention deleted {:?}; the folder exceeded {max_bytes} by at most {worst_over} bytes; {} .part files seen",
        seen.stored.len(),
        snap.cameras,
        parts_seen.len()
    );
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.dropped, 0);
    assert!(order_violations.is_empty(), "{order_violations:?}");
    // Never more than one segment over the limit (the open one).
    assert!(
        worst_over <= largest_segment as i64,
        "exceeded by {worst_over} > one segment ({largest_segment})"
    );
    let files = listing(root);
    let kept: u64 = files
        .iter()
        .filter(|(n, _)| is_segment(n))
        .map(|(_, b)| b)
        .sum();
    assert!(kept <= max_bytes, "{kept} bytes kept");
    let cam = snap.cameras.iter().find(|c| c.camera == "cam").unwrap();
    assert_eq!(cam.usage.bytes, kept, "the account matches the folder");
    assert!(cam.segments_deleted >= 4, "{cam:?}");
    // The limit held something: deletions happened beyond the old files.
    let stored_total: u64 = seen.stored.iter().map(|s| s.1).sum();
    assert!(
        stored_total > max_bytes,
        "record longer (CAMREC_TEST_RETENTION_SECS) to reach the limit"
    );
    // The newest segments are all there, the open segment was never
    // touched (every .part became its .mp4 or is the last one), pins and
    // foreign files survived, the unpinned clip did not.
    assert!(files.contains_key(&seen.stored.last().unwrap().0));
    for p in &parts_seen {
        let done = p.trim_end_matches(".part");
        assert!(
            seen.stored.iter().any(|s| s.0 == done),
            "{p} never became a stored segment"
        );
    }
    assert!(files.contains_key(pinned_clip));
    assert!(files.contains_key("cam/20190101/000000_cam.mp4"));
    assert!(files.contains_key("notes/holiday.mp4"));
    assert!(!files.contains_key("clips/cam/20200101/000000_cam.mp4"));
    for o in old {
        assert!(!files.contains_key(o));
    }
    assert!(
        !root.join("cam/20200102").exists(),
        "emptied day folder removed"
    );
}

/// A tmpfs of a few MiB mounted for the test; unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_space_floor_on_a_small_tmpfs_deletes_the_oldest_and_never_fails() {
    let fs = match Tmpfs::mount("2m") {
        Ok(f) => f,
        Err(why) => {
            eprintln!("free-space floor test skipped: {why}");
            return;
        }
    };
    let root = fs.0.path().join("rec");
    std::fs::create_dir(&root).unwrap();
    let pinned_clip = "clips/cam/20190101/000000_cam.mp4";
    write(&root, pinned_clip, 100_000);
    write(&root, &format!("{pinned_clip}{PIN_SUFFIX}"), 0);
    let floor: u64 = 1536 << 10;
    let policy = RetentionPolicy::new()
        .with_per_camera(Limits::none().with_max_age(Duration::from_secs(30 * 86_400)))
        .with_min_free_bytes(floor);
    let mut min_free = u64::MAX;
    let secs = run_secs();
    let (pruner, seen) = record_with_retention(&root, policy, secs, |_, _| {
        let st = rustix_free(&root);
        min_free = min_free.min(st);
    })
    .await;
    let snap = pruner.snapshot();
    let cam = snap
        .cameras
        .iter()
        .find(|c| c.camera == "cam")
        .unwrap()
        .clone();
    println!(
        "{secs} s on a 2 MiB tmpfs, floor {floor}: stored {} segments, deleted {}, lowest free {min_free} bytes, floor warning {}",
        seen.stored.len(),
        cam.segments_deleted,
        cam.floor_before_max_age
    );
    // Recording never failed: no storage error, nothing dropped.
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.dropped, 0);
    assert!(
        cam.segments_deleted > 0,
        "the floor was never reached: record longer"
    );
    // The disk is too small for 30 days: reported.
    assert!(cam.floor_before_max_age);
    assert!(std::fs::metadata(root.join(pinned_clip)).is_ok());
    let files = listing(&root);
    assert!(files.contains_key(&seen.stored.last().unwrap().0));
    // The oldest went: what is left is the newest run of segments.
    let stored: Vec<&String> = seen.stored.iter().map(|s| &s.0).collect();
    let first_kept = stored.iter().position(|n| files.contains_key(*n)).unwrap();
    assert!(stored[first_kept..].iter().all(|n| files.contains_key(*n)));
    assert!(first_kept > 0);
}

/// Free bytes as `df` sees them (for the test's own sampling).
fn rustix_free(p: &Path) -> u64 {
    recorder_core::retention::free_bytes(p).unwrap_or(0)
}
