//! The HLS playlist of 24 hours of one camera: 96 segments of 15 minutes,
//! 900 one-second fragments each (86 400 media segments), built from index
//! values already in memory (what the playlist route does after the index
//! cache is warm). The bar: under 50 ms.
//!
//! Run: `cargo bench -p recorder-cli --bench playlist`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

use recorder_cli::playback::hls::{playlist, Entry, Timeline};
use recorder_core::index::{FragmentIndex, SegmentIndex};
use recorder_core::time::WallTime;

const SEGMENTS: usize = 96;
const FRAGMENTS: usize = 900;
const S: i64 = 1_000_000_000;
const DAY_START: i64 = 1_714_521_600 * S;

fn day() -> Vec<(SegmentIndex, String)> {
    (0..SEGMENTS)
        .map(|n| {
            let start = WallTime(DAY_START + n as i64 * 900 * S);
            let name = format!("cam1/20240501/{:02}{:02}00_cam1.mp4", n / 4, n % 4 * 15);
            let url = format!("/api/cameras/cam1/files/{name}");
            let mut offset = 1200;
            let fragments = (0..FRAGMENTS)
                .map(|i| {
                    let len = 120_000 + (i as u64 % 7) * 1000;
                    let f = FragmentIndex {
                        offset,
                        len,
                        header_len: 200,
                        wall_start: WallTime(start.0 + i as i64 * S),
                        duration: Duration::from_secs(1),
                        keyframe: i % 2 == 0,
                        decode_start: vec![i as u64 * 90_000, i as u64 * 48_000],
                        samples: vec![25, 47],
                    };
                    offset += len;
                    f
                })
                .collect();
            let index = SegmentIndex {
                camera: "cam1".into(),
                wall_start: start,
                wall_end: WallTime(start.0 + 900 * S),
                duration: Duration::from_secs(900),
                tracks: Vec::new(),
                init: 0..1200,
                fragments,
                video_frames: 900 * 25,
            };
            (index, url)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let day = day();
    let entries: Vec<Entry<'_>> = day
        .iter()
        .map(|(segment, url)| Entry { segment, url })
        .collect();
    let (start, end) = (WallTime(DAY_START), WallTime(DAY_START + 86_400 * S));
    let p = playlist(&entries, start, end, Timeline::Stored);
    assert_eq!(p.matches("#EXTINF").count(), SEGMENTS * FRAGMENTS);
    eprintln!("playlist: {} bytes", p.len());
    c.bench_function("hls_playlist_24h_96x900", |b| {
        b.iter(|| playlist(black_box(&entries), start, end, Timeline::Stored))
    });
    // What a folder serves by default: every URL carries its segment's
    // shift (0 for the init sections and the first segment).
    let p = playlist(&entries, start, end, Timeline::Continuous);
    let moved = p.matches("shift_us=").count() - p.matches("shift_us=0\n").count();
    assert_eq!(moved, (SEGMENTS - 1) * FRAGMENTS + SEGMENTS);
    eprintln!("continuous playlist: {} bytes", p.len());
    c.bench_function("hls_playlist_24h_96x900_continuous", |b| {
        b.iter(|| playlist(black_box(&entries), start, end, Timeline::Continuous))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
