//! Many cameras in one process: a task per camera wiring source → muxer →
//! sink, with reconnects, events, live status, cameras added, changed and
//! removed at run time, and graceful shutdown.
//!
//! ```no_run
//! use std::time::Duration;
//! use recorder_core::{CameraConfig, CameraUrl, LocalSink, ObjectNameTemplate, Recorder, RecorderEvent};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let recorder = Recorder::new();
//! let mut events = recorder.subscribe();
//! let url = CameraUrl::parse("rtsp://admin:secret@192.0.2.10/stream1")?;
//! let sink = LocalSink::new("./recordings", ObjectNameTemplate::default())?;
//! recorder.add_camera(CameraConfig::new("porch", url), sink)?;
//! while let Ok(ev) = events.recv().await {
//!     if let RecorderEvent::SegmentStored(s) = ev {
//!         println!("{} {} bytes, {:?}", s.location, s.bytes, s.duration);
//!     }
//! }
//! recorder.shutdown(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

mod camera_task;
pub mod clip;
mod clips;
mod config;
mod events;
mod queue;
mod silence;
mod status;
mod thumbnails;
mod writer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use camera_task::SHUTDOWN_GRACE;
pub use clip::{
    sanitize_label, ClipEnd, ClipError, ClipHandle, ClipInfo, ClipRequest, ClipSettings,
    ClipStatus, DEFAULT_CLIP_TEMPLATE, MAX_PRE_ROLL,
};
pub use config::{CameraConfig, DEFAULT_QUEUE_LIMIT_BYTES};
pub use events::{ErrorKind, RecorderEvent, SegmentRecord};
pub use silence::NotStoringReason;
pub use status::{CameraSnapshot, CameraState, CameraStatus};

use crate::sink::{DynSegmentSink, SegmentSink};

/// Events kept for a receiver that falls behind, by default.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// Why the recorder refused a request about a camera.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// `add_camera` with an id that is already recording.
    #[error("camera `{0}` is already being recorded: remove it first or choose another id")]
    DuplicateCamera(String),
    /// A request named a camera the recorder does not have.
    #[error("no camera `{0}` in this recorder")]
    UnknownCamera(String),
    /// An empty camera id.
    #[error("a camera id must not be empty")]
    EmptyId,
    /// The recorder was shut down; it takes no new cameras.
    #[error("the recorder is shut down: camera `{0}` was not started")]
    ShuttingDown(String),
    /// The camera's task ended abnormally (a panic), so its sink is gone.
    #[error("the task of camera `{camera}` failed: {reason}")]
    TaskFailed {
        /// The camera.
        camera: String,
        /// The join error, as text.
        reason: String,
    },
}

/// What a camera task shares with the rest of the recorder.
#[derive(Clone)]
pub(crate) struct CameraContext {
    pub id: String,
    pub status: Arc<CameraStatus>,
    events: broadcast::Sender<RecorderEvent>,
    /// Thumbnail decodes allowed at once across the recorder's cameras.
    pub thumbnail_permits: Arc<tokio::sync::Semaphore>,
}

impl CameraContext {
    pub fn emit(&self, ev: RecorderEvent) {
        // No receiver is fine: events are for hosts that want them.
        let _ = self.events.send(ev);
    }

    pub fn set_state(&self, state: CameraState) {
        if self.status.set_state(state) {
            self.emit(RecorderEvent::StateChanged {
                camera: self.id.clone(),
                state,
            });
        }
    }

    pub fn error(&self, kind: ErrorKind, message: String) {
        self.status
            .set_error_kind(Some(message.clone()), kind == ErrorKind::SourceConfig);
        self.emit(RecorderEvent::Error {
            camera: self.id.clone(),
            kind,
            message,
        });
    }

    pub fn source_error(&self, message: String, config_error: bool) {
        let kind = if config_error {
            ErrorKind::SourceConfig
        } else {
            ErrorKind::Source
        };
        self.error(kind, message);
    }
}

/// A running camera.
struct CameraEntry {
    cfg: CameraConfig,
    status: Arc<CameraStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Box<dyn DynSegmentSink>>,
    /// Clip requests to the camera task.
    clip_tx: tokio::sync::mpsc::UnboundedSender<Arc<clip::ClipShared>>,
}

