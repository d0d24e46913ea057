//! `repair_dir` on the files a crash can leave: torn at every byte,
//! corrupted, empty, colliding with finished files.

mod support;

/// Named `sink` so `cargo test sink` selects these tests.
mod sink {

    use std::fs;
    use std::io::Cursor;
    use std::path::Path;

    use crate::support::hand_built::*;
    use proptest::prelude::*;
    use recorder_core::index;
    use recorder_core::mux::WallTime;
    use recorder_core::sink::{repair_dir, repair_file, RepairOutcome};

    fn only_outcome(root: &Path) -> RepairOutcome {
        let mut report = repair_dir(root).unwrap();
        assert_eq!(report.files.len(), 1, "{report:?}");
        report.files.pop().unwrap().outcome
    }

    /// Cuts a 3-fragment segment at every byte offset and checks that repair
    /// keeps exactly the complete fragments, with the duration they cover.
    fn torn_at_every_offset(how: Durations, audio: bool) {
        let seg = Segment::new(0, WallTime(0), 3, 4, how, audio);
        let full = seg.unpatched();
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("a.mp4.part");
        let out = dir.path().join("a.mp4");
        for cut in 0..=full.len() {
            fs::write(&part, &full[..cut]).unwrap();
            let complete = seg.boundaries.iter().filter(|(end, _)| *end <= cut).count();
            match only_outcome(dir.path()) {
                RepairOutcome::Removed { bytes, .. } => {
                    assert_eq!(
                        complete, 0,
                        "cut {cut}: removed a file with {complete} fragments"
                    );
                    assert_eq!(bytes, cut as u64);
                    assert!(!part.exists() && !out.exists());
                }
                RepairOutcome::Repaired {
                    path,
                    kept_bytes,
                    cut_bytes,
                    index_bytes,
                    fragments,
                    duration_patched,
                } => {
                    assert!(complete > 0, "cut {cut}: kept a file with no fragment");
                    let (keep, media_end) = seg.boundaries[complete - 1];
                    assert_eq!(
                        (kept_bytes, cut_bytes),
                        (keep as u64, (cut - keep) as u64),
                        "cut {cut}"
                    );
                    assert_eq!(fragments as usize, complete);
                    assert!(duration_patched);
                    assert_eq!(path, out);
                    let repaired = fs::read(&out).unwrap();
                    assert_eq!(
                        repaired[..keep],
                        seg.with_duration(&full[..keep], movie_ticks(media_end)),
                        "cut {cut}"
                    );
                    // The rebuilt index follows, and describes what was kept.
                    assert_eq!(repaired.len() as u64, kept_bytes + index_bytes);
                    let index =
                        index::read_tail(&mut Cursor::new(&repaired), repaired.len() as u64)
                            .unwrap()
                            .expect("an index after the repaired media");
                    assert_eq!(index.fragments.len(), complete, "cut {cut}");
                    assert_eq!(index.media_end(), keep as u64);
                    assert!(!part.exists());
                    fs::remove_file(&out).unwrap();
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn torn_tail_per_sample_durations() {
        torn_at_every_offset(Durations::PerSample, true);
    }

    #[test]
    fn torn_tail_tfhd_default_durations() {
        torn_at_every_offset(Durations::TfhdDefault, false);
    }

    #[test]
    fn torn_tail_trex_default_durations() {
        torn_at_every_offset(Durations::TrexDefault, true);
    }

    #[test]
    fn repaired_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Segment::new(0, WallTime(0), 1, 2, Durations::PerSample, false);
        let sub = dir.path().join("cam/20240101");
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join("000000_cam.mp4"), b"finished earlier").unwrap();
        fs::write(sub.join("000000_cam.mp4.part"), seg.unpatched()).unwrap();
        fs::write(sub.join("000000_cam-1.mp4.part"), seg.unpatched()).unwrap();
        let report = repair_dir(dir.path()).unwrap();
        assert_eq!(report.repaired(), 2, "{report:?}");
        assert_eq!(
            fs::read(sub.join("000000_cam.mp4")).unwrap(),
            b"finished earlier"
        );
        // The pending `-1.part` keeps its own name; the other goes to `-2`.
        assert!(sub.join("000000_cam-1.mp4").is_file());
        assert!(sub.join("000000_cam-2.mp4").is_file());
    }

    #[test]
    fn foreign_files_are_left_alone_and_missing_root_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("notes.mp4.part"),
            b"\0\0\0\x10freeXXXXXXXXjunk",
        )
        .unwrap();
        fs::write(dir.path().join("other.txt"), b"hello").unwrap();
        match only_outcome(dir.path()) {
            RepairOutcome::Skipped { .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(dir.path().join("notes.mp4.part").exists());
        let report = repair_dir(&dir.path().join("does-not-exist")).unwrap();
        assert!(report.files.is_empty());
    }

    #[test]
    fn foreign_mp4_without_fragment_is_not_deleted() {
        // A browser's partial download of someone else's MP4: `ftyp` (not
        // camrec's brands), `moov`, no fragment yet.
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("movie.mp4.part");
        let mut bytes = bx(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
        bytes.extend(bx(b"moov", b""));
        bytes.extend(bx(b"mdat", b"half a movie"));
        fs::write(&part, &bytes).unwrap();
        match only_outcome(dir.path()) {
            RepairOutcome::Skipped { reason } => assert!(reason.contains("camrec"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read(&part).unwrap(), bytes, "left exactly as it was");
    }

    #[test]
    fn empty_part_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.mp4.part"), b"").unwrap();
        let report = repair_dir(dir.path()).unwrap();
        assert_eq!(report.removed(), 1);
        assert!(!dir.path().join("x.mp4.part").exists());
    }

    #[test]
    fn large_size_boxes_are_walked() {
        // A 64-bit `mdat` header (size field 1) as writers use past 4 GiB.
        let seg = Segment::new(0, WallTime(0), 1, 2, Durations::PerSample, false);
        let f = &seg.fragments[0].bytes;
        let payload: usize = f.payloads.iter().map(|p| p.len()).sum();
        let mut bytes = seg.init.bytes.clone();
        bytes.extend_from_slice(&f.header[..f.header.len() - 8]);
        bytes.extend(1u32.to_be_bytes());
        bytes.extend(b"mdat");
        bytes.extend(((payload + 16) as u64).to_be_bytes());
        for p in &f.payloads {
            bytes.extend_from_slice(p);
        }
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("x.mp4.part");
        fs::write(&part, &bytes).unwrap();
        match repair_file(&part).unwrap() {
            RepairOutcome::Repaired {
                fragments: 1,
                cut_bytes: 0,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Flip bytes anywhere in a valid segment and cut it anywhere: repair
        /// must not panic and must never keep more than was there.
        #[test]
        fn corrupted_files_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let seg = Segment::new(0, WallTime(0), 3, 3, Durations::PerSample, true);
            let mut bytes = seg.unpatched();
            for (at, v) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *v;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            let dir = tempfile::tempdir().unwrap();
            let part = dir.path().join("x.mp4.part");
            fs::write(&part, &bytes).unwrap();
            match repair_file(&part).unwrap() {
                RepairOutcome::Repaired { kept_bytes, cut_bytes, .. } => {
                    prop_assert_eq!(kept_bytes + cut_bytes, bytes.len() as u64);
                    prop_assert!(dir.path().join("x.mp4").is_file());
                }
                RepairOutcome::Removed { .. } => prop_assert!(!part.exists()),
                RepairOutcome::Skipped { .. } => prop_assert!(part.exists()),
                RepairOutcome::Failed(e) => prop_assert!(false, "{}", e),
            }
        }

        /// Pure noise after an `ftyp`.
        #[test]
        fn noise_never_panics(noise in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut bytes = bx(b"ftyp", b"isom\0\0\0\0");
            bytes.extend(noise);
            let dir = tempfile::tempdir().unwrap();
            let part = dir.path().join("x.mp4.part");
            fs::write(&part, &bytes).unwrap();
            let _ = repair_file(&part).unwrap();
        }
    }
}
