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
    plan, scan, Account, FileKind, Limits, NameTemplates, RetentionPolicy, StoredFile,
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
    let names = NameTemplates::from(t.clone());
    let mut g = c.benchmark_group("retention");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("start-up walk of 100k segment files", |b| {
        b.iter(|| {
            let (a, r) = scan(dir.path(), &names).unwrap();
            assert_eq!(r.files, (CAMERAS as u64) * PER_CAMERA as u64);
            black_box(a)
        })
    });
    g.finish();

    // Steady state: one camera keeps `n` segments of 5 s under a max_age
    // of exactly that span; each stored segment makes the oldest expire.
    // One iteration = account update + plan + removal of what it chose.
    for n in [1_000i64, 100_000] {
        let age = Duration::from_secs(5 * n as u64);
        let policy = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(age).with_max_bytes(u64::MAX))
            .with_total(Limits::none().with_max_bytes(u64::MAX))
            .with_min_free_bytes(1 << 30);
        let mut account = Account::new();
        let file = |i: i64| {
            let s = START + i * 5;
            StoredFile::new(
                t.render("cam0", WallTime(s * 1_000_000_000), 0),
                "cam0",
                FileKind::Segment,
                WallTime(s * 1_000_000_000),
                WallTime((s + 5) * 1_000_000_000),
                1_000_000,
            )
        };
        for i in 0..n {
            account.insert(file(i));
        }
        let mut next = n;
        c.bench_function(
            &format!("retention/one stored segment with {n} kept"),
            |b| {
                b.iter(|| {
                    account.insert(file(next));
                    let now = WallTime((START + next * 5 + 10) * 1_000_000_000);
                    next += 1;
                    let p = plan(&account, &policy, now, Some(u64::MAX));
                    assert_eq!(p.deletions.len(), 1);
                    for d in &p.deletions {
                        account.remove(&d.key);
                    }
                    black_box(p)
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
