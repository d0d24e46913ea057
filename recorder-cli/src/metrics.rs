//! Prometheus metrics and the readiness rule.
//!
//! Per-camera metrics are read from the cameras' [`CameraStatus`] at scrape
//! time (a [`Collector`]), so the recording path pays nothing for them.
//! S3 upload metrics are read the same way from the store's counters
//! ([`S3Status`], for the whole process). Names are listed in
//! docs/operations.md.
//!
//! With [`MetricsOptions::legacy_names`] the families of the dashboards
//! camrec replaces are exported too (`camera_*{camera_id=...}`, read from
//! the same snapshots and, for S3 uploads, from the store's per-camera
//! counters, [`S3CameraStatus`]; docs/migrating.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use recorder_core::recorder::{CameraSnapshot, CameraState, CameraStatus, NotStoringReason};
use recorder_core::retention::{CameraRetention, Pruner, RetentionSnapshot};
use recorder_core::sink::s3::{S3CameraStatus, S3Status};
use serde::Serialize;

/// After this long with S3 requests failing and nothing uploaded, `/ready`
/// reports the store as failing (docs/operations.md).
pub const S3_FAILING_AFTER: Duration = Duration::from_secs(30);
/// `/ready` reports the store as not ready when the spool is this full
/// (fraction of its limit): a few more minutes and fragments are dropped.
pub const S3_SPOOL_NOT_READY: f64 = 0.9;

/// What the readiness rule remembers between samples of an S3 store.
#[derive(Debug)]
struct S3Health {
    /// The last sample.
    last: S3Status,
    /// When upload progress (bytes, parts, segments) was last seen.
    last_progress: Instant,
    /// Failures counted when progress was last seen.
    failures_at_progress: u64,
    /// Since when requests have been failing without progress.
    failing_since: Option<Instant>,
}

type StatusFn = dyn Fn() -> S3Status + Send + Sync;
type CamerasFn = dyn Fn() -> Vec<S3CameraStatus> + Send + Sync;

/// An S3 store as `/metrics`, `/ready` and the status view see it: its
/// counters ([`S3Status`]), per camera too ([`S3CameraStatus`]), and the
/// readiness rule's memory.
pub struct S3Watch {
    status: Box<StatusFn>,
    cameras: Box<CamerasFn>,
    /// The spool limit, bytes.
    pub spool_limit: u64,
    /// `s3://bucket/prefix`, for messages.
    pub location: String,
    health: Mutex<S3Health>,
}

impl std::fmt::Debug for S3Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Watch")
            .field("location", &self.location)
            .field("spool_limit", &self.spool_limit)
            .finish_non_exhaustive()
    }
}

impl S3Watch {
    /// Watches the counters `status` returns and the per-camera ones
    /// `cameras` returns (e.g. `S3Store::status` and
    /// `S3Store::camera_statuses`).
    pub fn new(
        status: impl Fn() -> S3Status + Send + Sync + 'static,
        cameras: impl Fn() -> Vec<S3CameraStatus> + Send + Sync + 'static,
        spool_limit: u64,
        location: String,
    ) -> Arc<S3Watch> {
        let last = status();
        Arc::new(S3Watch {
            status: Box::new(status),
            cameras: Box::new(cameras),
            spool_limit,
            location,
            health: Mutex::new(S3Health {
                failures_at_progress: last.upload_failures,
                last,
                last_progress: Instant::now(),
                failing_since: None,
            }),
        })
    }

    /// Reads the counters now and updates the readiness memory. Called by
    /// a 1 s sampler and by every check.
    pub fn sample(&self, now: Instant) -> S3Status {
        let st = (self.status)();
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let progressed = st.bytes_uploaded != h.last.bytes_uploaded
            || st.parts_uploaded != h.last.parts_uploaded
            || st.segments_uploaded != h.last.segments_uploaded
            || st.segments_recovered != h.last.segments_recovered;
        if progressed {
            h.last_progress = now;
            h.failures_at_progress = st.upload_failures;
            h.failing_since = None;
        } else if st.upload_failures > h.failures_at_progress && h.failing_since.is_none() {
            h.failing_since = Some(now);
        }
        h.last = st.clone();
        st
    }

    /// The readiness rule for the store (docs/operations.md): not ready
    /// when the spool is at least 90 % full, or when requests have been
    /// failing for [`S3_FAILING_AFTER`] with no upload progress since.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        self.problem(now).map_or(Ok(()), |(_, why)| Err(why))
    }

    /// [`S3Watch::check`] with the reason code `/ready` shows beside the
    /// message the logs and the status view may show.
    pub fn problem(&self, now: Instant) -> Option<(StorageProblem, String)> {
        let st = self.sample(now);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        if st.spool_bytes as f64 >= self.spool_limit as f64 * S3_SPOOL_NOT_READY {
            return Some((
                StorageProblem::SpoolFull,
                format!(
                    "S3 spool holds {:.0} of {:.0} MiB: uploads to {} are not keeping up (fragments are dropped when it is full)",
                    mib(st.spool_bytes),
                    mib(self.spool_limit),
                    self.location
                ),
            ));
        }
        let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = h.failing_since {
            let failing = now.saturating_duration_since(since);
            if failing >= S3_FAILING_AFTER {
                return Some((
                    StorageProblem::UploadsFailing,
                    format!(
                        "S3 requests to {} have been failing for {}s ({} failures, last upload {}s ago); the spool holds the video meanwhile",
                        self.location,
                        failing.as_secs(),
                        st.upload_failures - h.failures_at_progress,
                        now.saturating_duration_since(h.last_progress).as_secs()
                    ),
                ));
            }
        }
        None
    }

    /// The per-camera counters now (read on each scrape: one lock in the
    /// store, no sampling needed since readiness does not use them).
    pub fn cameras(&self) -> Vec<S3CameraStatus> {
        (self.cameras)()
    }

    /// The counters as of the last sample.
    pub fn last(&self) -> S3Status {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last
            .clone()
    }
}

