//! `camrec record`: configuration → cameras → storage, with metrics, health
//! and a live status view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use recorder_cli::playback::{self, Playback};
use recorder_core::archive::Archive;
use recorder_core::mux::MuxerConfig;
use recorder_core::recorder::{CameraConfig, CameraSnapshot, Recorder, RecorderEvent};
use recorder_core::sink::s3::{S3Config, S3Error, S3Store};
use recorder_core::sink::{repair_dir, sanitize_camera_id, FolderLock};
use recorder_core::source::{BackoffConfig, SourceConfig};

use recorder_core::retention::{NameTemplates, Pruner, DEFAULT_PRUNE_EVERY};

use crate::args::{ConfigArgs, RecordArgs};
use crate::config::retention::{human_age, human_size};
use crate::config::{self, Camera, Config, StorageKind};
use crate::logging::LogTail;
use crate::metrics::{self, S3Watch, StoreCheck, WatchedCamera};
use crate::UsageError;

/// How long shutdown waits for every camera to close its segment.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// How long shutdown then waits for S3 uploads to complete.
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(45);

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
        legacy_metrics: a.legacy_metrics,
        retention: a.retention.flags(),
        thumbnail_interval: a.thumbnail_interval,
        no_thumbnails: a.no_thumbnails,
        thumbnail_template: None,
    }
}

/// Loads and validates file + environment + flags.
pub fn load(a: &ConfigArgs) -> Result<Config, config::ConfigErrors> {
    config::load(a.config.as_deref(), &config::process_env(), &flags(a))
}

pub async fn run(a: RecordArgs, tail: Option<LogTail>) -> anyhow::Result<()> {
    let cfg = load(&a.cfg)?;
    let source = crate::control::Source {
        path: a.cfg.config.clone(),
        env: config::process_env(),
        flags: flags(&a.cfg),
    };
    let snapshots = record(&cfg, a.duration, tail, Some(source)).await?;
    print_summary(&snapshots);
    // A timed run is a test of the setup (CI, a first try): one camera
    // that stored nothing makes it fail, with the camera's own reason.
    // Stopped by a signal, a service exits 0 as before.
    match (a.duration, nothing_recorded(&snapshots)) {
        (Some(d), Some(why)) => Err(anyhow::anyhow!(
            "recorded nothing within {}: {why}",
            humantime::format_duration(d)
        )),
        _ => Ok(()),
    }
}

/// Whether the camera stored any video (init segment or fragments).
fn stored_something(s: &CameraSnapshot) -> bool {
    s.segments_recorded > 0 || s.bytes_recorded > 0
}