struct Shared {
    cameras: Mutex<BTreeMap<String, CameraEntry>>,
    /// Set by `shutdown`: no camera is added after it.
    closed: std::sync::atomic::AtomicBool,
    /// Held across the awaits of remove / reconfigure / shutdown, so two
    /// changes to the set of cameras never interleave (a reconfigure that
    /// re-adds a camera after `shutdown` returned, say).
    control: tokio::sync::Mutex<()>,
    events: broadcast::Sender<RecorderEvent>,
    /// Bounds the thumbnail decodes running at once, so cameras whose
    /// intervals line up (all started together) never take every core
    /// from the readers.
    thumbnail_permits: Arc<tokio::sync::Semaphore>,
    clips: Mutex<clips::Registry>,
}

impl Drop for Shared {
    /// The last `Recorder` handle went away without `shutdown`: ask every
    /// camera to stop, so none records on unseen. Each still closes its
    /// open segment, on the runtime it runs on.
    fn drop(&mut self) {
        let cameras = self.cameras.get_mut().unwrap_or_else(|p| p.into_inner());
        for e in cameras.values() {
            let _ = e.stop.send(true);
        }
    }
}

/// Records a set of cameras; cameras can be added, reconfigured and
/// removed while it runs.
///
/// Each camera runs in its own task with its own sink: one failing, slow or
/// misconfigured camera never blocks the others, and changing one camera
/// never interrupts another. `Recorder` is a cheap handle: clones control
/// the same cameras (share it with a control API, say).
///
/// What happens is reported as [`RecorderEvent`]s ([`Recorder::subscribe`])
/// and as read-only status ([`Recorder::snapshot`], [`CameraStatus`]).
///
/// Call [`Recorder::shutdown`] to stop and wait for the open segments to be
/// closed. Dropping the last handle without it asks every camera to stop
/// too, but does not wait.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("cameras", &self.camera_ids())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// An empty recorder; add cameras with [`Recorder::add_camera`].
    pub fn new() -> Self {
        Self::with_event_capacity(DEFAULT_EVENT_CAPACITY)
    }

    /// An empty recorder whose event stream keeps up to `capacity` events
    /// for a slow receiver.
    pub fn with_event_capacity(capacity: usize) -> Self {
        Recorder {
            shared: Arc::new(Shared {
                cameras: Mutex::new(BTreeMap::new()),
                closed: std::sync::atomic::AtomicBool::new(false),
                control: tokio::sync::Mutex::new(()),
                events: broadcast::channel(capacity.max(1)).0,
                thumbnail_permits: Arc::new(tokio::sync::Semaphore::new(
                    thumbnails::concurrent_decodes(),
                )),
                clips: Mutex::new(clips::Registry::default()),
            }),
        }
    }

    /// A new receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RecorderEvent> {
        self.shared.events.subscribe()
    }

    fn cameras(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CameraEntry>> {
        self.shared
            .cameras
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Starts recording a camera into `sink` (on the current tokio runtime).
    ///
    /// # Panics
    /// Outside a tokio runtime (like `tokio::spawn`).
    ///
    /// # Errors
    /// [`RecorderError::DuplicateCamera`] if a camera with this id is
    /// already recording; [`RecorderError::EmptyId`] for an empty id;
    /// [`RecorderError::ShuttingDown`] after [`Recorder::shutdown`].
    pub fn add_camera<S: SegmentSink + 'static>(
        &self,
        cfg: CameraConfig,
        sink: S,
    ) -> Result<Arc<CameraStatus>, RecorderError> {
        self.add_boxed(cfg, Box::new(sink), None)
    }

    fn add_boxed(
        &self,
        cfg: CameraConfig,
        sink: Box<dyn DynSegmentSink>,
        status: Option<Arc<CameraStatus>>,
    ) -> Result<Arc<CameraStatus>, RecorderError> {
        if cfg.id.is_empty() {
            return Err(RecorderError::EmptyId);
        }
        let mut cameras = self.cameras();
        if self.shared.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RecorderError::ShuttingDown(cfg.id));
        }
        if cameras.contains_key(&cfg.id) {
            return Err(RecorderError::DuplicateCamera(cfg.id));
        }
        let status = status.unwrap_or_else(|| Arc::new(CameraStatus::new(cfg.id.clone())));
        let ctx = CameraContext {
            id: cfg.id.clone(),
            status: status.clone(),
            events: self.shared.events.clone(),
            thumbnail_permits: self.shared.thumbnail_permits.clone(),
        };
        // Before the task can report anything about the camera.
        let _ = self.shared.events.send(RecorderEvent::CameraAdded {
            camera: cfg.id.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let (clip_tx, clip_rx) = tokio::sync::mpsc::unbounded_channel();
        let task_cfg = cfg.clone();
        let task = tokio::spawn(async move {
            let mut sink = sink;
            camera_task::run_camera(task_cfg, sink.as_mut(), &ctx, stop_rx, clip_rx).await;
            sink
        });
        cameras.insert(
            cfg.id.clone(),
            CameraEntry {
                cfg,
                status: status.clone(),
                stop,
                task,
                clip_tx,
            },
        );
        Ok(status)
    }

    /// Stops a camera's task and waits until its open segment is closed.
    async fn stop_entry(
        e: CameraEntry,
    ) -> Result<(CameraConfig, Arc<CameraStatus>, Box<dyn DynSegmentSink>), RecorderError> {
        let _ = e.stop.send(true);
        match e.task.await {
            Ok(sink) => Ok((e.cfg, e.status, sink)),
            Err(j) => Err(RecorderError::TaskFailed {
                camera: e.cfg.id,
                reason: j.to_string(),
            }),
        }
    }

    /// Stops recording a camera: closes its open segment (the
    /// [`RecorderEvent::SegmentStored`] comes before
    /// [`RecorderEvent::CameraRemoved`]) and drops its sink. Other cameras
    /// are not disturbed.
    ///
    /// # Errors
    /// [`RecorderError::UnknownCamera`], or [`RecorderError::TaskFailed`]
    /// if the camera's task had panicked.
    pub async fn remove_camera(&self, id: &str) -> Result<(), RecorderError> {
        let _control = self.shared.control.lock().await;
        let entry = self
            .cameras()
            .remove(id)
            .ok_or_else(|| RecorderError::UnknownCamera(id.to_owned()))?;
        let result = Self::stop_entry(entry).await.map(|_| ());
        let _ = self.shared.events.send(RecorderEvent::CameraRemoved {
            camera: id.to_owned(),
        });
        result
    }

    /// Applies new settings to a running camera (`cfg.id` names it): its
    /// open segment is closed, and it restarts with the new settings, the
    /// same sink and the same [`CameraStatus`] (counters continue).
    ///
    /// # Errors
    /// [`RecorderError::UnknownCamera`], or [`RecorderError::TaskFailed`]
    /// if the camera's task had panicked (it is then removed).
    pub async fn reconfigure_camera(
        &self,
        cfg: CameraConfig,
    ) -> Result<Arc<CameraStatus>, RecorderError> {
        let _control = self.shared.control.lock().await;
        let entry = self
            .cameras()
            .remove(&cfg.id)
            .ok_or_else(|| RecorderError::UnknownCamera(cfg.id.clone()))?;
        let (_, status, sink) = Self::stop_entry(entry).await?;
        tracing::info!(camera = %cfg.id, "camera reconfigured; restarting it");
        self.add_boxed(cfg, sink, Some(status))
    }

    /// The ids of the cameras, sorted.
    pub fn camera_ids(&self) -> Vec<String> {
        self.cameras().keys().cloned().collect()
    }

    /// The settings a camera runs with.
    pub fn camera_config(&self, id: &str) -> Option<CameraConfig> {
        self.cameras().get(id).map(|e| e.cfg.clone())
    }

    /// One camera's live status.
    pub fn status(&self, id: &str) -> Option<Arc<CameraStatus>> {
        self.cameras().get(id).map(|e| e.status.clone())
    }

    /// Every camera's live status, sorted by id.
    pub fn statuses(&self) -> Vec<Arc<CameraStatus>> {
        self.cameras().values().map(|e| e.status.clone()).collect()
    }

    /// Snapshots of every camera, sorted by id.
    pub fn snapshot(&self) -> Vec<CameraSnapshot> {
        self.cameras()
            .values()
            .map(|e| e.status.snapshot())
            .collect()
    }

    /// Asks every camera to stop, and waits until each has closed its open
    /// segment (or `deadline` passes). Returns true if all finished in time;
    /// on false, the cameras still stopping finish in the background. A
    /// camera's writer first stores what its queue holds (up to
    /// [`CameraConfig::queue_limit_bytes`]), so `deadline` should allow for
    /// that on slow storage. After `shutdown` the recorder takes no new
    /// cameras ([`RecorderError::ShuttingDown`]).
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let all = async {
            // Waits for a camera change in progress to end first.
            let _control = self.shared.control.lock().await;
            let entries: Vec<CameraEntry> =
                std::mem::take(&mut *self.cameras()).into_values().collect();
            for e in &entries {
                let _ = e.stop.send(true);
            }
            for e in entries {
                let id = e.cfg.id.clone();
                if let Err(err) = Self::stop_entry(e).await {
                    tracing::error!(camera = %id, error = %err, "camera task failed");
                }
            }
        };
        tokio::time::timeout(deadline, all).await.is_ok()
    }
}
