//! CPU cost of one thumbnail: decode an H.264 keyframe (OpenH264) and
//! encode the picture as a JPEG (quality 80), at 640x360, 1920x1080 and
//! 2560x1440. A camera makes one per interval, so the cost per
//! camera-hour is this times 12 at the default 5 minutes.
//!
//! The keyframes are made by ffmpeg (libx264, `testsrc2`, ~4 Mbit/s at
//! 1080p) when the bench starts; without ffmpeg the bench says so and
//! measures nothing.
//!
//! Run: `cargo bench -p recorder-core --no-default-features --features thumbnails --bench thumbnail`

use std::hint::black_box;
use std::process::Command;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use recorder_core::mux::CodecConfig;
use recorder_core::thumbnail::h264_keyframe_to_jpeg;

/// One IDR of `size` as (codec parameters, 4-byte length-prefixed NALs).
fn keyframe(size: &str, bitrate: &str) -> Option<(CodecConfig, Bytes)> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25"))
        .args(["-frames:v", "1", "-c:v", "libx264", "-preset", "veryfast"])
        .args([
            "-b:v",
            bitrate,
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "-",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let nals = split_annexb(&out.stdout);
    let (sps, pps) = (
        nals.iter().find(|n| n[0] & 0x1f == 7)?,
        nals.iter().find(|n| n[0] & 0x1f == 8)?,
    );
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    let mut data = Vec::new();
    for n in nals.iter().filter(|n| matches!(n[0] & 0x1f, 1 | 5)) {
        data.extend_from_slice(&(n.len() as u32).to_be_bytes());
        data.extend_from_slice(n);
    }
    let (w, h) = size.split_once('x')?;
    Some((
        CodecConfig::H264 {
            avcc: avcc.into(),
            width: w.parse().ok()?,
            height: h.parse().ok()?,
        },
        data.into(),
    ))
}

/// CPU time of the calling thread in ns, from `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn split_annexb(b: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= b.len() {
        if b[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map_or(b.len(), |n| n - 3);
        while e > s && b[e - 1] == 0 {
            e -= 1;
        }
        out.push(&b[s..e]);
    }
    out
}

fn thumbnail(c: &mut Criterion) {
    let mut g = c.benchmark_group("thumbnail");
    g.sample_size(20);
    for (size, rate) in [("640x360", "1M"), ("1920x1080", "4M"), ("2560x1440", "6M")] {
        let Some((codec, data)) = keyframe(size, rate) else {
            eprintln!("ffmpeg with libx264 not found: thumbnail bench skipped");
            return;
        };
        let t = h264_keyframe_to_jpeg(&codec, &data, 80).expect("keyframe decodes");
        eprintln!(
            "{size}: keyframe {} bytes → JPEG {} bytes",
            data.len(),
            t.jpeg.len()
        );
        // CPU time of this thread (Linux schedstat), which a loaded host
        // does not inflate the way it does criterion's wall time.
        if let Some(before) = thread_cpu_ns() {
            let n = 50;
            for _ in 0..n {
                black_box(h264_keyframe_to_jpeg(&codec, &data, 80).unwrap());
            }
            if let Some(after) = thread_cpu_ns() {
                let ms = (after - before) as f64 / 1e6 / f64::from(n);
                eprintln!(
                    "{size}: {ms:.1} ms CPU per thumbnail (thread CPU time over {n}); \
                     {:.2} CPU s per camera-hour at one per 5 min",
                    ms * 12.0 / 1000.0
                );
            }
        }
        g.bench_function(format!("decode+jpeg {size}"), |b| {
            b.iter(|| h264_keyframe_to_jpeg(black_box(&codec), black_box(&data), 80).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, thumbnail);
criterion_main!(benches);
