//! Event clips: a stretch of one camera's video around a trigger, with a
//! pre-roll from memory, stored as its own fragmented MP4.
//!
//! Each camera keeps its last seconds in a ring ([`ClipSettings::pre_roll`]).
//! [`Recorder::clip`](super::Recorder::clip) starts a clip at the keyframe
//! before `trigger − pre`, with an edit list so players begin at the exact
//! frame, and ends it at `trigger + post`. A second trigger while a clip
//! of the camera is still recording extends it. Clips are recorded whether
//! continuous recording runs or is paused, and are stored next to the
//! camera's segments (its folder or bucket) under
//! [`ClipSettings::template`].

pub(crate) mod engine;
mod ring;
pub(crate) mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::RecorderEvent;
use crate::mux::WallTime;

/// The longest pre-roll a camera may keep.
pub const MAX_PRE_ROLL: Duration = Duration::from_secs(60);
/// Default clip name template.
pub const DEFAULT_CLIP_TEMPLATE: &str = "clips/{camera}/{YYYYMMDD}/{HHMMSS}_{label}.mp4";

/// A camera's clip settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClipSettings {
    /// How far back the in-memory ring reaches (default 10 s, at most
    /// [`MAX_PRE_ROLL`]); zero keeps no ring (clips then start at the next
    /// keyframe).
    pub pre_roll: Duration,
    /// Most bytes the ring holds (default 32 MiB): over it, the oldest GOPs
    /// go first.
    pub pre_roll_max_bytes: u64,
    /// A clip never lasts longer than this from `trigger − pre` (default
    /// 10 min): an open-ended clip that is never ended stops here.
    pub max_length: Duration,
    /// Post-roll after [`Recorder::end_clip`](super::Recorder::end_clip)
    /// when the call names none (default 5 s).
    pub default_post: Duration,
    /// Object name template: the [`ObjectNameTemplate`](crate::ObjectNameTemplate)
    /// placeholders plus `{label}` (sanitized).
    pub template: String,
}

impl Default for ClipSettings {
    fn default() -> Self {
        ClipSettings {
            pre_roll: Duration::from_secs(10),
            pre_roll_max_bytes: 32 << 20,
            max_length: Duration::from_secs(600),
            default_post: Duration::from_secs(5),
            template: DEFAULT_CLIP_TEMPLATE.to_owned(),
        }
    }
}

/// What to record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClipRequest {
    /// Video before the trigger (at most the camera's pre-roll).
    pub pre: Duration,
    /// Video after the trigger; `None`: until
    /// [`Recorder::end_clip`](super::Recorder::end_clip), then its post-roll.
    pub post: Option<Duration>,
    /// A short label for the name (`doorbell`); sanitized to
    /// `[A-Za-z0-9_-]`, at most 64 characters.
    pub label: String,
    /// Who asked (`api`, `webhook`, a host's name): kept in the metadata.
    pub source: String,
}

impl ClipRequest {
    /// A clip of `pre` before and `post` after now.
    pub fn new(pre: Duration, post: Option<Duration>, label: impl Into<String>) -> Self {
        ClipRequest {
            pre,
            post,
            label: label.into(),
            source: "library".to_owned(),
        }
    }

    /// Sets [`ClipRequest::source`].
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
}

/// Where a clip stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClipStatus {
    /// Waiting for the camera's frames (the trigger's pre-roll frame, or
    /// the first keyframe of a camera that is not connected yet).
    Pending,
    /// Frames are being written.
    Recording,
    /// The last frame is in; the clip is being stored.
    Processing,
    /// Stored.
    Completed {
        /// Where: a file path or `s3://bucket/key`.
        location: String,
        /// Why recording ended.
        ended: ClipEnd,
    },
    /// Not stored.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl ClipStatus {
    /// `PENDING`, `RECORDING`, `PROCESSING`, `COMPLETED` or `FAILED`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ClipStatus::Pending => "PENDING",
            ClipStatus::Recording => "RECORDING",
            ClipStatus::Processing => "PROCESSING",
            ClipStatus::Completed { .. } => "COMPLETED",
            ClipStatus::Failed { .. } => "FAILED",
        }
    }

    /// True once the clip is stored or has failed.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ClipStatus::Completed { .. } | ClipStatus::Failed { .. }
        )
    }
}

