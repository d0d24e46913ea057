//! Reading an archive of recorded segments: list cameras, list a camera's
//! segments in a time range, load their indexes, read byte ranges. Local
//! folders and S3 buckets alike, read-only.
//!
//! Listing uses names only (the [`ObjectNameTemplate`] gives camera and
//! start): for the default template `{camera}/{YYYYMMDD}/...` a day costs
//! one directory listing, or one `ListObjectsV2` page per 1,000 segments.
//! Indexes are read from each segment's tail (one `pread`, or one ranged
//! GET) and cached by name and size: finished segments never change.
//!
//! ```no_run
//! use recorder_core::archive::Archive;
//! use recorder_core::{ObjectNameTemplate, WallTime};
//!
//! # async fn f() -> Result<(), recorder_core::archive::ArchiveError> {
//! let archive = Archive::local("./recordings", ObjectNameTemplate::default());
//! for cam in archive.cameras().await? {
//!     println!("{}: {} .. {}", cam.id, cam.first.to_rfc3339(), cam.last.to_rfc3339());
//! }
//! let recs = archive.recordings("porch", WallTime(0), WallTime::now()).await?;
//! # Ok(()) }
//! ```

mod export;
mod local;
#[cfg(feature = "s3")]
mod s3;

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::index::{IndexError, SegmentIndex};
use crate::sink::ObjectNameTemplate;
use crate::time::WallTime;

pub use export::Export;
#[cfg(feature = "s3")]
pub use s3::S3Archive;

/// The longest a segment may last (the muxer's limit): a segment starting
/// this long before a range can still reach into it.
const MAX_SEGMENT_NS: i64 = 24 * 3600 * 1_000_000_000;
/// Names carry the start in whole seconds.
const NAME_PRECISION_NS: i64 = 1_000_000_000;
/// Index reads in flight at once when loading a range's segments.
const INDEX_READS_IN_FLIGHT: usize = 16;
/// Most indexes kept in memory (about 50 KB each for 15-minute segments);
/// beyond it the cache starts over.
const CACHE_LIMIT: usize = 20_000;
/// How long a folder's listing answers name lookups: the bytes route looks
/// its segment up once per request, and a player fetches one fragment per
/// request (an S3 listing each, otherwise). A name it lacks lists again.
const LISTING_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Folder listings kept for name lookups at most.
const LISTINGS_KEPT: usize = 256;

/// A folder's segments and when they were listed.
type Listing = (std::time::Instant, Arc<[SegmentEntry]>);

/// Why the archive could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A local file or folder could not be read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`listing`, `reading`).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An S3 request failed.
    #[error("S3 {operation} of {key} failed: {detail}")]
    S3 {
        /// The operation (`ListObjectsV2`, `GetObject`).
        operation: &'static str,
        /// The key or prefix.
        key: String,
        /// What the store or the network said.
        detail: String,
    },
    /// A segment's index could not be read or rebuilt.
    #[error("segment {name}: {source}")]
    Index {
        /// The segment's name.
        name: String,
        /// Why.
        #[source]
        source: IndexError,
    },
    /// No such segment.
    #[error("no segment named {name} in the archive")]
    NoSuchSegment {
        /// The name asked for.
        name: String,
    },
    /// The export cannot be made.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// The byte range asked for lies outside the segment.
    #[error("bytes {start}..{end} lie outside segment {name} ({len} bytes)")]
    BadRange {
        /// The segment.
        name: String,
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// The segment's length.
        len: u64,
    },
}

/// A stored segment as its name and listing describe it (no read).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentEntry {
    /// Start time from the name (whole seconds, UTC).
    pub start: WallTime,
    /// Camera id from the name.
    pub camera: String,
    /// Name relative to the archive's root or prefix, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A segment with its index.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Where it is.
    pub entry: SegmentEntry,
    /// What it holds.
    pub index: Arc<SegmentIndex>,
}

/// A camera and the span of its recordings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraSummary {
    /// The camera id as the names give it.
    pub id: String,
    /// Start of its first segment.
    pub first: WallTime,
    /// End of its last segment (from that segment's index; its start if the
    /// index cannot be read).
    pub last: WallTime,
    /// Segments stored.
    pub segments: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// A span without recording between two segments of a camera.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// End of the segment before.
    pub start: WallTime,
    /// Start of the segment after.
    pub end: WallTime,
}

