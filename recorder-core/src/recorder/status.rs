//! What a camera task reports while it runs: a shared, lock-light record a
//! host app (or the CLI's metrics and terminal view) reads at any time.
//!
//! Hosts read it through [`CameraStatus::snapshot`]; only the camera's own
//! task writes it, so the counters are private.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use super::silence::NotStoringReason;

/// Where a camera's recording stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CameraState {
    /// Opening an RTSP session.
    Connecting,
    /// Frames are arriving and being recorded.
    Recording,
    /// The last attempt failed; waiting before the next.
    Retrying,
    /// The task has ended.
    Stopped,
}

impl CameraState {
    /// Every state, for exporters that report each one.
    pub const ALL: [CameraState; 4] = [
        CameraState::Connecting,
        CameraState::Recording,
        CameraState::Retrying,
        CameraState::Stopped,
    ];

    /// Lowercase name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Recording => "recording",
            CameraState::Retrying => "retrying",
            CameraState::Stopped => "stopped",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => CameraState::Connecting,
            1 => CameraState::Recording,
            2 => CameraState::Retrying,
            _ => CameraState::Stopped,
        }
    }
}

/// The counters a camera task updates.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Counter {
    Frames,
    VideoFrames,
    FramesSkipped,
    PacketsLost,
    BytesRecorded,
    SegmentsRecorded,
    Reconnects,
    SinkErrors,
    FragmentsDropped,
    BytesDropped,
    FragmentsCutByLimit,
    ThumbnailsStored,
    ThumbnailErrors,
}

/// Live counters of one camera. Updated by its task, read by anyone.
#[derive(Debug)]
pub struct CameraStatus {
    id: String,
    state: AtomicU8,
    /// Frames received from the camera.
    frames: AtomicU64,
    /// Of `frames`, those of video tracks (for a frame rate).
    video_frames: AtomicU64,
    /// Frames that could not be stored (before the first keyframe, ...).
    frames_skipped: AtomicU64,
    /// RTP packets the camera sent that never arrived.
    packets_lost: AtomicU64,
    /// Bytes written to the sink (init segments and fragments).
    bytes_recorded: AtomicU64,
    /// Segments completed and stored.
    segments_recorded: AtomicU64,
    /// Sessions that ended and were re-opened.
    reconnects: AtomicU64,
    /// Errors from the sink (disk full, permission, ...).
    sink_errors: AtomicU64,
    /// Wall clock (Unix ns) of the last frame received; 0 before any.
    last_frame_unix_ns: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Whether `last_error` is a configuration error (wrong password, no
    /// such stream, no usable track) that retrying will not fix.
    last_error_is_config: AtomicBool,
    current_segment: Mutex<Option<String>>,
    fragments_dropped: AtomicU64,
    bytes_dropped: AtomicU64,
    queued_bytes: AtomicU64,
    /// Width << 16 | height of the video the camera delivers; 0 unknown.
    video_resolution: AtomicU32,
    fragments_cut_by_limit: AtomicU64,
    last_limit_cut_unix_ns: AtomicU64,
    /// 0, or 1 + the index in [`NotStoringReason::ALL`].
    not_storing: AtomicU8,
    thumbnails_stored: AtomicU64,
    thumbnail_errors: AtomicU64,
    /// Continuous recording paused ([`Recorder::pause_recording`](super::Recorder::pause_recording)).
    paused: AtomicBool,
    /// Bytes in the clip pre-roll ring.
    pre_roll_bytes: AtomicU64,
    /// Wall clock (Unix ns) when the status was made (the camera added).
    started_unix_ns: AtomicU64,
    /// Wall clock (Unix ns) of the last segment stored; 0 before any.
    last_segment_unix_ns: AtomicU64,
}

/// A copy of a camera's status at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CameraSnapshot {
    /// Camera id.
    pub id: String,
    /// State.
    pub state: CameraState,
    /// Frames received from the camera.
    pub frames: u64,
    /// Of `frames`, those of video tracks (for a frame rate).
    pub video_frames: u64,
    /// Frames that could not be stored: before the first keyframe, after
    /// a codec change before the next keyframe, or larger than
    /// [`MuxerConfig::max_frame_bytes`](crate::MuxerConfig::max_frame_bytes)
    /// (with the video after it until the next keyframe).
    pub frames_skipped: u64,
    /// RTP packets the camera sent that never arrived.
    pub packets_lost: u64,
    /// Bytes written to the sink (init segments and fragments).
    pub bytes_recorded: u64,
    /// Segments completed and stored.
    pub segments_recorded: u64,
    /// Sessions that ended and were re-opened.
    pub reconnects: u64,
    /// Errors from the sink (disk full, permission, ...).
    pub sink_errors: u64,
    /// Wall clock (Unix ns) of the last frame received; 0 before any.
    pub last_frame_unix_ns: u64,
    /// The last error, redacted (credentials never appear).
    pub last_error: Option<String>,
    /// True when `last_error` is a configuration error (401, 404, no
    /// usable stream): retrying alone will not fix it.
    pub last_error_is_config: bool,
    /// The open segment (`segment N`, the muxer's number), if one is open.
    pub current_segment: Option<String>,
    /// Fragments the muxer produced that were not stored: storage fell
    /// behind by more than the queue limit, or refused to start a segment
    /// (the start is retried at each keyframe-started fragment).
    pub fragments_dropped: u64,
    /// Bytes of those fragments.
    pub bytes_dropped: u64,
    /// Bytes waiting between the camera reader and the sink right now.
    pub queued_bytes: u64,
    /// Width and height of the video the camera delivers (its current
    /// session's parameters), if known.
    pub video_resolution: Option<(u16, u16)>,
    /// Fragments ended early by a limit rather than at a keyframe or the
    /// fragment duration: they held
    /// [`MuxerConfig::max_fragment_bytes`](crate::MuxerConfig::max_fragment_bytes),
    /// or the camera's timestamps stopped advancing and the wall clock
    /// ended them. Growing means the camera misbehaves.
    pub fragments_cut_by_limit: u64,
    /// Wall clock (Unix ns) of the last such cut; 0 before any.
    pub last_limit_cut_unix_ns: u64,
    /// Set while frames arrive but nothing has been stored for longer than
    /// a fragment plus a GOP: why. Cleared when storing resumes.
    pub not_storing: Option<NotStoringReason>,
    /// Thumbnails (JPEGs, or one-frame MP4s for H.265) stored.
    pub thumbnails_stored: u64,
    /// Thumbnails that could not be made or stored.
    pub thumbnail_errors: u64,
    /// True while continuous recording is paused (clips still record).
    pub paused: bool,
    /// Bytes held in the clip pre-roll ring right now.
    pub pre_roll_bytes: u64,
    /// Wall clock (Unix ns) when the camera was added.
    pub started_unix_ns: u64,
    /// Wall clock (Unix ns) when the last segment was stored; 0 before any.
    pub last_segment_unix_ns: u64,
}

