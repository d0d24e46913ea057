//! A sink that writes segments into a local directory tree.
//!
//! Each segment is written to `NAME.mp4.part` and renamed to `NAME.mp4`
//! once finished, so a finished name always means a finished file. Writes
//! go straight to the OS (no user-space buffer), so a `kill -9` of the
//! recorder loses nothing that `fragment` returned for; only a power loss
//! can, unless [`LocalSinkOptions::sync_each_fragment`] is set. Whatever a
//! crash leaves behind, [`repair_dir`](super::repair_dir) makes playable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::fs::{
    exists, free_final_name, part_path, suffixed, sync_dir, write_all_vectored, FolderLock,
    MAX_SUFFIX,
};
use super::object_name::ObjectNameTemplate;
use super::open_segment::{open_segment, take_open_segment, OpenSegmentFile};
use super::repair::{repair_file_for, RepairOutcome};
use super::{blocking, SegmentSink, SinkError, StoredSegment};
use crate::index::{self, IndexBuilder, SegmentIndex};
use crate::mux::{Fragment, SegmentEnd, SegmentStart};

/// Tuning for [`LocalSink`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalSinkOptions {
    /// `fdatasync` after every fragment, so a power loss (not just a crash)
    /// loses at most the open fragment. Off by default: it costs a disk
    /// flush per fragment per camera, and a process crash is already
    /// covered because every fragment reaches the OS before `fragment`
    /// returns.
    pub sync_each_fragment: bool,
}

/// Writes segments as files under a root directory, named by an
/// [`ObjectNameTemplate`].
///
/// If the name is taken (two segments starting in the same second after a
/// reconnect, or a restart), `NAME-1.mp4`, `NAME-2.mp4`, ... are used:
/// existing files are never overwritten.
///
/// The methods are not cancel-safe: if a call's future is dropped before it
/// completes, call [`abort`](SegmentSink::abort) (or leave the `.part` file
/// to [`repair_dir`](super::repair_dir)).
#[derive(Debug)]
pub struct LocalSink {
    root: PathBuf,
    template: ObjectNameTemplate,
    options: LocalSinkOptions,
    open: Option<OpenSegment>,
    last: Option<StoredSegment>,
    /// Keeps other camrec processes (and their start-up repair) out of
    /// `root` while this sink exists.
    _lock: FolderLock,
}

#[derive(Debug)]
struct OpenSegment {
    index: u64,
    file: Arc<File>,
    part: PathBuf,
    /// The final name reserved at start (by creating its `.part`).
    wanted: PathBuf,
    /// Length of the prefix that ends on a complete fragment.
    good_len: u64,
    fragments: u32,
    /// A fragment was lost to a write error (and rolled back), so the
    /// muxer's duration patches may overstate the length.
    lost_fragments: bool,
    /// A write failed and could not be rolled back: the file has a torn
    /// tail and only repair can finish it.
    poisoned: bool,
    /// The camera, for the index if repair has to rebuild it.
    camera: String,
    /// The segment index, fed with every fragment written; `None` if the
    /// init segment could not be read (then repair rebuilds nothing
    /// either, and the file simply has no index).
    seg_index: Option<IndexBuilder>,
}

impl OpenSegmentFile for OpenSegment {
    fn index_and_path(&self) -> (u64, &Path) {
        (self.index, &self.part)
    }
}