/// The cameras that stored nothing, each with why; None when all stored.
fn nothing_recorded(snapshots: &[CameraSnapshot]) -> Option<String> {
    let failed: Vec<String> = snapshots
        .iter()
        .filter(|s| !stored_something(s))
        .map(|s| format!("camera {:?}: {}", s.id, why_nothing(s)))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// Why a camera stored nothing: its last error (already redacted by the
/// recorder; control characters removed here, since a camera wrote it),
/// else what the counters show.
fn why_nothing(s: &CameraSnapshot) -> String {
    match &s.last_error {
        Some(e) => e
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
        None if s.frames == 0 => "no frames received from the camera".into(),
        None => format!(
            "{} frames received but none stored (no keyframe yet?)",
            s.frames
        ),
    }
}

/// The recorder's settings for one configured camera.
pub fn camera_config(c: &Camera) -> CameraConfig {
    let mut source = SourceConfig::new(c.url.v.clone());
    source.transport = c.transport.v;
    source.stall_timeout = c.stall_timeout.v;
    CameraConfig::from_source(c.id.v.clone(), source)
        .with_muxer(MuxerConfig {
            segment_duration: c.segment.v,
            align_to_wall_clock: c.align.v,
            fragment_duration: c.fragment.v,
            ..MuxerConfig::default()
        })
        .with_backoff(BackoffConfig::default())
}

/// Records every enabled camera until a signal or `duration`, serving
/// metrics and showing the status view meanwhile; then closes every open
/// segment (graceful shutdown with a deadline).
pub async fn record(
    cfg: &Config,
    duration: Option<Duration>,
    tail: Option<LogTail>,
    source: Option<crate::control::Source>,
) -> anyhow::Result<Vec<CameraSnapshot>> {
    let mut stop = crate::signals::install();
    // The only place that decides between storage kinds.
    // The output folder's lock is taken before start-up repair and held to
    // the end, so no other camrec repairs or records there meanwhile (the
    // sinks share it).
    let (output, _out_lock) = match cfg.storage.kind.v {
        StorageKind::Local => {
            let dir = cfg.storage.dir.v.clone();
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
            let lock = FolderLock::output(&dir)?;
            repair_leftovers(&dir).await?;
            (Output::Local(dir), Some(lock))
        }
        StorageKind::S3 => (
            {
                let out = start_s3(s3_config(cfg), owned_key_prefixes(cfg)).await?;
                super::s3::check_lifecycle_at_start(cfg, &out.store).await;
                Output::S3(out)
            },
            None,
        ),
    };

    let pruner = match &output {
        Output::Local(dir) if cfg.retention.active_with(&cfg.cameras) => {
            Some(open_retention(cfg, dir).await?)
        }
        _ => None,
    };
    let recorder = Recorder::new();
    // Subscribed before any camera starts, so no stored segment is missed.
    let (retention_stop_tx, retention_stop) = tokio::sync::watch::channel(false);
    let retention_task = pruner
        .clone()
        .map(|p| tokio::spawn(p.run(recorder.subscribe(), retention_stop, DEFAULT_PRUNE_EVERY)));
    let mut webhook = None;
    if let Some(url) = &cfg.control.webhook_url.v {
        match url::Url::parse(url) {
            Ok(u) => match crate::webhook::start(u.clone(), recorder.subscribe()) {
                Ok(counters) => {
                    webhook = Some(counters);
                    tracing::info!(url = %crate::webhook::shown(&u), "posting stored segments and clips to the webhook");
                }
                Err(e) => tracing::warn!(error = %e, "TLS could not be set up; no webhook"),
            },
            Err(e) => tracing::warn!(error = %e, "webhook URL not usable; no webhook"),
        }
    }
    let (logs_stop_tx, logs_stop) = tokio::sync::watch::channel(false);
    let expected: Vec<Camera> = cfg.enabled_cameras().cloned().collect();
    let logs = tokio::spawn(log_events(recorder.subscribe(), expected, logs_stop));
    let store = match &output {
        Output::Local(dir) => crate::control::Store::Local {
            dir: dir.clone(),
            sync_fragments: cfg.storage.sync_fragments.v,
        },
        Output::S3(s3) => crate::control::Store::S3(s3.store.clone()),
    };
    let source = source.unwrap_or_else(|| crate::control::Source {
        path: cfg.file.clone(),
        env: config::process_env(),
        flags: config::Flags::default(),
    });
    let control = crate::control::Control::new(recorder.clone(), store, source, cfg.clone());
    let mut watched = Vec::new();
    let mut disabled = Vec::new();
    for cam in &cfg.cameras {
        if !cam.enabled.v {
            tracing::info!(camera = %cam.id.v, "camera disabled in the configuration; not started");
            disabled.push(cam.id.v.clone());
            continue;
        }
        let status = control.start(cam).await?;
        watched.push(WatchedCamera {
            status,
            name: cam.name.v.clone(),
        });
    }
    let (store_check, s3_watch) = match &output {
        Output::Local(dir) => (StoreCheck::LocalDir(dir.clone()), None),
        Output::S3(s3) => {
            let (store, per_camera) = (s3.store.clone(), s3.store.clone());
            let w = S3Watch::new(
                move || store.status(),
                move || per_camera.camera_statuses(),
                s3.store.config().spool_limit_bytes,
                s3.location.clone(),
            );
            (StoreCheck::S3(w.clone()), Some(w))
        }
    };
    // Samples the store's counters every second for the readiness rule.
    let sampler = s3_watch.clone().map(|w| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                w.sample(std::time::Instant::now());
            }
        })
    });
    let observed = metrics::observed_with_retention(
        watched,
        disabled,
        store_check,
        metrics::MetricsOptions {
            legacy_names: cfg.metrics_legacy_names.v,
        },
        pruner.clone(),
        webhook,
    );
    control.watch(observed.cameras.clone());
    let server = match cfg.metrics_listen.v {
        Some(addr) => {
            let playback = playback_state(cfg, &output).await;
            let api = crate::api::router(std::sync::Arc::new(crate::api::Api {
                control: control.clone(),
                token: cfg.control.token.v.clone(),
                allow_localhost_without_token: cfg.control.allow_localhost_without_token.v,
                playback: Some(playback.clone()),
            }));
            // `GET /api/cameras` is the API's (live state with the recorded
            // span merged in); every other playback route is served as is.
            let routes = api.merge(playback::routes(playback));
            let s = crate::http::serve(addr, observed.clone(), routes)
                .await
                .context("serving /metrics (set another address with --metrics-listen or METRICS_PORT, or --no-metrics)")?;
            let api_state = if cfg.control.token.v.is_some() {
                "token required for changes"
            } else if cfg.control.allow_localhost_without_token.v {
                "changes allowed from this host without a token"
            } else {
                "read-only: no token configured"
            };
            tracing::info!(listen = %s.addr, api = api_state, "serving /metrics, /health, /ready, /api and the recordings at /");
            Some(s)
        }
        None => None,
    };
    let (view_stop_tx, view_stop) = tokio::sync::watch::channel(false);
    let view = tail.map(|t| {
        let rec = recorder.clone();
        let expected = cfg
            .enabled_cameras()
            .filter_map(|c| {
                c.expected_resolution
                    .v
                    .map(|r| (c.id.v.clone(), (r.width, r.height)))
            })
            .collect();
        tokio::spawn(crate::status_view::run(
            move || rec.snapshot(),
            expected,
            s3_watch.clone(),
            t,
            view_stop,
        ))
    });

    let hup = crate::signals::on_hangup(control.clone());
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
    if let Some(h) = hup {
        h.abort();
    }
    let all_closed = recorder.shutdown(SHUTDOWN_DEADLINE).await;
    let _ = logs_stop_tx.send(true);
    let _ = logs.await;
    // After the last segments are stored: one last pass accounts for them.
    let _ = retention_stop_tx.send(true);
    if let Some(t) = retention_task {
        let _ = t.await;
    }
    if let Some(p) = &pruner {
        log_retention_summary(p);
    }
    if let Output::S3(s3) = &output {
        finish_uploads(s3).await;
    }
    if let Some(t) = sampler {
        t.abort();
    }
    let snapshots: Vec<CameraSnapshot> = observed
        .cameras
        .list()
        .iter()
        .map(|c| c.status.snapshot())
        .collect();
    let _ = view_stop_tx.send(true);
    if let Some(v) = view {
        let _ = v.await;
    }
    if !all_closed {
        match &output {
            Output::Local(_) => tracing::warn!("some cameras did not close their segment within {SHUTDOWN_DEADLINE:?}; their files are repaired on the next start"),
            Output::S3(_) => tracing::warn!("some cameras did not close their segment within {SHUTDOWN_DEADLINE:?}; their spooled fragments are uploaded on the next start"),
        }
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    Ok(snapshots)
}

