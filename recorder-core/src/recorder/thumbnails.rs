//! A camera's thumbnails: which keyframes get one, and making and storing
//! them off the reader (tokio's blocking pool, then the store), at most
//! one at a time.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::events::RecorderEvent;
use super::status::Counter;
use super::CameraContext;
use crate::mux::{Frame, TrackSpec};
use crate::thumbnail::{render_keyframe, SmallObjectStore, ThumbnailConfig};

/// Thumbnail decodes one recorder runs at once: half the cores (at least
/// one), leaving the rest to the camera readers.
pub(super) fn concurrent_decodes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .max(1)
}

/// How long a stopping camera waits for its thumbnail in flight.
const FINISH_WAIT: Duration = Duration::from_secs(5);

pub(super) struct Thumbnailer {
    cfg: ThumbnailConfig,
    store: SmallObjectStore,
    ctx: CameraContext,
    /// When the last thumbnail was started; `None` before the first.
    last: Option<Instant>,
    in_flight: Option<JoinHandle<()>>,
}

impl Thumbnailer {
    pub fn new(cfg: ThumbnailConfig, store: SmallObjectStore, ctx: CameraContext) -> Self {
        Thumbnailer {
            cfg,
            store,
            ctx,
            last: None,
            in_flight: None,
        }
    }

    /// Called with every keyframe of the primary video track; starts a
    /// thumbnail when the interval has passed (the monotonic clock: a
    /// camera's wall clock may jump) and none is in flight. A busy one
    /// defers to the next keyframe rather than queueing work.
    pub fn on_keyframe(&mut self, track: &TrackSpec, frame: &Frame) {
        if self.last.is_some_and(|t| t.elapsed() < self.cfg.interval) {
            return;
        }
        if self.in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.last = Some(Instant::now());
        let (track, frame) = (track.clone(), frame.clone());
        let (ctx, store) = (self.ctx.clone(), self.store.clone());
        let (template, quality) = (self.cfg.template.clone(), self.cfg.quality);
        self.in_flight = Some(tokio::spawn(async move {
            let wall = frame.wall;
            // The semaphore is never closed, so this always waits its turn.
            let Ok(permit) = ctx.thumbnail_permits.clone().acquire_owned().await else {
                return;
            };
            let rendered =
                tokio::task::spawn_blocking(move || render_keyframe(&track, &frame, quality)).await;
            // Storing waits on disk or network, not on a core.
            drop(permit);
            let image = match rendered {
                Ok(Ok(image)) => image,
                Ok(Err(e)) => return failed(&ctx, e.to_string()),
                Err(e) => return failed(&ctx, format!("thumbnail task failed: {e}")),
            };
            let name = image.object_name(&template.render(&ctx.id, wall, 0));
            let (width, height) = image.dimensions();
            let content_type = image.content_type();
            let meta = [
                ("camera", ctx.id.clone()),
                ("width", width.to_string()),
                ("height", height.to_string()),
                ("wall-unix-ns", wall.0.to_string()),
            ];
            let bytes = match image {
                crate::thumbnail::KeyframeImage::Jpeg(t) => t.jpeg,
                crate::thumbnail::KeyframeImage::Mp4 { bytes, .. } => bytes,
            };
            let size = bytes.len() as u64;
            match store.put(&name, bytes, content_type, &meta).await {
                Ok(stored) => {
                    tracing::debug!(camera = %ctx.id, location = %stored.location, width, height, "thumbnail stored");
                    ctx.status.add(Counter::ThumbnailsStored, 1);
                    ctx.emit(RecorderEvent::ThumbnailStored {
                        camera: ctx.id.clone(),
                        name: stored.name,
                        location: stored.location,
                        content_type,
                        width,
                        height,
                        wall,
                        bytes: size,
                    });
                }
                Err(e) => failed(&ctx, e.to_string()),
            }
        }));
    }

    /// Waits (briefly) for the thumbnail in flight, so a stopping camera
    /// does not lose the one it started.
    pub async fn finish(&mut self) {
        if let Some(h) = self.in_flight.take() {
            let _ = tokio::time::timeout(FINISH_WAIT, h).await;
        }
    }
}

#[cold]
fn failed(ctx: &CameraContext, message: String) {
    tracing::warn!(camera = %ctx.id, error = %message, "thumbnail not stored");
    ctx.status.add(Counter::ThumbnailErrors, 1);
    ctx.emit(RecorderEvent::ThumbnailFailed {
        camera: ctx.id.clone(),
        message,
    });
}
