//! A clip's writer task: its muxer's events into a spool file, then the
//! file published under the clip's name with its metadata.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{metadata_json, ClipEnd, ClipShared, ClipStatus};
use crate::mux::{MuxEvent, SegmentEnd, WallTime};
use crate::thumbnail::SmallObjectStore;

/// Records why the clip's recording ended, for its final status.
pub(crate) fn set_end(shared: &ClipShared, why: ClipEnd) {
    let mut e = shared.ended.lock().unwrap_or_else(|p| p.into_inner());
    e.get_or_insert(why);
}

/// The clip's first keyframe, for its thumbnail.
pub(crate) struct Thumb {
    pub track: crate::mux::TrackSpec,
    pub key: crate::mux::Frame,
}

struct Open {
    path: PathBuf,
    name: String,
    file: tokio::fs::File,
    bytes: u64,
}

pub(crate) async fn write_clip(
    shared: Arc<ClipShared>,
    store: SmallObjectStore,
    mut rx: mpsc::UnboundedReceiver<MuxEvent>,
    start: WallTime,
    thumb: Thumb,
) {
    let mut thumb = Some(thumb);
    let camera = shared.info.borrow().camera.clone();
    let mut open: Option<Open> = None;
    let mut failed = false;
    while let Some(ev) = rx.recv().await {
        if failed {
            continue;
        }
        let step = match ev {
            MuxEvent::SegmentStarted(s) => {
                let name = shared.template.render(&camera, start, 0);
                shared.update(|i| i.name = Some(name.clone()));
                begin(&store, name, &s.init).await.map(|o| open = Some(o))
            }
            MuxEvent::Fragment(f) => match open.as_mut() {
                Some(o) => append(o, f.bytes.chunks()).await,
                None => Ok(()),
            },
            MuxEvent::SegmentFinished(end) => match open.take() {
                // The first end is the clip's: the writer returns after it.
                Some(o) => {
                    let r = publish(&shared, &store, o, &end, start, thumb.take()).await;
                    if r.is_ok() {
                        return;
                    }
                    r
                }
                None => Ok(()),
            },
        };
        if let Err(reason) = step {
            failed = true;
            if let Some(o) = open.take() {
                let _ = tokio::fs::remove_file(&o.path).await;
            }
            shared.fail(reason);
        }
    }
    // The camera task let go of the clip without its end.
    if let Some(o) = open.take() {
        let _ = tokio::fs::remove_file(&o.path).await;
    }
    if !shared.info.borrow().status.is_final() {
        shared.fail("the camera task ended before the clip was complete".to_owned());
    }
}

async fn begin(store: &SmallObjectStore, name: String, init: &[u8]) -> Result<Open, String> {
    let path = store.spool_path(&name);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(init)
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Open {
        path,
        name,
        file,
        bytes: init.len() as u64,
    })
}

async fn append(o: &mut Open, chunks: impl Iterator<Item = &bytes::Bytes>) -> Result<(), String> {
    for c in chunks {
        o.file
            .write_all(c)
            .await
            .map_err(|e| format!("writing {}: {e}", o.path.display()))?;
        o.bytes += c.len() as u64;
    }
    Ok(())
}

