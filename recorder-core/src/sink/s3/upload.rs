//! One segment's upload: a background task that reads parts from the spool
//! file and sends them to the store, and the manifest that lets a later
//! run pick up where a crash left it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::mpsc;

use super::config::MAX_PART_SIZE;
use super::error::{chain_text, S3Error, S3Operation};
use super::store::{add, classify, sub, CameraUploads, Failure, Inner};
use crate::sink::fs::{suffixed, MAX_SUFFIX};

/// What the sink tells a segment's upload task.
#[derive(Debug)]
pub(crate) enum Msg {
    /// The spool file now holds a complete fragment ending at `end`.
    Fragment { end: u64, at: Instant },
    /// The segment is sealed at `len` bytes with its header final; upload
    /// the rest, complete, publish with `meta`. `sealed` starts the clock
    /// of the segment's upload duration.
    Finish {
        len: u64,
        meta: Vec<(String, String)>,
        sealed: Instant,
    },
    /// Nothing worth keeping: abort the upload and delete the spool.
    Abort,
}

/// Characters kept as they are in manifest fields.
const FIELD: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'/')
    .remove(b':')
    .remove(b'+');

/// Characters kept as they are in a `CopySource` (bucket/key, URL-encoded).
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'/')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, FIELD).to_string()
}

fn dec(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// One uploaded part as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartRecord {
    pub start: u64,
    pub end: u64,
    pub etag: String,
}

/// The sidecar next to a spool file: an append-only list of facts, each
/// on its own line, so a crash can only tear the last one (which is then
/// ignored).
#[derive(Clone, Debug, Default)]
pub(crate) struct Manifest {
    /// The bucket the segment was recorded for (absent in manifests
    /// written before it was recorded).
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub meta: Vec<(String, String)>,
    pub upload_id: Option<String>,
    pub parts: BTreeMap<i32, PartRecord>,
    pub sealed: bool,
}

pub(crate) const MANIFEST_MAGIC: &str = "camrec-s3-spool 1";

/// `X.mp4.spool` → `X.mp4.manifest`.
pub(crate) fn manifest_path(spool: &Path) -> PathBuf {
    spool.with_extension("manifest")
}

impl Manifest {
    pub fn parse(text: &str) -> Manifest {
        let mut m = Manifest::default();
        // Only lines ending in '\n' are complete.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..i],
            None => "",
        };
        for line in complete.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["bucket", b] => m.bucket = Some(dec(b)),
                ["key", k] => m.key = Some(dec(k)),
                ["meta", k, v] => m.meta.push((dec(k), dec(v))),
                ["upload", id] => {
                    m.upload_id = Some(dec(id));
                    m.parts.clear();
                }
                ["part", n, s, e, etag] => {
                    if let (Ok(n), Ok(start), Ok(end)) = (n.parse(), s.parse(), e.parse()) {
                        m.parts.insert(
                            n,
                            PartRecord {
                                start,
                                end,
                                etag: dec(etag),
                            },
                        );
                    }
                }
                ["sealed"] => m.sealed = true,
                _ => {}
            }
        }
        m
    }

    pub fn read(path: &Path) -> Option<Manifest> {
        fs::read_to_string(path).ok().map(|t| Manifest::parse(&t))
    }
}

/// Appends lines to a manifest (creating it with its header).
pub(crate) fn append_manifest(path: &Path, lines: &[String]) -> std::io::Result<()> {
    // Private like the spool: it names keys and object metadata.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut buf = String::new();
    let created = f.metadata()?.len() == 0;
    if created {
        buf.push_str(MANIFEST_MAGIC);
        buf.push('\n');
    }
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())?;
    // Each line is a fact recovery acts on (an upload id, a part's etag,
    // the seal): on disk before the work it records goes on.
    f.sync_data()?;
    if created {
        sync_dir(path)?;
    }
    Ok(())
}

/// Flushes the directory entry of a new file `path` (so the file itself
/// survives a power loss, not only its data).
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::File::open(dir)?.sync_all(),
        _ => fs::File::open(".")?.sync_all(),
    }
}

