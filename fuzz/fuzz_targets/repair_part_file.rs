//! `.mp4.part` files left by a crash are arbitrary bytes: repair must never
//! panic on them, and whatever it keeps must start with the bytes it had.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::sink::{repair_file, RepairOutcome};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("camrec-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let part = dir.join("x.mp4.part");
    std::fs::write(&part, data).unwrap();
    if let Ok(RepairOutcome::Repaired { path, kept_bytes, .. }) = repair_file(&part) {
        let kept = std::fs::read(&path).unwrap();
        assert_eq!(kept.len() as u64, kept_bytes);
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_file(&part);
});
