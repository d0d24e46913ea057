//! Crash recovery: turn spool leftovers and our own open multipart uploads
//! into playable objects, so no upload is left dangling.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::error::{chain_text, S3Error, S3Operation};
use super::push_end_and_duration;
use super::store::{add, classify, sub, S3Store};
use super::upload::{
    abort_upload, completed_part, manifest_path, remove_spool, Manifest, Outcome, PartPlan, Upload,
};
use super::CLIPS_DIR;
use crate::index;
use crate::sink::fs::files_under;
use crate::sink::repair::scan_segment;
use crate::time::WallTime;

/// Where a recovered object's bytes came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecoverySource {
    /// A spool file (cut at its last complete fragment, durations patched,
    /// missing parts uploaded).
    Spool,
    /// Only the parts already in the store (the spool was gone); the header
    /// keeps the duration it had when part 1 was sent.
    UploadedParts,
}

/// One object published by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredSegment {
    /// Its key.
    pub key: String,
    /// Its size, if known.
    pub bytes: Option<u64>,
    /// Complete fragments kept (spool recoveries only).
    pub fragments: Option<u32>,
    /// Where it came from.
    pub source: RecoverySource,
}

/// What [`S3Store::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Objects completed.
    pub completed: Vec<RecoveredSegment>,
    /// Uploads aborted or spool files deleted because nothing playable was
    /// in them (key or spool path).
    pub discarded: Vec<String>,
    /// Leftovers that could not be handled now (`(what, why)`); they stay
    /// and the next recovery tries again.
    pub failed: Vec<(String, String)>,
}

/// Attempts per request during recovery before a leftover is reported as
/// failed (live uploads retry forever instead).
const RECOVERY_ATTEMPTS: u32 = 6;

fn find_spools(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Unreadable directories are skipped: what they hold is retried at the
    // next recovery.
    for p in files_under(dir).flatten() {
        if p.extension().is_some_and(|x| x == "spool") {
            out.push(p);
        } else if p.extension().is_some_and(|x| x == "manifest")
            && !p.with_extension("spool").exists()
        {
            // A manifest whose spool is gone is useless.
            let _ = fs::remove_file(&p);
        }
    }
    out.sort();
    out
}

/// Why recovery must not act on a spool file whose manifest names another
/// bucket, or a key outside this store's prefix (`None`: it is ours). The
/// manifest is only data on disk: trusting its key would let whatever
/// wrote it choose where this recorder uploads (or which upload it aborts).
fn foreign_manifest(m: &Manifest, bucket: &str, prefix: &str) -> Option<String> {
    if let Some(b) = m.bucket.as_deref().filter(|b| *b != bucket) {
        return Some(format!(
            "refused: its manifest names bucket {b:?}, not this store's {bucket:?}; \
             left in the spool, not uploaded (move it to that recorder's spool, or delete it)"
        ));
    }
    let key = m.key.as_deref()?;
    let rest = key.strip_prefix(prefix);
    let bad = match rest {
        None => true,
        Some(r) => r.is_empty() || r.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
    };
    bad.then(|| {
        format!(
            "refused: its manifest names key {key:?}, outside this store's prefix {prefix:?}; \
             left in the spool, not uploaded (move it to that recorder's spool, or delete it)"
        )
    })
}

/// What the blocking scan of one spool file decided.
enum SpoolPlan {
    /// No complete fragment: discard.
    Discard { manifest: Manifest, len: u64 },
    /// Cut to `len`, patched; upload and complete.
    Complete {
        manifest: Manifest,
        len: u64,
        fragments: u32,
        duration: Option<f64>,
        cut: u64,
        /// Bytes of the rebuilt index appended after the kept bytes.
        index_len: u64,
    },
}