pub(crate) fn bucket_line(bucket: &str) -> String {
    format!("bucket {}", enc(bucket))
}

pub(crate) fn key_line(key: &str) -> String {
    format!("key {}", enc(key))
}

pub(crate) fn meta_line(k: &str, v: &str) -> String {
    format!("meta {} {}", enc(k), enc(v))
}

/// The size of the next parts of an upload. It starts at the configured
/// part size and doubles each time half of the part numbers still free are
/// used, so the numbers never run out before the data does: each doubling
/// adds about `max_parts / 2` base parts of room, and S3 only asks that
/// parts but the last be at least 5 MiB, not that they be equal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartPlan {
    max_parts: i32,
    /// Target size of the next part.
    pub size: u64,
    /// The part number after whose upload the size doubles.
    grow_after: i32,
}

impl PartPlan {
    pub fn new(base: u64, max_parts: u32) -> PartPlan {
        let max_parts = i32::try_from(max_parts).unwrap_or(i32::MAX).max(1);
        PartPlan {
            max_parts,
            size: base,
            grow_after: (max_parts / 2).max(1),
        }
    }

    /// The plan after parts `1..=done` were uploaded (a resumed upload).
    pub fn after(base: u64, max_parts: u32, done: i32) -> PartPlan {
        let mut plan = PartPlan::new(base, max_parts);
        for n in 1..=done {
            plan.uploaded(n);
        }
        plan
    }

    /// Part `n` was uploaded for the first time.
    pub fn uploaded(&mut self, n: i32) {
        if n >= self.grow_after {
            self.size = self.size.saturating_mul(2).min(MAX_PART_SIZE);
            self.grow_after = n + ((self.max_parts - n) / 2).max(1);
        }
    }

    /// Whether part `n` may be uploaded before the segment ends: the last
    /// number is kept for everything left when it does.
    pub fn room_for(&self, n: i32) -> bool {
        n < self.max_parts
    }
}

/// The state of one segment's upload.
pub(crate) struct Upload {
    pub inner: Arc<Inner>,
    /// Lag bookkeeping id.
    pub id: u64,
    /// The wanted key; may get a `-N` suffix if an object already has it.
    pub key: String,
    pub key_checked: bool,
    pub spool: PathBuf,
    pub manifest: PathBuf,
    pub upload_id: Option<String>,
    pub parts: BTreeMap<i32, PartRecord>,
    /// Bytes `[0, uploaded_upto)` are in uploaded parts.
    pub uploaded_upto: u64,
    /// Every fragment end seen, ascending, with its arrival time.
    pub boundaries: Vec<(u64, Instant)>,
    /// True once part 1 holds the final (patched) header.
    pub part1_final: bool,
    /// `None`: retry forever (live uploads); recovery gives up after some.
    pub max_attempts: Option<u32>,
    /// The camera whose sink recorded the segment (`None` in recovery):
    /// its failures and upload duration are counted there too.
    pub camera: Option<Arc<CameraUploads>>,
    /// When the sink sealed the segment (`Msg::Finish`).
    pub sealed: Option<Instant>,
    /// The size of the next parts.
    pub plan: PartPlan,
    /// The part limit was reached and said so (once per segment).
    pub limit_warned: bool,
}

/// How an upload ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Published under this key.
    Completed { key: String, bytes: u64 },
    /// Aborted: nothing worth keeping.
    Aborted,
    /// The sink went away mid-segment (crash simulation, runtime shutdown):
    /// spool and upload stay for recovery.
    Left,
    /// Gave up (recovery only): spool and upload stay.
    Failed(S3Error),
}

impl Upload {
    fn bucket(&self) -> &str {
        &self.inner.cfg.bucket
    }

    /// `f` as the typed error of `op` on this segment's key.
    fn fail(&self, f: Failure, op: S3Operation) -> S3Error {
        f.into_error(op, self.bucket(), &self.key)
    }

