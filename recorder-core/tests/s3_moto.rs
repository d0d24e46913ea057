//! The S3 sink against a real moto server on loopback (started by the
//! test; skipped with a message when `moto_server` is not installed — see
//! `scripts/s3-test-servers.sh install`). moto enforces S3's 5 MiB minimum
//! part size (EntityTooSmall), so these segments are large.

mod support;

use std::time::Duration;

use recorder_core::sink::s3::{RecoverySource, S3Error, S3Store, MIN_PART_SIZE};
use support::fixtures::{fixture, load_fixture};
use support::media::{decoded_frames, ffmpeg_errors, files_under, have_ffmpeg};
use support::s3::*;

/// The files in a spool, but its lock file (which stays while a store
/// lives).
fn spool_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.file_name().is_none_or(|n| n != ".camrec.lock"))
        .collect()
}

fn ready() -> bool {
    if !have_ffmpeg() {
        eprintln!("SKIP: ffmpeg not installed");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_segment_plays_with_patched_duration_and_metadata() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("cams", spool.path());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    cfg.prefix = "site1".into();
    let store = S3Store::connect(cfg).await.unwrap();

    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    // 70 × 6 s ≈ 18.4 MB: three 5 MiB parts and a last one.
    let frames = repeat_frames(&tracks, &frames, 70);
    let n_video = video_frames(&tracks, &frames);
    let (_sink, rec) = record_one(&store, "porch", tracks, frames, |_| None, true).await;
    assert_eq!(rec.stored.len(), 1);
    assert_eq!(rec.video_in_fragments, n_video);
    assert!(
        store.wait_idle(Duration::from_secs(120)).await,
        "upload did not finish"
    );
    let st = store.status();
    assert_eq!(st.segments_uploaded, 1, "{st:?}");
    // ≥ 3 full parts + the last + part 1 again with the final header.
    assert!(st.parts_uploaded >= 5, "{st:?}");
    assert_eq!(st.spool_bytes, 0, "{st:?}");
    assert_eq!(st.upload_lag, None);
    assert!(open_uploads(&store).await.is_empty());
    assert!(spool_files(spool.path()).is_empty(), "spool not emptied");
    // The camera's own counters: one segment, timed from seal to publication.
    let cam = store
        .camera_status("porch")
        .expect("the sink registered porch");
    assert_eq!(cam.camera, "porch");
    assert_eq!(cam.segments_uploaded, 1, "{cam:?}");
    let d = &cam.upload_durations;
    assert_eq!(d.count, 1, "{cam:?}");
    assert_eq!(d.buckets.iter().map(|(_, n)| n).sum::<u64>(), 1, "{cam:?}");
    assert!(
        d.sum > Duration::ZERO && d.sum < Duration::from_secs(120),
        "{cam:?}"
    );
    assert_eq!(store.camera_statuses(), vec![cam]);
    assert!(store.camera_status("garage").is_none());

    let key = format!("site1/{}", rec.stored[0].name);
    assert_eq!(list_keys(&store).await, vec![key.clone()]);
    assert_eq!(rec.stored[0].location, format!("s3://cams/{key}"));
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &key, dir.path()).await;
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len() as u64, rec.stored[0].bytes);
    assert!(data.len() as u64 > 3 * MIN_PART_SIZE);
    let errors = ffmpeg_errors(&path);
    assert!(errors.is_empty(), "ffmpeg: {errors}");
    assert_eq!(decoded_frames(&path, "v"), n_video);
    // The header carries the true duration (patched into part 1).
    let (ts, dur) = mvhd_duration(&data);
    let secs = dur as f64 / f64::from(ts);
    assert!((secs - 422.6).abs() < 3.0, "mvhd duration {secs}");

    let (ctype, meta) = head_meta(&store, &key).await;
    assert_eq!(ctype.as_deref(), Some("video/mp4"));
    assert_eq!(meta.get("camera").map(String::as_str), Some("porch"));
    assert_eq!(meta.get("codec").map(String::as_str), Some("h264,aac"));
    assert_eq!(meta.get("resolution").map(String::as_str), Some("320x240"));
    assert_eq!(meta.get("frames"), Some(&n_video.to_string()));
    assert!(
        meta.get("start").is_some_and(|s| s.ends_with('Z')),
        "{meta:?}"
    );
    assert!(
        meta.get("end").is_some_and(|s| s.ends_with('Z')),
        "{meta:?}"
    );
    let d: f64 = meta["duration"].parse().unwrap();
    assert!((d - 422.6).abs() < 3.0, "{meta:?}");
}