impl CameraStatus {
    /// A fresh status for camera `id` (the recorder makes one per camera;
    /// public so hosts can test their own views of it).
    pub fn new(id: impl Into<String>) -> Self {
        CameraStatus {
            id: id.into(),
            state: AtomicU8::new(0),
            frames: AtomicU64::new(0),
            video_frames: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
            packets_lost: AtomicU64::new(0),
            bytes_recorded: AtomicU64::new(0),
            segments_recorded: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            sink_errors: AtomicU64::new(0),
            last_frame_unix_ns: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_error_is_config: AtomicBool::new(false),
            current_segment: Mutex::new(None),
            fragments_dropped: AtomicU64::new(0),
            bytes_dropped: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            video_resolution: AtomicU32::new(0),
            fragments_cut_by_limit: AtomicU64::new(0),
            last_limit_cut_unix_ns: AtomicU64::new(0),
            not_storing: AtomicU8::new(0),
            thumbnails_stored: AtomicU64::new(0),
            thumbnail_errors: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            pre_roll_bytes: AtomicU64::new(0),
            started_unix_ns: AtomicU64::new(crate::WallTime::now().0.max(0) as u64),
            last_segment_unix_ns: AtomicU64::new(0),
        }
    }

    /// True while continuous recording is paused.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Sets the pause flag; returns the previous value.
    pub(crate) fn set_paused(&self, on: bool) -> bool {
        self.paused.swap(on, Ordering::Relaxed)
    }

    pub(crate) fn set_pre_roll_bytes(&self, n: u64) {
        self.pre_roll_bytes.store(n, Ordering::Relaxed);
    }

    pub(crate) fn set_last_segment(&self, wall_ns: i64) {
        self.last_segment_unix_ns
            .store(wall_ns.max(0) as u64, Ordering::Relaxed);
    }