/// Why a clip's recording ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClipEnd {
    /// Its post-roll was reached.
    PostRoll,
    /// It reached [`ClipSettings::max_length`] without being ended.
    MaxLength,
    /// The camera was stopped, removed or reconfigured.
    CameraStopped,
    /// The camera's stream changed (new codec parameters, a timestamp
    /// jump): the clip ends at the change.
    StreamChanged,
}

impl ClipEnd {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClipEnd::PostRoll => "post_roll",
            ClipEnd::MaxLength => "max_length",
            ClipEnd::CameraStopped => "camera_stopped",
            ClipEnd::StreamChanged => "stream_changed",
        }
    }
}

/// Everything known about a clip.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClipInfo {
    /// Clip id (unique in this process).
    pub id: String,
    /// Camera id.
    pub camera: String,
    /// Sanitized label.
    pub label: String,
    /// Who asked.
    pub source: String,
    /// When it was asked for (wall clock).
    pub trigger: WallTime,
    /// Requested pre-roll.
    pub pre: Duration,
    /// Requested post-roll (`None` while open-ended).
    pub post: Option<Duration>,
    /// Triggers that extended this clip after the first.
    pub extensions: u32,
    /// True once [`Recorder::end_clip`](super::Recorder::end_clip) ended
    /// an open-ended clip.
    pub ended_by_request: bool,
    /// Status.
    pub status: ClipStatus,
    /// Object name relative to the store's root, once known.
    pub name: Option<String>,
    /// Wall clock of the first presented frame, once recording.
    pub start: Option<WallTime>,
    /// Presented duration, once stored.
    pub duration: Option<Duration>,
    /// Bytes stored.
    pub bytes: u64,
    /// Where its thumbnail (the first keyframe) was stored, once it was.
    pub thumbnail: Option<String>,
}

/// Why a clip request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClipError {
    /// No such camera.
    #[error("no camera `{0}` in this recorder")]
    UnknownCamera(String),
    /// No such clip.
    #[error("no clip `{0}`")]
    UnknownClip(String),
    /// `pre` longer than the camera keeps.
    #[error("pre-roll of {requested:?} is longer than camera `{camera}` keeps ({kept:?}); raise its pre_roll (at most 60 s)")]
    PreTooLong {
        /// Camera id.
        camera: String,
        /// Asked for.
        requested: Duration,
        /// The camera's pre-roll.
        kept: Duration,
    },
    /// `post` (or pre + post) beyond the camera's maximum clip length.
    #[error("a clip of {requested:?} is longer than camera `{camera}` allows ({max:?}, its clip max_length)")]
    TooLong {
        /// Camera id.
        camera: String,
        /// Asked for.
        requested: Duration,
        /// The camera's maximum.
        max: Duration,
    },
    /// `pre` and `post` both zero: nothing to record.
    #[error("a clip needs a pre-roll or a post-roll: pre and post are both 0")]
    Empty,
    /// The label makes no valid name with the template.
    #[error("clip name template `{template}` with label `{label}`: {reason}")]
    BadName {
        /// The template.
        template: String,
        /// The sanitized label.
        label: String,
        /// Why.
        reason: String,
    },
    /// `end_clip` on a clip that is not open-ended or not recording.
    #[error("clip `{id}` is {status}; only a recording clip can be ended")]
    NotRecording {
        /// Clip id.
        id: String,
        /// Its status.
        status: &'static str,
    },
    /// Deleting the stored clip failed.
    #[error("deleting clip `{id}` ({name}): {reason}")]
    DeleteFailed {
        /// Clip id.
        id: String,
        /// Object name.
        name: String,
        /// What failed.
        reason: String,
    },
}

/// Keeps `[A-Za-z0-9_-]` of a label (others become `_`), at most 64
/// characters; an empty label becomes `clip`.
pub fn sanitize_label(label: &str) -> String {
    let s: String = label
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "clip".to_owned()
    } else {
        s
    }
}