impl LocalSink {
    /// A sink writing under `root` (created now) with names from
    /// `template`, which must end in `.mp4`.
    ///
    /// Locks `root` (see [`FolderLock::output`]) for as long as the sink
    /// lives: every sink of this process shares the lock, and a `root`
    /// another camrec process holds is refused with
    /// [`SinkError::FolderInUse`].
    pub fn new(root: impl Into<PathBuf>, template: ObjectNameTemplate) -> Result<Self, SinkError> {
        template.require_extension(".mp4")?;
        let root = root.into();
        let lock = FolderLock::output(&root)?;
        Ok(LocalSink {
            _lock: lock,
            root,
            template,
            options: LocalSinkOptions::default(),
            open: None,
            last: None,
        })
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: LocalSinkOptions) -> Self {
        self.options = options;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.part` file being written, if a segment is open.
    pub fn open_part(&self) -> Option<&Path> {
        self.open.as_ref().map(|o| o.part.as_path())
    }

    /// Bytes of the open segment that end on a complete fragment.
    pub fn open_bytes(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.good_len)
    }

    /// The segment most recently finished or aborted with something kept.
    pub fn last_stored(&self) -> Option<&StoredSegment> {
        self.last.as_ref()
    }

    /// The file path `name` (a `/`-separated object name) maps to.
    fn path_for(&self, name: &str) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(name.split('/'));
        p
    }

    fn stored(
        &self,
        path: &Path,
        bytes: u64,
        fragments: u32,
        index: Option<Arc<SegmentIndex>>,
    ) -> StoredSegment {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        StoredSegment {
            name,
            location: path.display().to_string(),
            bytes,
            fragments,
            index,
        }
    }

    async fn finish_inner(
        &mut self,
        open: OpenSegment,
        end: &SegmentEnd,
    ) -> Result<StoredSegment, SinkError> {
        let OpenSegment {
            file,
            part,
            wanted,
            good_len,
            fragments,
            lost_fragments,
            poisoned,
            camera,
            seg_index,
            ..
        } = open;
        let patches = end.header_patches.clone();
        let path = part.clone();
        let result = blocking(&path, move || {
            if poisoned || lost_fragments {
                // The muxer's patches describe fragments that are not all in
                // the file; let repair cut the tail and measure what is.
                drop(file);
                return Ok(match repair_file_for(&part, Some(&camera))? {
                    RepairOutcome::Repaired {
                        path,
                        kept_bytes,
                        index_bytes,
                        fragments,
                        ..
                    } => Some((path, kept_bytes + index_bytes, fragments, None)),
                    RepairOutcome::Failed(e) => return Err(e),
                    _ => None,
                });
            }
            let io_err = |action, e| SinkError::from_io(action, &part, e);
            if let Some(p) = patches.iter().find(|p| !p.fits(good_len)) {
                return Err(SinkError::InvalidPatch {
                    offset: p.offset,
                    len: good_len,
                    path: part.clone(),
                });
            }
            // The index goes after the last fragment, through the same
            // file position the fragments were written at.
            let mut len = good_len;
            let mut built = None;
            if let Some(b) = seg_index {
                let i = Arc::new(b.finish());
                let bytes = Bytes::from(index::encode(&i));
                built = Some(i);
                write_all_vectored(&file, std::slice::from_ref(&bytes))
                    .map_err(|e| io_err("writing the index to", e))?;
                len += bytes.len() as u64;
            }
            for p in &patches {
                p.write_to(&file).map_err(|e| io_err("patching", e))?;
            }
            file.sync_all().map_err(|e| io_err("syncing", e))?;
            drop(file);
            let target = free_final_name(&wanted, Some(&part))?;
            fs::rename(&part, &target).map_err(|e| io_err("renaming", e))?;
            if let Some(dir) = target.parent() {
                sync_dir(dir)?;
            }
            Ok(Some((target, len, fragments, built)))
        })
        .await??;
        match result {
            Some((path, bytes, fragments, index)) => {
                let s = self.stored(&path, bytes, fragments, index);
                self.last = Some(s.clone());
                Ok(s)
            }
            // Repair removed it: every fragment was lost.
            None => Err(SinkError::Poisoned { path }),
        }
    }
}

impl SegmentSink for LocalSink {
    fn small_objects(&self) -> Option<crate::thumbnail::SmallObjectStore> {
        Some(crate::thumbnail::SmallObjectStore::folder(&self.root))
    }

    async fn start(&mut self, camera: &str, start: &SegmentStart) -> Result<(), SinkError> {
        if let Some(open) = &self.open {
            tracing::warn!(
                part = %open.part.display(),
                "segment started while another was open; keeping the old one's fragments"
            );
            if let Err(e) = self.abort().await {
                tracing::warn!(error = %e, "could not close the previous segment; it stays as .part for repair");
            }
        }
        let wanted = self.path_for(&self.template.render(camera, start.wall_start, start.index));
        let init = start.init.clone();
        let sync = self.options.sync_each_fragment;
        let w = wanted.clone();
        let seg_index = IndexBuilder::new(camera, &start.init)
            .map_err(|e| tracing::warn!(error = %e, "cannot index this segment's init; it is stored without an index"))
            .ok();
        let (file, part) = blocking(&wanted, move || create_part(&w, &init, sync)).await??;
        self.open = Some(OpenSegment {
            index: start.index,
            file: Arc::new(file),
            part,
            wanted,
            good_len: start.init.len() as u64,
            fragments: 0,
            lost_fragments: false,
            poisoned: false,
            camera: camera.to_owned(),
            seg_index,
        });
        Ok(())
    }

    async fn fragment(&mut self, fragment: &Fragment) -> Result<(), SinkError> {
        let open = open_segment(&mut self.open, fragment.segment, "fragment")?;
        if open.poisoned {
            return Err(SinkError::Poisoned {
                path: open.part.clone(),
            });
        }
        // Cloning `Bytes` only bumps reference counts; the payloads go to
        // the kernel in one `writev` without being concatenated.
        let chunks: Vec<Bytes> = fragment.bytes.chunks().cloned().collect();
        let len = fragment.bytes.len() as u64;
        let file = open.file.clone();
        let part = open.part.clone();
        let good_len = open.good_len;
        let sync = self.options.sync_each_fragment;
        let result = blocking(&open.part, move || {
            let written = write_all_vectored(&file, &chunks)
                .map_err(|e| SinkError::from_io("writing", &part, e))
                .and_then(|()| {
                    if sync {
                        file.sync_data()
                            .map_err(|e| SinkError::from_io("syncing", &part, e))
                    } else {
                        Ok(())
                    }
                });
            written.map_err(|e| {
                // Cut the torn fragment off so the file stays a valid
                // prefix and later fragments can follow it.
                let rolled_back = file
                    .set_len(good_len)
                    .and_then(|()| (&*file).seek(SeekFrom::Start(good_len)));
                (e, rolled_back.is_ok())
            })
        })
        .await?;
        match result {
            Ok(()) => {
                if let Some(b) = open.seg_index.as_mut() {
                    if let Err(e) = b.push_fragment(good_len, &fragment.bytes.header, len) {
                        tracing::warn!(error = %e, "cannot index a fragment; the segment is stored without an index");
                        open.seg_index = None;
                    }
                }
                open.good_len += len;
                open.fragments += 1;
                Ok(())
            }
            Err((e, rolled_back)) => {
                open.lost_fragments = true;
                open.poisoned |= !rolled_back;
                Err(e)
            }
        }
    }

    async fn finish(&mut self, end: &SegmentEnd) -> Result<StoredSegment, SinkError> {
        let open = take_open_segment(&mut self.open, end.index, "finish")?;
        self.finish_inner(open, end).await
    }

    async fn abort(&mut self) -> Result<Option<StoredSegment>, SinkError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let OpenSegment {
            file, part, camera, ..
        } = open;
        let p = part.clone();
        let outcome = blocking(&part, move || {
            drop(file);
            repair_file_for(&p, Some(&camera))
        })
        .await??;
        match outcome {
            RepairOutcome::Repaired {
                path,
                kept_bytes,
                index_bytes,
                fragments,
                ..
            } => {
                let s = self.stored(&path, kept_bytes + index_bytes, fragments, None);
                self.last = Some(s.clone());
                Ok(Some(s))
            }
            RepairOutcome::Failed(e) => Err(e),
            RepairOutcome::Removed { .. } | RepairOutcome::Skipped { .. } => Ok(None),
        }
    }
}

/// Creates the directories and a fresh `.part` for `wanted` (or a suffixed
/// name), and writes the init segment.
fn create_part(wanted: &Path, init: &[u8], sync: bool) -> Result<(File, PathBuf), SinkError> {
    let dir = wanted.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| SinkError::from_io("creating directory", dir, e))?;
    for n in 0..MAX_SUFFIX {
        let candidate = suffixed(wanted, n);
        if exists(&candidate) {
            continue;
        }
        let part = part_path(&candidate);
        // `create_new` makes the reservation atomic against other writers.
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&part) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(SinkError::from_io("creating", &part, e)),
        };
        let written = file
            .write_all(init)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
            .map_err(|e| SinkError::from_io("writing", &part, e));
        if let Err(e) = written {
            // Without a complete init there is no video to keep.
            drop(file);
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        // Make the new name durable, so synced fragments are reachable after
        // a power loss.
        sync_dir(dir)?;
        return Ok((file, part));
    }
    Err(SinkError::NameExhausted {
        path: wanted.to_owned(),
        tried: MAX_SUFFIX,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write error that cannot be rolled back poisons the segment, and
    /// what was written before stays repairable: `finish` publishes it.
    #[tokio::test]
    async fn failed_write_keeps_earlier_fragments() {
        use crate::mux::{EndReason, FragmentBytes, SegmentEnd, SegmentStart, WallTime};
        // Repair (which finishes a poisoned file) only takes camrec's `ftyp`.
        let ftyp = crate::sink::repair::CAMREC_FTYP;
        let moov = b"\0\0\0\x08moov";
        let frag = |seq: u32| Fragment {
            segment: 3,
            sequence: seq,
            bytes: FragmentBytes {
                header: Bytes::from_static(b"\0\0\0\x08moof\0\0\0\x0cmdat"),
                payloads: vec![Bytes::from_static(b"abcd")],
            },
            start_ns: 0,
            duration_ns: 0,
            wall_start: WallTime(0),
            wall_end: WallTime(0),
            samples: vec![1],
            starts_with_keyframe: true,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut sink = LocalSink::new(dir.path(), ObjectNameTemplate::default()).unwrap();
        let start = SegmentStart {
            index: 3,
            init: Bytes::from([&ftyp[..], &moov[..]].concat()),
            wall_start: WallTime(0),
            tracks: vec![],
        };
        sink.start("cam", &start).await.unwrap();
        sink.fragment(&frag(1)).await.unwrap();
        // Swap in a read-only handle: writes and truncation both fail.
        let part = sink.open_part().unwrap().to_owned();
        sink.open.as_mut().unwrap().file = Arc::new(File::open(&part).unwrap());
        let e = sink.fragment(&frag(2)).await.unwrap_err();
        assert!(e.to_string().contains(&*part.to_string_lossy()), "{e}");
        let e = sink.fragment(&frag(3)).await.unwrap_err();
        assert!(matches!(e, SinkError::Poisoned { .. }), "{e:?}");
        let end = SegmentEnd {
            index: 3,
            reason: EndReason::Finished,
            duration_ns: 0,
            wall_start: WallTime(0),
            wall_end: WallTime(0),
            samples: vec![],
            bytes: 0,
            fragments: 3,
            header_patches: vec![],
        };
        let stored = sink.finish(&end).await.unwrap();
        assert_eq!(stored.fragments, 1);
        assert_eq!(stored.name, "cam/19700101/000000_cam.mp4");
        // The first fragment, then the index repair rebuilt from it.
        let data = std::fs::read(dir.path().join(&stored.name)).unwrap();
        assert_eq!(stored.bytes, data.len() as u64);
        let index = crate::index::read_tail(&mut std::io::Cursor::new(&data), stored.bytes)
            .unwrap()
            .unwrap();
        assert_eq!((index.fragments.len(), index.media_end()), (1, 40 + 20));
        assert_eq!(index.camera, "cam");
        assert!(!part.exists());
    }
}