/// The playback routes and page (docs/playback.md) over what this
/// process records: finished segments, read like `camrec serve` reads them.
async fn playback_state(cfg: &Config, output: &Output) -> std::sync::Arc<Playback> {
    let template = cfg.key_template.v.clone();
    let archive = match output {
        Output::Local(dir) => Archive::local(dir.clone(), template),
        Output::S3(_) => Archive::s3(s3_config(cfg)).await,
    };
    Playback::new(std::sync::Arc::new(archive), playback::Settings::default())
}

/// The recorder's events as log lines (the library reports; the binary
/// decides how to show it). Runs until `stop`, then logs what is left.
async fn log_events(
    mut events: tokio::sync::broadcast::Receiver<RecorderEvent>,
    cameras: Vec<Camera>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut log = EventLog {
        cameras,
        mismatches: std::collections::HashMap::new(),
    };
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let ev = tokio::select! {
            biased;
            ev = events.recv() => ev,
            _ = stop.wait_for(|s| *s) => break,
        };
        match ev {
            Ok(ev) => log.event(&ev),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the log fell behind the recorder's events")
            }
            Err(RecvError::Closed) => return,
        }
    }
    loop {
        match events.try_recv() {
            Ok(ev) => log.event(&ev),
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// Logs events, and warns when a camera delivers another resolution or
/// frame rate than its configuration says (once per change).
struct EventLog {
    cameras: Vec<Camera>,
    /// The last mismatch warned about, per camera.
    mismatches: std::collections::HashMap<String, Option<String>>,
}

impl EventLog {
    fn event(&mut self, ev: &RecorderEvent) {
        log_event(ev);
        let RecorderEvent::SegmentStored(s) = ev else {
            return;
        };
        let Some(cam) = self.cameras.iter().find(|c| c.id.v == s.camera) else {
            return;
        };
        let secs = s.duration.as_secs_f64();
        // A segment cut short (a reconnect, shutdown) says little about
        // the frame rate: judge by full segments only.
        if secs < 2.0 {
            return;
        }
        let fps = s.video_frames.map(|n| n as f64 / secs);
        let resolution = s.resolution.map(|(w, h)| crate::config::Resolution {
            width: u32::from(w),
            height: u32::from(h),
        });
        let mismatch = cam.delivery_mismatch(resolution, fps);
        let last = self.mismatches.entry(s.camera.clone()).or_default();
        if *last != mismatch {
            if let Some(m) = &mismatch {
                tracing::warn!(camera = %s.camera, "{m}");
            }
            *last = mismatch;
        }
    }
}

fn log_event(ev: &RecorderEvent) {
    if let RecorderEvent::SegmentStored(s) = ev {
        // An S3 object exists once the store's upload completes.
        let message = if s.upload_pending {
            "segment sealed for upload"
        } else {
            "segment stored"
        };
        tracing::info!(
            camera = %s.camera,
            location = %s.location,
            bytes = s.bytes,
            fragments = s.fragments,
            duration_s = s.duration.as_secs_f64(),
            video_frames = s.video_frames,
            reason = s.reason.map_or("aborted", |r| r.as_str()),
            "{message}"
        );
    }
}

/// Where `record` writes.
enum Output {
    Local(PathBuf),
    S3(S3Output),
}

struct S3Output {
    store: S3Store,
    /// `s3://bucket/prefix/`, for messages.
    location: String,
}

/// The library's S3 settings from the CLI's (see [`Config::s3_config`]).
/// A setting the library refuses is a usage error (`start_s3`).
pub fn s3_config(cfg: &Config) -> S3Config {
    cfg.s3_config()
}

/// The key prefixes (relative to the S3 prefix) of this instance's enabled
/// cameras, or `None` when the key template does not start with the camera
/// (then every open upload under the prefix counts as ours). Their clips'
/// folders count too when the clip template starts `clips/{camera}/` (the
/// default), so a clip upload a crash left open is aborted at start-up
/// rather than by the bucket's one-day rule.
fn owned_key_prefixes(cfg: &Config) -> Option<Vec<String>> {
    if !cfg.key_template.v.as_str().starts_with("{camera}/") {
        return None;
    }
    let clips = clip_uploads_by_camera(&cfg.control.clip_template.v);
    let mut owned = Vec::new();
    for c in cfg.enabled_cameras() {
        let id = sanitize_camera_id(&c.id.v);
        if clips {
            owned.push(format!("clips/{id}/"));
        }
        owned.push(format!("{id}/"));
    }
    Some(owned)
}

/// True when a clip template puts each camera's clips in its own folder
/// under `clips/`: the only clips stored as multipart uploads (elsewhere
/// each is one `PutObject`, which leaves nothing open).
fn clip_uploads_by_camera(template: &str) -> bool {
    template.starts_with("clips/{camera}/")
}

/// Connects (the library's start-up check: endpoint, credentials, bucket)
/// and completes what an earlier run left in the spool or the bucket,
/// before any camera starts.
async fn start_s3(c: S3Config, owned: Option<Vec<String>>) -> anyhow::Result<S3Output> {
    let prefix = c.prefix.trim_start_matches('/');
    let sep = if prefix.is_empty() || prefix.ends_with('/') {
        ""
    } else {
        "/"
    };
    let location = format!("s3://{}/{prefix}{sep}", c.bucket);
    let endpoint = c.endpoint.clone().unwrap_or_else(|| "AWS".into());
    let spool = c.spool_dir.clone();
    let store = match S3Store::connect(c).await {
        Ok(s) => s,
        Err(S3Error::InvalidConfig(m)) => {
            return Err(UsageError(format!("S3 configuration: {m}")).into())
        }
        Err(e @ S3Error::NoSuchBucket { .. }) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot use {location} (to create the bucket at start-up, set \
                 S3_CREATE_BUCKET=true or `create_bucket = true` under [storage])"
            )))
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot use {location}"))),
    };
    let st = store.status();
    tracing::info!(%location, %endpoint, spool = %spool.display(), spooled_bytes = st.spool_bytes, "connected to S3");
    // Only this instance's cameras' orphan uploads: replicas sharing a
    // bucket and prefix must not complete each other's open segments.
    let owns = |key: &str| {
        owned
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| key.starts_with(p.as_str())))
    };
    let report = store.recover_owned(&owns).await.with_context(|| {
        format!(
            "recovering uploads left in {location} and {}",
            spool.display()
        )
    })?;
    for r in &report.completed {
        tracing::warn!(key = %r.key, bytes = ?r.bytes, source = ?r.source, "completed a segment left by an earlier run");
    }
    for d in &report.discarded {
        tracing::warn!(what = %d, "discarded an unplayable leftover of an earlier run");
    }
    for (what, why) in &report.failed {
        tracing::warn!(what = %what, error = %why, "could not recover a leftover now; it is kept and retried on the next start");
    }
    Ok(S3Output { store, location })
}