    /// The camera id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Current state.
    pub fn state(&self) -> CameraState {
        CameraState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Sets the state; returns true if it changed.
    pub(crate) fn set_state(&self, s: CameraState) -> bool {
        self.state.swap(s as u8, Ordering::Relaxed) != s as u8
    }

    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let a = match counter {
            Counter::Frames => &self.frames,
            Counter::VideoFrames => &self.video_frames,
            Counter::FramesSkipped => &self.frames_skipped,
            Counter::PacketsLost => &self.packets_lost,
            Counter::BytesRecorded => &self.bytes_recorded,
            Counter::SegmentsRecorded => &self.segments_recorded,
            Counter::Reconnects => &self.reconnects,
            Counter::SinkErrors => &self.sink_errors,
            Counter::FragmentsDropped => &self.fragments_dropped,
            Counter::BytesDropped => &self.bytes_dropped,
            Counter::FragmentsCutByLimit => &self.fragments_cut_by_limit,
            Counter::ThumbnailsStored => &self.thumbnails_stored,
            Counter::ThumbnailErrors => &self.thumbnail_errors,
        };
        a.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_last_frame(&self, wall_ns: i64) {
        self.last_frame_unix_ns
            .store(wall_ns.max(0) as u64, Ordering::Relaxed);
    }

    /// Bytes stored and sink errors so far (the silence watch's inputs).
    pub(crate) fn stored_bytes_and_sink_errors(&self) -> (u64, u64) {
        (
            self.bytes_recorded.load(Ordering::Relaxed),
            self.sink_errors.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn set_last_limit_cut(&self, wall_ns: i64) {
        self.last_limit_cut_unix_ns
            .store(wall_ns.max(0) as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_not_storing(&self, reason: Option<NotStoringReason>) {
        let v = reason.map_or(0, |r| {
            1 + NotStoringReason::ALL
                .iter()
                .position(|x| *x == r)
                .unwrap_or(0) as u8
        });
        self.not_storing.store(v, Ordering::Relaxed);
    }

    pub(crate) fn set_video_resolution(&self, dims: Option<(u16, u16)>) {
        let v = dims.map_or(0, |(w, h)| (u32::from(w) << 16) | u32::from(h));
        self.video_resolution.store(v, Ordering::Relaxed);
    }

    pub(crate) fn set_queued_bytes(&self, n: u64) {
        self.queued_bytes.store(n, Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, e: Option<String>) {
        self.set_error_kind(e, false);
    }

    /// Records the last error and whether it is a configuration error.
    pub(crate) fn set_error_kind(&self, e: Option<String>, config_error: bool) {
        let mut guard = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *guard = e;
        self.last_error_is_config
            .store(config_error && guard.is_some(), Ordering::Relaxed);
    }

    pub(crate) fn set_segment(&self, s: Option<String>) {
        *self
            .current_segment
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Copies every field.
    pub fn snapshot(&self) -> CameraSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CameraSnapshot {
            id: self.id.clone(),
            state: self.state(),
            frames: l(&self.frames),
            video_frames: l(&self.video_frames),
            frames_skipped: l(&self.frames_skipped),
            packets_lost: l(&self.packets_lost),
            bytes_recorded: l(&self.bytes_recorded),
            segments_recorded: l(&self.segments_recorded),
            reconnects: l(&self.reconnects),
            sink_errors: l(&self.sink_errors),
            last_frame_unix_ns: l(&self.last_frame_unix_ns),
            last_error_is_config: self.last_error_is_config.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            current_segment: self
                .current_segment
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            fragments_dropped: l(&self.fragments_dropped),
            bytes_dropped: l(&self.bytes_dropped),
            queued_bytes: l(&self.queued_bytes),
            video_resolution: match self.video_resolution.load(Ordering::Relaxed) {
                0 => None,
                v => Some(((v >> 16) as u16, v as u16)),
            },
            fragments_cut_by_limit: l(&self.fragments_cut_by_limit),
            last_limit_cut_unix_ns: l(&self.last_limit_cut_unix_ns),
            not_storing: match self.not_storing.load(Ordering::Relaxed) {
                0 => None,
                v => NotStoringReason::ALL.get(usize::from(v) - 1).copied(),
            },
            thumbnails_stored: l(&self.thumbnails_stored),
            thumbnail_errors: l(&self.thumbnail_errors),
            paused: self.paused(),
            pre_roll_bytes: l(&self.pre_roll_bytes),
            started_unix_ns: l(&self.started_unix_ns),
            last_segment_unix_ns: l(&self.last_segment_unix_ns),
        }
    }
}
