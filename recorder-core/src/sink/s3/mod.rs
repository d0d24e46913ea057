//! The S3 sink: a streaming multipart upload fed from a local spool.
//!
//! Every fragment is appended to a spool file (`{spool_dir}/{name}.spool`,
//! with a `{name}.manifest` sidecar naming the key, the upload id and the
//! parts uploaded) before [`SegmentSink::fragment`] returns, so a `kill -9`
//! loses at most the fragment being written. A background task per segment
//! uploads parts from that file as soon as `part_size` bytes ending on a
//! fragment boundary are there; the network never blocks `fragment` or
//! `finish`: a slow or absent store only grows the spool. See `docs/s3.md`.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use recorder_core::sink::s3::{S3Config, S3Store};
//! let cfg = S3Config::new("videos").with_endpoint("http://127.0.0.1:3900");
//! let store = S3Store::connect(cfg).await?;
//! let report = store.recover().await?; // what a crash left behind
//! let sink = store.sink("porch"); // one per camera; implements SegmentSink
//! # Ok(()) }
//! ```

mod config;
mod error;
pub mod lifecycle;
mod recover;
pub(crate) mod store;
mod upload;

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

pub use config::{
    default_spool_dir, parse_s3_url, ExposeSecret, RetryPolicy, S3Config, SecretString,
    DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_PART_SIZE, DEFAULT_REGION, DEFAULT_SPOOL_LIMIT,
    MAX_PART_SIZE, MIN_PART_SIZE,
};
pub use error::{BoxError, S3Error, S3Operation};
pub use recover::{RecoveredSegment, RecoveryReport, RecoverySource};
pub use store::{S3CameraStatus, S3Status, S3Store, UploadDurations, UPLOAD_DURATION_BUCKETS};

use self::store::{add, CameraUploads, Inner};
use self::upload::{
    append_manifest, bucket_line, key_line, manifest_path, meta_line, Msg, PartPlan, Upload,
};
use super::fs::{suffixed, write_all_vectored, MAX_SUFFIX};
use super::open_segment::{open_segment, take_open_segment, OpenSegmentFile};
use super::repair::scan_segment;
use super::{blocking, SegmentSink, SinkError, StoredSegment};
use crate::index::{self, IndexBuilder, SegmentIndex};
use crate::mp4::HeaderPatch;
use crate::mux::{Fragment, SegmentEnd, SegmentStart, TrackSpec, WallTime};

/// A camera's connection to an [`S3Store`]: implements [`SegmentSink`].
///
/// `start` and `fragment` write to the local spool only; `finish` seals the
/// spool file and hands it to the segment's upload task, returning at once
/// with the object's intended name (the upload completes in the
/// background: watch [`S3Store::status`] and, per camera,
/// [`S3Store::camera_status`], or [`S3Store::wait_idle`] at shutdown). Dropping a sink with a segment open leaves that segment for
/// [`S3Store::recover`], exactly like a crash.
#[derive(Debug)]
pub struct S3Sink {
    inner: Arc<Inner>,
    camera: String,
    /// The camera's counters, shared with its other sinks and uploads.
    uploads: Arc<CameraUploads>,
    open: Option<OpenSegment>,
    /// The muxer segment whose start the full spool refused: the recorder
    /// retries that start at each keyframe, which is one refused segment,
    /// counted and logged once.
    refused: Option<u64>,
}