/// At shutdown, after every camera sealed its segment: waits (up to
/// [`UPLOAD_DEADLINE`]) for the uploads, then reports what is left.
async fn finish_uploads(s3: &S3Output) {
    let pending = s3.store.status().segments_pending;
    if pending > 0 {
        tracing::info!(
            pending,
            "waiting for uploads to finish (up to {UPLOAD_DEADLINE:?})"
        );
    }
    let idle = s3.store.wait_idle(UPLOAD_DEADLINE).await;
    let st = s3.store.status();
    if idle {
        tracing::info!(
            location = %s3.location,
            segments_uploaded = st.segments_uploaded,
            bytes_uploaded = st.bytes_uploaded,
            failed_requests = st.upload_failures,
            "all uploads complete"
        );
    } else {
        tracing::warn!(
            location = %s3.location,
            segments_pending = st.segments_pending,
            spool_bytes = st.spool_bytes,
            spool = %s3.store.config().spool_dir.display(),
            "segments still pending upload after {UPLOAD_DEADLINE:?}; they stay in the spool and are uploaded on the next start"
        );
    }
}

/// Walks the output folder once (before any camera starts) for the
/// retention account, and logs what it found and the policy.
async fn open_retention(cfg: &Config, dir: &Path) -> anyhow::Result<Pruner> {
    let policy = cfg.retention.policy(cfg.cameras.iter().map(|c| {
        (
            c.id.v.as_str(),
            c.retention_max_age.v,
            c.retention_max_bytes.v,
        )
    }));
    // Thumbnails are found under their own template even when thumbnails
    // are off now: earlier runs may have left some.
    let templates = NameTemplates::new(cfg.key_template.v.clone())
        .with_thumbnails(cfg.thumbnails.key_template.v.clone());
    let root = dir.to_path_buf();
    let (pruner, scanned) =
        tokio::task::spawn_blocking(move || Pruner::open(root, templates, policy))
            .await
            .context("retention start-up task failed")??;
    let r = &cfg.retention;
    tracing::info!(
        files = scanned.files,
        bytes = scanned.bytes,
        pinned = scanned.pinned,
        open = scanned.open,
        walk_s = scanned.elapsed.as_secs_f64(),
        max_age = %r.max_age.v.map_or("none".into(), human_age),
        max_bytes = %r.max_bytes.v.map_or("none".into(), human_size),
        total_max_age = %r.total_max_age.v.map_or("none".into(), human_age),
        total_max_bytes = %r.total_max_bytes.v.map_or("none".into(), human_size),
        min_free = %r.min_free.v.map_or("none".into(), human_size),
        "retention: accounted for the recordings in {}",
        dir.display()
    );
    if scanned.unrecognized > 0 {
        tracing::warn!(
            files = scanned.unrecognized,
            template = %cfg.key_template.v,
            "retention: .mp4 files the key template does not name are left alone (recorded with another template?); `camrec prune --template ...` can prune them"
        );
    }
    for e in &scanned.errors {
        tracing::warn!(error = %e, "retention: skipped an unreadable entry");
    }
    Ok(pruner)
}

