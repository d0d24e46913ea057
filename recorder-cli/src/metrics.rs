//! Prometheus metrics and the readiness rule.
//!
//! Per-camera metrics are read from the cameras' [`CameraStatus`] at scrape
//! time (a [`Collector`]), so the recording path pays nothing for them.
//! Upload metrics are ordinary prometheus-client families that the S3 sink
//! feeds through [`UploadObserver`]. Names are listed in docs/operations.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use recorder_core::recorder::{CameraSnapshot, CameraState, CameraStatus};
use serde::Serialize;

/// Labels of per-camera upload metrics.
type CameraLabel = Vec<(String, String)>;

#[allow(dead_code)] // used by UploadObserver, fed by the S3 sink once wired
fn camera_label(camera: &str) -> CameraLabel {
    vec![("camera".to_string(), camera.to_string())]
}

/// What the S3 sink reports. The CLI implements it with Prometheus metrics
/// ([`UploadMetrics`]); the sink calls it from any task.
#[allow(dead_code)] // the S3 sink feeds it once wired (commands/record.rs, S3 WIRING POINT)
pub trait UploadObserver: Send + Sync + 'static {
    /// A segment is complete in the bucket; `took` from its first byte in
    /// the spool to the completed upload.
    fn segment_uploaded(&self, camera: &str, took: Duration);
    /// An upload request failed (it will be retried).
    fn upload_failed(&self, camera: &str);
    /// Bytes waiting in the local spool (all cameras).
    fn spool_bytes(&self, bytes: u64);
    /// Age of the oldest byte of `camera` not yet in the bucket.
    fn upload_lag(&self, camera: &str, lag: Duration);
}