    fn note(&self, line: String) {
        if let Err(e) = append_manifest(&self.manifest, &[line]) {
            tracing::warn!(manifest = %self.manifest.display(), error = %e, "could not update the spool manifest; recovery may redo some work");
        }
    }

    fn oldest_pending(&self) -> Option<Instant> {
        // Boundaries are sorted: a binary search, not a scan per message.
        let i = self
            .boundaries
            .partition_point(|(end, _)| *end <= self.uploaded_upto);
        self.boundaries.get(i).map(|(_, t)| *t)
    }

    fn next_part_number(&self) -> i32 {
        self.parts.keys().next_back().map_or(1, |n| n + 1)
    }

    /// The end of the next full part: the first fragment boundary at least
    /// the plan's part size past what is uploaded; `None` once only the
    /// last part number is left (the rest waits for the segment's end).
    fn next_part_end(&mut self) -> Option<u64> {
        if !self.plan.room_for(self.next_part_number()) {
            if !self.limit_warned {
                self.limit_warned = true;
                tracing::warn!(key = %self.key, parts = self.plan.max_parts, "multipart part limit reached; the rest of this segment is uploaded as its last part when the segment ends");
            }
            return None;
        }
        let target = self.uploaded_upto + self.plan.size;
        let i = self.boundaries.partition_point(|(e, _)| *e < target);
        self.boundaries.get(i).map(|(e, _)| *e)
    }

