//! What a [`Recorder`](super::Recorder) tells its host: a stream of
//! [`RecorderEvent`]s (state changes, segments started and stored, dropped
//! fragments, errors), read with [`Recorder::subscribe`](super::Recorder::subscribe).
//!
//! The CLI turns this stream into its logs; a host can index recordings in
//! its own database from [`RecorderEvent::SegmentStored`] without scanning
//! the store.

use std::sync::Arc;
use std::time::Duration;

use super::silence::NotStoringReason;
use super::status::CameraState;
use crate::mux::{EndReason, WallTime};

/// Something that happened to one camera.
///
/// Events of one camera arrive in the order they happened. The stream is a
/// broadcast: a receiver that falls behind by more than the recorder's
/// event capacity misses the oldest events and is told how many
/// (`tokio::sync::broadcast::error::RecvError::Lagged`); the counters in
/// [`CameraSnapshot`](super::CameraSnapshot) stay exact either way.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RecorderEvent {
    /// A camera was added to the recorder (also sent when it restarts after
    /// [`Recorder::reconfigure_camera`](super::Recorder::reconfigure_camera)).
    CameraAdded {
        /// Camera id.
        camera: String,
    },
    /// A camera was removed; its last segment was closed before this event.
    CameraRemoved {
        /// Camera id.
        camera: String,
    },
    /// The camera's state changed.
    StateChanged {
        /// Camera id.
        camera: String,
        /// The new state.
        state: CameraState,
    },
    /// A segment was opened in the sink (its first keyframe arrived).
    SegmentStarted {
        /// Camera id.
        camera: String,
        /// The muxer's segment number. It counts from 0 for each muxer (a
        /// camera task, or a reconnect with other tracks), so it is not
        /// unique per camera: use the stored record's `name`.
        index: u64,
        /// Wall clock of the segment's first frame.
        wall_start: WallTime,
    },
    /// A segment was closed and handed to storage: see [`SegmentRecord`].
    SegmentStored(Arc<SegmentRecord>),
    /// Fragments were not stored, and the episode is over: storage fell
    /// behind and the queue dropped them rather than stall the camera, or
    /// the sink refused to start a segment (disk or spool full) and the
    /// start was retried at each keyframe until it succeeded. Sent when
    /// fragments are stored again, or when the camera stops.
    FragmentsDropped {
        /// Camera id.
        camera: String,
        /// Fragments dropped in this episode.
        fragments: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// Frames keep arriving but nothing has been stored for longer than a
    /// fragment plus a GOP: `reason` says why. Sent again only when the
    /// reason changes; [`RecorderEvent::StoringResumed`] ends it.
    NotStoring {
        /// Camera id.
        camera: String,
        /// Why nothing is stored.
        reason: NotStoringReason,
        /// How long nothing has been stored (wall clock of the frames).
        for_duration: Duration,
    },
    /// Storing resumed after [`RecorderEvent::NotStoring`].
    StoringResumed {
        /// Camera id.
        camera: String,
    },
    /// Fragments were ended early by a limit (the byte cap of one
    /// fragment, or timestamps that stopped advancing): the camera
    /// misbehaves, recording goes on. Sent at most once a minute per camera.
    FragmentsCutByLimit {
        /// Camera id.
        camera: String,
        /// Cuts since the last such event.
        fragments: u64,
    },
    /// A thumbnail of a keyframe was stored next to the recording (see
    /// [`CameraConfig::with_thumbnails`](super::CameraConfig::with_thumbnails)).
    ThumbnailStored {
        /// Camera id.
        camera: String,
        /// Object name relative to the sink's root (`/`-separated).
        name: String,
        /// Where it is: a file path, or `s3://bucket/key`.
        location: String,
        /// `image/jpeg`, or `video/mp4` for a one-frame MP4 (H.265).
        content_type: &'static str,
        /// Picture width in pixels.
        width: u16,
        /// Picture height in pixels.
        height: u16,
        /// Wall clock of the keyframe.
        wall: WallTime,
        /// Bytes stored.
        bytes: u64,
    },
    /// A thumbnail could not be made or stored; recording is unaffected
    /// and the next one is tried after the interval.
    ThumbnailFailed {
        /// Camera id.
        camera: String,
        /// What failed.
        message: String,
    },
    /// A clip's status changed (see [`Recorder::clip`](super::Recorder::clip)):
    /// created, recording, processing, completed or failed, or extended.
    Clip(Arc<super::ClipInfo>),
    /// Continuous recording of a camera was paused (`true`) or resumed.
    RecordingPaused {
        /// Camera id.
        camera: String,
        /// Paused now.
        paused: bool,
    },
    /// Something failed; the camera keeps retrying or recording.
    Error {
        /// Camera id.
        camera: String,
        /// Which stage failed.
        kind: ErrorKind,
        /// What failed, redacted (never contains credentials).
        message: String,
    },
}