/// The gaps longer than `tolerance_ns` between consecutive recordings
/// (sorted by start).
pub fn gaps(recordings: &[Recording], tolerance_ns: i64) -> Vec<Gap> {
    recordings
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0].index.wall_end, w[1].index.wall_start);
            (b.0.saturating_sub(a.0) > tolerance_ns).then_some(Gap { start: a, end: b })
        })
        .collect()
}

enum Backend {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3(S3Archive),
}

/// A read-only view of a folder or bucket of segments. Cheap to share
/// (`Arc<Archive>`); every method takes `&self`.
pub struct Archive {
    backend: Backend,
    template: ObjectNameTemplate,
    cache: Mutex<HashMap<(String, u64), Arc<SegmentIndex>>>,
    /// Recent folder listings by folder, for [`Archive::entry_by_name`].
    listings: Mutex<HashMap<String, Listing>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("root", &self.describe())
            .field("template", &self.template.as_str())
            .finish()
    }
}

impl Archive {
    /// The archive in folder `root`, named by `template`.
    pub fn local(root: impl Into<PathBuf>, template: ObjectNameTemplate) -> Self {
        Self::with_backend(Backend::Local(root.into()), template)
    }

    /// The archive in an S3 bucket (`cfg`'s bucket, prefix and template).
    /// No request is made until the first listing.
    #[cfg(feature = "s3")]
    pub async fn s3(cfg: crate::sink::S3Config) -> Self {
        let template = cfg.template.clone();
        Self::with_backend(Backend::S3(S3Archive::new(cfg).await), template)
    }

    fn with_backend(backend: Backend, template: ObjectNameTemplate) -> Self {
        Archive {
            backend,
            template,
            cache: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
        }
    }