    /// The live loop for a segment being recorded.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) -> Outcome {
        let mut finish: Option<(u64, Vec<(String, String)>)> = None;
        let mut abort = false;
        let mut closed = false;
        let outcome = loop {
            // Take everything queued before deciding what to do.
            loop {
                match rx.try_recv() {
                    Ok(m) => self.handle(m, &mut finish, &mut abort),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            self.inner.set_lag(self.id, self.oldest_pending());
            if abort {
                self.abort().await;
                break Outcome::Aborted;
            }
            if let Some((len, meta)) = finish.take() {
                break self.complete(len, &meta).await;
            }
            if let Some(end) = self.next_part_end() {
                if let Err(why) = self.upload_next_part(end).await {
                    break Outcome::Failed(why);
                }
                continue;
            }
            if closed {
                tracing::warn!(key = %self.key, spool = %self.spool.display(), "segment left unfinished; the spool and upload stay for recovery");
                break Outcome::Left;
            }
            match rx.recv().await {
                Some(m) => self.handle(m, &mut finish, &mut abort),
                None => closed = true,
            }
        };
        self.inner.set_lag(self.id, None);
        outcome
    }

    fn handle(
        &mut self,
        m: Msg,
        finish: &mut Option<(u64, Vec<(String, String)>)>,
        abort: &mut bool,
    ) {
        match m {
            Msg::Fragment { end, at } => self.boundaries.push((end, at)),
            Msg::Finish { len, meta, sealed } => {
                self.sealed = Some(sealed);
                *finish = Some((len, meta));
            }
            Msg::Abort => *abort = true,
        }
    }

    /// Makes sure `self.key` names no existing object (adding `-N`).
    async fn check_key(&mut self) -> Result<(), S3Error> {
        if self.key_checked {
            return Ok(());
        }
        let wanted = PathBuf::from(&self.key);
        for n in 0..MAX_SUFFIX {
            let cand = suffixed(&wanted, n).to_string_lossy().into_owned();
            let inner = &self.inner;
            let key = cand.as_str();
            let exists = inner
                .retry(
                    S3Operation::HeadObject,
                    key,
                    self.camera.as_deref(),
                    self.max_attempts,
                    |_| false,
                    || async move {
                        match inner
                            .client
                            .head_object()
                            .bucket(&inner.cfg.bucket)
                            .key(key)
                            .send()
                            .await
                        {
                            Ok(_) => Ok(true),
                            Err(e) => {
                                let f = classify(e);
                                // 403: no list permission, S3's way of saying "absent".
                                if matches!(f.status, Some(404 | 403)) {
                                    Ok(false)
                                } else {
                                    Err(f)
                                }
                            }
                        }
                    },
                )
                .await
                .map_err(|f| f.into_error(S3Operation::HeadObject, &inner.cfg.bucket, key))?;
            if !exists {
                if n > 0 {
                    tracing::warn!(wanted = %self.key, key = %cand, "object name taken; using a suffix");
                    self.note(key_line(&cand));
                }
                self.key = cand;
                self.key_checked = true;
                return Ok(());
            }
        }
        Err(S3Error::NameExhausted {
            bucket: self.bucket().to_owned(),
            key: self.key.clone(),
        })
    }

    async fn ensure_upload(&mut self, meta: &[(String, String)]) -> Result<(), S3Error> {
        if self.upload_id.is_some() {
            return Ok(());
        }
        self.check_key().await?;
        let target = Target {
            inner: &self.inner,
            camera: self.camera.as_deref(),
            max_attempts: self.max_attempts,
            key: &self.key,
        };
        let id = target.create("video/mp4", metadata_map(meta), None).await?;
        self.note(format!("upload {}", enc(&id)));
        self.upload_id = Some(id);
        self.parts.clear();
        Ok(())
    }

    /// Uploads part `n` = bytes `[start, end)` of the spool.
    async fn upload_part(&mut self, n: i32, start: u64, end: u64) -> Result<(), Failure> {
        let upload_id = self.upload_id.as_deref().unwrap_or_default();
        let target = Target {
            inner: &self.inner,
            camera: self.camera.as_deref(),
            max_attempts: self.max_attempts,
            key: &self.key,
        };
        let etag = target
            .send_part(upload_id, n, &self.spool, start, end)
            .await?;
        self.note(format!("part {n} {start} {end} {}", enc(&etag)));
        self.parts.insert(n, PartRecord { start, end, etag });
        Ok(())
    }

    async fn upload_next_part(&mut self, end: u64) -> Result<(), S3Error> {
        loop {
            self.ensure_upload(&[]).await?;
            let n = self.next_part_number();
            let start = self.uploaded_upto;
            // The manifest will say these bytes are uploaded: they must be
            // on disk before it does, or a power loss could leave a spool
            // shorter than its manifest.
            self.sync_spool().await;
            match self.upload_part(n, start, end).await {
                Ok(()) => {
                    self.uploaded_upto = end;
                    self.plan.uploaded(n);
                    return Ok(());
                }
                Err(f) if f.code_is("NoSuchUpload") => self.restart(),
                Err(f) => return Err(self.fail(f, S3Operation::UploadPart)),
            }
        }
    }

    /// Flushes the spool file's data to disk. Best effort: a failure only
    /// widens the power-loss window, and the upload reads the page cache.
    async fn sync_spool(&self) {
        let spool = self.spool.clone();
        let r = tokio::task::spawn_blocking(move || fs::File::open(&spool)?.sync_data()).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(spool = %self.spool.display(), error = %e, "could not flush the spool to disk; a power loss may lose more");
        }
    }

    /// The upload vanished (aborted by a lifecycle rule or by hand): start
    /// a new one from the spool.
    fn restart(&mut self) {
        self.plan = PartPlan::new(self.inner.cfg.part_size, self.inner.cfg.max_parts);
        tracing::warn!(key = %self.key, "multipart upload disappeared; starting it again from the spool");
        self.upload_id = None;
        self.parts.clear();
        self.uploaded_upto = 0;
        self.part1_final = false;
    }

