//! `camrec record`: configuration → cameras → storage, with metrics, health
//! and a live status view.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use recorder_core::mux::MuxerConfig;
use recorder_core::recorder::{CameraConfig, CameraSnapshot, Recorder};
use recorder_core::sink::{repair_dir, LocalSink, LocalSinkOptions};
use recorder_core::source::{BackoffConfig, SourceConfig};

use crate::args::{ConfigArgs, RecordArgs};
use crate::config::{self, Camera, Config, StorageKind};
use crate::logging::LogTail;
use crate::metrics::{self, StoreCheck, WatchedCamera};
use crate::UsageError;

/// How long shutdown waits for every camera to close its segment.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The flags of `ConfigArgs` as configuration overrides.
pub fn flags(a: &ConfigArgs) -> config::Flags {
    config::Flags {
        urls: a.urls.clone(),
        camera_ids: a.camera_ids.clone(),
        out: a.out.clone(),
        segment: a.segment,
        fragment: a.fragment,
        align: a.align,
        template: a.template.clone(),
        transport: a.transport.clone(),
        stall_timeout: a.stall_timeout,
        sync_fragments: a.sync_fragments,
        metrics_listen: a.metrics_listen.clone(),
        no_metrics: a.no_metrics,
    }
}

/// Loads and validates file + environment + flags.
pub fn load(a: &ConfigArgs) -> Result<Config, config::ConfigErrors> {
    config::load(a.config.as_deref(), &config::process_env(), &flags(a))
}

pub async fn run(a: RecordArgs, tail: Option<LogTail>) -> anyhow::Result<()> {
    let cfg = load(&a.cfg)?;
    let snapshots = record(&cfg, a.duration, tail).await?;
    print_summary(&snapshots);
    Ok(())
}

/// The recorder's settings for one configured camera.
pub fn camera_config(c: &Camera) -> CameraConfig {
    let mut source = SourceConfig::new(c.url.v.clone());
    source.transport = c.transport.v;
    source.stall_timeout = c.stall_timeout.v;
    CameraConfig {
        id: c.id.v.clone(),
        source,
        muxer: MuxerConfig {
            segment_duration: c.segment.v,
            align_to_wall_clock: c.align.v,
            fragment_duration: c.fragment.v,
            ..MuxerConfig::default()
        },
        backoff: BackoffConfig::default(),
    }
}

/// Records every enabled camera until a signal or `duration`, serving
/// metrics and showing the status view meanwhile; then closes every open
/// segment (graceful shutdown with a deadline).
pub async fn record(
    cfg: &Config,
    duration: Option<Duration>,
    tail: Option<LogTail>,
) -> anyhow::Result<Vec<CameraSnapshot>> {
    let mut stop = crate::signals::install();
    // ---------------------------------------------------------------------
    // S3 WIRING POINT: the only place that decides between storage kinds.
    // When the S3 sink lands, build it here from `cfg.storage.s3` (bucket,
    // prefix, endpoint, region, credentials, part size, spool dir/limit,
    // max concurrent uploads), hand it `observed.uploads` (an
    // `UploadObserver`) for the camrec_s3_* metrics, and use
    // `StoreCheck` for /ready (add a variant for the bucket + spool).
    // ---------------------------------------------------------------------
    let dir = match cfg.storage.kind.v {
        StorageKind::Local => cfg.storage.dir.v.clone(),
        StorageKind::S3 => {
            return Err(UsageError(format!(
                "S3 output not available in this build yet (storage kind \"s3\" set by {}); \
                 record to a folder with [storage] kind = \"local\" or --out DIR",
                cfg.storage.kind.at
            ))
            .into())
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    repair_leftovers(&dir).await?;

    let mut recorder = Recorder::new();
    let mut watched = Vec::new();
    let mut disabled = Vec::new();
    for cam in &cfg.cameras {
        if !cam.enabled.v {
            tracing::info!(camera = %cam.id.v, "camera disabled in the configuration; not started");
            disabled.push(cam.id.v.clone());
            continue;
        }
        let sink = LocalSink::new(&dir, cfg.key_template.v.clone())
            .with_context(|| format!("output folder {}", dir.display()))?
            .with_options(LocalSinkOptions {
                sync_each_fragment: cfg.storage.sync_fragments.v,
            });
        tracing::info!(camera = %cam.id.v, url = %cam.url.v, out = %dir.display(), "starting camera");
        let status = recorder.add_camera(camera_config(cam), sink);
        watched.push(WatchedCamera {
            status,
            name: cam.name.v.clone(),
        });
    }
    let observed = metrics::observed(watched, disabled, StoreCheck::LocalDir(dir.clone()));
    let server = match cfg.metrics_listen.v {
        Some(addr) => {
            let s = crate::http::serve(addr, observed.clone()).await?;
            tracing::info!(listen = %s.addr, "serving /metrics, /health and /ready");
            Some(s)
        }
        None => None,
    };
    let (view_stop_tx, view_stop) = tokio::sync::watch::channel(false);
    let view = tail.map(|t| {
        let statuses = recorder.statuses().to_vec();
        tokio::spawn(crate::status_view::run(statuses, t, view_stop))
    });

    match duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => tracing::info!(after = ?d, "--duration reached, stopping"),
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        None => {
            let _ = stop.wait_for(|s| *s).await;
        }
    }
    let all_closed = recorder.shutdown(SHUTDOWN_DEADLINE).await;
    let snapshots: Vec<CameraSnapshot> = observed
        .cameras
        .iter()
        .map(|c| c.status.snapshot())
        .collect();
    let _ = view_stop_tx.send(true);
    if let Some(v) = view {
        let _ = v.await;
    }
    if !all_closed {
        tracing::warn!("some cameras did not close their segment within {SHUTDOWN_DEADLINE:?}; their files are repaired on the next start");
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    Ok(snapshots)
}

pub async fn repair_leftovers(out: &Path) -> anyhow::Result<()> {
    let dir = out.to_path_buf();
    let report = tokio::task::spawn_blocking(move || repair_dir(&dir))
        .await
        .context("repair task failed")?
        .with_context(|| format!("repairing unfinished files in {}", out.display()))?;
    for f in &report.files {
        tracing::warn!(file = %f.part.display(), outcome = ?f.outcome, "repaired a file left by an earlier crash");
    }
    Ok(())
}

fn print_summary(snapshots: &[CameraSnapshot]) {
    for s in snapshots {
        tracing::info!(
            camera = %s.id,
            frames = s.frames,
            segments = s.segments_recorded,
            bytes = s.bytes_recorded,
            reconnects = s.reconnects,
            last_error = s.last_error.as_deref().unwrap_or("none"),
            "camera summary"
        );
    }
}