/// Where a clip's recording stops, shared by the recorder (which extends
/// or ends it) and the camera task (which records it).
#[derive(Debug)]
pub(crate) struct ClipCtl {
    /// Wall ns: frames from here on are not recorded; `i64::MAX` while
    /// open-ended.
    pub end_ns: i64,
    /// Wall ns of the maximum length.
    pub max_end_ns: i64,
    /// Set by the camera task when it stops taking frames: the recorder
    /// then opens a new clip instead of extending this one.
    pub closed: bool,
    /// Set by `delete_clip`: drop it without storing.
    pub cancelled: bool,
}

/// One clip, as the recorder and the camera task share it.
pub(crate) struct ClipShared {
    pub ctl: Mutex<ClipCtl>,
    pub info: watch::Sender<ClipInfo>,
    pub events: broadcast::Sender<RecorderEvent>,
    /// The name template with the label filled in.
    pub template: crate::ObjectNameTemplate,
    /// Why recording ended, for the final status.
    pub ended: Mutex<Option<ClipEnd>>,
    /// Where it was stored, for `delete_clip`.
    pub stored: Mutex<Option<(crate::thumbnail::SmallObjectStore, String)>>,
}

impl ClipShared {
    pub fn ctl(&self) -> std::sync::MutexGuard<'_, ClipCtl> {
        self.ctl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the info and tells the recorder's subscribers.
    pub fn update(&self, f: impl FnOnce(&mut ClipInfo)) {
        self.info.send_modify(f);
        let info = self.info.borrow().clone();
        let _ = self.events.send(RecorderEvent::Clip(Arc::new(info)));
    }

    pub fn fail(&self, reason: String) {
        tracing::warn!(clip = %self.info.borrow().id, camera = %self.info.borrow().camera, %reason, "clip failed");
        self.update(|i| i.status = ClipStatus::Failed { reason });
    }
}

/// A requested clip: its id and a view of its status.
#[derive(Clone, Debug)]
pub struct ClipHandle {
    id: String,
    extended: bool,
    rx: watch::Receiver<ClipInfo>,
}

impl ClipHandle {
    pub(crate) fn new(shared: &ClipShared, extended: bool) -> Self {
        ClipHandle {
            id: shared.info.borrow().id.clone(),
            extended,
            rx: shared.info.subscribe(),
        }
    }

    /// The clip id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// True when this request extended a clip that was still recording
    /// instead of opening a new one.
    pub fn extended(&self) -> bool {
        self.extended
    }

    /// The clip as it is now.
    pub fn info(&self) -> ClipInfo {
        self.rx.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<ClipInfo> {
        self.rx.clone()
    }

    /// Waits until the clip is stored or has failed.
    pub async fn wait(&self) -> ClipInfo {
        let mut rx = self.rx.clone();
        // An error means the recorder dropped the clip: its last state is
        // then final enough.
        let _ = rx.wait_for(|i| i.status.is_final()).await;
        let info = rx.borrow().clone();
        info
    }
}

/// Writes a clip's metadata sidecar as JSON.
pub(crate) fn metadata_json(info: &ClipInfo, location: &str) -> String {
    fn s(v: &str) -> String {
        let mut o = String::with_capacity(v.len() + 2);
        o.push('"');
        for c in v.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }
    let secs =
        |d: Option<Duration>| d.map_or("null".to_owned(), |d| format!("{:.3}", d.as_secs_f64()));
    format!(
        "{{\"id\":{},\"camera\":{},\"label\":{},\"source\":{},\"trigger\":{},\"pre_s\":{},\"post_s\":{},\"start\":{},\"duration_s\":{},\"extensions\":{},\"location\":{}}}\n",
        s(&info.id),
        s(&info.camera),
        s(&info.label),
        s(&info.source),
        s(&info.trigger.to_rfc3339()),
        secs(Some(info.pre)),
        secs(info.post),
        info.start.map_or("null".to_owned(), |w| s(&w.to_rfc3339())),
        secs(info.duration),
        info.extensions,
        s(location),
    )
}