    /// Uploads what is left of a sealed segment of `len` bytes and publishes
    /// it.
    pub async fn complete(&mut self, len: u64, meta: &[(String, String)]) -> Outcome {
        match self.try_complete(len, meta).await {
            Ok(published) => {
                remove_spool(&self.spool);
                sub(&self.inner.counters.spool_bytes, len);
                add(&self.inner.counters.segments_uploaded, 1);
                if let Some(c) = &self.camera {
                    let took = self
                        .sealed
                        .map_or(Duration::ZERO, |s| published.saturating_duration_since(s));
                    c.uploaded(took);
                }
                tracing::info!(location = %self.inner.key_display(&self.key), bytes = len, "segment uploaded");
                Outcome::Completed {
                    key: self.key.clone(),
                    bytes: len,
                }
            }
            Err(why) => {
                tracing::error!(key = %self.key, spool = %self.spool.display(), error = %chain_text(&why), "could not upload the segment; it stays in the spool for recovery");
                Outcome::Failed(why)
            }
        }
    }

    /// Returns when the object was published (before the best-effort
    /// metadata copy, which is not part of the upload duration).
    async fn try_complete(
        &mut self,
        len: u64,
        meta: &[(String, String)],
    ) -> Result<Instant, S3Error> {
        loop {
            if self.upload_id.is_none() {
                // Never started (or vanished): one PutObject of the whole file.
                self.put_whole(len, meta).await?;
                return Ok(Instant::now());
            }
            // Full parts first (they end on fragment boundaries), then the
            // rest. `upload_next_part` returns only with an upload open.
            while let Some(end) = self.next_part_end().filter(|&e| e < len) {
                self.upload_next_part(end).await?;
            }
            if self.uploaded_upto < len {
                let n = self.next_part_number();
                match self.upload_part(n, self.uploaded_upto, len).await {
                    Ok(()) => self.uploaded_upto = len,
                    Err(f) if f.code_is("NoSuchUpload") => {
                        self.restart();
                        continue;
                    }
                    Err(f) => return Err(self.fail(f, S3Operation::UploadPart)),
                }
            }
            // Part 1 carries the init; send it again with the final durations.
            if !self.part1_final {
                if let Some(p1) = self.parts.get(&1).cloned() {
                    match self.upload_part(1, p1.start, p1.end).await {
                        Ok(()) => self.part1_final = true,
                        Err(f) if f.code_is("NoSuchUpload") => {
                            self.restart();
                            continue;
                        }
                        Err(f) => return Err(self.fail(f, S3Operation::UploadPart)),
                    }
                }
            }
            match self.complete_upload().await {
                Ok(()) => break,
                Err(f) if f.code_is("NoSuchUpload") => {
                    // Maybe an earlier attempt completed it and the reply was lost.
                    if self.object_len().await == Some(len) {
                        break;
                    }
                    self.restart();
                }
                Err(f) => return Err(self.fail(f, S3Operation::CompleteMultipartUpload)),
            }
        }
        let published = Instant::now();
        if self.inner.cfg.final_metadata_copy && !meta.is_empty() {
            self.copy_metadata(meta).await;
        }
        Ok(published)
    }

    async fn complete_upload(&mut self) -> Result<(), Failure> {
        let upload_id = self.upload_id.as_deref().unwrap_or_default();
        let parts: Vec<CompletedPart> = self
            .parts
            .iter()
            .map(|(n, p)| completed_part(*n, &p.etag))
            .collect();
        Target {
            inner: &self.inner,
            camera: self.camera.as_deref(),
            max_attempts: self.max_attempts,
            key: &self.key,
        }
        .complete(upload_id, parts)
        .await
    }

    async fn object_len(&self) -> Option<u64> {
        let out = self
            .inner
            .client
            .head_object()
            .bucket(self.bucket())
            .key(&self.key)
            .send()
            .await
            .ok()?;
        out.content_length.and_then(|l| u64::try_from(l).ok())
    }

