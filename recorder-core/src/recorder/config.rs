//! One camera's recording settings.

use crate::mux::MuxerConfig;
use crate::source::{BackoffConfig, CameraUrl, SourceConfig};
use crate::thumbnail::ThumbnailConfig;

/// Default limit of bytes queued between a camera's reader and its sink.
pub const DEFAULT_QUEUE_LIMIT_BYTES: u64 = 16 << 20;

/// Everything one camera needs.
///
/// ```
/// use std::time::Duration;
/// use recorder_core::{CameraConfig, CameraUrl};
///
/// let url = CameraUrl::parse("rtsp://admin:secret@192.0.2.10/stream1")?;
/// let mut cam = CameraConfig::new("porch", url);
/// cam.muxer.segment_duration = Duration::from_secs(60);
/// assert_eq!(cam.id, "porch");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CameraConfig {
    /// Camera id: names files, events and metrics.
    pub id: String,
    /// How to reach the camera.
    pub source: SourceConfig,
    /// How to cut segments.
    pub muxer: MuxerConfig,
    /// Reconnect pacing.
    pub backoff: BackoffConfig,
    /// Most bytes of finished fragments that may wait between the camera
    /// reader and the sink. The reader never waits for storage (the camera
    /// session must keep being polled); when storage falls this far behind,
    /// fragments are dropped up to the next keyframe-started fragment,
    /// counted and reported ([`RecorderEvent::FragmentsDropped`](crate::RecorderEvent::FragmentsDropped)).
    pub queue_limit_bytes: u64,
    /// Thumbnails of keyframes, stored where the sink stores segments
    /// (`None`, the default: none).
    pub thumbnails: Option<ThumbnailConfig>,
    /// Event clips: pre-roll ring, maximum length, name template.
    pub clips: super::ClipSettings,
}

impl CameraConfig {
    /// A camera with default source, muxer and backoff settings.
    pub fn new(id: impl Into<String>, url: CameraUrl) -> Self {
        Self::from_source(id, SourceConfig::new(url))
    }

    /// A camera with the given source settings and default muxer and
    /// backoff settings.
    pub fn from_source(id: impl Into<String>, source: SourceConfig) -> Self {
        CameraConfig {
            id: id.into(),
            source,
            muxer: MuxerConfig::default(),
            backoff: BackoffConfig::default(),
            queue_limit_bytes: DEFAULT_QUEUE_LIMIT_BYTES,
            thumbnails: None,
            clips: super::ClipSettings::default(),
        }
    }

    /// Replaces the muxer settings.
    pub fn with_muxer(mut self, muxer: MuxerConfig) -> Self {
        self.muxer = muxer;
        self
    }

    /// Replaces the reconnect pacing.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Makes a thumbnail of a keyframe every `cfg.interval` (the first at
    /// the camera's first keyframe), stored through the sink's
    /// [`SegmentSink::small_objects`](crate::SegmentSink::small_objects).
    /// Decoding runs on tokio's blocking pool, one at a time per camera:
    /// reading the camera never waits for it.
    pub fn with_thumbnails(mut self, cfg: ThumbnailConfig) -> Self {
        self.thumbnails = Some(cfg);
        self
    }

    /// Replaces the clip settings.
    pub fn with_clips(mut self, clips: super::ClipSettings) -> Self {
        self.clips = clips;
        self
    }

    /// Sets [`CameraConfig::queue_limit_bytes`].
    pub fn with_queue_limit_bytes(mut self, bytes: u64) -> Self {
        self.queue_limit_bytes = bytes;
        self
    }
}