fn plan_spool(spool: &Path) -> std::io::Result<SpoolPlan> {
    let manifest = Manifest::read(&manifest_path(spool)).unwrap_or_default();
    let file = OpenOptions::new().read(true).write(true).open(spool)?;
    let len = file.metadata()?.len();
    let scan = scan_segment(&mut &file, len)?;
    if !scan.has_init || scan.fragments == 0 {
        return Ok(SpoolPlan::Discard { manifest, len });
    }
    if scan.keep < len {
        file.set_len(scan.keep)?;
    }
    for p in &scan.patches {
        p.write_to(&file)?;
    }
    // The index is rebuilt from what was kept (whether or not the crash
    // came after it was written): the same bytes the sink would have
    // appended, so parts already uploaded stay valid.
    let camera = manifest
        .meta
        .iter()
        .find(|(k, _)| k == "camera")
        .map_or("", |(_, v)| v.as_str());
    let index_len = match index::rebuild(&mut &file, scan.keep, camera) {
        Ok(i) => {
            let bytes = index::encode(&i);
            file.write_all_at(&bytes, scan.keep)?;
            bytes.len() as u64
        }
        Err(e) => {
            tracing::warn!(spool = %spool.display(), error = %e, "cannot index the recovered segment");
            0
        }
    };
    file.sync_all()?;
    Ok(SpoolPlan::Complete {
        manifest,
        len: scan.keep + index_len,
        fragments: scan.fragments,
        duration: scan.duration_secs,
        cut: len - scan.keep,
        index_len,
    })
}

impl S3Store {
    /// Finishes what a crash (or a dropped sink) left: every spool file
    /// becomes an object (cut at its last complete fragment, durations
    /// patched, parts not yet uploaded sent, upload completed), and every
    /// open multipart upload under our prefix with no spool is completed
    /// from the parts already uploaded (they end on fragment boundaries) or
    /// aborted when it has no usable first part. Afterwards no multipart
    /// upload of ours is left dangling, except those reported as failed.
    ///
    /// Run it at start-up, before the sinks start. Segments this store is
    /// recording right now are skipped. Another recorder writing under the
    /// same bucket and prefix would see its open uploads completed: give
    /// each recorder its own prefix, or use [`S3Store::recover_owned`].
    pub async fn recover(&self) -> Result<RecoveryReport, S3Error> {
        self.recover_owned(&|_| true).await
    }

