//! LocalSink end to end: names, collisions, patches, abort, errors.

mod support;

/// Named `sink` so `cargo test sink` selects these tests.
mod sink {

    use std::fs;
    use std::path::Path;

    use crate::support::hand_built::*;
    use recorder_core::mux::WallTime;
    use recorder_core::sink::{
        repair_dir, LocalSink, LocalSinkOptions, ObjectNameTemplate, SegmentSink, SinkError,
    };

    /// 2024-02-29 12:34:56 UTC.
    const WALL: WallTime = WallTime(1_709_210_096_000_000_000);

    fn sink(root: &Path) -> LocalSink {
        LocalSink::new(root, ObjectNameTemplate::default()).unwrap()
    }

    async fn write(
        sink: &mut LocalSink,
        camera: &str,
        seg: &Segment,
    ) -> recorder_core::sink::StoredSegment {
        sink.start(camera, &seg.start).await.unwrap();
        for f in &seg.fragments {
            sink.fragment(f).await.unwrap();
        }
        sink.finish(&seg.end).await.unwrap()
    }

    /// The media before the segment index appended at close, and the index.
    fn split_index(bytes: &[u8]) -> (&[u8], recorder_core::index::SegmentIndex) {
        let i =
            recorder_core::index::read_tail(&mut std::io::Cursor::new(bytes), bytes.len() as u64)
                .unwrap()
                .expect("a segment index at the end");
        (&bytes[..i.media_end() as usize], i)
    }