/// The camrec_s3_* families, read from the store's counters on each scrape.
#[derive(Debug)]
struct S3Collector(Arc<S3Watch>);

impl Collector for S3Collector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // One reading per scrape: the readiness check samples the counters,
        // and every family below reports that same sample.
        let ready = ConstGauge::new(i64::from(self.0.check(Instant::now()).is_ok()));
        let st = self.0.last();
        type Field = fn(&S3Status) -> u64;
        let counters: [(&str, &str, Field); 8] = [
            (
                "camrec_s3_segments_uploaded",
                "Segments completed in the bucket",
                |s| s.segments_uploaded,
            ),
            (
                "camrec_s3_bytes_uploaded",
                "Bytes accepted by the store (parts and objects)",
                |s| s.bytes_uploaded,
            ),
            (
                "camrec_s3_parts_uploaded",
                "Multipart parts uploaded",
                |s| s.parts_uploaded,
            ),
            (
                "camrec_s3_upload_failures",
                "Failed S3 request attempts (each is retried)",
                |s| s.upload_failures,
            ),
            (
                "camrec_s3_upload_retries",
                "Retries made after failed S3 requests",
                |s| s.retries,
            ),
            (
                "camrec_s3_segments_recovered",
                "Objects completed at start-up from what a crash left",
                |s| s.segments_recovered,
            ),
            (
                "camrec_s3_fragments_dropped",
                "Fragments refused because the spool was full",
                |s| s.fragments_dropped,
            ),
            (
                "camrec_s3_segments_dropped",
                "Segments refused at start because the spool was full",
                |s| s.segments_dropped,
            ),
        ];
        for (name, help, field) in counters {
            let c = ConstCounter::new(field(&st));
            c.encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let gauges: [(&str, &str, i64); 3] = [
            (
                "camrec_s3_spool_bytes",
                "Bytes waiting in the local spool",
                i64::try_from(st.spool_bytes).unwrap_or(i64::MAX),
            ),
            (
                "camrec_s3_spool_limit_bytes",
                "Most bytes the spool may hold",
                i64::try_from(self.0.spool_limit).unwrap_or(i64::MAX),
            ),
            (
                "camrec_s3_segments_pending",
                "Segments open or sealed whose upload is not complete",
                i64::try_from(st.segments_pending).unwrap_or(i64::MAX),
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        let lag: ConstGauge<f64> = ConstGauge::new(st.upload_lag.map_or(0.0, |d| d.as_secs_f64()));
        lag.encode(enc.encode_descriptor(
            "camrec_s3_upload_lag_seconds",
            "Age of the oldest spooled fragment not yet uploaded (0: all uploaded)",
            None,
            MetricType::Gauge,
        )?)?;
        ready.encode(enc.encode_descriptor(
            "camrec_s3_store_ready",
            "1 when the S3 store passes the /ready rule",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
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

/// The cameras being recorded; changed at run time by the control API and
/// configuration reloads. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct WatchedCameras(Arc<std::sync::RwLock<Vec<WatchedCamera>>>);

impl WatchedCameras {
    /// The cameras now, in order.
    pub fn list(&self) -> Vec<WatchedCamera> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds or replaces the camera with `c`'s id.
    pub fn put(&self, c: WatchedCamera) {
        let mut v = self.0.write().unwrap_or_else(|p| p.into_inner());
        match v.iter_mut().find(|w| w.status.id() == c.status.id()) {
            Some(w) => *w = c,
            None => v.push(c),
        }
    }

    /// Forgets a camera (it was removed).
    pub fn remove(&self, id: &str) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|w| w.status.id() != id);
    }
}

/// Everything `/metrics` and `/ready` read.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Enabled cameras.
    pub cameras: WatchedCameras,
    /// Ids of disabled cameras (reported, never started).
    pub disabled: Vec<String>,
    /// The storage to check for readiness.
    pub store: StoreCheck,
    /// What to export besides camrec's own families.
    pub options: MetricsOptions,
    /// The cached writability check of a local output folder.
    dir_check: Arc<DirCheck>,
    /// Retention of the local folder, when a policy is set.
    pub retention: Option<Pruner>,
    /// Webhook deliveries, when a webhook is set.
    pub webhook: Option<Arc<crate::webhook::Counters>>,
}

/// Optional metric families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Also export the old dashboards' names (`camera_stream_connected`,
    /// `camera_segments_recorded_total`, ... labelled `camera_id`).
    pub legacy_names: bool,
}

/// How readiness checks the output store.
#[derive(Clone, Debug)]
pub enum StoreCheck {
    /// A local folder that must accept a new file.
    LocalDir(PathBuf),
    /// An S3 store: see [`S3Watch::check`].
    S3(Arc<S3Watch>),
    /// Nothing is written (`camrec serve`): always ready.
    ReadOnly,
}

/// A local folder is probed at most this often, however many `/ready`
/// requests arrive; the others get the cached verdict.
pub const DIR_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A folder probe that has not finished after this long (a hung network
/// mount) counts as a failure.
pub const DIR_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store is not ready, as `/ready` shows it: a code, never the
/// error text (which names folders and hosts; the logs have it).
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StorageProblem {
    /// The output folder did not accept a new file.
    NotWritable,
    /// Probing the output folder took longer than [`DIR_CHECK_TIMEOUT`].
    CheckTimedOut,
    /// The S3 spool is at least [`S3_SPOOL_NOT_READY`] of its limit.
    SpoolFull,
    /// S3 requests have been failing for [`S3_FAILING_AFTER`] without
    /// progress.
    UploadsFailing,
}

type DirVerdict = Result<(), StorageProblem>;

/// The writability check of a local output folder, cached so that a burst
/// of `/ready` probes costs one file create/delete per
/// [`DIR_CHECK_EVERY`] and never races itself: one probe in flight at a
/// time, each with its own file name.
#[derive(Debug, Default)]
pub struct DirCheck {
    /// The last verdict and when it was reached.
    last: Mutex<Option<(Instant, DirVerdict)>>,
    /// Held while a probe runs.
    running: tokio::sync::Mutex<()>,
    /// Probes started (also makes each probe's file name unique).
    probes: AtomicU64,
}

impl DirCheck {
    fn last(&self) -> Option<(Instant, DirVerdict)> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, now: Instant) -> Option<DirVerdict> {
        self.last()
            .filter(|(at, _)| now.saturating_duration_since(*at) < DIR_CHECK_EVERY)
            .map(|(_, v)| v)
    }

    /// Probes started so far.
    #[cfg(test)]
    fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    /// Whether `dir` accepts a new file: the cached verdict when it is
    /// fresh or a probe is already running (the previous verdict), else a
    /// new probe off the runtime's threads.
    pub async fn check(&self, dir: &Path) -> DirVerdict {
        if let Some(v) = self.fresh(Instant::now()) {
            return v;
        }
        let _running = match self.running.try_lock() {
            Ok(g) => g,
            Err(_) => match self.last() {
                Some((_, v)) => return v,
                // Nothing to answer with yet: wait for the first probe.
                None => self.running.lock().await,
            },
        };
        if let Some(v) = self.fresh(Instant::now()) {
            return v;
        }
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let probe = dir.join(format!(".camrec-ready-{}-{n}", std::process::id()));
        let (verdict, detail) = match tokio::time::timeout(
            DIR_CHECK_TIMEOUT,
            tokio::task::spawn_blocking(move || probe_dir(&probe)),
        )
        .await
        {
            Ok(Ok(Ok(()))) => (Ok(()), String::new()),
            Ok(Ok(Err(e))) => (Err(StorageProblem::NotWritable), e.to_string()),
            Ok(Err(e)) => (Err(StorageProblem::NotWritable), e.to_string()),
            Err(_) => (
                Err(StorageProblem::CheckTimedOut),
                format!("no answer within {DIR_CHECK_TIMEOUT:?}"),
            ),
        };
        // Once per episode: probes can come every second.
        let was_ok = self.last().is_none_or(|(_, v)| v.is_ok());
        match verdict {
            Err(_) if was_ok => tracing::warn!(
                folder = %dir.display(),
                error = %detail,
                "/ready: the output folder does not accept a new file"
            ),
            Ok(()) if !was_ok => {
                tracing::info!(folder = %dir.display(), "/ready: the output folder accepts files again")
            }
            _ => {}
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), verdict));
        verdict
    }
}