fn log_retention_summary(p: &Pruner) {
    let s = p.snapshot();
    for c in &s.cameras {
        tracing::info!(
            camera = %c.camera,
            stored_bytes = c.usage.bytes,
            stored_segments = c.usage.files,
            segments_deleted = c.segments_deleted,
            bytes_deleted = c.bytes_deleted,
            "retention summary"
        );
    }
    if s.delete_errors > 0 {
        tracing::warn!(
            errors = s.delete_errors,
            "retention could not delete some files"
        );
    }
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
            video_frames = s.video_frames,
            packets_lost = s.packets_lost,
            segments = s.segments_recorded,
            bytes = s.bytes_recorded,
            reconnects = s.reconnects,
            last_error = s.last_error.as_deref().unwrap_or("none"),
            "camera summary"
        );
        if !stored_something(s) {
            tracing::warn!(camera = %s.id, reason = %why_nothing(s), "camera recorded nothing");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clip_uploads_by_camera;

    #[test]
    fn clip_uploads_are_owned_when_the_template_puts_the_camera_first_under_clips() {
        assert!(clip_uploads_by_camera(
            "clips/{camera}/{YYYYMMDD}/{HHMMSS}_{label}.mp4"
        ));
        assert!(!clip_uploads_by_camera("{camera}/clips/{label}.mp4"));
        assert!(!clip_uploads_by_camera("clips/{YYYYMMDD}/{camera}/x.mp4"));
        assert!(!clip_uploads_by_camera("events/{camera}/{label}.mp4"));
    }
}
