//! `camrec record`: cameras → local folder.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use recorder_core::mux::MuxerConfig;
use recorder_core::recorder::{CameraConfig, CameraSnapshot, Recorder};
use recorder_core::sink::{repair_dir, LocalSink, LocalSinkOptions, ObjectNameTemplate};
use recorder_core::source::{BackoffConfig, CameraUrl, SourceConfig, Transport};

use crate::args::{RecordArgs, RecordingOptions};

/// A camera id from its URL: host and path, safe for file names.
pub fn camera_id_from_url(url: &CameraUrl) -> String {
    let u = url.url();
    let raw = format!("{}{}", u.host_str().unwrap_or("camera"), u.path());
    let id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.trim_matches('-').to_string()
}

pub async fn run(a: RecordArgs) -> anyhow::Result<()> {
    let transport: Transport = a
        .transport
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("--transport must be tcp or udp")?;
    if !a.camera_ids.is_empty() && a.camera_ids.len() != a.urls.len() {
        bail!(
            "{} --camera-id values for {} URLs: give one id per URL, in the same order",
            a.camera_ids.len(),
            a.urls.len()
        );
    }
    let mut cameras = Vec::new();
    for (i, raw) in a.urls.iter().enumerate() {
        let url = CameraUrl::parse(raw).with_context(|| format!("camera URL #{}", i + 1))?;
        let id = a
            .camera_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| camera_id_from_url(&url));
        let mut source = SourceConfig::new(url);
        source.transport = transport;
        source.stall_timeout = a.stall_timeout;
        cameras.push(camera_config(id, source, &a.rec));
    }
    let mut ids: Vec<&str> = cameras.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "two cameras would both be called {:?}; give each a distinct --camera-id",
            w[0]
        );
    }
    let snapshots = record(cameras, &a.rec).await?;
    print_summary(&snapshots);
    Ok(())
}

pub fn camera_config(id: String, source: SourceConfig, rec: &RecordingOptions) -> CameraConfig {
    CameraConfig {
        id,
        source,
        muxer: MuxerConfig {
            segment_duration: rec.segment,
            align_to_wall_clock: rec.align,
            fragment_duration: rec.fragment,
            ..MuxerConfig::default()
        },
        backoff: BackoffConfig::default(),
    }
}

/// Repairs leftovers, records until a signal or `--duration`, then closes
/// every open segment.
pub async fn record(
    cameras: Vec<CameraConfig>,
    rec: &RecordingOptions,
) -> anyhow::Result<Vec<CameraSnapshot>> {
    if rec.segment < Duration::from_secs(1) {
        bail!("--segment {:?} is too short; use at least 1s", rec.segment);
    }
    let template: ObjectNameTemplate = rec
        .template
        .parse()
        .with_context(|| format!("--template {:?}", rec.template))?;
    std::fs::create_dir_all(&rec.out)
        .with_context(|| format!("cannot create the output folder {}", rec.out.display()))?;
    repair_leftovers(&rec.out).await?;
    let mut recorder = Recorder::new();
    for cam in cameras {
        let sink = LocalSink::new(&rec.out, template.clone())
            .with_context(|| format!("output folder {}", rec.out.display()))?
            .with_options(LocalSinkOptions {
                sync_each_fragment: rec.sync_fragments,
            });
        tracing::info!(camera = %cam.id, url = %cam.source.url, out = %rec.out.display(), "starting camera");
        recorder.add_camera(cam, sink);
    }
    let mut stop = crate::signals::install();
    match rec.duration {
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
    let snapshots = recorder.snapshot();
    if !recorder.shutdown(Duration::from_secs(30)).await {
        tracing::warn!("some cameras did not close their segment within 30 s; their files are repaired on the next start");
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
        eprintln!(
            "{}: {} frames, {} segments, {} bytes, {} reconnects{}",
            s.id,
            s.frames,
            s.segments_recorded,
            s.bytes_recorded,
            s.reconnects,
            s.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
}
