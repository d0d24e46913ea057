//! An event clip stored to S3 (moto and Garage on loopback; each skipped
//! with a message when not installed): one object under `clips/`, with
//! the clip's metadata as `x-amz-meta-*` and the unpinned tag the clip
//! lifecycle rule expires (moto; Garage has no object tags), playable, and
//! gone after `delete_clip`. A clip bigger than the store's part size is
//! a multipart upload with the same metadata and tag, byte for byte the
//! clip file; one whose store goes away mid-upload fails with the reason
//! and leaves no open upload behind once the store is back.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig};
use recorder_core::recorder::{ClipRequest, ClipSettings, ClipStatus, Recorder};
use recorder_core::sink::s3::{S3Config, S3Store, MIN_PART_SIZE};
use support::media::{decoded_frames, ffmpeg_errors, have_ffmpeg, make_clip};
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
        assert_eq!(
            pinned_tag(&store, bucket, &key).await,
            [("camrec-pinned".to_owned(), "false".to_owned())]
        );
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

/// A camera source of about 7 Mbit/s (noise defeats the encoder), so a
/// clip of a few seconds is several 5 MiB parts; 20 s, looped by the sim.
fn busy_source(dir: &Path) -> PathBuf {
    let file = dir.join("busy.mp4");
    make_clip(
        &file,
        20,
        "640x360",
        16000,
        &["-vf", "noise=alls=30:allf=t", "-crf", "28"],
    );
    file
}