/// Creates, writes and removes `path` (which must not exist).
fn probe_dir(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(b"ok"));
    let removed = std::fs::remove_file(path);
    written.and(removed)
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
    /// Why not, or a warning beside a ready camera (a code: `connecting`,
    /// `retrying`, `configuration_error`, `stopped`; while connected but
    /// storing nothing, the not-storing reason such as `no_keyframe` or
    /// `storage_failing` (not ready); `fragments_cut_by_limit` (ready) for
    /// five minutes after the camera's timestamps froze or a fragment hit
    /// its byte cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
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
    pub reason: Option<StorageProblem>,
}

/// The readiness rule for one camera (docs/operations.md):
/// recording → ready; retrying (or reconnecting) after an error that is
/// not a configuration error → ready (the camera or network is at fault,
/// the recorder is doing its job); still connecting for the first time,
/// a configuration error (wrong password, no such stream, no usable
/// track), or stopped → not ready.
pub fn camera_readiness(s: &CameraSnapshot) -> CameraReadiness {
    // Codes only: the error text (in the logs) can carry user names,
    // hosts and paths, and /ready answers anyone who can reach it.
    let (ready, reason) = match s.state {
        // Connected but storing nothing is not doing the job.
        CameraState::Recording => match s.not_storing {
            Some(r) => (false, Some(r.as_str())),
            None if limit_cut_recently(s) => (true, Some("fragments_cut_by_limit")),
            None => (true, None),
        },
        CameraState::Stopped => (false, Some("stopped")),
        CameraState::Retrying | CameraState::Connecting => match &s.last_error {
            Some(_) if s.last_error_is_config => (false, Some("configuration_error")),
            Some(_) => (true, Some("retrying")),
            None => (false, Some("connecting")),
        },
        other => (false, Some(other.as_str())),
    };
    CameraReadiness {
        id: s.id.clone(),
        state: s.state.as_str(),
        ready,
        reason,
    }
}

/// How long after a limit cut `/ready` still names it.
const LIMIT_CUT_SHOWN_FOR: Duration = Duration::from_secs(5 * 60);

fn limit_cut_recently(s: &CameraSnapshot) -> bool {
    s.last_limit_cut_unix_ns != 0
        && now_unix_ns().saturating_sub(s.last_limit_cut_unix_ns)
            < LIMIT_CUT_SHOWN_FOR.as_nanos() as u64
}