    fn parts_under(root: &Path) -> Vec<String> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| {
                e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(".part")
            })
            .map(|e| e.path().display().to_string())
            .collect()
    }

    #[tokio::test]
    async fn normal_write_publishes_patched_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(0, WALL, 3, 5, Durations::PerSample, true);
        let stored = write(&mut s, "front", &seg).await;

        assert_eq!(stored.name, "front/20240229/123456_front.mp4");
        let path = dir.path().join("front/20240229/123456_front.mp4");
        assert_eq!(stored.location, path.display().to_string());
        let bytes = fs::read(&path).unwrap();
        let expected = seg.with_duration(&seg.unpatched(), 3 * 5 * 3000 / 90);
        let (media, index) = split_index(&bytes);
        assert_eq!(media, expected);
        assert_eq!(index.fragments.len(), 3);
        assert_eq!(index.camera, "front");
        assert_eq!(stored.index.as_deref(), Some(&index));
        assert_eq!(stored.bytes, bytes.len() as u64);
        assert_eq!(stored.fragments, 3);
        assert_eq!(u64_at(&bytes, seg.init.mvhd_duration_at), 500);
        assert!(parts_under(dir.path()).is_empty());
        assert_eq!(s.last_stored(), Some(&stored));
        assert!(s.open_part().is_none());
    }

    #[tokio::test]
    async fn fragments_reach_the_os_before_fragment_returns() {
        // What a `kill -9` would leave: the .part as it is on disk right now.
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(0, WALL, 3, 4, Durations::PerSample, false);
        s.start("cam", &seg.start).await.unwrap();
        s.fragment(&seg.fragments[0]).await.unwrap();
        s.fragment(&seg.fragments[1]).await.unwrap();
        let part = s.open_part().unwrap().to_path_buf();
        assert!(part.to_string_lossy().ends_with("123456_cam.mp4.part"));
        let on_disk = fs::read(&part).unwrap();
        assert_eq!(on_disk, seg.unpatched()[..seg.boundaries[1].0]);
        assert_eq!(s.open_bytes(), Some(on_disk.len() as u64));

        // Simulate the crash: copy the .part elsewhere and repair the copy.
        let crash = tempfile::tempdir().unwrap();
        fs::copy(&part, crash.path().join("x.mp4.part")).unwrap();
        let report = repair_dir(crash.path()).unwrap();
        assert_eq!(report.repaired(), 1);
        let repaired = fs::read(crash.path().join("x.mp4")).unwrap();
        let (media, index) = split_index(&repaired);
        assert_eq!(
            media,
            seg.with_duration(&on_disk, movie_ticks(2 * 4 * 3000))
        );
        assert_eq!(index.fragments.len(), 2);
    }

    #[tokio::test]
    async fn same_second_segments_get_suffixes_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let day = dir.path().join("cam/20240229");
        fs::create_dir_all(&day).unwrap();
        // A file from an earlier run.
        fs::write(day.join("123456_cam.mp4"), b"older recording").unwrap();

        let a = write(
            &mut s,
            "cam",
            &Segment::new(0, WALL, 1, 2, Durations::PerSample, false),
        )
        .await;
        let b = write(
            &mut s,
            "cam",
            &Segment::new(1, WALL, 1, 2, Durations::PerSample, false),
        )
        .await;
        assert_eq!(a.name, "cam/20240229/123456_cam-1.mp4");
        assert_eq!(b.name, "cam/20240229/123456_cam-2.mp4");
        assert_eq!(
            fs::read(day.join("123456_cam.mp4")).unwrap(),
            b"older recording"
        );

        // A second sink (another process, say) racing on the same name while
        // the first is still writing gets its own name too.
        let mut s2 = sink(dir.path());
        let seg3 = Segment::new(2, WALL, 1, 2, Durations::PerSample, false);
        let seg4 = Segment::new(0, WALL, 1, 2, Durations::PerSample, false);
        s.start("cam", &seg3.start).await.unwrap();
        s2.start("cam", &seg4.start).await.unwrap();
        assert_ne!(s.open_part(), s2.open_part());
        s.fragment(&seg3.fragments[0]).await.unwrap();
        s2.fragment(&seg4.fragments[0]).await.unwrap();
        let c = s.finish(&seg3.end).await.unwrap();
        let d = s2.finish(&seg4.end).await.unwrap();
        assert_eq!(c.name, "cam/20240229/123456_cam-3.mp4");
        assert_eq!(d.name, "cam/20240229/123456_cam-4.mp4");
    }

    #[tokio::test]
    async fn abort_keeps_complete_fragments_with_recomputed_duration() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(0, WALL, 3, 3, Durations::TfhdDefault, true);
        s.start("cam", &seg.start).await.unwrap();
        s.fragment(&seg.fragments[0]).await.unwrap();
        s.fragment(&seg.fragments[1]).await.unwrap();
        let stored = s.abort().await.unwrap().unwrap();
        assert_eq!(stored.fragments, 2);
        let bytes = fs::read(dir.path().join(&stored.name)).unwrap();
        let expected =
            seg.with_duration(&seg.unpatched()[..seg.boundaries[1].0], 2 * 3 * 3000 / 90);
        let (media, index) = split_index(&bytes);
        assert_eq!(media, expected);
        // Rebuilt by the repair that abort runs, for the camera the sink knew.
        assert_eq!((index.fragments.len(), index.camera.as_str()), (2, "cam"));
        assert!(parts_under(dir.path()).is_empty());
        // Nothing open any more.
        assert!(s.abort().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn abort_without_fragments_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(0, WALL, 1, 3, Durations::PerSample, false);
        s.start("cam", &seg.start).await.unwrap();
        assert!(s.abort().await.unwrap().is_none());
        assert!(parts_under(dir.path()).is_empty());
        assert!(fs::read_dir(dir.path().join("cam/20240229"))
            .unwrap()
            .next()
            .is_none());
    }

    #[tokio::test]
    async fn start_while_open_keeps_the_old_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let first = Segment::new(0, WALL, 2, 3, Durations::TrexDefault, false);
        let second = Segment::new(
            1,
            WallTime(WALL.0 + 60_000_000_000),
            1,
            3,
            Durations::PerSample,
            false,
        );
        s.start("cam", &first.start).await.unwrap();
        s.fragment(&first.fragments[0]).await.unwrap();
        s.start("cam", &second.start).await.unwrap();
        assert_eq!(s.last_stored().unwrap().fragments, 1);
        s.fragment(&second.fragments[0]).await.unwrap();
        let stored = s.finish(&second.end).await.unwrap();
        assert_eq!(stored.name, "cam/20240229/123556_cam.mp4");
        let old = fs::read(dir.path().join("cam/20240229/123456_cam.mp4")).unwrap();
        // Duration from trex defaults: 3 samples of 3000 ticks.
        assert_eq!(u64_at(&old, first.init.mvhd_duration_at), 100);
        assert_eq!(u64_at(&old, first.init.mehd_duration_at), 100);
    }

    #[tokio::test]
    async fn usage_errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(5, WALL, 1, 2, Durations::PerSample, false);
        assert!(matches!(
            s.fragment(&seg.fragments[0]).await,
            Err(SinkError::NoOpenSegment { call: "fragment" })
        ));
        assert!(matches!(
            s.finish(&seg.end).await,
            Err(SinkError::NoOpenSegment { .. })
        ));

        s.start("cam", &seg.start).await.unwrap();
        let mut other = seg.fragments[0].clone();
        other.segment = 6;
        let e = s.fragment(&other).await.unwrap_err();
        assert!(
            matches!(
                e,
                SinkError::SegmentMismatch {
                    open: 5,
                    got: 6,
                    ..
                }
            ),
            "{e}"
        );
        let mut end = seg.end.clone();
        end.index = 4;
        assert!(matches!(
            s.finish(&end).await,
            Err(SinkError::SegmentMismatch { .. })
        ));
        // The segment is still open and usable after the mismatch.
        s.fragment(&seg.fragments[0]).await.unwrap();
        let mut bad = seg.end.clone();
        bad.header_patches[0].offset = 1 << 40;
        let e = s.finish(&bad).await.unwrap_err();
        assert!(matches!(e, SinkError::InvalidPatch { .. }), "{e}");
        assert!(e.to_string().contains(".mp4.part"), "{e}");
        // The file written so far is kept for repair.
        let report = repair_dir(dir.path()).unwrap();
        assert_eq!(report.repaired(), 1, "{report:?}");
    }

    #[test]
    fn templates_are_checked_up_front() {
        let e = LocalSink::new("/tmp/x", "{camera}/{HHMMSS}.mkv".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("must end in \".mp4\""), "{e}");
        let e = "{camera}/{when}.mp4"
            .parse::<ObjectNameTemplate>()
            .unwrap_err();
        assert!(e.to_string().contains("{when}"), "{e}");
        let e = "/abs/{camera}.mp4"
            .parse::<ObjectNameTemplate>()
            .unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        let e = "{camera}/../{HHMMSS}.mp4"
            .parse::<ObjectNameTemplate>()
            .unwrap_err();
        assert!(e.to_string().contains("'..'"), "{e}");
        let t: ObjectNameTemplate = "{YYYY}/{MM}/{DD}/{camera}-{hh}{mm}{ss}-{segment}.mp4"
            .parse()
            .unwrap();
        assert!(LocalSink::new("/tmp/x", t).is_ok());
    }

    #[tokio::test]
    async fn custom_template_and_hostile_camera_id_stay_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let t: ObjectNameTemplate = "{camera}/{YYYY}-{MM}-{DD}/{hh}{mm}{ss}-{segment}.mp4"
            .parse()
            .unwrap();
        let mut s = LocalSink::new(dir.path(), t).unwrap();
        let seg = Segment::new(7, WALL, 1, 1, Durations::PerSample, false);
        let stored = write(&mut s, "../../evil", &seg).await;
        assert_eq!(stored.name, "_._.._evil/2024-02-29/123456-7.mp4");
        assert!(dir.path().join(&stored.name).is_file());
    }

    #[tokio::test]
    async fn permission_denied_names_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
        if fs::write(locked.join("probe"), b"").is_ok() {
            eprintln!("running with CAP_DAC_OVERRIDE (root?): permission test skipped");
            return;
        }
        let mut s = sink(&locked);
        let seg = Segment::new(0, WALL, 1, 1, Durations::PerSample, false);
        let e = s.start("cam", &seg.start).await.unwrap_err();
        assert!(matches!(e, SinkError::PermissionDenied { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&*locked.to_string_lossy()) && msg.contains("write access"),
            "{msg}"
        );
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    }

    /// Needs a small filesystem to fill, e.g. as root:
    /// `mount -t tmpfs -o size=64k tmpfs /tmp/sinkfull` and
    /// `CAMREC_TEST_FULL_DIR=/tmp/sinkfull`; skipped without it.
    #[tokio::test]
    async fn full_disk_rolls_back_to_a_fragment_boundary() {
        let Ok(root) = std::env::var("CAMREC_TEST_FULL_DIR") else {
            eprintln!("CAMREC_TEST_FULL_DIR unset: full-disk test skipped");
            return;
        };
        let dir = tempfile::tempdir_in(root).unwrap();
        let mut s = sink(dir.path());
        let seg = Segment::new(0, WALL, 40, 4, Durations::PerSample, false);
        let mut frags = seg.fragments.clone();
        for f in &mut frags {
            for p in &mut f.bytes.payloads {
                *p = bytes::Bytes::from(vec![7u8; 3000]);
            }
            // Keep the mdat header consistent with the bigger payloads.
            let mut h = f.bytes.header.to_vec();
            let n = h.len();
            h[n - 8..n - 4].copy_from_slice(&(8 + 4 * 3000u32).to_be_bytes());
            f.bytes.header = bytes::Bytes::from(h);
        }
        s.start("cam", &seg.start).await.unwrap();
        let mut written = 0;
        let mut error = None;
        for f in &frags {
            match s.fragment(f).await {
                Ok(()) => written += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let e = error.expect("the filesystem never filled up");
        assert!(e.is_storage_full(), "{e:?}");
        let part = s.open_part().unwrap().to_owned();
        assert!(e.to_string().contains(&*part.to_string_lossy()), "{e}");
        // Rolled back: the file ends exactly after the last good fragment.
        assert_eq!(fs::metadata(&part).unwrap().len(), s.open_bytes().unwrap());
        let stored = s.finish(&seg.end).await.unwrap();
        assert_eq!(stored.fragments, written);
        let bytes = fs::read(dir.path().join(&stored.name)).unwrap();
        // The duration covers the fragments kept, not the muxer's total.
        let kept_ticks = u64::from(written) * 4 * 3000;
        assert_eq!(
            u64_at(&bytes, seg.init.mvhd_duration_at),
            movie_ticks(kept_ticks)
        );
        eprintln!("disk full after {written} fragments: {e}");
    }

    /// Not run by default: prints what `sync_each_fragment` costs here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn measure_sync_cost() {
        for sync in [false, true] {
            let dir = tempfile::tempdir_in(std::env::var("SINK_BENCH_DIR").unwrap_or(".".into()))
                .unwrap();
            let mut s = sink(dir.path()).with_options(LocalSinkOptions {
                sync_each_fragment: sync,
            });
            // 200 fragments of 30 samples of ~40 KB: about 1 s of 10 Mbit/s video each.
            let seg = Segment::new(0, WALL, 200, 30, Durations::PerSample, false);
            let mut frags = seg.fragments.clone();
            for f in &mut frags {
                for p in &mut f.bytes.payloads {
                    *p = bytes::Bytes::from(vec![0u8; 40_000]);
                }
            }
            s.start("cam", &seg.start).await.unwrap();
            let t = std::time::Instant::now();
            for f in &frags {
                s.fragment(f).await.unwrap();
            }
            let per = t.elapsed() / frags.len() as u32;
            s.abort().await.unwrap();
            eprintln!("sync_each_fragment={sync}: {per:?} per 1.2 MB fragment");
        }
    }

    /// A lock file held through another open file description, as another
    /// process would hold it (`flock` conflicts between descriptions).
    fn foreign_lock(root: &Path) -> fs::File {
        fs::create_dir_all(root).unwrap();
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(recorder_core::sink::OUTPUT_LOCK_FILE))
            .unwrap();
        assert!(try_lock(&f), "lock taken");
        f
    }

    /// `flock` without waiting, as another process would take it.
    fn try_lock(f: &fs::File) -> bool {
        use rustix::fs::{flock, FlockOperation};
        match flock(f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => true,
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => false,
            Err(e) => panic!("flock: {e}"),
        }
    }

    #[test]
    fn output_folder_held_by_another_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let other = foreign_lock(&root);
        let e = LocalSink::new(&root, ObjectNameTemplate::default()).unwrap_err();
        assert!(
            matches!(&e, SinkError::FolderInUse { path, .. } if path == &root),
            "{e:?}"
        );
        assert!(e.to_string().contains(&*root.to_string_lossy()), "{e}");
        // Start-up repair must not touch the live `.part` files either.
        fs::write(root.join("live.mp4.part"), b"").unwrap();
        let e = repair_dir(&root).unwrap_err();
        assert!(matches!(e, SinkError::FolderInUse { .. }), "{e:?}");
        assert!(root.join("live.mp4.part").exists());
        drop(other);
        assert!(LocalSink::new(&root, ObjectNameTemplate::default()).is_ok());
    }

    #[test]
    fn sinks_of_one_process_share_the_folder_lock() {
        let dir = tempfile::tempdir().unwrap();
        let a = sink(dir.path());
        let b = sink(dir.path());
        // Repair in the same process shares it too (run before sinks start).
        repair_dir(dir.path()).unwrap();
        let lock = dir.path().join(recorder_core::sink::OUTPUT_LOCK_FILE);
        let probe = fs::OpenOptions::new().write(true).open(&lock).unwrap();
        assert!(
            !try_lock(&probe),
            "the lock must be held while a sink lives"
        );
        drop(a);
        assert!(!try_lock(&probe), "the other sink still holds it");
        drop(b);
        assert!(try_lock(&probe), "released once the last sink is gone");
    }
}