impl RecorderEvent {
    /// The camera the event is about.
    pub fn camera(&self) -> &str {
        match self {
            RecorderEvent::CameraAdded { camera }
            | RecorderEvent::CameraRemoved { camera }
            | RecorderEvent::StateChanged { camera, .. }
            | RecorderEvent::SegmentStarted { camera, .. }
            | RecorderEvent::FragmentsDropped { camera, .. }
            | RecorderEvent::NotStoring { camera, .. }
            | RecorderEvent::StoringResumed { camera }
            | RecorderEvent::FragmentsCutByLimit { camera, .. }
            | RecorderEvent::ThumbnailStored { camera, .. }
            | RecorderEvent::ThumbnailFailed { camera, .. }
            | RecorderEvent::RecordingPaused { camera, .. }
            | RecorderEvent::Error { camera, .. } => camera,
            RecorderEvent::SegmentStored(s) => &s.camera,
            RecorderEvent::Clip(c) => &c.camera,
        }
    }
}

/// Which stage an [`RecorderEvent::Error`] comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The camera or the network (retried with backoff).
    Source,
    /// The camera's configuration (wrong password, no such stream, no
    /// recordable track): retried slowly, retrying alone will not fix it.
    SourceConfig,
    /// The muxer refused a frame or a track.
    Mux,
    /// Storage (disk full, permission, S3 spool full, ...).
    Sink,
}

impl ErrorKind {
    /// Lowercase name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Source => "source",
            ErrorKind::SourceConfig => "source_config",
            ErrorKind::Mux => "mux",
            ErrorKind::Sink => "sink",
        }
    }
}

/// A segment the sink closed: what a host needs to index it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SegmentRecord {
    /// Camera id.
    pub camera: String,
    /// The muxer's segment number.
    pub index: u64,
    /// Object name relative to the sink's root (`/`-separated).
    pub name: String,
    /// Where it is: a file path, or `s3://bucket/key`.
    pub location: String,
    /// True when the sink returned before the object is visible (S3: the
    /// multipart upload completes in the background, from the spool).
    pub upload_pending: bool,
    /// Wall clock of the first frame.
    pub wall_start: WallTime,
    /// Wall clock at the end of the last frame.
    pub wall_end: WallTime,
    /// Media duration.
    pub duration: Duration,
    /// Bytes stored, init segment included.
    pub bytes: u64,
    /// Fragments stored.
    pub fragments: u32,
    /// Video frames stored (`None` without a video track).
    pub video_frames: Option<u64>,
    /// The segment's index, as appended to the stored object (`None` when
    /// the sink could not build it, e.g. after a repair): live serving
    /// needs no read of the object.
    pub segment_index: Option<Arc<crate::index::SegmentIndex>>,
    /// Codec of each track (`h264`, `h265`, `aac`, `pcm_mulaw`, ...).
    pub codecs: Vec<&'static str>,
    /// Width and height of the video track, if any.
    pub resolution: Option<(u16, u16)>,
    /// Why the segment ended; `None` when the sink closed it without the
    /// muxer's end (the camera task stopped abnormally), in which case the
    /// span and counts are those of the fragments seen.
    pub reason: Option<EndReason>,
}