    async fn put_whole(&mut self, len: u64, meta: &[(String, String)]) -> Result<(), S3Error> {
        self.check_key().await?;
        let (inner, key, spool) = (&self.inner, self.key.as_str(), self.spool.as_path());
        inner
            .retry(
                S3Operation::PutObject,
                key,
                self.camera.as_deref(),
                self.max_attempts,
                |_| false,
                || async move {
                    let _permit = inner.upload_permits.acquire().await.ok();
                    let body = spool_body(spool, 0, len).await?;
                    inner
                        .client
                        .put_object()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .content_type("video/mp4")
                        .content_length(len as i64)
                        .body(body)
                        .set_metadata(metadata_map(meta))
                        .send()
                        .await
                        .map_err(classify)?;
                    Ok(())
                },
            )
            .await
            .map_err(|f| f.into_error(S3Operation::PutObject, &inner.cfg.bucket, key))?;
        add(&self.inner.counters.bytes_uploaded, len);
        // A single PutObject counts as one part uploaded.
        add(&self.inner.counters.parts_uploaded, 1);
        Ok(())
    }

    /// Copies the object onto itself with the full metadata (end time,
    /// duration, frames are only known now). Best effort: the object is
    /// already published with the start-time metadata.
    async fn copy_metadata(&self, meta: &[(String, String)]) {
        let source = format!(
            "{}/{}",
            self.bucket(),
            utf8_percent_encode(&self.key, COPY_SOURCE)
        );
        let (inner, key, source) = (&self.inner, self.key.as_str(), source.as_str());
        let r = inner
            .best_effort(
                S3Operation::CopyObject,
                key,
                self.camera.as_deref(),
                || async move {
                    inner
                        .client
                        .copy_object()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .copy_source(source)
                        .metadata_directive(MetadataDirective::Replace)
                        .content_type("video/mp4")
                        .set_metadata(metadata_map(meta))
                        .send()
                        .await
                        .map_err(classify)?;
                    Ok(())
                },
            )
            .await;
        if let Err(f) = r {
            tracing::warn!(key = %self.key, error = %f.detail, "could not add the final metadata (end, duration, frames); the object keeps its start metadata");
        }
    }

    /// Aborts the multipart upload (if any) and deletes the spool.
    pub async fn abort(&mut self) {
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.inner, self.camera.as_deref(), &self.key, &id).await;
        }
        let len = fs::metadata(&self.spool).map(|m| m.len()).unwrap_or(0);
        remove_spool(&self.spool);
        sub(&self.inner.counters.spool_bytes, len);
    }
}

/// The requests of one multipart upload, with the store's retry policy:
/// shared by segment uploads (which keep a manifest around them) and
/// whole files uploaded in parts (clips).
pub(crate) struct Target<'a> {
    pub inner: &'a Inner,
    /// Whose failures these are, counted for its status.
    pub camera: Option<&'a CameraUploads>,
    /// `None`: the policy's limit (forever by default).
    pub max_attempts: Option<u32>,
    pub key: &'a str,
}