impl Observed {
    /// Evaluates readiness now. A local folder is probed at most once per
    /// [`DIR_CHECK_EVERY`] (off the runtime's threads); an S3 store only
    /// reads counters.
    pub async fn readiness(&self) -> Readiness {
        let storage = match &self.store {
            StoreCheck::LocalDir(dir) => self.dir_check.check(dir).await,
            StoreCheck::ReadOnly => Ok(()),
            StoreCheck::S3(w) => w
                .problem(Instant::now())
                .map_or(Ok(()), |(problem, _)| Err(problem)),
        };
        let storage = StorageReadiness {
            ready: storage.is_ok(),
            reason: storage.err(),
        };
        let cameras: Vec<CameraReadiness> = self
            .cameras
            .list()
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
        if let StoreCheck::S3(w) = &self.store {
            r.register_collector(Box::new(S3Collector(w.clone())));
        }
        if let Some(p) = &self.retention {
            r.register_collector(Box::new(RetentionCollector(p.clone())));
        }
        if let Some(w) = &self.webhook {
            r.register_collector(Box::new(WebhookCollector(w.clone())));
        }
        // After the S3 collector: it reports the sample that one just took.
        if self.options.legacy_names {
            r.register_collector(Box::new(LegacyCollector(self.clone())));
        }
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
            .list()
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
        let counters: [(&str, &str, Field); 13] = [
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
            (
                "camrec_camera_fragments_dropped",
                "Fragments not stored because storage fell behind or refused a segment",
                |s| s.fragments_dropped,
            ),
            (
                "camrec_camera_bytes_dropped",
                "Bytes of those fragments",
                |s| s.bytes_dropped,
            ),
            (
                "camrec_camera_fragments_cut_by_limit",
                "Fragments ended early by a limit (frozen camera timestamps, or max_fragment_bytes)",
                |s| s.fragments_cut_by_limit,
            ),
            (
                "camrec_camera_thumbnails",
                "Thumbnails stored (JPEGs; one-frame MP4s for H.265)",
                |s| s.thumbnails_stored,
            ),
            (
                "camrec_camera_thumbnail_errors",
                "Thumbnails that could not be made or stored",
                |s| s.thumbnail_errors,
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
                for st in CameraState::ALL {
                    let g = ConstGauge::new(i64::from(s.state == st));
                    g.encode(
                        m.encode_family(&[("camera", s.id.as_str()), ("state", st.as_str())])?,
                    )?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_not_storing",
                "1 for the reason frames arrive but nothing has been stored for over a fragment plus a GOP",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                for r in NotStoringReason::ALL {
                    let g = ConstGauge::new(i64::from(s.not_storing == Some(r)));
                    g.encode(
                        m.encode_family(&[("camera", s.id.as_str()), ("reason", r.as_str())])?,
                    )?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_queued_bytes",
                "Bytes waiting between the camera reader and storage",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                let g = ConstGauge::new(i64::try_from(s.queued_bytes).unwrap_or(i64::MAX));
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_pre_roll_bytes",
                "Bytes held in the camera's clip pre-roll ring",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                let g = ConstGauge::new(i64::try_from(s.pre_roll_bytes).unwrap_or(i64::MAX));
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "camrec_camera_recording_paused",
                "1 while the camera's continuous recording is paused (clips still record)",
                None,
                MetricType::Gauge,
            )?;
            for (s, _) in &snaps {
                let g = ConstGauge::new(i64::from(s.paused));
                g.encode(m.encode_family(&[("camera", s.id.as_str())])?)?;
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

/// The metric names of the ffmpeg-based recorder's dashboards, all
/// labelled `camera_id`, from the same snapshots as camrec's own.
///
/// With S3 storage, uploads and their failures are the store's per-camera
/// counters ([`S3CameraStatus`]) and `camera_segment_upload_duration_seconds`
/// is the store's histogram of seal-to-publication times. With local
/// storage a segment is stored when it is recorded, so "uploaded" counts
/// recorded segments, "upload failures" the camera's storage errors, and
/// there is no upload duration (the family is absent).
#[derive(Debug)]
struct LegacyCollector(Arc<Observed>);

impl Collector for LegacyCollector {
    fn encode(&self, enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snaps: Vec<CameraSnapshot> = self
            .0
            .cameras
            .list()
            .iter()
            .map(|c| c.status.snapshot())
            .collect();
        let s3 = match &self.0.store {
            StoreCheck::S3(w) => Some(w.cameras()),
            StoreCheck::LocalDir(_) | StoreCheck::ReadOnly => None,
        };
        encode_legacy(&snaps, s3.as_deref(), enc)
    }
}

/// A histogram read from a snapshot (prometheus-client's `Histogram` can
/// only be fed observations; the store keeps the buckets itself).
#[derive(Debug)]
struct SnapshotHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, count in that bucket alone), the last bound +Inf.
    buckets: Vec<(f64, u64)>,
}

impl SnapshotHistogram {
    fn of(d: &recorder_core::sink::s3::UploadDurations) -> SnapshotHistogram {
        let mut buckets: Vec<(f64, u64)> = d
            .buckets
            .iter()
            .map(|(bound, n)| {
                let le = if *bound == Duration::MAX {
                    f64::INFINITY
                } else {
                    bound.as_secs_f64()
                };
                (le, *n)
            })
            .collect();
        // Prometheus wants a +Inf bucket holding every observation.
        if buckets.last().is_none_or(|(le, _)| le.is_finite()) {
            let counted: u64 = buckets.iter().map(|(_, n)| n).sum();
            buckets.push((f64::INFINITY, d.count.saturating_sub(counted)));
        }
        SnapshotHistogram {
            sum: d.sum.as_secs_f64(),
            count: d.count,
            buckets,
        }
    }
}

impl EncodeMetric for SnapshotHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The legacy families from camera snapshots and, with S3 storage, the
/// store's per-camera counters (a camera the store has none for counts 0).
fn encode_legacy(
    snaps: &[CameraSnapshot],
    s3: Option<&[S3CameraStatus]>,
    mut enc: DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    {
        let mut m = enc.encode_descriptor(
            "camera_stream_connected",
            "1 while frames arrive from the camera (camrec_camera_stream_connected)",
            None,
            MetricType::Gauge,
        )?;
        for s in snaps {
            let g = ConstGauge::new(i64::from(s.state == CameraState::Recording));
            g.encode(m.encode_family(&[("camera_id", s.id.as_str())])?)?;
        }
    }
    type Field = fn(&CameraSnapshot) -> u64;
    let mut per_camera: Vec<(&str, &str, Field)> = vec![
        (
            "camera_segments_recorded",
            "Segments completed and stored (camrec_camera_segments_recorded_total)",
            |s| s.segments_recorded,
        ),
        (
            "camera_recording_bytes",
            "Bytes handed to storage (camrec_camera_bytes_recorded_total)",
            |s| s.bytes_recorded,
        ),
    ];
    if s3.is_none() {
        per_camera.push((
            "camera_segments_uploaded",
            "Segments stored in the output folder",
            |s| s.segments_recorded,
        ));
        per_camera.push((
            "camera_upload_failures",
            "Errors writing to storage (camrec_camera_sink_errors_total)",
            |s| s.sink_errors,
        ));
    }
    for (name, help, field) in per_camera {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for s in snaps {
            let c = ConstCounter::new(field(s));
            c.encode(m.encode_family(&[("camera_id", s.id.as_str())])?)?;
        }
    }
    let Some(uploads) = s3 else {
        return Ok(());
    };
    let none = S3CameraStatus::default();
    let of = |id: &str| uploads.iter().find(|u| u.camera == id).unwrap_or(&none);
    type S3Field = fn(&S3CameraStatus) -> u64;
    let s3_counters: [(&str, &str, S3Field); 2] = [
        (
            "camera_segments_uploaded",
            "The camera's segments completed in the bucket",
            |u| u.segments_uploaded,
        ),
        (
            "camera_upload_failures",
            "Failed S3 request attempts for the camera's segments (each is retried)",
            |u| u.upload_failures,
        ),
    ];
    for (name, help, field) in s3_counters {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for s in snaps {
            let c = ConstCounter::new(field(of(&s.id)));
            c.encode(m.encode_family(&[("camera_id", s.id.as_str())])?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "camera_segment_upload_duration_seconds",
        "From the segment's seal to its publication in the bucket (CompleteMultipartUpload or PutObject)",
        None,
        MetricType::Histogram,
    )?;
    for s in snaps {
        let h = SnapshotHistogram::of(&of(&s.id).upload_durations);
        h.encode(m.encode_family(&[("camera_id", s.id.as_str())])?)?;
    }
    Ok(())
}

/// Builds what the endpoints observe (without retention).
#[cfg(test)]
pub fn observed(
    cameras: Vec<WatchedCamera>,
    disabled: Vec<String>,
    store: StoreCheck,
    options: MetricsOptions,
) -> Arc<Observed> {
    observed_with_retention(cameras, disabled, store, options, None, None)
}

/// What the endpoints observe for a process that records nothing
/// (`camrec serve`): no camera, a read-only store.
pub fn observed_for_serving() -> Arc<Observed> {
    observed_with_retention(
        Vec::new(),
        Vec::new(),
        StoreCheck::ReadOnly,
        MetricsOptions::default(),
        None,
        None,
    )
}

/// Builds what the endpoints observe, retention of the local folder and
/// webhook deliveries included.
pub fn observed_with_retention(
    cameras: Vec<WatchedCamera>,
    disabled: Vec<String>,
    store: StoreCheck,
    options: MetricsOptions,
    retention: Option<Pruner>,
    webhook: Option<Arc<crate::webhook::Counters>>,
) -> Arc<Observed> {
    Arc::new(Observed {
        cameras: WatchedCameras(Arc::new(std::sync::RwLock::new(cameras))),
        disabled,
        store,
        options,
        dir_check: Arc::default(),
        retention,
        webhook,
    })
}

/// The webhook's delivery counters (docs/api.md#webhook): events posted,
/// given up on after every retry, dropped because the receiver was behind.
#[derive(Debug)]
struct WebhookCollector(Arc<crate::webhook::Counters>);

impl Collector for WebhookCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.0;
        let families = [
            (
                "camrec_webhook_events_delivered",
                "Events (stored segments and clips) the webhook answered with a 2xx",
                c.delivered.load(Relaxed),
            ),
            (
                "camrec_webhook_events_failed",
                "Events given up on after every retry",
                c.failed.load(Relaxed),
            ),
            (
                "camrec_webhook_events_dropped",
                "Events dropped because the webhook's queue was full (the receiver is behind)",
                c.dropped.load(Relaxed),
            ),
        ];
        for (name, help, v) in families {
            let e = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(v).encode(e)?;
        }
        Ok(())
    }
}

/// Retention's families, read from the pruner's snapshot on each scrape:
/// per camera (as named in the folder, configured or not) what is stored
/// and what was deleted, and the volume's free space against the floor.
#[derive(Debug)]
struct RetentionCollector(Pruner);

impl Collector for RetentionCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.snapshot();
        encode_retention(&snap, &mut enc)
    }
}

fn gauge_i(v: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

fn encode_retention(
    snap: &RetentionSnapshot,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    type Field = fn(&CameraRetention) -> u64;
    let gauges: [(&str, &str, Field); 3] = [
        (
            "camrec_camera_stored_bytes",
            "Bytes of the camera's finished segments in the folder (retention's account)",
            |c| c.usage.bytes,
        ),
        (
            "camrec_camera_stored_segments",
            "The camera's finished segments in the folder",
            |c| c.usage.files,
        ),
        (
            "camrec_camera_retention_floor_before_max_age",
            "1 when the free-space floor deleted segments younger than the age limit: the disk is too small for the policy",
            |c| u64::from(c.floor_before_max_age),
        ),
    ];
    for (name, help, field) in gauges {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for c in &snap.cameras {
            gauge_i(field(c)).encode(m.encode_family(&[("camera", c.camera.as_str())])?)?;
        }
    }
    let counters: [(&str, &str, Field); 2] = [
        (
            "camrec_camera_segments_deleted",
            "Segments retention deleted",
            |c| c.segments_deleted,
        ),
        (
            "camrec_camera_bytes_deleted",
            "Bytes of the segments retention deleted",
            |c| c.bytes_deleted,
        ),
    ];
    for (name, help, field) in counters {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for c in &snap.cameras {
            ConstCounter::new(field(c))
                .encode(m.encode_family(&[("camera", c.camera.as_str())])?)?;
        }
    }
    {
        let mut m = enc.encode_descriptor(
            "camrec_camera_oldest_recording_timestamp_seconds",
            "Start of the camera's oldest segment in the folder, Unix seconds (absent when none)",
            None,
            MetricType::Gauge,
        )?;
        for c in &snap.cameras {
            if let Some(t) = c.usage.oldest {
                let g: ConstGauge<f64> = ConstGauge::new(t.0 as f64 / 1e9);
                g.encode(m.encode_family(&[("camera", c.camera.as_str())])?)?;
            }
        }
    }
    let mut gauge = |name: &str, help: &str, v: u64| -> Result<(), std::fmt::Error> {
        let g = gauge_i(v);
        let m = enc.encode_descriptor(name, help, None, g.metric_type())?;
        g.encode(m)
    };
    gauge(
        "camrec_retention_clips_stored_bytes",
        "Bytes of clips (under clips/) in the folder",
        snap.clips.bytes,
    )?;
    gauge(
        "camrec_retention_pinned_files",
        "Pinned files (never deleted)",
        snap.pinned,
    )?;
    if let Some(f) = snap.free_bytes {
        gauge(
            "camrec_retention_free_bytes",
            "Free bytes on the folder's volume at the last retention pass",
            f,
        )?;
    }
    if let Some(f) = snap.min_free_bytes {
        gauge(
            "camrec_retention_min_free_bytes",
            "The free-space floor retention keeps",
            f,
        )?;
    }
    gauge(
        "camrec_retention_floor_unreachable",
        "1 when the volume is below the floor with nothing left to delete (pinned, open or foreign files fill it)",
        u64::from(snap.floor_short_bytes > 0),
    )?;
    for (name, help, v) in [
        (
            "camrec_retention_clips_deleted",
            "Clips retention deleted",
            snap.clips_deleted,
        ),
        (
            "camrec_retention_delete_errors",
            "Files retention could not delete (kept, retried)",
            snap.delete_errors,
        ),
    ] {
        let c = ConstCounter::new(v);
        let m = enc.encode_descriptor(name, help, None, c.metric_type())?;
        c.encode(m)?;
    }
    Ok(())
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
        assert_eq!(r.reason, Some("configuration_error"));
        assert!(!camera_readiness(&snap(Connecting, None, false)).ready);
        assert!(!camera_readiness(&snap(Stopped, None, false)).ready);
        // Connected but storing nothing: not ready, with the reason code.
        let mut s = snap(Recording, None, false);
        s.not_storing = Some(NotStoringReason::NoKeyframe);
        let r = camera_readiness(&s);
        assert!(!r.ready);
        assert_eq!(r.reason, Some("no_keyframe"));
        // A recent limit cut is named but the camera stays ready; an old
        // one is forgotten.
        let mut s = snap(Recording, None, false);
        s.last_limit_cut_unix_ns = now_unix_ns() - 1_000_000_000;
        let r = camera_readiness(&s);
        assert_eq!((r.ready, r.reason), (true, Some("fragments_cut_by_limit")));
        s.last_limit_cut_unix_ns = now_unix_ns() - 3_600_000_000_000;
        assert_eq!(camera_readiness(&s).reason, None);
    }

    fn fake_store(st: S3Status, limit: u64) -> (Arc<Mutex<S3Status>>, Arc<S3Watch>) {
        let cell = Arc::new(Mutex::new(st));
        let c2 = cell.clone();
        let w = S3Watch::new(
            move || c2.lock().unwrap().clone(),
            Vec::new,
            limit,
            "s3://b/p/".into(),
        );
        (cell, w)
    }

    #[test]
    fn s3_status_feeds_metrics() {
        let (cell, w) = fake_store(S3Status::default(), 1000);
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::S3(w),
            MetricsOptions::default(),
        );
        let reg = o.registry();
        *cell.lock().unwrap() = S3Status {
            segments_uploaded: 3,
            bytes_uploaded: 4096,
            upload_failures: 2,
            retries: 2,
            spool_bytes: 123,
            segments_pending: 1,
            upload_lag: Some(Duration::from_millis(2500)),
            ..S3Status::default()
        };
        let text = encode(&reg);
        for want in [
            "camrec_s3_segments_uploaded_total 3",
            "camrec_s3_bytes_uploaded_total 4096",
            "camrec_s3_upload_failures_total 2",
            "camrec_s3_upload_retries_total 2",
            "camrec_s3_spool_bytes 123",
            "camrec_s3_spool_limit_bytes 1000",
            "camrec_s3_segments_pending 1",
            "camrec_s3_upload_lag_seconds 2.5",
            "camrec_s3_store_ready 1",
        ] {
            assert!(text.lines().any(|l| l == want), "{want} missing:\n{text}");
        }
        // Local storage has no S3 families.
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir(std::env::temp_dir()),
            MetricsOptions::default(),
        );
        assert!(!encode(&o.registry()).contains("camrec_s3_"));
    }

