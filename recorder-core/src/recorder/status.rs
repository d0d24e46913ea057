//! What a camera task reports while it runs: a shared, lock-light record a
//! host app (or the CLI's metrics and terminal view) reads at any time.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// Where a camera's recording stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

/// Live counters of one camera. Updated by its task, read by anyone.
#[derive(Debug)]
pub struct CameraStatus {
    id: String,
    state: AtomicU8,
    /// Frames received from the camera.
    pub frames: AtomicU64,
    /// Of `frames`, those of video tracks (for a frame rate).
    pub video_frames: AtomicU64,
    /// Frames that could not be stored (before the first keyframe, ...).
    pub frames_skipped: AtomicU64,
    /// RTP packets the camera sent that never arrived.
    pub packets_lost: AtomicU64,
    /// Bytes written to the sink (init segments and fragments).
    pub bytes_recorded: AtomicU64,
    /// Segments completed and stored.
    pub segments_recorded: AtomicU64,
    /// Sessions that ended and were re-opened.
    pub reconnects: AtomicU64,
    /// Errors from the sink (disk full, permission, ...).
    pub sink_errors: AtomicU64,
    /// Wall clock (Unix ns) of the last frame received; 0 before any.
    pub last_frame_unix_ns: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Whether `last_error` is a configuration error (wrong password, no
    /// such stream, no usable track) that retrying will not fix.
    last_error_is_config: AtomicBool,
    current_segment: Mutex<Option<String>>,
}

/// A copy of a camera's status at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraSnapshot {
    /// Camera id.
    pub id: String,
    /// State.
    pub state: CameraState,
    /// See [`CameraStatus::frames`].
    pub frames: u64,
    /// See [`CameraStatus::video_frames`].
    pub video_frames: u64,
    /// See [`CameraStatus::frames_skipped`].
    pub frames_skipped: u64,
    /// See [`CameraStatus::packets_lost`].
    pub packets_lost: u64,
    /// See [`CameraStatus::bytes_recorded`].
    pub bytes_recorded: u64,
    /// See [`CameraStatus::segments_recorded`].
    pub segments_recorded: u64,
    /// See [`CameraStatus::reconnects`].
    pub reconnects: u64,
    /// See [`CameraStatus::sink_errors`].
    pub sink_errors: u64,
    /// See [`CameraStatus::last_frame_unix_ns`].
    pub last_frame_unix_ns: u64,
    /// The last error, redacted (credentials never appear).
    pub last_error: Option<String>,
    /// True when `last_error` is a configuration error (401, 404, no
    /// usable stream): retrying alone will not fix it.
    pub last_error_is_config: bool,
    /// Where the open segment is being written, if one is open.
    pub current_segment: Option<String>,
}

impl CameraStatus {
    /// A fresh status for camera `id`.
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
        }
    }

    /// The camera id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Current state.
    pub fn state(&self) -> CameraState {
        CameraState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(crate) fn set_state(&self, s: CameraState) {
        self.state.store(s as u8, Ordering::Relaxed);
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
        }
    }
}