async fn publish(
    shared: &ClipShared,
    store: &SmallObjectStore,
    o: Open,
    end: &SegmentEnd,
    start: WallTime,
    thumb: Option<Thumb>,
) -> Result<(), String> {
    let Open {
        path,
        name,
        mut file,
        bytes,
    } = o;
    file.flush()
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let file = file.into_std().await;
    let patches = end.header_patches.clone();
    let p = path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for patch in &patches {
            patch.write_to(&file)?;
        }
        file.sync_all()
    })
    .await
    .map_err(|e| format!("finishing {}: {e}", path.display()))?
    .map_err(|e| format!("finishing {}: {e}", p.display()))?;
    let duration = Duration::from_nanos(end.wall_end.0.saturating_sub(start.0).max(0) as u64);
    let ended = shared
        .ended
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or(ClipEnd::PostRoll);
    let mut info = shared.info.borrow().clone();
    info.duration = Some(duration);
    info.bytes = bytes;
    let metadata = vec![
        ("camera", info.camera.clone()),
        ("label", info.label.clone()),
        ("trigger", info.trigger.to_rfc3339()),
        ("pre", format!("{:.3}", info.pre.as_secs_f64())),
        (
            "post",
            info.post
                .map_or("open".to_owned(), |d| format!("{:.3}", d.as_secs_f64())),
        ),
        ("source", info.source.clone()),
        ("clip-id", info.id.clone()),
    ];
    let stored = store
        .put_file(&name, &path, "video/mp4", &metadata)
        .await
        .map_err(|e| {
            let _ = std::fs::remove_file(&path);
            format!("storing {name}: {e}")
        })?;
    if store.is_folder() {
        // Folders have no object metadata: a sidecar next to the clip.
        let json = metadata_json(&info, &stored.location);
        if let Err(e) = store
            .put(
                &sidecar_name(&name),
                json.into_bytes(),
                "application/json",
                &[],
            )
            .await
        {
            tracing::warn!(clip = %info.id, error = %e, "clip stored, its metadata sidecar not");
        }
    }
    *shared.stored.lock().unwrap_or_else(|p| p.into_inner()) = Some((store.clone(), name.clone()));
    let thumbnail = match thumb {
        Some(t) => thumbnail(&info.id, &name, store, t).await,
        None => None,
    };
    tracing::info!(clip = %info.id, camera = %info.camera, location = %stored.location, duration = ?duration, "clip stored");
    shared.update(|i| {
        i.duration = Some(duration);
        i.bytes = bytes;
        i.thumbnail = thumbnail;
        i.status = ClipStatus::Completed {
            location: stored.location.clone(),
            ended,
        };
    });
    Ok(())
}

/// A picture of the clip's first keyframe next to it (`NAME.jpg`, or
/// `NAME.keyframe.mp4` where no decoder is built in); a failure only
/// warns: the clip is stored.
async fn thumbnail(id: &str, name: &str, store: &SmallObjectStore, t: Thumb) -> Option<String> {
    let jpg = format!("{}.jpg", name.strip_suffix(".mp4").unwrap_or(name));
    let image = tokio::task::spawn_blocking(move || {
        crate::thumbnail::render_keyframe(&t.track, &t.key, crate::thumbnail::DEFAULT_JPEG_QUALITY)
    })
    .await;
    let image = match image {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            tracing::warn!(clip = %id, error = %e, "no thumbnail for this clip");
            return None;
        }
        Err(e) => {
            tracing::warn!(clip = %id, error = %e, "no thumbnail for this clip");
            return None;
        }
    };
    let object = image.object_name(&jpg);
    match store
        .put(
            &object,
            image.bytes().to_vec(),
            image.content_type(),
            &[("clip-id", id.to_owned())],
        )
        .await
    {
        Ok(stored) => Some(stored.location),
        Err(e) => {
            tracing::warn!(clip = %id, error = %e, "clip stored, its thumbnail not");
            None
        }
    }
}

/// The objects stored next to a clip `NAME.mp4`: its sidecar and either
/// form of its thumbnail.
pub(crate) fn companions(name: &str) -> [String; 3] {
    let stem = name.strip_suffix(".mp4").unwrap_or(name);
    [
        sidecar_name(name),
        format!("{stem}.jpg"),
        format!("{stem}{}", crate::thumbnail::KEYFRAME_MP4_SUFFIX),
    ]
}

/// `clips/x/y.mp4` → `clips/x/y.json`.
fn sidecar_name(name: &str) -> String {
    let stem = name.strip_suffix(".mp4").unwrap_or(name);
    format!("{stem}.json")
}
