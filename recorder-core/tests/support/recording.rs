//! Shared by the end-to-end recording tests (`record_sim.rs`,
//! `record_gst.rs`): run cameras through `Recorder` + `LocalSink`, then
//! look at the files with ffmpeg.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camera_sim::{Faults, FrameLog, SimConfig, SimHandle, Simulator};
use recorder_core::mux::MuxerConfig;
use recorder_core::recorder::{CameraConfig, CameraState, CameraStatus, Recorder};
use recorder_core::sink::{LocalSink, ObjectNameTemplate, DEFAULT_TEMPLATE};
use recorder_core::source::{BackoffConfig, CameraUrl, SourceConfig};

use super::media::{files_with_suffix, inspect, segments, FileReport};

/// A simulator on its own thread (so a busy test runtime cannot starve
/// its real-time pacing).
pub fn start_sim(cfg: SimConfig) -> SimHandle {
    Simulator::start_in_thread(cfg, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// A camera with test-friendly settings: `segment` long segments, 1 s
/// fragments, quick timeouts.
pub fn camera(id: &str, url: &str, segment: Duration) -> CameraConfig {
    let mut source = SourceConfig::new(CameraUrl::parse(url).unwrap());
    source.connect_timeout = Duration::from_secs(3);
    source.first_frame_timeout = Duration::from_secs(3);
    source.stall_timeout = Duration::from_secs(3);
    CameraConfig::from_source(id, source)
        .with_muxer(MuxerConfig {
            segment_duration: segment,
            fragment_duration: Duration::from_secs(1),
            ..MuxerConfig::default()
        })
        .with_backoff(BackoffConfig::default())
}

/// One camera being recorded into its own temporary folder.
pub struct Recording {
    pub dir: tempfile::TempDir,
    pub status: Arc<CameraStatus>,
    /// Every distinct `last_error` seen while recording.
    pub errors: Arc<Mutex<BTreeSet<String>>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Recording {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().iter().cloned().collect()
    }

    pub fn segments(&self) -> Vec<PathBuf> {
        segments(self.dir.path())
    }
}

/// Starts recording `cfg` into a fresh folder on `rec`.
pub fn add(rec: &Recorder, cfg: CameraConfig) -> Recording {
    let dir = tempfile::tempdir().unwrap();
    let template: ObjectNameTemplate = DEFAULT_TEMPLATE.parse().unwrap();
    let sink = LocalSink::new(dir.path(), template).unwrap();
    let status = rec.add_camera(cfg, sink).unwrap();
    let errors = Arc::new(Mutex::new(BTreeSet::new()));
    let poller = {
        let (status, errors) = (status.clone(), errors.clone());
        tokio::spawn(async move {
            loop {
                if let Some(e) = status.snapshot().last_error {
                    errors.lock().unwrap().insert(e);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    Recording {
        dir,
        status,
        errors,
        poller,
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Watches a camera until it stops and returns how long each outage lasted
/// (from leaving `Recording` to being back in it; polled every 10 ms). An
/// outage still open when the camera stops is left out.
pub fn watch_outages(status: Arc<CameraStatus>) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut outages = Vec::new();
        let mut recorded = false;
        let mut down_since: Option<std::time::Instant> = None;
        loop {
            match status.state() {
                CameraState::Stopped => return outages,
                CameraState::Recording => {
                    recorded = true;
                    if let Some(t) = down_since.take() {
                        outages.push(t.elapsed());
                    }
                }
                _ if recorded && down_since.is_none() => {
                    down_since = Some(std::time::Instant::now());
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

/// Makes the simulator close every session of `path` at once, after the
/// frames already queued (the close goes through the same queue), so the
/// frame log afterwards counts exactly what reached the recorder. New
/// sessions are closed before they send anything.
pub fn close_sessions(sim: &SimHandle, path: &str) {
    sim.set_faults(
        path,
        Faults {
            close_after: Some(Duration::ZERO),
            ..Faults::none()
        },
    )
    .unwrap();
}

/// Ends a recording in a way that makes frame counts exact: the
/// simulator flushes and closes every session of each path, we give the
/// recorder a moment to consume what is in flight, then shut it down
/// (which finishes the open segments). Returns what each mount sent.
pub async fn drain_and_stop(sim: &SimHandle, paths: &[&str], rec: Recorder) -> Vec<FrameLog> {
    for p in paths {
        close_sessions(sim, p);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logs = paths.iter().map(|p| sim.frame_log(p).unwrap()).collect();
    assert!(
        rec.shutdown(Duration::from_secs(10)).await,
        "cameras closed their segments in time"
    );
    logs
}

/// Inspects every finished segment; prints a one-line summary of each.
pub fn inspect_all(files: &[PathBuf]) -> Vec<FileReport> {
    files
        .iter()
        .map(|f| {
            let r = inspect(f);
            println!(
                "{}: {}x{} {} video ({} decoded) {} audio, span {:.2} s, duration {:.2} s, A/V {:+.3} s, max gap {:.2} s, errors {:?}",
                f.file_name().unwrap().to_string_lossy(),
                r.video.width,
                r.video.height,
                r.video.packets,
                r.video.decoded,
                r.audio.as_ref().map_or(0, |a| a.packets),
                r.video_span(),
                r.duration,
                r.av_offset().unwrap_or(f64::NAN),
                r.max_video_gap(),
                r.errors.lines().count(),
            );
            r
        })
        .collect()
}

pub fn total_video(reports: &[FileReport]) -> u64 {
    reports.iter().map(|r| r.video.packets).sum()
}

pub fn total_audio(reports: &[FileReport]) -> u64 {
    reports
        .iter()
        .map(|r| r.audio.as_ref().map_or(0, |a| a.packets))
        .sum()
}

/// No `.mp4.part` left after a clean shutdown.
pub fn assert_no_parts(dir: &Path) {
    let parts = files_with_suffix(dir, ".part");
    assert!(parts.is_empty(), "unfinished files left: {parts:?}");
}
