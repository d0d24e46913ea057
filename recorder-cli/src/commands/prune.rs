//! `camrec prune --from DIR --dry-run|--apply`: one retention pass over a
//! recordings folder, with the policy of `camrec record` (configuration
//! file and the same flags).

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context;
use recorder_core::retention::{
    delete_planned, free_bytes, plan, scan, DeleteOutcome, FileKind, NameTemplates,
};
use recorder_core::sink::{FolderLock, SinkError};
use recorder_core::time::WallTime;

use crate::args::PruneArgs;
use crate::config::retention::human_size;
use crate::config::{self, StorageKind};
use crate::UsageError;

pub async fn run(a: PruneArgs) -> anyhow::Result<()> {
    let flags = config::Flags {
        out: a.from.clone(),
        template: a.template.clone(),
        thumbnail_template: a.thumbnail_template.clone(),
        retention: a.retention.flags(),
        no_metrics: true,
        ..config::Flags::default()
    };
    let cfg = config::load_without_cameras(a.config.as_deref(), &config::process_env(), &flags)?;
    if cfg.storage.kind.v == StorageKind::S3 {
        return Err(UsageError(
            "camrec prune works on a local folder: give --from DIR (in a bucket, use its lifecycle rules)".into(),
        )
        .into());
    }
    let dir: PathBuf = cfg.storage.dir.v.clone();
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "{} is not a folder; give the recordings folder with --from DIR",
            dir.display()
        ))
        .into());
    }
    if !cfg.retention.active_with(&cfg.cameras) {
        return Err(UsageError(
            "no retention limit is set: give --max-age, --max-bytes, --total-max-age, --total-max-bytes, --clips-max-age, --clips-max-bytes or --min-free, or a [retention] table in --config".into(),
        )
        .into());
    }
    let policy = cfg.retention.policy(cfg.cameras.iter().map(|c| {
        (
            c.id.v.as_str(),
            c.retention_max_age.v,
            c.retention_max_bytes.v,
        )
    }));
    // A recorder writing there applies retention itself; two pruners (or
    // a pruner and start-up repair) must not work on one folder at once.
    let _lock = match FolderLock::output(&dir) {
        Ok(l) => l,
        Err(e @ SinkError::FolderInUse { .. }) => {
            return Err(anyhow::Error::new(e).context(
                "camrec record (or another camrec) works in this folder; a recorder with retention settings prunes it itself",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let templates = NameTemplates::new(cfg.key_template.v.clone())
        .with_thumbnails(cfg.thumbnails.key_template.v.clone());
    let apply = a.apply;
    let root = dir.clone();
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let (account, scanned) = scan(&root, &templates)?;
        let mut out = String::new();
        out.push_str(&format!(
            "{}: {} files ({}), {} pinned, {} open (.part, left alone), {} .mp4 not named by the template {:?} (left alone), thumbnails named by {:?}; walked in {:.3} s\n",
            root.display(),
            scanned.files,
            human_size(scanned.bytes),
            scanned.pinned,
            scanned.open,
            scanned.unrecognized,
            templates.segments().as_str(),
            templates.thumbnails().map_or("", |t| t.as_str()),
            scanned.elapsed.as_secs_f64()
        ));
        for e in &scanned.errors {
            out.push_str(&format!("warning: skipped {e}\n"));
        }
        let free = if policy.needs_free_space() {
            Some(free_bytes(&root)?)
        } else {
            None
        };
        let planned = plan(&account, &policy, WallTime::now(), free);
        let verb = if apply { "deleted" } else { "would delete" };
        let (mut n, mut bytes, mut failed) = (0u64, 0u64, 0u64);
        let outcomes: Vec<_> = if apply {
            delete_planned(&root, &planned, &HashSet::new())
        } else {
            planned
                .deletions
                .iter()
                .map(|d| (d.clone(), DeleteOutcome::Deleted))
                .collect()
        };
        for (d, outcome) in outcomes {
            let what = match &outcome {
                DeleteOutcome::Deleted => verb.to_string(),
                DeleteOutcome::AlreadyGone => "already gone".into(),
                DeleteOutcome::NowPinned => "kept (pinned)".into(),
                DeleteOutcome::Failed(e) => format!("FAILED ({e})"),
                _ => "?".into(),
            };
            let kind = match d.file.kind {
                FileKind::Segment if d.file.is_thumbnail() => "thumbnail",
                FileKind::Segment => "segment",
                FileKind::Clip => "clip",
            };
            out.push_str(&format!(
                "{what}: {} ({} bytes, {kind}, {}, started {}){}\n",
                d.file.name,
                d.file.bytes,
                d.reason.as_str(),
                d.file.start.to_rfc3339(),
                if d.before_max_age {
                    " younger than the age limit"
                } else {
                    ""
                }
            ));
            match outcome {
                DeleteOutcome::Deleted | DeleteOutcome::AlreadyGone => {
                    n += 1;
                    bytes += d.file.bytes;
                }
                DeleteOutcome::Failed(_) => failed += 1,
                _ => {}
            }
        }
        out.push_str(&format!("{verb} {n} files, {bytes} bytes ({})\n", human_size(bytes)));
        if let (Some(f), Some(floor)) = (free, policy.min_free_bytes) {
            out.push_str(&format!(
                "free space: {} (floor {})\n",
                human_size(f),
                human_size(floor)
            ));
        }
        if planned.deletions.iter().any(|d| d.before_max_age) {
            out.push_str("warning: the free-space floor deletes recordings younger than their age limit: the disk is too small for the policy\n");
        }
        if planned.floor_short_bytes > 0 {
            out.push_str(&format!(
                "warning: {} short of the free-space floor with nothing left to delete (the rest is pinned, open, or not recordings)\n",
                human_size(planned.floor_short_bytes)
            ));
        }
        if failed > 0 {
            anyhow::bail!("{out}{failed} files could not be deleted");
        }
        Ok(out)
    })
    .await
    .context("prune task failed")??;
    print!("{report}");
    Ok(())
}
