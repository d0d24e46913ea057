//! `.mp4.part` files left by a crash are arbitrary bytes after camrec's
//! `ftyp`: repair must never panic on them, whatever it keeps must have
//! the size it reports, and the S3 spool's scan (the same walk over bytes
//! in memory) must agree with it on what to keep.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use recorder_core::sink::{repair_file, scan_segment, RepairOutcome, CAMREC_FTYP};

fuzz_target!(|data: &[u8]| {
    // A leading 0xff byte feeds the input as is (files camrec did not
    // write); otherwise it follows camrec's `ftyp`, as a crash leaves it,
    // so the fuzzer explores the box walk rather than the first 32 bytes.
    let file: Vec<u8> = match data.first() {
        Some(0xff) => data[1..].to_vec(),
        _ => CAMREC_FTYP.iter().chain(data).copied().collect(),
    };
    let len = file.len() as u64;
    let scan = scan_segment(&mut Cursor::new(&file), len).unwrap();
    assert!(scan.keep <= len);
    for p in &scan.patches {
        assert!(p.fits(scan.keep), "a patch beyond what is kept");
    }

    // tmpfs when there is one: repair syncs, and a disk would make each
    // run take milliseconds.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("camrec-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let part = dir.join("x.mp4.part");
    std::fs::write(&part, &file).unwrap();
    match repair_file(&part) {
        Ok(RepairOutcome::Repaired {
            path,
            kept_bytes,
            fragments,
            ..
        }) => {
            let kept = std::fs::read(&path).unwrap();
            assert_eq!(kept.len() as u64, kept_bytes);
            assert_eq!(kept_bytes, scan.keep, "repair and the spool scan disagree");
            assert_eq!(fragments, scan.fragments);
            // What is kept is the file's start with the durations patched.
            let mut want = file[..kept.len()].to_vec();
            for p in &scan.patches {
                p.apply(&mut want).unwrap();
            }
            assert!(kept == want, "kept bytes differ from the patched prefix");
            let _ = std::fs::remove_file(&path);
        }
        Ok(RepairOutcome::Skipped { .. }) => {
            assert!(!file.starts_with(&CAMREC_FTYP), "camrec's own file skipped");
        }
        Ok(_) | Err(_) => {}
    }
    let _ = std::fs::remove_file(&part);
});