impl Target<'_> {
    fn fail(&self, f: Failure, op: S3Operation) -> S3Error {
        f.into_error(op, &self.inner.cfg.bucket, self.key)
    }

    /// `CreateMultipartUpload` with the object's content type, metadata and
    /// tagging (`k=v`, URL-encoded); returns the upload id.
    pub async fn create(
        &self,
        content_type: &str,
        meta: Option<HashMap<String, String>>,
        tagging: Option<&str>,
    ) -> Result<String, S3Error> {
        let (inner, key) = (self.inner, self.key);
        let calls = std::sync::atomic::AtomicU32::new(0);
        let (calls, meta) = (&calls, &meta);
        let id = inner
            .retry(
                S3Operation::CreateMultipartUpload,
                key,
                self.camera,
                self.max_attempts,
                |_| false,
                || async move {
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let out = inner
                        .client
                        .create_multipart_upload()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .content_type(content_type)
                        .set_metadata(meta.clone())
                        .set_tagging(tagging.map(str::to_owned))
                        .send()
                        .await
                        .map_err(classify)?;
                    out.upload_id.ok_or_else(|| {
                        Failure::local(
                            None,
                            "CreateMultipartUpload returned no upload id".into(),
                            None,
                        )
                    })
                },
            )
            .await
            .map_err(|f| self.fail(f, S3Operation::CreateMultipartUpload))?;
        if calls.load(std::sync::atomic::Ordering::Relaxed) > 1 {
            self.abort_strays(&id).await;
        }
        Ok(id)
    }

    /// A failed `CreateMultipartUpload` may have created an upload anyway
    /// (the connection broke after the store acted): abort every open
    /// upload of this key but `keep`, so none is left dangling. Best
    /// effort; recovery at the next start catches what this misses.
    async fn abort_strays(&self, keep: &str) {
        let listed = self
            .inner
            .client
            .list_multipart_uploads()
            .bucket(&self.inner.cfg.bucket)
            .prefix(self.key)
            .send()
            .await;
        let out = match listed {
            Ok(out) => out,
            Err(e) => {
                let f = classify(e);
                tracing::debug!(key = %self.key, error = %f.detail, "could not list uploads to abort strays; recovery will");
                return;
            }
        };
        for u in out.uploads() {
            if let (Some(k), Some(id)) = (u.key(), u.upload_id()) {
                if k == self.key && id != keep {
                    tracing::info!(key = %self.key, "aborting a multipart upload created by an attempt whose reply was lost");
                    abort_upload(self.inner, self.camera, k, id).await;
                }
            }
        }
    }

    /// `UploadPart` `n` = bytes `[start, end)` of `file`, streamed from the
    /// file (never held in memory whole); returns its ETag. Stops early on
    /// `NoSuchUpload`, which the caller handles.
    pub async fn send_part(
        &self,
        upload_id: &str,
        n: i32,
        file: &Path,
        start: u64,
        end: u64,
    ) -> Result<String, Failure> {
        let (inner, key) = (self.inner, self.key);
        let etag = inner
            .retry(
                S3Operation::UploadPart,
                key,
                self.camera,
                self.max_attempts,
                |f| f.code_is("NoSuchUpload"),
                || async move {
                    // The permit bounds uploads in flight across all
                    // cameras; the body streams from the file.
                    let _permit = inner.upload_permits.acquire().await.ok();
                    let body = spool_body(file, start, end).await?;
                    let out = inner
                        .client
                        .upload_part()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .content_length((end - start) as i64)
                        .body(body)
                        .send()
                        .await
                        .map_err(classify)?;
                    Ok(out.e_tag.unwrap_or_default())
                },
            )
            .await?;
        add(&inner.counters.bytes_uploaded, end - start);
        add(&inner.counters.parts_uploaded, 1);
        Ok(etag)
    }

    /// `CompleteMultipartUpload` with `parts`. Stops early on the failures
    /// a caller may repair (`NoSuchUpload`, `InvalidPart`, `EntityTooSmall`).
    pub async fn complete(
        &self,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<(), Failure> {
        let (inner, key, parts) = (self.inner, self.key, &parts);
        inner
            .retry(
                S3Operation::CompleteMultipartUpload,
                key,
                self.camera,
                self.max_attempts,
                |f| {
                    f.code_is("NoSuchUpload")
                        || f.code_is("InvalidPart")
                        || f.code_is("EntityTooSmall")
                },
                || async move {
                    inner
                        .client
                        .complete_multipart_upload()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(parts.clone()))
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(classify)?;
                    Ok(())
                },
            )
            .await
    }
}

/// Part `n` with `etag`, as `CompleteMultipartUpload` lists it.
pub(crate) fn completed_part(n: i32, etag: &str) -> CompletedPart {
    CompletedPart::builder().part_number(n).e_tag(etag).build()
}

