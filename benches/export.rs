//! Export of one hour of one camera from a folder: planning (listing,
//! index reads, every fragment header read, sample tables, `moov`) and
//! planning plus streaming the whole file.
//!
//! Run: `cargo bench -p recorder-core --bench export`
//! (the recording is written once into a temporary folder: 4 segments of
//! 15 min, 25 fps H.264-shaped samples of 5 KB ≈ 1 Mbit/s with a keyframe
//! every 2 s, AAC 48 kHz, fragments of 1 s: 3,600 fragments, 450 MB).

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recorder_core::archive::Archive;
use recorder_core::index::{encode, IndexBuilder};
use recorder_core::mux::{CodecConfig, EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec};
use recorder_core::sink::ObjectNameTemplate;
use recorder_core::time::WallTime;

const T0: i64 = 1_700_000_000_000_000_000;
const SEGMENT_S: i64 = 900;
const SEGMENTS: i64 = 4;

fn tracks() -> Vec<TrackSpec> {
    vec![
        TrackSpec {
            timescale: 90_000,
            codec: CodecConfig::H264 {
                avcc: Bytes::from_static(&[1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0, 0, 0x01, 0, 0]),
                width: 1280,
                height: 720,
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
    ]
}

/// Writes the hour as the local sink would (media, then the index).
fn write_hour(root: &Path) {
    let t = ObjectNameTemplate::default();
    let video = Bytes::from(vec![0x42u8; 5_000]);
    let audio = Bytes::from(vec![0x21u8; 300]);
    for s in 0..SEGMENTS {
        let cfg = MuxerConfig {
            segment_duration: Duration::from_secs(3600),
            fragment_duration: Duration::from_secs(1),
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(tracks(), cfg).unwrap();
        let start_ms = s * SEGMENT_S * 1000;
        let path = root.join(t.render("cam", WallTime(T0 + start_ms * 1_000_000), 0));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut pos = 0u64;
        let mut builder = None;
        let mut ev = Vec::new();
        let mut audio_next = 0i64;
        let frames = SEGMENT_S * 25;
        let mut write_events =
            |ev: &mut Vec<MuxEvent>, file: &mut std::io::BufWriter<std::fs::File>| {
                for e in ev.drain(..) {
                    match e {
                        MuxEvent::SegmentStarted(st) => {
                            builder = Some(IndexBuilder::new("cam", &st.init).unwrap());
                            file.write_all(&st.init).unwrap();
                            pos += st.init.len() as u64;
                        }
                        MuxEvent::Fragment(f) => {
                            let len = f.bytes.len() as u64;
                            builder
                                .as_mut()
                                .unwrap()
                                .push_fragment(pos, &f.bytes.header, len)
                                .unwrap();
                            for c in f.bytes.chunks() {
                                file.write_all(c).unwrap();
                            }
                            pos += len;
                        }
                        MuxEvent::SegmentFinished(_) => {
                            let index = builder.take().unwrap().finish();
                            file.write_all(&encode(&index)).unwrap();
                        }
                    }
                }
            };
        for i in 0..frames {
            let ms = start_ms + i * 40;
            m.push(
                Frame {
                    track: 0,
                    pts: ms * 90,
                    wall: WallTime(T0 + ms * 1_000_000),
                    keyframe: i % 50 == 0,
                    duration_hint: None,
                    data: video.clone(),
                },
                &mut ev,
            )
            .unwrap();
            // 1024-sample AAC frames at 48 kHz up to this video frame.
            while audio_next * 1024 * 1000 <= (i * 40 + 40) * 48_000 {
                let a_ms = start_ms + audio_next * 1024 * 1000 / 48_000;
                m.push(
                    Frame {
                        track: 1,
                        pts: start_ms * 48 + audio_next * 1024,
                        wall: WallTime(T0 + a_ms * 1_000_000),
                        keyframe: true,
                        duration_hint: Some(1024),
                        data: audio.clone(),
                    },
                    &mut ev,
                )
                .unwrap();
                audio_next += 1;
            }
            write_events(&mut ev, &mut file);
        }
        m.finish(EndReason::Finished, &mut ev);
        write_events(&mut ev, &mut file);
        file.flush().unwrap();
    }
}

fn rss_peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_hour(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = WallTime(T0 + 1_000_000_000);
    let end = WallTime(T0 + 3_601_000_000_000);
    let archive = || Arc::new(Archive::local(dir.path(), ObjectNameTemplate::default()));
    let total = rt.block_on(async {
        let a = archive();
        a.export("cam", start, end).await.unwrap().plan.total_len()
    });
    let before = rss_peak_kb();
    let mut g = c.benchmark_group("export");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("plan 1 h (list, 4 indexes, 3,600 moof reads, moov)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let a = archive();
                let e = a.export("cam", start, end).await.unwrap();
                black_box(e.plan.header_bytes().len())
            })
        })
    });
    g.throughput(Throughput::Bytes(total));
    g.bench_function("plan and stream 1 h to a sink", |b| {
        b.iter(|| {
            rt.block_on(async {
                let a = archive();
                let e = a.export("cam", start, end).await.unwrap();
                let n = e.write_to(a.clone(), &mut tokio::io::sink()).await.unwrap();
                assert_eq!(n, total);
                black_box(n)
            })
        })
    });
    g.finish();
    eprintln!(
        "export of {total} bytes: peak RSS {} MB before the export benches, {} MB after",
        before / 1024,
        rss_peak_kb() / 1024
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
