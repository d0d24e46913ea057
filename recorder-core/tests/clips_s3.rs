//! An event clip stored to S3 (moto and Garage on loopback; each skipped
//! with a message when not installed): one object under `clips/`, with
//! the clip's metadata as `x-amz-meta-*` and the unpinned tag the clip
//! lifecycle rule expires (moto; Garage has no object tags), playable, and
//! gone after `delete_clip`.

mod support;

use std::time::Duration;

use camera_sim::{MountConfig, SimConfig};
use recorder_core::recorder::{ClipRequest, ClipStatus, Recorder};
use recorder_core::sink::s3::S3Store;
use support::media::{ffmpeg_errors, have_ffmpeg};
use support::recording::{camera, start_sim};
use support::s3::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clip_to_s3_is_an_object_with_metadata() {
    let Some(moto) = moto() else { return };
    clip_to(&moto, "cams", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clip_to_garage_is_an_object_with_metadata() {
    let Some(garage) = garage() else { return };
    clip_to(&garage, support::garage::GARAGE_BUCKET, false).await;
}

/// Records a clip to `bucket` on `server` and checks the object; `tags`:
/// the server keeps object tags (moto; the bucket is created).
async fn clip_to(server: &Server, bucket: &str, tags: bool) {
    assert!(
        have_ffmpeg(),
        "ffmpeg/ffprobe are required (apt-get install ffmpeg)"
    );
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = server.config(bucket, spool.path());
    cfg.create_bucket = tags;
    cfg.prefix = "site1".into();
    let store = S3Store::connect(cfg).await.unwrap();
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo("/stream1")));
    let recorder = Recorder::new();
    recorder
        .add_camera(
            camera("porch", &sim.url("/stream1"), Duration::from_secs(60)),
            store.sink("porch"),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let req = ClipRequest::new(
        Duration::from_secs(2),
        Some(Duration::from_secs(2)),
        "door bell",
    )
    .with_source("test");
    let h = recorder.clip("porch", req).unwrap();
    let info = tokio::time::timeout(Duration::from_secs(60), h.wait())
        .await
        .unwrap();
    let ClipStatus::Completed { location, .. } = &info.status else {
        panic!("{info:?}");
    };
    let name = info.name.clone().unwrap();
    let key = format!("site1/{name}");
    assert_eq!(location, &format!("s3://{bucket}/{key}"));
    assert!(
        name.starts_with("clips/porch/") && name.ends_with("_door_bell.mp4"),
        "{name}"
    );
    let keys = list_keys(&store).await;
    assert!(keys.contains(&key), "{keys:?}");
    // No sidecar: the metadata is on the object.
    assert!(!keys.iter().any(|k| k.ends_with(".json")), "{keys:?}");
    let (content_type, meta) = head_meta(&store, &key).await;
    assert_eq!(content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta["camera"], "porch");
    assert_eq!(meta["label"], "door_bell");
    assert_eq!(meta["pre"], "2.000");
    assert_eq!(meta["post"], "2.000");
    assert_eq!(meta["source"], "test");
    assert_eq!(meta["trigger"], info.trigger.to_rfc3339());
    // Tagged for the clip lifecycle rule (expires unpinned clips only).
    if tags {
        let tags = store
            .client()
            .get_object_tagging()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let tags: Vec<(&str, &str)> = tags
            .tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect();
        assert_eq!(tags, [("camrec-pinned", "false")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = download(&store, &key, dir.path()).await;
    let errors = ffmpeg_errors(&file);
    assert!(errors.is_empty(), "{errors}");
    let thumb = key.replace(".mp4", ".jpg");
    assert!(keys.contains(&thumb), "{keys:?}");
    assert_eq!(
        info.thumbnail.as_deref(),
        Some(format!("s3://{bucket}/{thumb}").as_str())
    );
    recorder.delete_clip(&info.id).await.unwrap();
    let keys = list_keys(&store).await;
    assert!(!keys.iter().any(|k| k.contains("/clips/")), "{keys:?}");
    recorder.shutdown(Duration::from_secs(10)).await;
    // The clip's spool file is gone too.
    assert!(!spool
        .path()
        .join("clips")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
}