/// The clip's local file, kept by a hard link taken while it records
/// (the writer patches it in place and deletes its own name after the
/// upload): exactly the bytes that were uploaded.
async fn keep_clip_file(recorder: &Recorder, id: &str, spool: &Path) -> PathBuf {
    let kept = spool.join("kept-clip.mp4");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = recorder.clip_info(id).unwrap();
        if let Some(name) = &info.name {
            let flat = name.replace('/', "_");
            let file = spool.join("clips").join(format!("{flat}.part"));
            if std::fs::hard_link(&file, &kept).is_ok() {
                return kept;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the clip file never appeared: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A recorder with one camera serving [`busy_source`] into `store`, its
/// clips named by `template` (the default when `None`).
async fn busy_camera(
    store: &S3Store,
    dir: &Path,
    template: Option<&str>,
) -> (Recorder, camera_sim::SimHandle) {
    let src = busy_source(dir);
    let sim = start_sim(SimConfig::new().mount(MountConfig::new("/busy", src)));
    let recorder = Recorder::new();
    let mut clips = ClipSettings::default();
    if let Some(t) = template {
        clips.template = t.to_owned();
    }
    recorder
        .add_camera(
            camera("yard", &sim.url("/busy"), Duration::from_secs(60)).with_clips(clips),
            store.sink("yard"),
        )
        .unwrap();
    // A full pre-roll.
    tokio::time::sleep(Duration::from_secs(5)).await;
    (recorder, sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_clip_to_s3_is_a_multipart_upload() {
    let Some(moto) = moto() else { return };
    big_clip_to(&moto, "big", true, MIN_PART_SIZE, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_clip_to_garage_is_a_multipart_upload() {
    let Some(garage) = garage() else { return };
    // Garage takes parts under S3's 5 MiB minimum: more of them.
    big_clip_to(
        &garage,
        support::garage::GARAGE_BUCKET,
        false,
        1 << 20,
        None,
    )
    .await;
}

/// A clip named outside `clips/` is one `PutObject` whatever its size:
/// after a crash, recovery could not tell its open multipart upload from a
/// segment's and would complete it torn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_clip_outside_clips_is_one_put_object() {
    let Some(moto) = moto() else { return };
    big_clip_to(
        &moto,
        "bigput",
        true,
        MIN_PART_SIZE,
        Some("{camera}/events/{YYYYMMDD}/{HHMMSS}_{label}.mp4"),
    )
    .await;
}

/// A clip of several parts of `part_size` to `bucket` on `server` (`tags`
/// as in [`clip_to`]), named by `template` (default: under `clips/`):
/// byte for byte the clip file, with the clip's content type, metadata and
/// tag; one multipart object under `clips/`, one `PutObject` elsewhere.
async fn big_clip_to(
    server: &Server,
    bucket: &str,
    tags: bool,
    part_size: u64,
    template: Option<&str>,
) {
    assert!(
        have_ffmpeg(),
        "ffmpeg/ffprobe are required (apt-get install ffmpeg)"
    );
    let dir = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = server.config(bucket, spool.path());
    cfg.create_bucket = tags;
    cfg.part_size = part_size;
    cfg.allow_small_parts = part_size < MIN_PART_SIZE;
    let store = S3Store::connect(cfg).await.unwrap();
    let (recorder, _sim) = busy_camera(&store, dir.path(), template).await;
    let req = ClipRequest::new(Duration::from_secs(3), Some(Duration::from_secs(5)), "gate")
        .with_source("test");
    let h = recorder.clip("yard", req).unwrap();
    let kept = keep_clip_file(&recorder, h.id(), spool.path()).await;
    let info = tokio::time::timeout(Duration::from_secs(120), h.wait())
        .await
        .unwrap();
    let ClipStatus::Completed { .. } = &info.status else {
        panic!("{info:?}");
    };
    let key = info.name.clone().unwrap();
    let local = std::fs::read(&kept).unwrap();
    assert_eq!(local.len() as u64, info.bytes);
    let parts = info.bytes.div_ceil(part_size);
    assert!(parts >= 2, "a {} byte clip is one part", info.bytes);
    let head = store
        .client()
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(info.bytes as i64));
    // A multipart object's ETag ends in its part count.
    let etag = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    if template.is_none() {
        assert!(key.contains("clips/"), "{key}");
        assert!(
            etag.ends_with(&format!("-{parts}")),
            "ETag {etag}, {parts} parts"
        );
    } else {
        assert!(key.contains("yard/events/"), "{key}");
        assert!(!etag.contains('-'), "one PutObject: ETag {etag}");
    }
    assert_eq!(head.content_type(), Some("video/mp4"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(meta["camera"], "yard");
    assert_eq!(meta["label"], "gate");
    assert_eq!(meta["source"], "test");
    assert_eq!(meta["clip-id"], info.id);
    assert_eq!(meta["pre"], "3.000");
    assert_eq!(meta["post"], "5.000");
    if tags {
        // The clip lifecycle rule covers `clips/` only: tagged there.
        let want = if template.is_none() {
            vec![("camrec-pinned".to_owned(), "false".to_owned())]
        } else {
            Vec::new()
        };
        assert_eq!(pinned_tag(&store, bucket, &key).await, want);
    }
    let file = download(&store, &key, dir.path()).await;
    let remote = std::fs::read(&file).unwrap();
    assert!(remote == local, "the object differs from the clip file");
    let errors = ffmpeg_errors(&file);
    assert!(errors.is_empty(), "{errors}");
    // 25 fps for pre + post, give or take the GOP the pre-roll starts on.
    let frames = decoded_frames(&file, "v");
    assert!((175..=260).contains(&frames), "{frames} frames");
    assert!(
        !open_uploads(&store)
            .await
            .iter()
            .any(|k| k.contains("clips/") || k.contains("events/")),
        "a clip upload is left open"
    );
    println!(
        "clip of {} bytes uploaded as {parts} parts of {part_size}",
        info.bytes
    );
    recorder.shutdown(Duration::from_secs(10)).await;
}

/// The object's tags.
async fn pinned_tag(store: &S3Store, bucket: &str, key: &str) -> Vec<(String, String)> {
    let tags = store
        .client()
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    tags.tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// The store stops answering once the clip's multipart upload is open: the
/// clip fails saying which request failed, and when the store is back no
/// upload of it is left open (the recorder's abort, or recovery's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_clip_fails_cleanly_when_the_store_goes_away() {
    let Some(moto) = moto() else { return };
    assert!(
        have_ffmpeg(),
        "ffmpeg/ffprobe are required (apt-get install ffmpeg)"
    );
    let proxy = Proxy::start(moto.port).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let mut cfg: S3Config = moto.config("gone", spool.path());
    cfg.endpoint = Some(proxy.endpoint());
    cfg.create_bucket = true;
    cfg.part_size = MIN_PART_SIZE;
    let store = S3Store::connect(cfg).await.unwrap();
    // Sees the server directly, past the proxy.
    let direct_spool = tempfile::tempdir().unwrap();
    let direct = S3Store::connect(moto.config("gone", direct_spool.path()))
        .await
        .unwrap();
    let (recorder, _sim) = busy_camera(&store, dir.path(), None).await;
    let req = ClipRequest::new(Duration::from_secs(3), Some(Duration::from_secs(9)), "gate");
    let h = recorder.clip("yard", req).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if open_uploads(&direct)
            .await
            .iter()
            .any(|k| k.contains("clips/"))
        {
            break;
        }
        let info = recorder.clip_info(h.id()).unwrap();
        assert!(
            !info.status.is_final() && std::time::Instant::now() < deadline,
            "the clip's upload was never seen open: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.set(Mode::Refuse);
    let info = tokio::time::timeout(Duration::from_secs(60), h.wait())
        .await
        .unwrap();
    let ClipStatus::Failed { reason } = &info.status else {
        panic!("{info:?}");
    };
    let name = info.name.clone().unwrap();
    assert!(
        reason.contains(&name)
            && (reason.contains("UploadPart") || reason.contains("CompleteMultipartUpload")),
        "{reason}"
    );
    assert!(!reason.contains(&moto.secret), "{reason}");
    proxy.set(Mode::Pass);
    // The abort could not reach the store either: recovery aborts what is
    // left open under clips/.
    let report = store.recover().await.unwrap();
    assert!(report.discarded.contains(&name), "{report:?}");
    assert!(
        open_uploads(&direct)
            .await
            .iter()
            .all(|k| !k.contains("clips/")),
        "{report:?}"
    );
    assert!(
        !list_keys(&direct).await.contains(&name),
        "a failed clip was published"
    );
    println!("failed clip: {reason}; recovery: {report:?}");
    recorder.shutdown(Duration::from_secs(10)).await;
}