    #[tokio::test]
    async fn s3_readiness_rule() {
        let t0 = Instant::now();
        let (cell, w) = fake_store(S3Status::default(), 1000);
        assert!(w.check(t0).is_ok());
        // Failures without progress: ready until S3_FAILING_AFTER passes.
        cell.lock().unwrap().upload_failures = 3;
        assert!(w.check(t0 + Duration::from_secs(1)).is_ok());
        let e = w
            .check(t0 + Duration::from_secs(1) + S3_FAILING_AFTER)
            .unwrap_err();
        assert!(
            e.contains("failing for 30s") && e.contains("s3://b/p/"),
            "{e}"
        );
        // Progress (a part uploaded) makes it ready again at once.
        cell.lock().unwrap().parts_uploaded = 1;
        assert!(w.check(t0 + Duration::from_secs(40)).is_ok());
        // A new failure starts a new 30 s window.
        cell.lock().unwrap().upload_failures = 4;
        assert!(w.check(t0 + Duration::from_secs(50)).is_ok());
        assert!(w.check(t0 + Duration::from_secs(81)).is_err());
        // A spool at 90 % of its limit is not ready, whatever the requests do.
        let (cell, w) = fake_store(S3Status::default(), 1000);
        cell.lock().unwrap().spool_bytes = 899;
        assert!(w.check(t0).is_ok());
        cell.lock().unwrap().spool_bytes = 900;
        let e = w.check(t0).unwrap_err();
        assert!(e.contains("spool"), "{e}");
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::S3(w),
            MetricsOptions::default(),
        );
        let r = o.readiness().await;
        assert!(!r.ready);
        assert_eq!(r.storage.reason, Some(StorageProblem::SpoolFull));
        let body = serde_json::to_string(&r).unwrap();
        assert!(body.contains("\"reason\":\"spool_full\""), "{body}");
        assert!(!body.contains("s3://"), "{body}");
    }

    /// The legacy families of fixed snapshots (a status's state can only
    /// be set by the library).
    #[derive(Debug)]
    struct FixedLegacy(Vec<CameraSnapshot>, Option<Vec<S3CameraStatus>>);

    impl Collector for FixedLegacy {
        fn encode(&self, enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_legacy(&self.0, self.1.as_deref(), enc)
        }
    }

    /// A camera's S3 counters as the store reports them.
    fn camera_uploads(camera: &str, uploaded: u64, failures: u64, secs: &[f64]) -> S3CameraStatus {
        let mut u = S3CameraStatus::default();
        u.camera = camera.into();
        u.segments_uploaded = uploaded;
        u.upload_failures = failures;
        let d = &mut u.upload_durations;
        for &t in secs {
            let t = Duration::from_secs_f64(t);
            d.count += 1;
            d.sum += t;
            let b = d.buckets.iter_mut().find(|(le, _)| t <= *le).unwrap();
            b.1 += 1;
        }
        u
    }

    fn legacy_text(snaps: Vec<CameraSnapshot>, s3: Option<Vec<S3CameraStatus>>) -> String {
        let mut r = Registry::default();
        r.register_collector(Box::new(FixedLegacy(snaps, s3)));
        encode(&r)
    }

    fn has(text: &str, want: &str) {
        assert!(text.lines().any(|l| l == want), "{want} missing:\n{text}");
    }

    #[test]
    fn legacy_names_from_snapshots() {
        let mut door = snap(CameraState::Recording, None, false);
        door.id = "door".into();
        door.segments_recorded = 4;
        door.bytes_recorded = 123_456;
        door.sink_errors = 1;
        let mut yard = snap(CameraState::Retrying, Some("refused"), false);
        yard.id = "yard".into();
        let text = legacy_text(vec![door.clone(), yard], None);
        for want in [
            "# TYPE camera_stream_connected gauge",
            "camera_stream_connected{camera_id=\"door\"} 1",
            "camera_stream_connected{camera_id=\"yard\"} 0",
            "# TYPE camera_segments_recorded counter",
            "camera_segments_recorded_total{camera_id=\"door\"} 4",
            "camera_recording_bytes_total{camera_id=\"door\"} 123456",
            "camera_segments_uploaded_total{camera_id=\"door\"} 4",
            "camera_upload_failures_total{camera_id=\"door\"} 1",
            "camera_upload_failures_total{camera_id=\"yard\"} 0",
        ] {
            has(&text, want);
        }
        // Local storage has no upload durations.
        assert!(!text.contains("camera_segment_upload_duration"), "{text}");
        // With S3 the upload counters and durations are the store's, per
        // camera; a camera the store has nothing for counts 0.
        let mut porch = snap(CameraState::Recording, None, false);
        porch.id = "porch".into();
        let st = vec![camera_uploads("door", 3, 2, &[0.05, 0.3, 400.0])];
        let text = legacy_text(vec![door, porch], Some(st));
        for want in [
            "camera_segments_uploaded_total{camera_id=\"door\"} 3",
            "camera_upload_failures_total{camera_id=\"door\"} 2",
            "camera_segments_uploaded_total{camera_id=\"porch\"} 0",
            "camera_upload_failures_total{camera_id=\"porch\"} 0",
            "camera_segments_recorded_total{camera_id=\"door\"} 4",
            "# TYPE camera_segment_upload_duration_seconds histogram",
            "camera_segment_upload_duration_seconds_count{camera_id=\"door\"} 3",
            "camera_segment_upload_duration_seconds_sum{camera_id=\"door\"} 400.35",
            "camera_segment_upload_duration_seconds_bucket{le=\"0.1\",camera_id=\"door\"} 1",
            "camera_segment_upload_duration_seconds_bucket{le=\"0.5\",camera_id=\"door\"} 2",
            "camera_segment_upload_duration_seconds_bucket{le=\"300.0\",camera_id=\"door\"} 2",
            "camera_segment_upload_duration_seconds_bucket{le=\"+Inf\",camera_id=\"door\"} 3",
            "camera_segment_upload_duration_seconds_count{camera_id=\"porch\"} 0",
            "camera_segment_upload_duration_seconds_bucket{le=\"+Inf\",camera_id=\"porch\"} 0",
        ] {
            has(&text, want);
        }
        // No process-wide series without the label any more.
        assert!(!text.contains("camera_segments_uploaded_total "), "{text}");
        assert!(!text.contains("camera_upload_failures_total "), "{text}");
    }

    #[test]
    fn legacy_names_are_exported_only_when_asked() {
        let watched = || WatchedCamera {
            status: Arc::new(CameraStatus::new("door")),
            name: None,
        };
        let local = || StoreCheck::LocalDir(std::env::temp_dir());
        let text = encode(
            &observed(
                vec![watched()],
                Vec::new(),
                local(),
                MetricsOptions::default(),
            )
            .registry(),
        );
        assert!(!text.contains("camera_id"), "{text}");
        let legacy = MetricsOptions { legacy_names: true };
        let text = encode(&observed(vec![watched()], Vec::new(), local(), legacy).registry());
        has(&text, "camera_stream_connected{camera_id=\"door\"} 0");
        // camrec's own names stay.
        has(
            &text,
            "camrec_camera_segments_recorded_total{camera=\"door\"} 0",
        );
        let cell = Arc::new(Mutex::new(Vec::new()));
        let c2 = cell.clone();
        let w = S3Watch::new(
            S3Status::default,
            move || c2.lock().unwrap().clone(),
            1000,
            "s3://b/p/".into(),
        );
        let o = observed(vec![watched()], Vec::new(), StoreCheck::S3(w), legacy);
        let reg = o.registry();
        *cell.lock().unwrap() = vec![camera_uploads("door", 5, 1, &[1.5; 5])];
        let text = encode(&reg);
        has(
            &text,
            "camera_segments_uploaded_total{camera_id=\"door\"} 5",
        );
        has(&text, "camera_upload_failures_total{camera_id=\"door\"} 1");
        has(
            &text,
            "camera_segment_upload_duration_seconds_count{camera_id=\"door\"} 5",
        );
    }

    #[tokio::test]
    async fn unwritable_store_is_not_ready() {
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir("/nonexistent/camrec".into()),
            MetricsOptions::default(),
        );
        let r = o.readiness().await;
        assert!(!r.ready);
        assert_eq!(r.storage.reason, Some(StorageProblem::NotWritable));
        let body = serde_json::to_string(&r).unwrap();
        assert!(body.contains("\"reason\":\"not_writable\""), "{body}");
        assert!(!body.contains("/nonexistent"), "{body}");
        let o = observed(
            Vec::new(),
            Vec::new(),
            StoreCheck::LocalDir(std::env::temp_dir()),
            MetricsOptions::default(),
        );
        assert!(o.readiness().await.ready);
    }

    /// Hundreds of concurrent checks: one probe, every answer the same,
    /// no probe file left; a new probe only after DIR_CHECK_EVERY.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn folder_check_is_cached_and_never_races() {
        let dir = tempfile::tempdir().unwrap();
        let check = Arc::new(DirCheck::default());
        let mut tasks = Vec::new();
        for _ in 0..300 {
            let (check, path) = (check.clone(), dir.path().to_path_buf());
            tasks.push(tokio::spawn(async move { check.check(&path).await }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(()));
        }
        assert_eq!(check.probes(), 1);
        assert_eq!(check.check(dir.path()).await, Ok(()));
        assert_eq!(check.probes(), 1, "a fresh verdict was probed again");
        tokio::time::sleep(DIR_CHECK_EVERY + Duration::from_millis(50)).await;
        assert_eq!(check.check(dir.path()).await, Ok(()));
        assert_eq!(check.probes(), 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A folder that disappears is reported at the next probe.
        let gone = dir.path().join("gone");
        let check = DirCheck::default();
        assert_eq!(check.check(&gone).await, Err(StorageProblem::NotWritable));
        std::fs::create_dir(&gone).unwrap();
        assert_eq!(check.check(&gone).await, Err(StorageProblem::NotWritable));
        tokio::time::sleep(DIR_CHECK_EVERY + Duration::from_millis(50)).await;
        assert_eq!(check.check(&gone).await, Ok(()));
    }
}
