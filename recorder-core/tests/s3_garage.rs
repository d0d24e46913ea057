//! The S3 sink against a real Garage node on loopback (started by the test
//! with its own data dir; skipped with a message when `garage` is not
//! installed — see `scripts/s3-test-servers.sh install`). Garage checks
//! signatures and keeps its data across restarts, but does not enforce the
//! 5 MiB part minimum, so small parts give many-part segments cheaply.

mod support;

use std::time::Duration;

use recorder_core::sink::s3::{S3Error, S3Store};
use support::fixtures::{fixture, load_fixture};
use support::media::{decoded_frames, ffmpeg_errors, have_ffmpeg};
use support::s3::*;

/// Many small parts, and the store killed for several seconds mid-recording
/// and started again on the same port and data dir: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parts_and_store_restart_lose_nothing() {
    let Some(mut garage) = garage() else { return };
    if !have_ffmpeg() {
        eprintln!("SKIP: ffmpeg not installed");
        return;
    }
    let outage = Duration::from_secs(
        std::env::var("CAMREC_S3_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
    );
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = garage.config(GARAGE_BUCKET, spool.path());
    cfg.part_size = 256 * 1024;
    cfg.allow_small_parts = true;
    let store = S3Store::connect(cfg).await.unwrap();
    let (tracks, frames) = load_fixture(&fixture("h264_bframes_aac.mp4"));
    let frames = repeat_frames(&tracks, &frames, 10);
    let n_video = video_frames(&tracks, &frames);
    let mut sink = store.sink("attic");
    let g = std::sync::Mutex::new(&mut garage);
    let rec = record(
        &mut sink,
        "attic",
        tracks,
        frames,
        one_segment(),
        |i| {
            // 60 fragments, 100 ms apart; the store is down from the 15th
            // to the 35th (2 s, plus its start-up time). The long form of
            // the reliability suite sets CAMREC_S3_OUTAGE_SECS=120.
            if i == 15 {
                g.lock().unwrap().stop();
            }
            if i == 35 {
                g.lock().unwrap().restart();
            }
            Some(if (15..35).contains(&i) {
                outage / 20
            } else {
                Duration::from_millis(100)
            })
        },
        true,
    )
    .await;
    assert!(
        store.wait_idle(Duration::from_secs(120) + outage).await,
        "{:?}",
        store.status()
    );
    let st = store.status();
    assert!(st.upload_failures > 0, "{st:?}");
    assert!(st.parts_uploaded > 3, "{st:?}");
    assert_eq!((st.segments_uploaded, st.spool_bytes), (1, 0), "{st:?}");
    assert!(open_uploads(&store).await.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &rec.stored[0].name, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert_eq!(decoded_frames(&path, "v"), n_video);
    let data = std::fs::read(&path).unwrap();
    let (ts, dur) = mvhd_duration(&data);
    assert!((dur as f64 / f64::from(ts) - 60.0).abs() < 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_missing_bucket_are_clear() {
    let Some(garage) = garage() else { return };
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = garage.config(GARAGE_BUCKET, spool.path());
    cfg = cfg.with_credentials(GARAGE_KEY_ID, "f".repeat(64));
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(matches!(e, S3Error::BadCredentials { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(GARAGE_KEY_ID), "{msg}");
    assert!(!msg.contains(&"f".repeat(64)), "{msg}");
    assert!(!format!("{e:?}").contains(&"f".repeat(64)));

    let mut cfg = garage.config(GARAGE_BUCKET, spool.path());
    cfg = cfg.with_credentials("GK00000000000000000000dead", GARAGE_SECRET);
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(matches!(e, S3Error::BadCredentials { .. }), "{e:?}");
    assert!(!e.to_string().contains(GARAGE_SECRET));

    let cfg = garage.config("absent", spool.path());
    let e = S3Store::connect(cfg).await.unwrap_err();
    assert!(
        matches!(
            e,
            S3Error::NoSuchBucket { .. } | S3Error::AccessDenied { .. }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("absent"), "{e}");
}

/// Crash with small parts on Garage (its ListParts/ListMultipartUploads),
/// spool gone: recovery completes the uploaded parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_orphan_upload_on_garage() {
    let Some(garage) = garage() else { return };
    if !have_ffmpeg() {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = garage.config(GARAGE_BUCKET, spool.path());
    cfg.part_size = 128 * 1024;
    cfg.allow_small_parts = true;
    let (tracks, frames) = load_fixture(&fixture("h264_aac.mp4"));
    {
        let store = S3Store::connect(cfg.clone()).await.unwrap();
        let (sink, _) = record_one(&store, "shed", tracks, frames, |_| None, false).await;
        wait_for_parts(&store, 1, Duration::from_secs(30)).await;
        drop(sink);
        assert!(store.wait_idle(Duration::from_secs(10)).await);
        assert_eq!(open_uploads(&store).await.len(), 1);
    }
    std::fs::remove_dir_all(spool.path()).unwrap();
    let store = S3Store::connect(cfg).await.unwrap();
    let report = store.recover().await.unwrap();
    assert_eq!(report.completed.len(), 1, "{report:?}");
    assert!(open_uploads(&store).await.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = download(&store, &report.completed[0].key, dir.path()).await;
    assert_eq!(ffmpeg_errors(&path), "");
    assert!(decoded_frames(&path, "v") > 0);
}
