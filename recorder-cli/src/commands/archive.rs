//! `camrec list` and `camrec export`: reading what was recorded, from a
//! folder or a bucket, through the library's [`Archive`].

use std::sync::Arc;

use anyhow::Context;
use recorder_core::archive::{gaps, Archive};
use recorder_core::time::WallTime;

use crate::args::{ArchiveArgs, ExportArgs, ListArgs};
use crate::config::retention::human_size;
use crate::config::{self, StorageKind};
use crate::UsageError;

/// A gap shorter than this between two segments is not reported: the
/// muxer's own cut leaves none, clocks may disagree by a frame.
const GAP_TOLERANCE_NS: i64 = 500_000_000;

/// Opens the archive `--from` (or the configuration's storage) names.
pub async fn open(a: &ArchiveArgs) -> anyhow::Result<Archive> {
    let flags = config::Flags {
        out: a.from.clone(),
        template: a.template.clone(),
        no_metrics: true,
        ..config::Flags::default()
    };
    let cfg = config::load_without_cameras(a.config.as_deref(), &config::process_env(), &flags)?;
    let template = cfg.key_template.v.clone();
    if cfg.storage.kind.v == StorageKind::S3 {
        return Ok(Archive::s3(cfg.s3_config()).await);
    }
    let dir = cfg.storage.dir.v.clone();
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "{} is not a folder; give the recordings folder or s3://bucket/prefix with --from",
            dir.display()
        ))
        .into());
    }
    Ok(Archive::local(dir, template))
}

fn time_arg(flag: &str, v: &str) -> anyhow::Result<WallTime> {
    WallTime::parse_rfc3339(v).ok_or_else(|| {
        UsageError(format!(
            "{flag} {v:?} is not an RFC 3339 time (write e.g. 2026-12-06T10:00:00Z or 2026-12-06T11:00:00+01:00)"
        ))
        .into()
    })
}

fn secs(ns: i64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

pub async fn list(a: ListArgs) -> anyhow::Result<()> {
    let archive = open(&a.archive).await?;
    let Some(camera) = a.camera else {
        let cams = archive
            .cameras()
            .await
            .with_context(|| format!("listing {}", archive.describe()))?;
        if cams.is_empty() {
            println!("no recordings in {}", archive.describe());
        }
        for c in cams {
            println!(
                "{}\t{}\t{}\t{} segments\t{}",
                c.id,
                c.first.to_rfc3339(),
                c.last.to_rfc3339(),
                c.segments,
                human_size(c.bytes)
            );
        }
        return Ok(());
    };
    let start = match &a.start {
        Some(s) => time_arg("--start", s)?,
        None => WallTime(0),
    };
    let end = match &a.end {
        Some(s) => time_arg("--end", s)?,
        None => WallTime::now().add_ns(86_400_000_000_000),
    };
    if start >= end {
        return Err(UsageError("--start must be before --end".into()).into());
    }
    let recs = archive
        .recordings(&camera, start, end)
        .await
        .with_context(|| format!("listing camera {camera} in {}", archive.describe()))?;
    if recs.is_empty() {
        println!("no recordings of camera {camera:?} in that range");
        return Ok(());
    }
    let holes = gaps(&recs, GAP_TOLERANCE_NS);
    let mut holes = holes.iter().peekable();
    for r in &recs {
        while let Some(g) = holes.next_if(|g| g.end <= r.index.wall_start) {
            println!(
                "gap\t{}\t{}\t{}",
                g.start.to_rfc3339(),
                g.end.to_rfc3339(),
                secs(g.end.0.saturating_sub(g.start.0))
            );
        }
        let i = &r.index;
        let res = i
            .resolution()
            .map_or(String::from("-"), |(w, h)| format!("{w}x{h}"));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            i.wall_start.to_rfc3339(),
            i.wall_end.to_rfc3339(),
            secs(i.duration.as_nanos() as i64),
            r.entry.bytes,
            i.codecs().join(","),
            res,
            r.entry.name
        );
    }
    Ok(())
}

pub async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let start = time_arg("--start", &a.start)?;
    let end = time_arg("--end", &a.end)?;
    if start >= end {
        return Err(UsageError("--start must be before --end".into()).into());
    }
    let archive = Arc::new(open(&a.archive).await?);
    let export = archive
        .export(&a.camera, start, end)
        .await
        .with_context(|| format!("exporting camera {} from {}", a.camera, archive.describe()))?;
    let plan = &export.plan;
    if let Some(t) = plan.truncated() {
        eprintln!("warning: {}", t.reason);
    }
    let (s, e, frames, total) = (
        plan.start(),
        plan.end(),
        plan.video_frames(),
        plan.total_len(),
    );
    if s != start || e != end {
        eprintln!(
            "note: recordings cover {} to {} of the range asked for",
            s.to_rfc3339(),
            e.to_rfc3339()
        );
    }
    let tmp = a.output.with_extension("mp4.part");
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("creating {}", tmp.display()))?;
    let written = export.write_to(archive.clone(), &mut file).await;
    drop(file);
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(anyhow::Error::new(e).context(format!("writing {}", a.output.display())));
        }
    };
    std::fs::rename(&tmp, &a.output)
        .with_context(|| format!("renaming {} to {}", tmp.display(), a.output.display()))?;
    debug_assert_eq!(written, total);
    println!(
        "{}: {} to {} ({}), {} video frames from the keyframe before the start, {}",
        a.output.display(),
        s.to_rfc3339(),
        e.to_rfc3339(),
        secs(e.0.saturating_sub(s.0)),
        frames,
        human_size(written)
    );
    Ok(())
}
