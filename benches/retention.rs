//! Retention's costs with 100 000 segment files kept: the start-up walk
//! that builds the account (once), and what one stored segment costs
//! afterwards (account update + plan), which must not grow with the files
//! kept.
//!
//! Run: `cargo bench -p recorder-core --bench retention`
//! (the files, empty, are written once into a temporary folder: 10 cameras
//! × 10 000 segments of 5 s, named by the default template).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use recorder_core::retention::{
    plan, scan, Account, FileKind, Limits, RetentionPolicy, StoredFile,
};
use recorder_core::sink::ObjectNameTemplate;
use recorder_core::time::WallTime;

const CAMERAS: usize = 10;
const PER_CAMERA: i64 = 10_000;
const START: i64 = 1_700_000_000;

fn write_folder(root: &Path, t: &ObjectNameTemplate) {
    for c in 0..CAMERAS {
        let camera = format!("cam{c}");
        for i in 0..PER_CAMERA {
            let name = t.render(&camera, WallTime((START + i * 5) * 1_000_000_000), 0);
            let p = root.join(&name);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).unwrap();
            }
            std::fs::write(p, b"").unwrap();
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let t = ObjectNameTemplate::default();
    write_folder(dir.path(), &t);
    let mut g = c.benchmark_group("retention");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("start-up walk of 100k segment files", |b| {
        b.iter(|| {
            let (a, r) = scan(dir.path(), &t).unwrap();
            assert_eq!(r.files, (CAMERAS as u64) * PER_CAMERA as u64);
            black_box(a)
        })
    });
    g.finish();

    // One stored segment with 100 000 kept: add it, plan (the oldest goes).
    let (mut account, _) = scan(dir.path(), &t).unwrap();
    let policy = RetentionPolicy::new()
        .with_per_camera(
            Limits::none()
                .with_max_bytes(0)
                .with_max_age(Duration::from_secs(30 * 86_400)),
        )
        .with_min_free_bytes(1 << 30);
    let mut next = START + PER_CAMERA * 5;
    c.bench_function("retention/one stored segment with 100k kept", |b| {
        b.iter(|| {
            next += 5;
            let name = t.render("cam0", WallTime(next * 1_000_000_000), 0);
            account.insert(StoredFile::new(
                name,
                "cam0",
                FileKind::Segment,
                WallTime(next * 1_000_000_000),
                WallTime((next + 5) * 1_000_000_000),
                0,
            ));
            let p = plan(
                &account,
                &policy,
                WallTime((next + 5) * 1_000_000_000),
                Some(u64::MAX),
            );
            // With max_bytes 0 and empty files nothing is over: the pass
            // is the check alone, as on most events.
            black_box(p)
        })
    });
    let mut empty = Account::new();
    c.bench_function("retention/one stored segment with 0 kept", |b| {
        b.iter(|| {
            next += 5;
            let name = t.render("cam0", WallTime(next * 1_000_000_000), 0);
            empty.insert(StoredFile::new(
                name,
                "cam0",
                FileKind::Segment,
                WallTime(next * 1_000_000_000),
                WallTime((next + 5) * 1_000_000_000),
                0,
            ));
            black_box(plan(
                &empty,
                &policy,
                WallTime((next + 5) * 1_000_000_000),
                Some(u64::MAX),
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