/// A segment longer than `max_parts` parts of the configured size: the
/// part size grows and the last part takes the rest, so the upload
/// completes within the limit instead of failing (S3 rejects part 10,001).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_past_the_part_limit_grows_its_parts() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("limit", spool.path());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    cfg.max_parts = 3;
    // The metadata copy would rewrite the ETag that counts the parts.
    cfg.final_metadata_copy = false;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    // 150 × 6 s ≈ 39 MB: eight 5 MiB parts at a fixed size.
    let frames = repeat_frames(&tracks, &frames, 150);
    let n_video = video_frames(&tracks, &frames);
    let (_sink, rec) = record_one(&store, "porch", tracks, frames, |_| None, true).await;
    assert_eq!(rec.stored.len(), 1);
    assert!(
        rec.stored[0].bytes > 7 * MIN_PART_SIZE,
        "{:?}",
        rec.stored[0]
    );
    assert!(
        store.wait_idle(Duration::from_secs(180)).await,
        "upload did not finish"
    );
    let st = store.status();
    assert_eq!(st.segments_uploaded, 1, "{st:?}");
    // At most 3 parts, plus part 1 again with the final header.
    assert!(st.parts_uploaded <= 4, "{st:?}");
    assert_eq!(st.spool_bytes, 0, "{st:?}");
    assert!(open_uploads(&store).await.is_empty());
    assert!(spool_files(spool.path()).is_empty(), "spool not emptied");
    let key = rec.stored[0].name.clone();
    // A multipart object's ETag ends in "-<parts>".
    let head = store
        .client()
        .head_object()
        .bucket(&store.config().bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let etag = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let parts: u32 = etag
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("not a multipart ETag: {etag}"));
    assert!((2..=3).contains(&parts), "{etag}");
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &key, dir.path()).await;
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len() as u64, rec.stored[0].bytes);
    assert_eq!(ffmpeg_errors(&path), "");
    assert_eq!(decoded_frames(&path, "v"), n_video);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_segment_is_one_put_object() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("small", spool.path());
    cfg.create_bucket = true;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_bframes_aac.mp4"));
    let n_video = video_frames(&tracks, &frames);
    let (_sink, rec) = record_one(&store, "garage door", tracks, frames, |_| None, true).await;
    assert!(store.wait_idle(Duration::from_secs(30)).await);
    let st = store.status();
    assert_eq!((st.segments_uploaded, st.parts_uploaded), (1, 1), "{st:?}");
    let cam = store.camera_status("garage door").unwrap();
    assert_eq!(
        (cam.segments_uploaded, cam.upload_failures),
        (1, 0),
        "{cam:?}"
    );
    assert_eq!(cam.upload_durations.count, 1, "{cam:?}");
    assert!(open_uploads(&store).await.is_empty());
    let key = &rec.stored[0].name;
    assert!(key.starts_with("garage door/"), "{key}");
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, key, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert_eq!(decoded_frames(&path, "v"), n_video);
    let (_, meta) = head_meta(&store, key).await;
    assert_eq!(meta.get("frames"), Some(&n_video.to_string()));
    assert_eq!(meta.get("camera").map(String::as_str), Some("garage door"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_name_what_to_fix() {
    let Some(moto) = moto() else { return };
    let spool = tempfile::tempdir().unwrap();
    // Missing bucket.
    let cfg = moto.config("no-such-bucket", spool.path());
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(matches!(e, S3Error::NoSuchBucket { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("no-such-bucket") && msg.contains("create_bucket"),
        "{msg}"
    );
    // Nothing listening.
    let port = free_port();
    let mut cfg = moto.config("b", spool.path());
    cfg.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(matches!(e, S3Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
    // The SDK's error stays reachable as the source.
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    assert!(!e.to_string().contains(&moto.secret), "{e}");
    // Under the 5 MiB minimum.
    let mut cfg = moto.config("b", spool.path());
    cfg.part_size = 1 << 20;
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(e.to_string().contains("5 MiB"), "{e}");
}

/// The store goes away (connections refused), then answers 503, then
/// answers slowly, while the camera keeps recording: nothing is lost and
/// `fragment` never waits for the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_errors_and_slowness_lose_nothing() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let proxy = Proxy::start(moto.port).await;
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("outage", spool.path());
    cfg.endpoint = Some(proxy.endpoint());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 60);
    let n_video = video_frames(&tracks, &frames);
    let mut sink = store.sink("yard");
    let mut worst = Duration::ZERO;
    let mut last = std::time::Instant::now();
    let rec = record(
        &mut sink,
        "yard",
        tracks,
        frames,
        one_segment(),
        |i| {
            // 360 fragments, 25 ms apart: ≈ 9 s of recording.
            worst = worst.max(last.elapsed());
            match i {
                60 => proxy.set(Mode::Refuse),
                160 => proxy.set(Mode::Unavailable),
                240 => proxy.set(Mode::Slow),
                300 => proxy.set(Mode::Pass),
                _ => {}
            }
            last = std::time::Instant::now();
            Some(Duration::from_millis(25))
        },
        true,
    )
    .await;
    // The sink never stalled the camera on the network.
    assert!(
        worst < Duration::from_millis(500),
        "a fragment took {worst:?}"
    );
    assert!(
        store.wait_idle(Duration::from_secs(120)).await,
        "{:?}",
        store.status()
    );
    let st = store.status();
    assert!(st.upload_failures > 0 && st.retries > 0, "{st:?}");
    assert_eq!(st.segments_uploaded, 1, "{st:?}");
    // Every failed request was for this camera's segment.
    let cam = store.camera_status("yard").unwrap();
    assert_eq!(cam.upload_failures, st.upload_failures, "{cam:?}");
    assert_eq!(
        (cam.segments_uploaded, cam.upload_durations.count),
        (1, 1),
        "{cam:?}"
    );
    assert_eq!(st.spool_bytes, 0, "{st:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &rec.stored[0].name, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert_eq!(decoded_frames(&path, "v"), n_video);
    assert!(open_uploads(&store).await.is_empty());
}

/// A crash mid-segment (the sink is dropped without `finish`, and the
/// spool's last fragment is torn); a new store's `recover` publishes a
/// playable object and leaves no upload open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_segment_then_recover_from_spool() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("crash", spool.path());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 50);
    let fed;
    {
        let store = S3Store::connect(cfg.clone()).await.unwrap();
        let (sink, rec) = record_one(&store, "door", tracks.clone(), frames, |_| None, false).await;
        fed = rec.video_in_fragments;
        // Let some parts reach the store before the "crash".
        wait_for_parts(&store, 2, Duration::from_secs(60)).await;
        assert!(store.status().parts_uploaded >= 2, "{:?}", store.status());
        drop(sink);
        assert!(store.wait_idle(Duration::from_secs(10)).await);
        assert_eq!(open_uploads(&store).await.len(), 1);
    }
    // The fragment being written when the process died: a torn tail.
    let spools: Vec<_> = files_under(spool.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    assert_eq!(spools.len(), 1);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&spools[0])
            .unwrap();
        f.write_all(b"\0\0\x10\0moof\0\0\0\x01garbage").unwrap();
    }

    let store = S3Store::connect(cfg).await.unwrap();
    let report = store.recover().await.unwrap();
    assert_eq!(report.completed.len(), 1, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let r = &report.completed[0];
    assert_eq!(r.source, RecoverySource::Spool);
    assert!(open_uploads(&store).await.is_empty());
    assert!(spool_files(spool.path()).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &r.key, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    // Every fragment handed to the sink before the crash is there.
    assert_eq!(decoded_frames(&path, "v"), fed);
    let data = std::fs::read(&path).unwrap();
    let (ts, dur) = mvhd_duration(&data);
    assert!(dur > 0 && (dur as f64 / f64::from(ts) - fed as f64 / 25.0).abs() < 2.0);
    // Recovery rebuilt the segment index from the spool and appended it:
    // it counts every fragment kept, and equals an index rebuilt afresh.
    let len = data.len() as u64;
    let index = recorder_core::index::read_tail(&mut std::io::Cursor::new(&data), len)
        .unwrap()
        .expect("an index at the end of the recovered object");
    assert_eq!(index.video_frames, fed);
    assert_eq!(index.camera, "door");
    let media = index.media_end();
    let rebuilt = recorder_core::index::rebuild(
        &mut std::io::Cursor::new(&data[..media as usize]),
        media,
        "door",
    )
    .unwrap();
    assert_eq!(rebuilt, index);
    let (_, meta) = head_meta(&store, &r.key).await;
    assert_eq!(meta.get("recovered").map(String::as_str), Some("true"));
    assert_eq!(store.status().segments_recovered, 1);
    assert_eq!(store.status().spool_bytes, 0);
}

/// The spool is lost too (another machine, wiped disk): recovery completes
/// the upload from the parts already in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_without_spool_completes_uploaded_parts() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("orphans", spool.path());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 50);
    {
        let store = S3Store::connect(cfg.clone()).await.unwrap();
        let (sink, _) = record_one(&store, "gate", tracks.clone(), frames, |_| None, false).await;
        wait_for_parts(&store, 2, Duration::from_secs(60)).await;
        drop(sink);
        assert!(store.wait_idle(Duration::from_secs(10)).await);
    }
    let parts_bytes = 2 * MIN_PART_SIZE;
    std::fs::remove_dir_all(spool.path()).unwrap();
    let store = S3Store::connect(cfg).await.unwrap();
    // A replica that records other cameras under the same prefix must
    // leave this camera's open upload alone...
    let other = store
        .recover_owned(&|key: &str| key.starts_with("door/"))
        .await
        .unwrap();
    assert!(
        other.completed.is_empty() && other.discarded.is_empty(),
        "{other:?}"
    );
    assert_eq!(open_uploads(&store).await.len(), 1);
    // ...and the one that records it completes it.
    let report = store
        .recover_owned(&|key: &str| key.starts_with("gate/"))
        .await
        .unwrap();
    assert_eq!(report.completed.len(), 1, "{report:?}");
    let r = &report.completed[0];
    assert_eq!(r.source, RecoverySource::UploadedParts);
    assert!(r.bytes.unwrap() >= parts_bytes);
    assert!(open_uploads(&store).await.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &r.key, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert!(decoded_frames(&path, "v") > 0);
}

/// The store is down and the spool fills up: new fragments of the open
/// segment are refused with a `StorageFull` error and counted; everything
/// spooled before is kept and uploaded once the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_refuses_new_fragments_loudly() {
    use recorder_core::mux::{EndReason, MuxEvent, Muxer};
    use recorder_core::sink::SegmentSink;
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let proxy = Proxy::start(moto.port).await;
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("full", spool.path());
    cfg.endpoint = Some(proxy.endpoint());
    cfg.create_bucket = true;
    cfg.spool_limit_bytes = 1_500_000;
    let store = S3Store::connect(cfg).await.unwrap();
    proxy.set(Mode::Refuse);
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 20);
    let mut mux = Muxer::new(tracks, one_segment()).unwrap();
    let mut sink = store.sink("lot");
    let (mut kept, mut refused) = (0u64, 0u64);
    let mut events = Vec::new();
    let feed = |events: &mut Vec<MuxEvent>| std::mem::take(events);
    let mut stored = None;
    for f in frames {
        mux.push(f, &mut events).unwrap();
        for ev in feed(&mut events) {
            match ev {
                MuxEvent::SegmentStarted(s) => sink.start("lot", &s).await.unwrap(),
                MuxEvent::Fragment(fr) => match sink.fragment(&fr).await {
                    Ok(()) => kept += u64::from(fr.samples[0]),
                    Err(e) => {
                        assert!(e.is_storage_full(), "{e}");
                        assert!(e.to_string().contains("spool is full"), "{e}");
                        refused += 1;
                    }
                },
                MuxEvent::SegmentFinished(_) => unreachable!(),
            }
        }
    }
    mux.finish(EndReason::Finished, &mut events);
    for ev in feed(&mut events) {
        match ev {
            MuxEvent::Fragment(fr) => {
                if sink.fragment(&fr).await.is_err() {
                    refused += 1;
                }
            }
            MuxEvent::SegmentFinished(e) => stored = Some(sink.finish(&e).await.unwrap()),
            MuxEvent::SegmentStarted(_) => unreachable!(),
        }
    }
    assert!(refused > 0 && kept > 0);
    let st = store.status();
    assert_eq!(st.fragments_dropped, refused, "{st:?}");
    assert!(st.spool_bytes <= 1_500_000, "{st:?}");
    proxy.set(Mode::Pass);
    assert!(store.wait_idle(Duration::from_secs(60)).await);
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &stored.unwrap().name, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert_eq!(decoded_frames(&path, "v"), kept);
    let data = std::fs::read(&path).unwrap();
    let (ts, dur) = mvhd_duration(&data);
    // The header says how much was kept, not what the muxer saw.
    assert!((dur as f64 / f64::from(ts) - kept as f64 / 25.0).abs() < 1.0);
}

/// The child half of `kill_9_mid_segment_then_recover`: records forever
/// (until killed) into the store named by the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_child_writer() {
    let (Ok(endpoint), Ok(spool)) = (
        std::env::var("CAMREC_KILL9_ENDPOINT"),
        std::env::var("CAMREC_KILL9_SPOOL"),
    ) else {
        return; // only runs as the child of the test below
    };
    let mut cfg = recorder_core::sink::s3::S3Config::new("kill9")
        .with_endpoint(endpoint)
        .with_credentials("testing", "testing-secret");
    cfg.spool_dir = spool.into();
    cfg.part_size = MIN_PART_SIZE;
    cfg.create_bucket = true;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 1000);
    let (_sink, _) = record_one(
        &store,
        "kill9",
        tracks,
        frames,
        |_| Some(Duration::from_millis(5)),
        true,
    )
    .await;
}

/// A real `kill -9` of a recording process after parts were uploaded; a new
/// process recovers a playable object and leaves no open upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_segment_then_recover() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9_child_writer", "--nocapture"])
        .env("CAMREC_KILL9_ENDPOINT", moto.endpoint())
        .env("CAMREC_KILL9_SPOOL", spool.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the manifest records two uploaded parts.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let parts = files_under(spool.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "manifest"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.lines().filter(|l| l.starts_with("part ")).count())
            .sum::<usize>();
        if parts >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child uploaded no parts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second process on the same spool is refused before it touches
    // anything: the child's live files are not taken for crash leftovers.
    let before: Vec<_> = spool_files(spool.path())
        .into_iter()
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    let e = S3Store::connect(moto.config("kill9", spool.path()))
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::SpoolInUse { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&*spool.path().to_string_lossy()), "{msg}");
    assert!(msg.contains("spool_dir"), "says what to change: {msg}");
    for (len, p) in before {
        assert!(std::fs::metadata(&p).unwrap().len() >= len, "{p:?} shrank");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut cfg = moto.config("kill9", spool.path());
    cfg.part_size = MIN_PART_SIZE;
    let store = S3Store::connect(cfg).await.unwrap();
    assert_eq!(open_uploads(&store).await.len(), 1);
    let report = store.recover().await.unwrap();
    assert_eq!(report.completed.len(), 1, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(open_uploads(&store).await.is_empty());
    assert!(spool_files(spool.path()).iter().all(|p| p.is_dir()));
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &report.completed[0].key, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    let frames = decoded_frames(&path, "v");
    assert!(frames > 250, "only {frames} frames");
    let data = std::fs::read(&path).unwrap();
    let (ts, dur) = mvhd_duration(&data);
    assert!((dur as f64 / f64::from(ts) - frames as f64 / 25.0).abs() < 2.0);
}

/// A spool left by a recorder with another prefix (a copied folder, a
/// changed configuration, a planted manifest): recovery neither uploads it
/// under the key its manifest names nor aborts that recorder's upload; it
/// reports it and leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_refuses_a_manifest_outside_its_prefix() {
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("foreign", spool.path());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    cfg.prefix = "site1".into();
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    {
        let store = S3Store::connect(cfg.clone()).await.unwrap();
        let (sink, _) = record_one(&store, "door", tracks, frames, |_| None, false).await;
        drop(sink);
        assert!(store.wait_idle(Duration::from_secs(10)).await);
    }
    let spools: Vec<_> = spool_files(spool.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    assert_eq!(spools.len(), 1);
    let mut other = cfg.clone();
    other.prefix = "site2".into();
    let store = S3Store::connect(other).await.unwrap();
    let report = store.recover().await.unwrap();
    assert!(report.completed.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].1.contains("outside this store's prefix"),
        "{report:?}"
    );
    assert!(spools[0].exists(), "left in the spool");
    let listed = store
        .client()
        .list_objects_v2()
        .bucket("foreign")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing uploaded: {listed:?}");
}

/// A start the full spool refuses is one refused segment, however often
/// the recorder retries it (at each keyframe): counted once. Another
/// segment refused later counts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_start_retried_counts_one_dropped_segment() {
    use recorder_core::mux::{MuxEvent, Muxer};
    use recorder_core::sink::SegmentSink;
    let Some(moto) = moto() else { return };
    if !ready() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = moto.config("refused", spool.path());
    cfg.create_bucket = true;
    // Smaller than any init segment.
    cfg.spool_limit_bytes = 16;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    let mut mux = Muxer::new(tracks, one_segment()).unwrap();
    let mut events = Vec::new();
    let mut start = None;
    for f in frames {
        mux.push(f, &mut events).unwrap();
        if let Some(MuxEvent::SegmentStarted(s)) = events
            .iter()
            .find(|e| matches!(e, MuxEvent::SegmentStarted(_)))
        {
            start = Some(s.clone());
            break;
        }
    }
    let start = start.expect("a segment starts");
    let mut sink = store.sink("gate");
    for _ in 0..5 {
        let e = sink.start("gate", &start).await.unwrap_err();
        assert!(e.is_storage_full(), "{e}");
    }
    assert_eq!(store.status().segments_dropped, 1);
    let mut next = start.clone();
    next.index += 1;
    assert!(sink.start("gate", &next).await.is_err());
    assert_eq!(store.status().segments_dropped, 2);
}