    /// [`S3Store::recover`], but open multipart uploads without a spool
    /// file are only touched when `owns(key)` says they are ours (`key` is
    /// relative to the prefix, e.g. `cam1/20261123/101500_cam1.mp4`).
    ///
    /// This is what lets several recorders (Kubernetes replicas, say) share
    /// one bucket and prefix with disjoint cameras: each completes only the
    /// uploads of its own cameras, including ones a previous pod on another
    /// node left without a spool. Spool files are always ours: they live on
    /// this recorder's own disk.
    pub async fn recover_owned(
        &self,
        owns: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RecoveryReport, S3Error> {
        let inner = &self.inner;
        let mut report = RecoveryReport::default();
        let active: HashSet<String> = inner
            .active_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let dir = inner.cfg.spool_dir.clone();
        let spools = tokio::task::spawn_blocking(move || find_spools(&dir))
            .await
            .unwrap_or_default();
        let mut handled_uploads = HashSet::new();
        for spool in spools {
            if active.contains(&*spool.to_string_lossy()) {
                continue;
            }
            let what = spool.display().to_string();
            let s = spool.clone();
            let plan = match tokio::task::spawn_blocking(move || plan_spool(&s)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    report
                        .failed
                        .push((what, format!("reading the spool file: {e}")));
                    continue;
                }
                Err(e) => {
                    report.failed.push((what, e.to_string()));
                    continue;
                }
            };
            let rel_key = || {
                let rel = spool.strip_prefix(&inner.cfg.spool_dir).unwrap_or(&spool);
                let rel = rel.with_extension("");
                let parts: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                format!("{}{}", inner.prefix, parts.join("/"))
            };
            let manifest = match &plan {
                SpoolPlan::Discard { manifest, .. } | SpoolPlan::Complete { manifest, .. } => {
                    manifest
                }
            };
            if let Some(why) = foreign_manifest(manifest, &inner.cfg.bucket, &inner.prefix) {
                tracing::warn!(spool = %what, "{why}");
                report.failed.push((what, why));
                continue;
            }
            match plan {
                SpoolPlan::Discard { manifest, len } => {
                    let key = manifest.key.clone().unwrap_or_else(rel_key);
                    if let Some(id) = &manifest.upload_id {
                        abort_upload(inner, None, &key, id).await;
                        handled_uploads.insert(id.clone());
                    }
                    remove_spool(&spool);
                    sub(&inner.counters.spool_bytes, len);
                    tracing::info!(spool = %what, "discarded a spool file with no complete fragment");
                    report.discarded.push(what);
                }
                SpoolPlan::Complete {
                    manifest,
                    len,
                    fragments,
                    duration,
                    cut,
                    index_len,
                } => {
                    let key = manifest.key.clone().unwrap_or_else(rel_key);
                    if let Some(id) = &manifest.upload_id {
                        handled_uploads.insert(id.clone());
                    }
                    let mut meta = manifest.meta.clone();
                    if let Some(d) = duration {
                        let end = meta
                            .iter()
                            .find(|(k, _)| k == "start")
                            .and_then(|(_, v)| WallTime::parse_rfc3339(v))
                            .map(|start| WallTime(start.0 + (d * 1e9) as i64));
                        push_end_and_duration(&mut meta, end, d);
                    }
                    meta.push(("recovered".into(), "true".into()));
                    // Parts recorded in the manifest end on fragment
                    // boundaries within what was kept; keep the contiguous run.
                    let mut parts = std::collections::BTreeMap::new();
                    let mut upto = 0;
                    for (n, p) in &manifest.parts {
                        if *n as usize != parts.len() + 1 || p.start != upto || p.end > len {
                            break;
                        }
                        upto = p.end;
                        parts.insert(*n, p.clone());
                    }
                    let plan = PartPlan::after(
                        inner.cfg.part_size,
                        inner.cfg.max_parts,
                        i32::try_from(parts.len()).unwrap_or(i32::MAX),
                    );
                    let mut up = Upload {
                        inner: inner.clone(),
                        id: inner
                            .next_segment_id
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        key: key.clone(),
                        // An earlier run already chose this key.
                        key_checked: manifest.upload_id.is_some(),
                        spool: spool.clone(),
                        manifest: manifest_path(&spool),
                        upload_id: manifest.upload_id.clone(),
                        parts,
                        uploaded_upto: upto,
                        boundaries: vec![(len, Instant::now())],
                        part1_final: false,
                        max_attempts: Some(RECOVERY_ATTEMPTS),
                        camera: None,
                        sealed: None,
                        plan,
                        limit_warned: false,
                    };
                    // The torn tail was counted at connect and is cut now,
                    // whatever the upload's outcome.
                    sub(&inner.counters.spool_bytes, cut);
                    add(&inner.counters.spool_bytes, index_len);
                    match up.complete(len, &meta).await {
                        Outcome::Completed { key, bytes } => {
                            add(&inner.counters.segments_recovered, 1);
                            tracing::info!(key = %key, bytes, fragments, cut_bytes = cut, "recovered a segment from the spool");
                            report.completed.push(RecoveredSegment {
                                key,
                                bytes: Some(bytes),
                                fragments: Some(fragments),
                                source: RecoverySource::Spool,
                            });
                        }
                        Outcome::Failed(why) => report.failed.push((what, chain_text(&why))),
                        Outcome::Aborted | Outcome::Left => {}
                    }
                }
            }
        }
        self.recover_uploads(&active, &handled_uploads, owns, &mut report)
            .await?;
        Ok(report)
    }

