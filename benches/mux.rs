//! Muxer cost per frame: one hour of a 25 fps, 4 Mbit/s H.264 camera with
//! 48 kHz AAC, through the muxer with default settings (15-minute segments,
//! 1 s fragments). Payloads are shared `Bytes`, so this measures the
//! muxer's own work, not copying video.
//!
//! Run: `cargo bench -p recorder-core --bench mux`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recorder_core::mux::*;

fn one_hour() -> (Vec<TrackSpec>, Vec<Frame>) {
    let tracks = vec![
        TrackSpec {
            timescale: 90_000,
            codec: CodecConfig::H264 {
                avcc: Bytes::from_static(&[
                    1, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
                ]),
                width: 1920,
                height: 1080,
            },
        },
        TrackSpec {
            timescale: 48_000,
            codec: CodecConfig::Aac {
                asc: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 1,
            },
        },
    ];
    // 4 Mbit/s at 25 fps: ~20 kB per frame, keyframes 5x larger.
    let p_frame = Bytes::from(vec![0u8; 18_000]);
    let i_frame = Bytes::from(vec![0u8; 90_000]);
    let aac = Bytes::from(vec![0u8; 200]);
    let base = 1_700_000_000_000_000_000i64;
    let mut frames = Vec::new();
    let mut audio_pts = 0i64;
    for i in 0..25 * 3600i64 {
        let pts = i * 3600;
        while audio_pts * 90_000 / 48_000 <= pts {
            frames.push(Frame {
                track: 1,
                pts: audio_pts,
                wall: WallTime(base + audio_pts * 1_000_000_000 / 48_000),
                keyframe: true,
                duration_hint: Some(1024),
                data: aac.clone(),
            });
            audio_pts += 1024;
        }
        let key = i % 50 == 0;
        frames.push(Frame {
            track: 0,
            pts,
            wall: WallTime(base + i * 40_000_000),
            keyframe: key,
            duration_hint: None,
            data: if key {
                i_frame.clone()
            } else {
                p_frame.clone()
            },
        });
    }
    (tracks, frames)
}

fn bench(c: &mut Criterion) {
    let (tracks, frames) = one_hour();
    let mut group = c.benchmark_group("mux");
    group.sample_size(10);
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("one_hour_1080p25_4mbps_aac", |b| {
        b.iter_batched(
            || frames.clone(),
            |frames| {
                let mut mux = Muxer::new(tracks.clone(), MuxerConfig::default()).unwrap();
                let mut events = Vec::with_capacity(8);
                let mut bytes = 0usize;
                for f in frames {
                    mux.push(f, &mut events).unwrap();
                    for e in events.drain(..) {
                        if let MuxEvent::Fragment(f) = e {
                            bytes += f.bytes.header.len();
                        }
                    }
                }
                mux.finish(EndReason::Finished, &mut events);
                black_box(bytes)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