pub(crate) async fn abort_upload(
    inner: &Inner,
    camera: Option<&CameraUploads>,
    key: &str,
    upload_id: &str,
) {
    let r = inner
        .best_effort(
            S3Operation::AbortMultipartUpload,
            key,
            camera,
            || async move {
                inner
                    .client
                    .abort_multipart_upload()
                    .bucket(&inner.cfg.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(())
            },
        )
        .await;
    if let Err(f) = r {
        if !f.code_is("NoSuchUpload") {
            tracing::warn!(key, error = %f.detail, "could not abort a multipart upload; recovery will retry");
        }
    }
}

/// A request body streaming bytes `[start, end)` of the spool file.
async fn spool_body(spool: &Path, start: u64, end: u64) -> Result<ByteStream, Failure> {
    ByteStream::read_from()
        .path(spool)
        .offset(start)
        .length(Length::Exact(end - start))
        .build()
        .await
        .map_err(|e| {
            Failure::local(
                Some("SpoolRead".into()),
                format!("reading {}: {e}", spool.display()),
                Some(Box::new(e)),
            )
        })
}

/// User metadata for a request, as the builders' `set_metadata` takes it:
/// the same map that calling `.metadata(k, v)` for each pair would build
/// (a later pair wins over an earlier one with the same key), and `None`
/// when there is none.
fn metadata_map(meta: &[(String, String)]) -> Option<HashMap<String, String>> {
    if meta.is_empty() {
        None
    } else {
        Some(meta.iter().cloned().collect())
    }
}

/// Deletes a spool file and its manifest.
pub(crate) fn remove_spool(spool: &Path) {
    for p in [spool.to_path_buf(), manifest_path(spool)] {
        if let Err(e) = fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %p.display(), error = %e, "could not delete a spool file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that fit in parts `1..max` (the last number kept for the
    /// rest) when every part is exactly the plan's size.
    fn room_before_last(base: u64, max_parts: u32) -> (u64, u64) {
        let mut plan = PartPlan::new(base, max_parts);
        let (mut total, mut n) = (0u64, 1);
        while plan.room_for(n) {
            total += plan.size;
            plan.uploaded(n);
            n += 1;
        }
        assert_eq!(
            n as u32,
            max_parts.max(1),
            "one number left for the last part"
        );
        (total, plan.size)
    }

    #[test]
    fn part_size_grows_before_the_part_numbers_run_out() {
        const MIB: u64 = 1 << 20;
        // The moto test's plan: 5, then 10 MiB, then the rest as part 3.
        let mut plan = PartPlan::new(5 * MIB, 3);
        assert!(plan.room_for(1));
        assert_eq!(plan.size, 5 * MIB);
        plan.uploaded(1);
        assert_eq!(plan.size, 10 * MIB);
        assert!(plan.room_for(2));
        plan.uploaded(2);
        assert!(!plan.room_for(3));
        // S3's 10,000 parts at 8 MiB: the first half keep the configured
        // size, and the room grows past 5 × (10,000 × 8 MiB): about 437 GiB.
        let (room, last) = room_before_last(8 * MIB, 10_000);
        assert!(room > 5 * 10_000 * 8 * MIB, "{room}");
        assert!(last <= MAX_PART_SIZE);
        let plan = PartPlan::after(8 * MIB, 10_000, 4_999);
        assert_eq!(plan.size, 8 * MIB);
        let plan = PartPlan::after(8 * MIB, 10_000, 5_000);
        assert_eq!(plan.size, 16 * MIB);
        // One part allowed: everything waits for the end.
        assert!(!PartPlan::new(8 * MIB, 1).room_for(1));
        assert_eq!(room_before_last(8 * MIB, 1).0, 0);
    }

    #[test]
    fn manifest_roundtrip_and_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.manifest");
        append_manifest(
            &p,
            &[
                key_line("cams/cam 1/x.mp4"),
                meta_line("camera", "cam 1"),
                "upload abc%2Bdef".into(),
                format!("part 1 0 100 {}", enc("\"etag1\"")),
            ],
        )
        .unwrap();
        let mut text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(MANIFEST_MAGIC));
        text.push_str("part 2 100 200 torn"); // no newline: torn
        let m = Manifest::parse(&text);
        assert_eq!(m.key.as_deref(), Some("cams/cam 1/x.mp4"));
        assert_eq!(m.meta, vec![("camera".into(), "cam 1".into())]);
        assert_eq!(m.upload_id.as_deref(), Some("abc+def"));
        assert_eq!(m.parts.len(), 1);
        assert_eq!(m.parts[&1].etag, "\"etag1\"");
        assert!(!m.sealed);
    }
}