    /// The folder of a local archive.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Local(p) => Some(p),
            #[cfg(feature = "s3")]
            Backend::S3(_) => None,
        }
    }

    /// The S3 side of an S3 archive (client, bucket, prefix: for presigned
    /// URLs).
    #[cfg(feature = "s3")]
    pub fn s3_archive(&self) -> Option<&S3Archive> {
        match &self.backend {
            Backend::S3(s) => Some(s),
            Backend::Local(_) => None,
        }
    }

    /// The template names are read with.
    pub fn template(&self) -> &ObjectNameTemplate {
        &self.template
    }

    /// Where the archive is, for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(p) => p.display().to_string(),
            #[cfg(feature = "s3")]
            Backend::S3(s) => s.describe(),
        }
    }

    fn entry(&self, name: String, bytes: u64) -> Option<SegmentEntry> {
        if !name.ends_with(".mp4") {
            return None;
        }
        let f = self.template.match_name(&name)?;
        Some(SegmentEntry {
            start: f.start?,
            camera: f.camera.unwrap_or_default(),
            name,
            bytes,
        })
    }

    /// Lists names under the folders/prefixes `dirs` ("" = everything).
    async fn list(&self, dirs: &BTreeSet<String>) -> Result<Vec<SegmentEntry>, ArchiveError> {
        let mut raw = Vec::new();
        for dir in dirs {
            match &self.backend {
                Backend::Local(root) => raw.extend(local::list(root, dir).await?),
                #[cfg(feature = "s3")]
                Backend::S3(s) => raw.extend(s.list(dir).await?),
            }
        }
        let mut out: Vec<SegmentEntry> = raw
            .into_iter()
            .filter_map(|(n, b)| self.entry(n, b))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The folders (prefixes) that can hold `camera`'s segments starting
    /// between `from` and `to`: the template rendered hour by hour, cut at
    /// its last `/`. A template with a time-free folder gives one entry.
    fn dirs_for(&self, camera: &str, from: WallTime, to: WallTime) -> BTreeSet<String> {
        const HOUR: i64 = 3600 * 1_000_000_000;
        let dir = |t: WallTime| {
            let name = self.template.render(camera, t, 0);
            name.rsplit_once('/')
                .map_or(String::new(), |(d, _)| format!("{d}/"))
        };
        let mut dirs = BTreeSet::new();
        // Too long a range: list the camera's whole folder (or everything).
        if to.0.saturating_sub(from.0) > 400 * 24 * HOUR {
            dirs.insert(self.camera_dir(camera));
            return dirs;
        }
        // The hour `from` falls in; from `from` itself when that hour
        // starts before the earliest `WallTime` (a window in 1677 from a
        // client): stepping an hour at a time still visits every hour.
        let mut t = from.0.div_euclid(HOUR).checked_mul(HOUR).unwrap_or(from.0);
        while t <= to.0 {
            dirs.insert(dir(WallTime(t)));
            let Some(next) = t.checked_add(HOUR) else {
                break;
            };
            t = next;
        }
        dirs.insert(dir(to));
        dirs
    }

    /// The folder above every segment of `camera`: the template up to the
    /// first `/` after `{camera}` when no time comes before it, else "".
    fn camera_dir(&self, camera: &str) -> String {
        let a = self.template.render(camera, WallTime(0), 0);
        let b = self
            .template
            .render(camera, WallTime(40 * 365 * 86_400 * 1_000_000_000), 0);
        let common: String = a
            .chars()
            .zip(b.chars())
            .take_while(|(x, y)| x == y)
            .map(|(x, _)| x)
            .collect();
        common
            .rsplit_once('/')
            .map_or(String::new(), |(d, _)| format!("{d}/"))
    }

    /// Every camera in the archive with the span of its recordings: one
    /// listing of everything, one index read per camera (its last segment).
    pub async fn cameras(&self) -> Result<Vec<CameraSummary>, ArchiveError> {
        let all = self.list(&BTreeSet::from([String::new()])).await?;
        let mut by: Vec<(String, Vec<SegmentEntry>)> = Vec::new();
        for e in all {
            match by.iter_mut().find(|(c, _)| *c == e.camera) {
                Some((_, v)) => v.push(e),
                None => by.push((e.camera.clone(), vec![e])),
            }
        }
        by.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        for (id, v) in by {
            let last_entry = v.last().expect("non-empty").clone();
            let last = match self.index(&last_entry).await {
                Ok(i) => i.wall_end,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the last segment's index");
                    last_entry.start
                }
            };
            let first = match self.index(&v[0]).await {
                Ok(i) => i.wall_start,
                Err(_) => v[0].start,
            };
            out.push(CameraSummary {
                id,
                first,
                last,
                segments: v.len(),
                bytes: v.iter().map(|e| e.bytes).sum(),
            });
        }
        Ok(out)
    }

    /// `camera`'s segments that may overlap `[start, end)`, from names only:
    /// those starting inside, and the last one starting before `start`
    /// (names have whole seconds: a few more may be listed).
    pub async fn segments(
        &self,
        camera: &str,
        start: WallTime,
        end: WallTime,
    ) -> Result<Vec<SegmentEntry>, ArchiveError> {
        let from = WallTime(start.0.saturating_sub(MAX_SEGMENT_NS));
        let dirs = self.dirs_for(camera, from, end);
        let listed = self.list(&dirs).await?;
        let mine: Vec<SegmentEntry> = listed
            .into_iter()
            .filter(|e| e.camera == camera && e.start < end)
            .collect();
        // Names give the start in whole seconds (floored): only a name at
        // least a second before `start` surely names a segment that began
        // before it; from that one on, every segment may overlap.
        let before = mine
            .iter()
            .rposition(|e| e.start.0.saturating_add(NAME_PRECISION_NS) <= start.0);
        Ok(match before {
            Some(i) => mine[i..].to_vec(),
            None => mine,
        })
    }

    /// `camera`'s recordings overlapping `[start, end)`, with their
    /// indexes, sorted by start. Segments whose index cannot be read are
    /// skipped with a warning.
    pub async fn recordings(
        &self,
        camera: &str,
        start: WallTime,
        end: WallTime,
    ) -> Result<Vec<Recording>, ArchiveError> {
        use futures::StreamExt;
        let entries = self.segments(camera, start, end).await?;
        // Index reads are small: on S3 the round trips dominate, so several
        // run at once.
        let loaded: Vec<_> = futures::stream::iter(entries)
            .map(|entry| async move {
                let index = self.index(&entry).await;
                (entry, index)
            })
            .buffered(INDEX_READS_IN_FLIGHT)
            .collect()
            .await;
        let mut out = Vec::new();
        for (entry, index) in loaded {
            let index = match index {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a segment whose index cannot be read");
                    continue;
                }
            };
            if index.wall_end > start && index.wall_start < end && !index.fragments.is_empty() {
                out.push(Recording { entry, index });
            }
        }
        out.sort_by_key(|r| r.index.wall_start);
        Ok(out)
    }

    /// The index of `entry`: from the cache, else from the segment's tail,
    /// else rebuilt from the whole segment (files without an index).
    pub async fn index(&self, entry: &SegmentEntry) -> Result<Arc<SegmentIndex>, ArchiveError> {
        let key = (entry.name.clone(), entry.bytes);
        if let Some(i) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(i.clone());
        }
        let index = match &self.backend {
            Backend::Local(root) => local::load_index(root, entry).await?,
            #[cfg(feature = "s3")]
            Backend::S3(s) => s.load_index(entry).await?,
        };
        let mut index = index;
        if index.camera.is_empty() {
            // Rebuilt after a crash without knowing the camera: the name does.
            index.camera = entry.camera.clone();
        }
        let index = Arc::new(index);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, index.clone());
        Ok(index)
    }

    /// Adds an index known without a read (a segment just recorded).
    pub fn remember(&self, entry: &SegmentEntry, index: Arc<SegmentIndex>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert((entry.name.clone(), entry.bytes), index);
    }

    /// Reads `range` of the segment `entry`.
    pub async fn read(
        &self,
        entry: &SegmentEntry,
        range: Range<u64>,
    ) -> Result<Bytes, ArchiveError> {
        if range.start > range.end || range.end > entry.bytes {
            return Err(ArchiveError::BadRange {
                name: entry.name.clone(),
                start: range.start,
                end: range.end,
                len: entry.bytes,
            });
        }
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        match &self.backend {
            Backend::Local(root) => local::read(root, &entry.name, range).await,
            #[cfg(feature = "s3")]
            Backend::S3(s) => s.read(&entry.name, range).await,
        }
    }

    /// Looks a segment up by name: in its folder's listing from the last
    /// 10 s, else in a new one.
    pub async fn entry_by_name(&self, name: &str) -> Result<SegmentEntry, ArchiveError> {
        let dir = name
            .rsplit_once('/')
            .map_or(String::new(), |(d, _)| format!("{d}/"));
        let find = |list: &[SegmentEntry]| list.iter().find(|e| e.name == name).cloned();
        let recent = self
            .listings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&dir)
            .filter(|(at, _)| at.elapsed() < LISTING_TTL)
            .map(|(_, list)| list.clone());
        if let Some(e) = recent.as_deref().and_then(find) {
            return Ok(e);
        }
        let list: Arc<[SegmentEntry]> = self.list(&BTreeSet::from([dir.clone()])).await?.into();
        let found = find(&list);
        let mut listings = self.listings.lock().unwrap_or_else(|e| e.into_inner());
        if listings.len() >= LISTINGS_KEPT {
            listings.clear();
        }
        listings.insert(dir, (std::time::Instant::now(), list));
        found.ok_or_else(|| ArchiveError::NoSuchSegment { name: name.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name lookups reuse a recent listing of the folder, and list it
    /// again for a name it lacks (a segment finished since).
    #[tokio::test]
    async fn names_are_looked_up_in_a_recent_listing_and_new_ones_found() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::local(dir.path(), ObjectNameTemplate::default());
        let folder = dir.path().join("cam/20240501");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("120000_cam.mp4"), b"x").unwrap();
        let first = a
            .entry_by_name("cam/20240501/120000_cam.mp4")
            .await
            .unwrap();
        assert_eq!((first.camera.as_str(), first.bytes), ("cam", 1));
        // Found again without a listing: the folder no longer exists.
        std::fs::rename(&folder, dir.path().join("moved")).unwrap();
        let again = a
            .entry_by_name("cam/20240501/120000_cam.mp4")
            .await
            .unwrap();
        assert_eq!(again, first);
        // A name the recent listing lacks is listed afresh.
        std::fs::rename(dir.path().join("moved"), &folder).unwrap();
        std::fs::write(folder.join("121500_cam.mp4"), b"yy").unwrap();
        let new = a
            .entry_by_name("cam/20240501/121500_cam.mp4")
            .await
            .unwrap();
        assert_eq!(new.bytes, 2);
        assert!(matches!(
            a.entry_by_name("cam/20240501/123000_cam.mp4").await,
            Err(ArchiveError::NoSuchSegment { .. })
        ));
    }

    #[test]
    fn folders_of_a_window_at_either_end_of_wall_time() {
        let a = Archive::local("/nonexistent", ObjectNameTemplate::default());
        const HOUR: i64 = 3600 * 1_000_000_000;
        // The earliest time's hour starts before it: no overflow, and
        // the folders of both ends are listed.
        let (from, to) = (WallTime(i64::MIN), WallTime(i64::MIN + 30 * HOUR));
        let dirs = a.dirs_for("cam", from, to);
        assert_eq!(
            dirs,
            BTreeSet::from(["cam/16770921/".to_owned(), "cam/16770922/".to_owned()])
        );
        let dirs = a.dirs_for("cam", WallTime(i64::MAX - HOUR), WallTime(i64::MAX));
        assert_eq!(dirs, BTreeSet::from(["cam/22620411/".to_owned()]));
    }
}
