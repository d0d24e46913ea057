//! Many cameras in one process: a task per camera wiring source → muxer →
//! sink, with reconnects, live status and graceful shutdown.

mod camera_task;
mod status;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use camera_task::{run_camera, CameraConfig, SHUTDOWN_GRACE};
pub use status::{CameraSnapshot, CameraState, CameraStatus};

use crate::sink::SegmentSink;

/// Records a set of cameras until [`Recorder::shutdown`].
///
/// Each camera runs in its own task with its own sink: one failing, slow
/// or misconfigured camera never blocks the others.
pub struct Recorder {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    statuses: Vec<Arc<CameraStatus>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder; add cameras with [`Recorder::add_camera`].
    pub fn new() -> Self {
        Recorder {
            stop: watch::channel(false).0,
            tasks: JoinSet::new(),
            statuses: Vec::new(),
        }
    }

    /// Starts recording a camera into `sink` (on the current tokio runtime).
    pub fn add_camera<S: SegmentSink + 'static>(
        &mut self,
        cfg: CameraConfig,
        sink: S,
    ) -> Arc<CameraStatus> {
        let status = Arc::new(CameraStatus::new(cfg.id.clone()));
        self.statuses.push(status.clone());
        self.tasks
            .spawn(run_camera(cfg, sink, status.clone(), self.stop.subscribe()));
        status
    }

    /// Every camera's live status.
    pub fn statuses(&self) -> &[Arc<CameraStatus>] {
        &self.statuses
    }

    /// Snapshots of every camera.
    pub fn snapshot(&self) -> Vec<CameraSnapshot> {
        self.statuses.iter().map(|s| s.snapshot()).collect()
    }

    /// Asks every camera to stop, and waits until each has closed its open
    /// segment (or `deadline` passes). Returns true if all finished in time.
    pub async fn shutdown(mut self, deadline: std::time::Duration) -> bool {
        let _ = self.stop.send(true);
        let all = async {
            while let Some(r) = self.tasks.join_next().await {
                if let Err(e) = r {
                    tracing::error!(error = %e, "camera task failed");
                }
            }
        };
        tokio::time::timeout(deadline, all).await.is_ok()
    }

    /// Waits until every camera task ends by itself (they only end on
    /// shutdown, so this is for hosts that stop them another way).
    pub async fn wait(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