#[derive(Debug)]
struct OpenSegment {
    id: u64,
    index: u64,
    /// Object name below the prefix.
    name: String,
    key: String,
    spool: PathBuf,
    manifest: PathBuf,
    file: Arc<File>,
    len: u64,
    fragments: u32,
    /// The spool filled up: later fragments of this segment are refused.
    sealed_full: bool,
    tracks: Vec<TrackSpec>,
    wall_start: WallTime,
    camera: String,
    /// The segment index, fed with every spooled fragment (`None` if the
    /// init could not be read: the index is then rebuilt from the spool).
    seg_index: Option<IndexBuilder>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl OpenSegmentFile for OpenSegment {
    fn index_and_path(&self) -> (u64, &Path) {
        (self.index, &self.spool)
    }
}

/// The `end` (when known) and `duration` metadata of a finished segment.
pub(crate) fn push_end_and_duration(
    meta: &mut Vec<(String, String)>,
    end: Option<WallTime>,
    secs: f64,
) {
    if let Some(end) = end {
        meta.push(("end".into(), end.to_rfc3339()));
    }
    meta.push(("duration".into(), format!("{secs:.3}")));
}

fn spool_full(path: &Path, limit: u64, what: String) -> SinkError {
    SinkError::SpoolFull {
        path: path.to_owned(),
        limit,
        what,
    }
}

impl S3Store {
    /// A sink for `camera` (the id is used in logs and for
    /// [`S3Store::camera_status`]; object names use the id passed to
    /// [`SegmentSink::start`]). Sinks for the same camera share its
    /// counters.
    pub fn sink(&self, camera: &str) -> S3Sink {
        let uploads = self
            .inner
            .cameras
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(camera.to_owned())
            .or_default()
            .clone();
        S3Sink {
            inner: self.inner.clone(),
            camera: camera.to_owned(),
            uploads,
            open: None,
            refused: None,
        }
    }
}

/// Where clips go below the prefix: objects there are tagged
/// [`lifecycle::PINNED_TAG_KEY`]`=`[`lifecycle::UNPINNED`], and recovery
/// aborts their open uploads rather than completing them.
pub(crate) const CLIPS_DIR: &str = "clips/";

/// Attempts per request of a whole object (a thumbnail, a clip): the next
/// one is minutes away, a lost one is no loss of recorded video.
const WHOLE_OBJECT_ATTEMPTS: u32 = 3;

/// The `x-amz-tagging` of `key`: objects under `clips/` are tagged
/// [`lifecycle::PINNED_TAG_KEY`]`=`[`lifecycle::UNPINNED`], which the
/// bucket's clip rule expires (re-tagging one `true` pins it).
fn whole_object_tagging(inner: &Inner, key: &str) -> Option<String> {
    let relative = key.strip_prefix(inner.prefix.as_str()).unwrap_or(key);
    relative
        .starts_with(CLIPS_DIR)
        .then(|| format!("{}={}", lifecycle::PINNED_TAG_KEY, lifecycle::UNPINNED))
}

fn metadata_of(metadata: &[(&'static str, String)]) -> std::collections::HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// One `PutObject` of a small whole object (a thumbnail, a clip no bigger
/// than a part), with a few retries, tagged as [`whole_object_tagging`]
/// says.
pub(crate) async fn put_small_object(
    inner: &Inner,
    uploads: &CameraUploads,
    key: &str,
    body: Bytes,
    content_type: &'static str,
    metadata: &[(&'static str, String)],
) -> Result<(), S3Error> {
    let len = body.len() as u64;
    let tagging = whole_object_tagging(inner, key);
    let tagging = tagging.as_deref();
    let meta = metadata_of(metadata);
    inner
        .retry(
            error::S3Operation::PutObject,
            key,
            Some(uploads),
            Some(WHOLE_OBJECT_ATTEMPTS),
            |_| false,
            || {
                let (body, meta) = (body.clone(), meta.clone());
                async move {
                    inner
                        .client
                        .put_object()
                        .bucket(&inner.cfg.bucket)
                        .key(key)
                        .content_type(content_type)
                        .content_length(len as i64)
                        .body(aws_sdk_s3::primitives::ByteStream::from(body))
                        .set_metadata(Some(meta))
                        .set_tagging(tagging.map(str::to_owned))
                        .send()
                        .await
                        .map_err(store::classify)?;
                    Ok(())
                }
            },
        )
        .await
        .map_err(|f| f.into_error(error::S3Operation::PutObject, &inner.cfg.bucket, key))?;
    add(&inner.counters.bytes_uploaded, len);
    Ok(())
}

/// Uploads the finished file at `path` (a clip) as `key`, holding at most
/// one part of it in memory: a file no bigger than the configured part
/// size is one [`put_small_object`]; a bigger one a multipart upload whose
/// parts stream from the file, with the same content type, metadata and
/// tagging. A failed multipart upload is aborted (or, if the store cannot
/// be reached for that either, left for [`S3Store::recover`], which aborts
/// open uploads under `clips/`).
///
/// A key outside `clips/` (a custom clip template) is always one
/// `PutObject`, read whole: recovery could not tell its open upload from
/// a segment's after a crash, and would complete it as a torn clip.
pub(crate) async fn put_file_object(
    inner: &Inner,
    uploads: &CameraUploads,
    key: &str,
    path: &Path,
    content_type: &'static str,
    metadata: &[(&'static str, String)],
) -> Result<(), S3Error> {
    let local = |action, source| S3Error::Spool {
        action,
        path: path.to_owned(),
        source,
    };
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| local("reading", e))?
        .len();
    let under_clips = key
        .strip_prefix(inner.prefix.as_str())
        .is_some_and(|k| k.starts_with(CLIPS_DIR));
    if len <= inner.cfg.part_size || !under_clips {
        let body = tokio::fs::read(path)
            .await
            .map_err(|e| local("reading", e))?;
        return put_small_object(inner, uploads, key, body.into(), content_type, metadata).await;
    }
    let target = upload::Target {
        inner,
        camera: Some(uploads),
        max_attempts: Some(WHOLE_OBJECT_ATTEMPTS),
        key,
    };
    let tagging = whole_object_tagging(inner, key);
    // A recovery running meanwhile must not abort the upload.
    inner.mark_active(key, true);
    let sent = match target
        .create(
            content_type,
            Some(metadata_of(metadata)),
            tagging.as_deref(),
        )
        .await
    {
        Ok(upload_id) => {
            let sent = send_file_parts(&target, &upload_id, path, len).await;
            if sent.is_err() {
                upload::abort_upload(inner, Some(uploads), key, &upload_id).await;
            }
            sent
        }
        Err(e) => Err(e),
    };
    inner.mark_active(key, false);
    sent
}

/// The parts of `path` (`len` bytes) in order, then the completion.
async fn send_file_parts(
    target: &upload::Target<'_>,
    upload_id: &str,
    path: &Path,
    len: u64,
) -> Result<(), S3Error> {
    let cfg = &target.inner.cfg;
    let fail = |f: store::Failure, op| f.into_error(op, &cfg.bucket, target.key);
    let mut plan = PartPlan::new(cfg.part_size, cfg.max_parts);
    let mut parts = Vec::new();
    let (mut start, mut n) = (0u64, 1i32);
    while start < len {
        let end = if plan.room_for(n) {
            start.saturating_add(plan.size).min(len)
        } else {
            len
        };
        let etag = target
            .send_part(upload_id, n, path, start, end)
            .await
            .map_err(|f| fail(f, error::S3Operation::UploadPart))?;
        parts.push(upload::completed_part(n, &etag));
        plan.uploaded(n);
        (start, n) = (end, n + 1);
    }
    target
        .complete(upload_id, parts)
        .await
        .map_err(|f| fail(f, error::S3Operation::CompleteMultipartUpload))
}

impl S3Sink {
    /// The spool file of the open segment, if any.
    pub fn open_spool(&self) -> Option<&Path> {
        self.open.as_ref().map(|o| o.spool.as_path())
    }

    /// The key the open segment is meant to get, if any.
    pub fn open_key(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.key.as_str())
    }

    fn stored(&self, o: &OpenSegment, index: Option<Arc<SegmentIndex>>) -> StoredSegment {
        StoredSegment {
            index,
            name: o.name.clone(),
            location: self.inner.key_display(&o.key),
            bytes: o.len,
            fragments: o.fragments,
        }
    }

    /// Seals the open segment: writes `patches` into the spool, records the
    /// final metadata and hands it to the upload task.
    async fn seal(
        &mut self,
        mut o: OpenSegment,
        patches: Option<Vec<HeaderPatch>>,
        end_meta: Option<(WallTime, i64, Option<u64>)>,
    ) -> Result<StoredSegment, SinkError> {
        let file = o.file.clone();
        let spool = o.spool.clone();
        let manifest = o.manifest.clone();
        let len = o.len;
        let mut meta = start_meta(&o.camera, o.wall_start, &o.tracks);
        // The builder saw every fragment only when the segment ended
        // normally; otherwise the spool is what counts.
        let builder = o.seg_index.take().filter(|_| patches.is_some());
        let camera = o.camera.clone();
        let (patched, scanned_duration, index_len, built) = blocking(&o.spool, move || {
            let io = |a, e| SinkError::from_io(a, &spool, e);
            let (list, dur) = match patches {
                Some(p) => (p, None),
                None => {
                    let mut f = &*file;
                    let scan = scan_segment(&mut f, len).map_err(|e| io("scanning", e))?;
                    (scan.patches, scan.duration_secs)
                }
            };
            for p in &list {
                if !p.fits(len) {
                    return Err(SinkError::InvalidPatch {
                        offset: p.offset,
                        len,
                        path: spool.clone(),
                    });
                }
                p.write_to(&file).map_err(|e| io("patching", e))?;
            }
            let index = match builder {
                Some(b) => Some(b.finish()),
                None => {
                    let mut f = &*file;
                    index::rebuild(&mut f, len, &camera)
                        .map_err(|e| tracing::warn!(spool = %spool.display(), error = %e, "cannot index the segment; it is stored without an index"))
                        .ok()
                }
            };
            let index_len = match &index {
                Some(i) => {
                    let bytes = index::encode(i);
                    file.write_all_at(&bytes, len)
                        .map_err(|e| io("writing the index to", e))?;
                    bytes.len() as u64
                }
                None => 0,
            };
            // The segment is closed: its bytes reach the disk before the
            // manifest calls it sealed.
            file.sync_data().map_err(|e| io("flushing", e))?;
            append_manifest(&manifest, &["sealed".to_owned()])
                .map_err(|e| io("writing manifest", e))?;
            Ok::<_, SinkError>((!list.is_empty(), dur, index_len, index.map(Arc::new)))
        })
        .await??;
        o.len += index_len;
        let len = o.len;
        add(&self.inner.counters.spool_bytes, index_len);
        match end_meta {
            Some((wall_end, duration_ns, frames)) => {
                push_end_and_duration(&mut meta, Some(wall_end), duration_ns as f64 / 1e9);
                if let Some(n) = frames {
                    meta.push(("frames".into(), n.to_string()));
                }
            }
            None => {
                if let Some(d) = scanned_duration {
                    let end = WallTime(o.wall_start.0 + (d * 1e9) as i64);
                    push_end_and_duration(&mut meta, Some(end), d);
                }
            }
        }
        if !patched {
            tracing::debug!(key = %o.key, "no duration patch applied");
        }
        let stored = self.stored(&o, built);
        // The task only ends after Finish, so a send error means it panicked.
        let _ = o.tx.send(Msg::Finish {
            len,
            meta,
            sealed: Instant::now(),
        });
        Ok(stored)
    }
}

/// Metadata known when a segment starts.
fn start_meta(camera: &str, wall_start: WallTime, tracks: &[TrackSpec]) -> Vec<(String, String)> {
    let mut meta = vec![
        ("camera".to_owned(), camera.to_owned()),
        ("start".to_owned(), wall_start.to_rfc3339()),
    ];
    if !tracks.is_empty() {
        let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
        meta.push(("codec".into(), codecs.join(",")));
    }
    if let Some((w, h)) = tracks.iter().find_map(|t| t.codec.dimensions()) {
        meta.push(("resolution".into(), format!("{w}x{h}")));
    }
    meta
}

/// Reserves `{spool_dir}/{name}.spool` (or `{name}-N`), writes the init
/// and the manifest header. Returns the file, its path and the name used.
fn create_spool(
    spool_dir: &Path,
    name: &str,
    init: &[u8],
    header: impl Fn(&str) -> Vec<String>,
) -> Result<(File, PathBuf, String), SinkError> {
    let wanted = Path::new(name);
    for n in 0..MAX_SUFFIX {
        let cand = suffixed(wanted, n);
        let cand_name = cand.to_string_lossy().into_owned();
        let mut spool = spool_dir.to_path_buf();
        spool.extend(cand_name.split('/'));
        let spool = spool.with_file_name(format!(
            "{}.spool",
            spool.file_name().unwrap_or_default().to_string_lossy()
        ));
        if let Some(dir) = spool.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| SinkError::from_io("creating directory", dir, e))?;
        }
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&spool)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(SinkError::from_io("creating", &spool, e)),
        };
        let manifest = manifest_path(&spool);
        let written = file
            .write_all_at(init, 0)
            .map_err(|e| SinkError::from_io("writing", &spool, e))
            .and_then(|()| {
                append_manifest(&manifest, &header(&cand_name))
                    .map_err(|e| SinkError::from_io("writing", &manifest, e))
            });
        if let Err(e) = written {
            drop(file);
            let _ = fs::remove_file(&spool);
            let _ = fs::remove_file(&manifest);
            return Err(e);
        }
        return Ok((file, spool, cand_name));
    }
    Err(SinkError::NameExhausted {
        path: spool_dir.join(name),
        tried: MAX_SUFFIX,
    })
}

impl SegmentSink for S3Sink {
    async fn start(&mut self, camera: &str, start: &SegmentStart) -> Result<(), SinkError> {
        if self.open.is_some() {
            tracing::warn!(camera = %self.camera, "segment started while another was open; sealing the old one");
            if let Err(e) = self.abort().await {
                tracing::warn!(error = %e, "could not seal the previous segment; it stays in the spool for recovery");
            }
        }
        let cfg = &self.inner.cfg;
        let c = &self.inner.counters;
        let init_len = start.init.len() as u64;
        if c.spool_bytes.load(Ordering::Relaxed) + init_len > cfg.spool_limit_bytes {
            if self.refused != Some(start.index) {
                self.refused = Some(start.index);
                add(&c.segments_dropped, 1);
                tracing::error!(camera, spool = %cfg.spool_dir.display(), limit = cfg.spool_limit_bytes, "S3 spool full: segment start refused (retried at each keyframe until the spool drains)");
            }
            return Err(spool_full(
                &cfg.spool_dir,
                cfg.spool_limit_bytes,
                format!("segment {} of camera {camera} not recorded", start.index),
            ));
        }
        self.refused = None;
        let name = cfg.template.render(camera, start.wall_start, start.index);
        let prefix = self.inner.prefix.clone();
        let bucket = cfg.bucket.clone();
        let camera_id = super::sanitize_camera_id(camera).into_owned();
        let meta = start_meta(&camera_id, start.wall_start, &start.tracks);
        let spool_dir = cfg.spool_dir.clone();
        let init = start.init.clone();
        let (file, spool, name) = blocking(&spool_dir.clone(), move || {
            create_spool(&spool_dir, &name, &init, |n| {
                let mut lines = vec![bucket_line(&bucket), key_line(&format!("{prefix}{n}"))];
                lines.extend(meta.iter().map(|(k, v)| meta_line(k, v)));
                lines
            })
        })
        .await??;
        add(&c.spool_bytes, init_len);
        add(&c.segments_pending, 1);
        let key = format!("{}{name}", self.inner.prefix);
        let id = self.inner.next_segment_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let manifest = manifest_path(&spool);
        let up = Upload {
            inner: self.inner.clone(),
            id,
            key: key.clone(),
            key_checked: false,
            spool: spool.clone(),
            manifest: manifest.clone(),
            upload_id: None,
            parts: Default::default(),
            uploaded_upto: 0,
            boundaries: Vec::new(),
            part1_final: false,
            max_attempts: None,
            camera: Some(self.uploads.clone()),
            sealed: None,
            plan: PartPlan::new(cfg.part_size, cfg.max_parts),
            limit_warned: false,
        };
        let spool_id = spool.to_string_lossy().into_owned();
        self.inner.mark_active(&spool_id, true);
        self.inner.mark_active(&key, true);
        let inner = self.inner.clone();
        let key2 = key.clone();
        tokio::spawn(async move {
            let _ = up.run(rx).await;
            inner.mark_active(&spool_id, false);
            inner.mark_active(&key2, false);
            inner.segment_done();
        });
        // The sanitized id, as the manifest records it for recovery.
        let seg_index = IndexBuilder::new(&camera_id, &start.init)
                .map_err(|e| tracing::warn!(error = %e, "cannot index this segment's init; its index is rebuilt from the spool"))
                .ok();
        self.open = Some(OpenSegment {
            id,
            index: start.index,
            name,
            key,
            spool,
            manifest,
            file: Arc::new(file),
            len: init_len,
            fragments: 0,
            sealed_full: false,
            tracks: start.tracks.clone(),
            wall_start: start.wall_start,
            camera: camera_id,
            seg_index,
            tx,
        });
        Ok(())
    }

    async fn fragment(&mut self, fragment: &Fragment) -> Result<(), SinkError> {
        let inner = self.inner.clone();
        let o = open_segment(&mut self.open, fragment.segment, "fragment")?;
        let n = fragment.bytes.len() as u64;
        let c = &inner.counters;
        let full = o.sealed_full
            || c.spool_bytes.load(Ordering::Relaxed) + n > inner.cfg.spool_limit_bytes;
        if full {
            add(&c.fragments_dropped, 1);
            if !o.sealed_full {
                o.sealed_full = true;
                tracing::error!(key = %o.key, limit = inner.cfg.spool_limit_bytes, "S3 spool full: the rest of this segment is dropped (what is spooled is kept and uploaded)");
            }
            return Err(spool_full(
                &o.spool,
                inner.cfg.spool_limit_bytes,
                format!(
                    "fragment dropped; the segment keeps its first {} fragments",
                    o.fragments
                ),
            ));
        }
        let chunks: Vec<Bytes> = fragment.bytes.chunks().cloned().collect();
        let file = o.file.clone();
        let at = o.len;
        let spool = o.spool.clone();
        blocking(&o.spool, move || {
            // One vectored write per fragment, as the local sink does.
            // Only this call moves the file position (the rest use
            // positioned writes), and fragments arrive one at a time.
            let written = (&*file)
                .seek(SeekFrom::Start(at))
                .and_then(|_| write_all_vectored(&file, &chunks));
            if let Err(e) = written {
                // Cut the torn fragment so the spool ends on a boundary.
                let _ = file.set_len(at);
                return Err(SinkError::from_io("writing", &spool, e));
            }
            Ok(())
        })
        .await??;
        if let Some(b) = o.seg_index.as_mut() {
            if let Err(e) = b.push_fragment(at, &fragment.bytes.header, n) {
                tracing::warn!(error = %e, "cannot index a fragment; the index is rebuilt from the spool");
                o.seg_index = None;
            }
        }
        o.len += n;
        o.fragments += 1;
        add(&c.spool_bytes, n);
        let now = Instant::now();
        inner.note_fragment(o.id, now);
        let _ = o.tx.send(Msg::Fragment {
            end: o.len,
            at: now,
        });
        Ok(())
    }

    async fn finish(&mut self, end: &SegmentEnd) -> Result<StoredSegment, SinkError> {
        let o = take_open_segment(&mut self.open, end.index, "finish")?;
        let video = o.tracks.iter().position(|t| t.codec.is_video());
        if o.sealed_full {
            // The muxer's patches count fragments we refused: measure the spool.
            return self.seal(o, None, None).await;
        }
        let patches = end.header_patches.clone();
        let frames = video.and_then(|i| end.samples.get(i).copied());
        self.seal(
            o,
            Some(patches),
            Some((end.wall_end, end.duration_ns, frames)),
        )
        .await
    }

    async fn abort(&mut self) -> Result<Option<StoredSegment>, SinkError> {
        let Some(o) = self.open.take() else {
            return Ok(None);
        };
        if o.fragments == 0 {
            let _ = o.tx.send(Msg::Abort);
            return Ok(None);
        }
        self.seal(o, None, None).await.map(Some)
    }

    fn publishes_on_finish(&self) -> bool {
        // `finish` seals the spool; the upload completes in the background.
        false
    }

    fn small_objects(&self) -> Option<crate::thumbnail::SmallObjectStore> {
        Some(crate::thumbnail::SmallObjectStore::s3(
            self.inner.clone(),
            self.uploads.clone(),
        ))
    }
}

impl Inner {
    fn mark_active(&self, what: &str, on: bool) {
        let mut a = self.active_keys.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            a.insert(what.to_owned());
        } else {
            a.remove(what);
        }
    }

    fn segment_done(&self) {
        store::sub(&self.counters.segments_pending, 1);
        self.idle.notify_waiters();
    }
}