/// Upload metrics (zero until the S3 sink is wired and feeds them).
#[derive(Clone, Debug)]
pub struct UploadMetrics {
    uploaded: Family<CameraLabel, Counter>,
    failures: Family<CameraLabel, Counter>,
    duration: Family<CameraLabel, Histogram, fn() -> Histogram>,
    spool: Gauge,
    lag: Family<CameraLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

fn upload_histogram() -> Histogram {
    // 0.1 s .. ~55 min.
    Histogram::new(exponential_buckets(0.1, 2.0, 16))
}

impl UploadMetrics {
    fn new() -> Self {
        UploadMetrics {
            uploaded: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(upload_histogram as fn() -> Histogram),
            spool: Gauge::default(),
            lag: Family::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "camrec_s3_segments_uploaded",
            "Segments completed in the bucket",
            self.uploaded.clone(),
        );
        r.register(
            "camrec_s3_upload_failures",
            "Failed S3 requests (retried)",
            self.failures.clone(),
        );
        r.register(
            "camrec_s3_upload_duration_seconds",
            "From a segment's first spooled byte to its completed upload",
            self.duration.clone(),
        );
        r.register(
            "camrec_s3_spool_bytes",
            "Bytes waiting in the local spool",
            self.spool.clone(),
        );
        r.register(
            "camrec_s3_upload_lag_seconds",
            "Age of the oldest byte not yet uploaded",
            self.lag.clone(),
        );
    }
}

impl UploadObserver for UploadMetrics {
    fn segment_uploaded(&self, camera: &str, took: Duration) {
        let l = camera_label(camera);
        self.uploaded.get_or_create(&l).inc();
        self.duration.get_or_create(&l).observe(took.as_secs_f64());
    }
    fn upload_failed(&self, camera: &str) {
        self.failures.get_or_create(&camera_label(camera)).inc();
    }
    fn spool_bytes(&self, bytes: u64) {
        self.spool.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    fn upload_lag(&self, camera: &str, lag: Duration) {
        self.lag
            .get_or_create(&camera_label(camera))
            .set(lag.as_secs_f64());
    }
}

/// One enabled camera as the HTTP endpoints see it.
#[derive(Clone, Debug)]
pub struct WatchedCamera {
    /// Live status.
    pub status: Arc<CameraStatus>,
    /// Display name, if any.
    pub name: Option<String>,
}

/// Everything `/metrics` and `/ready` read.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Enabled cameras.
    pub cameras: Vec<WatchedCamera>,
    /// Ids of disabled cameras (reported, never started).
    pub disabled: Vec<String>,
    /// The storage to check for readiness.
    pub store: StoreCheck,
    /// Upload metrics for the S3 sink.
    pub uploads: UploadMetrics,
}

/// How readiness checks the output store.
#[derive(Clone, Debug)]
pub enum StoreCheck {
    /// A local folder that must accept a new file.
    LocalDir(PathBuf),
}

impl StoreCheck {
    /// Err(reason) when the store is not usable.
    pub fn check(&self) -> Result<(), String> {
        match self {
            StoreCheck::LocalDir(dir) => {
                let probe = dir.join(format!(".camrec-ready-{}", std::process::id()));
                std::fs::write(&probe, b"ok")
                    .and_then(|_| std::fs::remove_file(&probe))
                    .map_err(|e| format!("output folder {} is not writable: {e}", dir.display()))
            }
        }
    }
}

/// `/ready`'s verdict on one camera.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct CameraReadiness {
    /// Camera id.
    pub id: String,
    /// State (connecting, recording, retrying, stopped).
    pub state: &'static str,
    /// Whether it counts as ready.
    pub ready: bool,
    /// Why not (or the error it is retrying after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `/ready`'s body.
#[derive(Serialize, Debug, Clone)]
pub struct Readiness {
    /// All checks pass.
    pub ready: bool,
    /// The output store check.
    pub storage: StorageReadiness,
    /// Enabled cameras.
    pub cameras: Vec<CameraReadiness>,
}

/// Storage part of `/ready`.
#[derive(Serialize, Debug, Clone)]
pub struct StorageReadiness {
    /// Usable.
    pub ready: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The readiness rule for one camera (docs/operations.md):
/// recording → ready; retrying (or reconnecting) after an error that is
/// not a configuration error → ready (the camera or network is at fault,
/// the recorder is doing its job); still connecting for the first time,
/// a configuration error (wrong password, no such stream, no usable
/// track), or stopped → not ready.
pub fn camera_readiness(s: &CameraSnapshot) -> CameraReadiness {
    let (ready, reason) = match s.state {
        CameraState::Recording => (true, None),
        CameraState::Stopped => (false, Some("stopped".to_string())),
        CameraState::Retrying | CameraState::Connecting => match &s.last_error {
            Some(e) if s.last_error_is_config => (false, Some(format!("configuration error: {e}"))),
            Some(e) => (true, Some(format!("retrying after: {e}"))),
            None => (false, Some("connecting for the first time".to_string())),
        },
    };
    CameraReadiness {
        id: s.id.clone(),
        state: s.state.as_str(),
        ready,
        reason,
    }
}

impl Observed {
    /// Evaluates readiness now (touches the store: call off the runtime's
    /// hot path, e.g. in `spawn_blocking`).
    pub fn readiness(&self) -> Readiness {
        let storage = match self.store.check() {
            Ok(()) => StorageReadiness {
                ready: true,
                reason: None,
            },
            Err(e) => StorageReadiness {
                ready: false,
                reason: Some(e),
            },
        };
        let cameras: Vec<CameraReadiness> = self
            .cameras
            .iter()
            .map(|c| camera_readiness(&c.status.snapshot()))
            .collect();
        Readiness {
            ready: storage.ready && cameras.iter().all(|c| c.ready),
            storage,
            cameras,
        }
    }

    /// The registry to encode on each scrape.
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(CameraCollector(self.clone())));
        self.uploads.register(&mut r);
        r
    }
}