    /// Completes or aborts open multipart uploads under our prefix that no
    /// spool file accounts for.
    async fn recover_uploads(
        &self,
        active: &HashSet<String>,
        handled: &HashSet<String>,
        owns: &(dyn Fn(&str) -> bool + Sync),
        report: &mut RecoveryReport,
    ) -> Result<(), S3Error> {
        let inner = &self.inner;
        let bucket = inner.cfg.bucket.clone();
        let list_err = |f: super::store::Failure| {
            f.into_error(S3Operation::ListMultipartUploads, &bucket, &inner.prefix)
        };
        // The SDK has no paginator for ListMultipartUploads (its marker is
        // a pair); this loop is the one hand-written continuation left.
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let out = inner
                .client
                .list_multipart_uploads()
                .bucket(&bucket)
                .prefix(&inner.prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| list_err(classify(e)))?;
            for u in out.uploads() {
                if let (Some(k), Some(id)) = (u.key(), u.upload_id()) {
                    uploads.push((k.to_owned(), id.to_owned()));
                }
            }
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_owned);
                id_marker = out.next_upload_id_marker().map(str::to_owned);
                if key_marker.is_none() && id_marker.is_none() {
                    break;
                }
            } else {
                break;
            }
        }
        for (key, id) in uploads {
            if handled.contains(&id) || active.contains(&key) {
                continue;
            }
            if !owns(key.strip_prefix(inner.prefix.as_str()).unwrap_or(&key)) {
                tracing::debug!(key = %key, "open upload belongs to another recorder; left alone");
                continue;
            }
            if key
                .strip_prefix(inner.prefix.as_str())
                .is_some_and(|k| k.starts_with(CLIPS_DIR))
            {
                // A clip's upload is only open while its process sends it:
                // one left open is a clip that failed, and its parts end
                // anywhere, not on fragment boundaries.
                abort_upload(inner, None, &key, &id).await;
                tracing::info!(key = %key, "aborted the upload of a clip that never completed");
                report.discarded.push(key);
                continue;
            }
            match self.complete_orphan(&key, &id).await {
                Ok(Some(bytes)) => {
                    add(&inner.counters.segments_recovered, 1);
                    tracing::info!(key = %key, bytes, "completed an upload left by a crash from its uploaded parts");
                    report.completed.push(RecoveredSegment {
                        key,
                        bytes: Some(bytes),
                        fragments: None,
                        source: RecoverySource::UploadedParts,
                    });
                }
                Ok(None) => {
                    abort_upload(inner, None, &key, &id).await;
                    tracing::info!(key = %key, "aborted an upload with no usable first part");
                    report.discarded.push(key);
                }
                Err(why) => report.failed.push((key, chain_text(&why))),
            }
        }
        Ok(())
    }

    /// Completes upload `id` with its contiguous parts from 1; `Ok(None)`
    /// when there is no part 1 (no init segment: nothing playable).
    async fn complete_orphan(&self, key: &str, id: &str) -> Result<Option<u64>, S3Error> {
        let inner = &self.inner;
        let mut parts: Vec<(i32, String, u64)> = inner
            .client
            .list_parts()
            .bucket(&inner.cfg.bucket)
            .key(key)
            .upload_id(id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(e).into_error(S3Operation::ListParts, &inner.cfg.bucket, key))?
            .into_iter()
            .filter_map(|p| {
                let size = p.size().unwrap_or(0).max(0) as u64;
                Some((p.part_number?, p.e_tag?, size))
            })
            .collect();
        parts.sort_by_key(|p| p.0);
        let mut run = Vec::new();
        for p in parts {
            if p.0 as usize != run.len() + 1 {
                break;
            }
            run.push(p);
        }
        if run.is_empty() {
            return Ok(None);
        }
        let bytes = run.iter().map(|p| p.2).sum();
        let completed: Vec<CompletedPart> = run
            .iter()
            .map(|(n, etag, _)| completed_part(*n, etag))
            .collect();
        inner
            .client
            .complete_multipart_upload()
            .bucket(&inner.cfg.bucket)
            .key(key)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                classify(e).into_error(S3Operation::CompleteMultipartUpload, &inner.cfg.bucket, key)
            })?;
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(bucket: Option<&str>, key: &str) -> Manifest {
        Manifest {
            bucket: bucket.map(str::to_owned),
            key: Some(key.to_owned()),
            ..Manifest::default()
        }
    }

    #[test]
    fn only_manifests_of_this_bucket_and_prefix_are_ours() {
        let ours = |m: &Manifest| foreign_manifest(m, "cams", "site1/").is_none();
        assert!(ours(&manifest(Some("cams"), "site1/door/a.mp4")));
        // Written before manifests named their bucket.
        assert!(ours(&manifest(None, "site1/door/a.mp4")));
        assert!(ours(&Manifest::default()));
        assert!(!ours(&manifest(Some("other"), "site1/door/a.mp4")));
        assert!(!ours(&manifest(None, "site2/door/a.mp4")));
        assert!(!ours(&manifest(None, "site1/../site2/a.mp4")));
        assert!(!ours(&manifest(None, "site1//a.mp4")));
        assert!(!ours(&manifest(None, "site1/")));
        let why = foreign_manifest(&manifest(None, "x/a.mp4"), "cams", "site1/").unwrap();
        assert!(why.contains("x/a.mp4") && why.contains("site1/"), "{why}");
    }
}
