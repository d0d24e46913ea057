//! Records a fixture video as if from N cameras into S3 and reports upload
//! throughput and memory (peak RSS from /proc/self/status).
//!
//! ```sh
//! scripts/s3-test-servers.sh moto 5000 &          # or any S3 endpoint
//! S3_ENDPOINT=http://127.0.0.1:5000 S3_BUCKET=bench S3_CREATE_BUCKET=true \
//! S3_ACCESS_KEY_ID=x S3_SECRET_ACCESS_KEY=y S3_SPOOL_DIR=/tmp/camrec-bench-spool \
//!   cargo run --release -p recorder-core --example record_to_s3 -- CAMERAS MINUTES SPEEDUP
//! ```
//!
//! Phase 1 pushes one camera's worth of video (`MINUTES` × 6) as fast as the
//! muxer goes and times it until the store has every byte: upload
//! throughput. Phase 2 runs `CAMERAS` cameras at once, each sending
//! `MINUTES` of video at `SPEEDUP` × real time (one 1 s fragment every
//! 1/SPEEDUP s), and reports the peak RSS growth per camera.

#[path = "../recorder-core/tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder_core::mux::{EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec, WallTime};
use recorder_core::sink::s3::{S3Config, S3Store};
use recorder_core::sink::SegmentSink;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The fixture repeated `times`, shifted in time, made lazily (frames
/// share their payloads, so a camera holds no video of its own).
fn repeat<'a>(
    tracks: &'a [TrackSpec],
    frames: &'a [Frame],
    times: usize,
    wall0: i64,
) -> impl Iterator<Item = Frame> + Send + 'a {
    let secs = 6.04;
    (0..times).flat_map(move |i| {
        frames.iter().map(move |f| {
            let mut f = f.clone();
            let ts = f64::from(tracks[f.track].timescale);
            f.pts += (secs * i as f64 * ts).round() as i64;
            f.wall = WallTime(
                wall0 + f.wall.0 - 1_700_000_000_000_000_000 + (secs * i as f64 * 1e9) as i64,
            );
            f
        })
    })
}

/// Feeds one camera; `pace` is the wait after each fragment.
async fn camera(
    store: S3Store,
    id: String,
    tracks: Arc<Vec<TrackSpec>>,
    frames: Arc<Vec<Frame>>,
    copies: usize,
    wall0: i64,
    pace: Option<Duration>,
) -> u64 {
    let mut sink = store.sink(&id);
    let cfg = MuxerConfig {
        segment_duration: Duration::from_secs(3600),
        ..MuxerConfig::default()
    };
    let mut mux = Muxer::new((*tracks).clone(), cfg).unwrap();
    let mut events = Vec::new();
    let mut bytes = 0u64;
    for f in repeat(&tracks, &frames, copies, wall0) {
        mux.push(f, &mut events).unwrap();
        for ev in std::mem::take(&mut events) {
            match ev {
                MuxEvent::SegmentStarted(s) => {
                    bytes += s.init.len() as u64;
                    sink.start(&id, &s).await.unwrap()
                }
                MuxEvent::Fragment(fr) => {
                    bytes += fr.bytes.len() as u64;
                    if let Err(e) = sink.fragment(&fr).await {
                        eprintln!("{id}: {e}");
                    }
                    if let Some(p) = pace {
                        tokio::time::sleep(p).await;
                    }
                }
                MuxEvent::SegmentFinished(e) => {
                    sink.finish(&e).await.unwrap();
                }
            }
        }
    }
    mux.finish(EndReason::Finished, &mut events);
    for ev in events {
        match ev {
            MuxEvent::Fragment(fr) => {
                bytes += fr.bytes.len() as u64;
                sink.fragment(&fr).await.unwrap()
            }
            MuxEvent::SegmentFinished(e) => {
                sink.finish(&e).await.unwrap();
            }
            MuxEvent::SegmentStarted(_) => {}
        }
    }
    bytes
}

/// The S3 settings from the variables shown above (the library reads no
/// environment; `camrec` reads the full list, see docs/configuration.md).
fn s3_from_env() -> S3Config {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let bucket = var("S3_BUCKET").expect("set S3_BUCKET (a name or s3://bucket/prefix)");
    let mut cfg = S3Config::new("").with_url(&bucket).expect("S3_BUCKET");
    if let Some(ep) = var("S3_ENDPOINT") {
        cfg = cfg.with_endpoint(ep);
    }
    if let Some(r) = var("S3_REGION") {
        cfg = cfg.with_region(r);
    }
    if let (Some(id), Some(secret)) = (var("S3_ACCESS_KEY_ID"), var("S3_SECRET_ACCESS_KEY")) {
        cfg = cfg.with_credentials(id, secret);
    }
    if let Some(dir) = var("S3_SPOOL_DIR") {
        cfg = cfg.with_spool_dir(dir);
    }
    cfg.with_create_bucket(var("S3_CREATE_BUCKET").as_deref() == Some("true"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cameras: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let minutes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let speedup: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let cfg = s3_from_env();
    let store = S3Store::connect(cfg).await.expect("connect");
    let (tracks, frames) =
        support::fixtures::load_fixture(&support::fixtures::fixture("h264_aac.mp4"));
    let (tracks, frames) = (Arc::new(tracks), Arc::new(frames));
    let copies = minutes * 10; // the fixture is 6 s long
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;

    // Phase 1: throughput of one camera pushing as fast as possible.
    let t0 = Instant::now();
    let bytes = camera(
        store.clone(),
        "bench-tput".into(),
        tracks.clone(),
        frames.clone(),
        copies * 6,
        now,
        None,
    )
    .await;
    let spooled = t0.elapsed();
    assert!(store.wait_idle(Duration::from_secs(600)).await);
    let total = t0.elapsed();
    let st = store.status();
    println!(
        "throughput: {:.1} MB in {:.2} s = {:.1} MB/s to the store ({} parts; spooling took {:.2} s)",
        bytes as f64 / 1e6,
        total.as_secs_f64(),
        bytes as f64 / 1e6 / total.as_secs_f64(),
        st.parts_uploaded,
        spooled.as_secs_f64()
    );

    // Phase 2: many cameras at once.
    // Reset the peak-RSS mark (Linux: "5" to clear_refs) so phase 1 does not count.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base_rss = status_kib("VmRSS:");
    let pace = Duration::from_secs_f64(1.0 / speedup);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..cameras {
        tasks.push(tokio::spawn(camera(
            store.clone(),
            format!("cam{i:03}"),
            tracks.clone(),
            frames.clone(),
            copies,
            now + i as i64 * 1_000_000_000,
            Some(pace),
        )));
    }
    let mut total_bytes = 0;
    for t in tasks {
        total_bytes += t.await.unwrap();
    }
    let fed = t0.elapsed();
    assert!(store.wait_idle(Duration::from_secs(600)).await);
    let st = store.status();
    let hwm = status_kib("VmHWM:");
    println!(
        "{cameras} cameras × {minutes} min at {speedup}× real time: {:.1} MB in {:.1} s (+{:.1} s to drain), {} segments uploaded, {} failures",
        total_bytes as f64 / 1e6,
        fed.as_secs_f64(),
        t0.elapsed().as_secs_f64() - fed.as_secs_f64(),
        st.segments_uploaded,
        st.upload_failures
    );
    println!(
        "memory: RSS before phase 2 {base_rss} KiB, peak during it {hwm} KiB: {:.0} KiB per camera",
        hwm.saturating_sub(base_rss) as f64 / cameras as f64
    );
}