#[derive(Debug)]
struct CameraCollector(Arc<Observed>);

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Collector for CameraCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snaps: Vec<(CameraSnapshot, Option<String>)> = self
            .0
            .cameras
            .iter()
            .map(|c| (c.status.snapshot(), c.name.clone()))
            .collect();
        {
            let mut m =
                enc.encode_descriptor("camrec_build", "camrec version", None, MetricType::Info)?;
            m.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        }
        {
            let g = ConstGauge::new(snaps.len() as i64);
            let m = enc.encode_descriptor(
                "camrec_cameras_enabled",
                "Cameras being recorded",
                None,
                g.metric_type(),
            )?;
            g.encode(m)?;
            let g = ConstGauge::new(self.0.disabled.len() as i64);
            let m = enc.encode_descriptor(
                "camrec_cameras_disabled",
                "Cameras in the configuration with enabled = false",
                None,
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera",
                "Camera id and display name",
                None,
                MetricType::Info,
            )?;
            for (s, name) in &snaps {
                m.encode_info(&[
                    ("camera", s.id.as_str()),
                    ("name", name.as_deref().unwrap_or("")),
                ])?;
            }
        }
        type Field = fn(&CameraSnapshot) -> u64;
        let counters: [(&str, &str, Field); 8] = [
            (
                "camrec_camera_frames",
                "Frames received (all tracks)",
                |s| s.frames,
            ),
            ("camrec_camera_video_frames", "Video frames received", |s| {
                s.video_frames
            }),
            (
                "camrec_camera_frames_skipped",
                "Frames that could not be stored (before the first keyframe, refused)",
                |s| s.frames_skipped,
            ),
            (
                "camrec_camera_packets_lost",
                "RTP packets the camera sent that never arrived",
                |s| s.packets_lost,
            ),
            (
                "camrec_camera_bytes_recorded",
                "Bytes handed to storage (init segments and fragments)",
                |s| s.bytes_recorded,
            ),
            (
                "camrec_camera_segments_recorded",
                "Segments completed and stored",
                |s| s.segments_recorded,
            ),
            (
                "camrec_camera_reconnects",
                "RTSP sessions re-opened after one ended",
                |s| s.reconnects,
            ),
            (
                "camrec_camera_sink_errors",
                "Errors writing to storage",
                |s| s.sink_errors,
            ),
        ];
        for (name, help, field) in counters {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (s, _) in &snaps {
                let c = ConstCounter::new(field(s));
                let labels = [("camera", s.id.as_str())];
                let fam = m.encode_family(&labels)?;
                c.encode(fam)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_stream_connected",
                "1 while frames are arriving from the camera (state recording)",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                let g = ConstGauge::new(i64::from(s.state == CameraState::Recording));
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_state",
                "1 for the camera's current state",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                for st in ["connecting", "recording", "retrying", "stopped"] {
                    let g = ConstGauge::new(i64::from(s.state.as_str() == st));
                    g.encode(m.encode_family(&[("camera", s.id.as_str()), ("state", st)])?)?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_ready",
                "1 when the camera passes the /ready rule",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                let g = ConstGauge::new(i64::from(camera_readiness(s).ready));
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
            }
        }
        {
            let now = now_unix_ns();
            let mut m = enc.encode_descriptor(
                "camrec_camera_last_frame_age_seconds",
                "Seconds since the last frame (absent before the first)",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                if s.last_frame_unix_ns == 0 {
                    continue;
                }
                let age = now.saturating_sub(s.last_frame_unix_ns) as f64 / 1e9;
                let g: ConstGauge<f64> = ConstGauge::new(age);
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// Builds what the endpoints observe.
pub fn observed(
    cameras: Vec<WatchedCamera>,
    disabled: Vec<String>,
    store: StoreCheck,
) -> Arc<Observed> {
    Arc::new(Observed {
        cameras,
        disabled,
        store,
        uploads: UploadMetrics::new(),
    })
}

/// Encodes the registry as OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(state: CameraState, err: Option<&str>, config: bool) -> CameraSnapshot {
        let st = CameraStatus::new("c");
        let mut s = st.snapshot();
        s.state = state;
        s.last_error = err.map(str::to_string);
        s.last_error_is_config = config;
        s
    }

    #[test]
    fn readiness_rule() {
        use CameraState::*;
        assert!(camera_readiness(&snap(Recording, None, false)).ready);
        assert!(camera_readiness(&snap(Retrying, Some("refused"), false)).ready);
        assert!(camera_readiness(&snap(Connecting, Some("refused"), false)).ready);
        let r = camera_readiness(&snap(Retrying, Some("401"), true));
        assert!(!r.ready);
        assert_eq!(r.reason.as_deref(), Some("configuration error: 401"));
        assert!(!camera_readiness(&snap(Connecting, None, false)).ready);
        assert!(!camera_readiness(&snap(Stopped, None, false)).ready);
    }

    #[test]
    fn upload_observer_feeds_metrics() {
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir(std::env::temp_dir()),
        );
        let reg = o.registry();
        o.uploads
            .segment_uploaded("cam", Duration::from_millis(300));
        o.uploads.upload_failed("cam");
        o.uploads.spool_bytes(1234);
        o.uploads.upload_lag("cam", Duration::from_secs(3));
        let text = encode(&reg);
        assert!(
            text.contains("camrec_s3_segments_uploaded_total{camera=\"cam\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("camrec_s3_upload_failures_total{camera=\"cam\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("camrec_s3_upload_duration_seconds_count{camera=\"cam\"} 1"),
            "{text}"
        );
        assert!(text.contains("camrec_s3_spool_bytes 1234"), "{text}");
        assert!(
            text.contains("camrec_s3_upload_lag_seconds{camera=\"cam\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn unwritable_store_is_not_ready() {
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir("/nonexistent/camrec".into()),
        );
        let r = o.readiness();
        assert!(!r.ready);
        assert!(r.storage.reason.unwrap().contains("not writable"));
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir(std::env::temp_dir()),
        );
        assert!(o.readiness().ready);
    }
}
