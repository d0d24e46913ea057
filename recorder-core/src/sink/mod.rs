//! Sinks: where a segment's bytes go as the muxer produces them.
//!
//! A sink receives one segment at a time: [`SegmentSink::start`] with the
//! init segment, [`SegmentSink::fragment`] for every `prft`+`moof`+`mdat`,
//! then [`SegmentSink::finish`] (or [`SegmentSink::abort`] when the segment
//! cannot be finished normally). Implementations:
//!
//! - [`LocalSink`]: a directory tree, `NAME.mp4.part` renamed to `NAME.mp4`
//!   when done; [`repair_dir`] turns what a crash left into playable files.
//! - `S3Sink` (cargo feature `s3`): a streaming multipart upload fed from a local spool, with
//!   retries and crash recovery (`S3Store::recover`).
//!
//! Object names come from an [`ObjectNameTemplate`].

pub(crate) mod fs;
pub mod local;
pub mod object_name;
mod open_segment;
pub mod repair;
#[cfg(feature = "s3")]
pub mod s3;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use crate::mux::{Fragment, SegmentEnd, SegmentStart};

pub use fs::{FolderLock, OUTPUT_LOCK_FILE};
pub use local::{LocalSink, LocalSinkOptions};
pub use object_name::{
    sanitize_camera_id, NameFields, ObjectNameTemplate, TemplateError, DEFAULT_TEMPLATE,
};
pub use repair::{
    repair_dir, repair_file, scan_segment, RepairOutcome, RepairReport, RepairedFile, SegmentScan,
    CAMREC_FTYP,
};
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Error, S3Sink, S3Status, S3Store};

/// A destination for segments, fed in muxer order.
///
/// The calls for one segment are `start`, any number of `fragment`, then
/// `finish` or `abort`. The methods return `Send` futures so a recorder
/// can drive many cameras on a multi-threaded runtime; implementations may
/// simply write `async fn`.
///
/// The contract is shaped so that a streaming store (S3 multipart upload)
/// fits as well as a file: `start` may only reserve a name, `fragment` may
/// buffer until a part is large enough, and only `finish` must make the
/// segment complete and visible under its final name.
pub trait SegmentSink: Send {
    /// Begins a segment for `camera`; `start.init` (`ftyp`+`moov`) comes
    /// first in the stored object.
    ///
    /// If a segment is still open (the caller never finished it), the sink
    /// aborts it first, keeping its complete fragments.
    fn start(
        &mut self,
        camera: &str,
        start: &SegmentStart,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Appends one fragment to the open segment.
    ///
    /// After an error the stored bytes still end on a fragment boundary (or
    /// can be repaired to one), so the caller may keep feeding fragments,
    /// `finish`, or `abort`.
    fn fragment(
        &mut self,
        fragment: &Fragment,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Completes the open segment: applies `end.header_patches`, makes the
    /// bytes durable and publishes the object under its final name.
    fn finish(
        &mut self,
        end: &SegmentEnd,
    ) -> impl Future<Output = Result<StoredSegment, SinkError>> + Send;

    /// Gives up on the open segment without a [`SegmentEnd`] (the muxer
    /// state was lost, or a write failed for good).
    ///
    /// Sinks keep whatever complete fragments they hold rather than throwing
    /// them away: the local sink publishes them at once (with the duration
    /// recomputed), a remote sink may leave them where crash recovery finds
    /// them. Returns the published segment, if any; `Ok(None)` when nothing
    /// was open or nothing playable had been written.
    fn abort(&mut self) -> impl Future<Output = Result<Option<StoredSegment>, SinkError>> + Send;

    /// True if the object is visible under its final name when `finish`
    /// returns; false for sinks that complete it in the background (S3
    /// uploads from the spool). The recorder reports it in its events.
    fn publishes_on_finish(&self) -> bool {
        true
    }

    /// Where small whole objects (thumbnails) go next to the segments:
    /// the sink's folder or bucket. `None` (the default): this sink keeps
    /// none, and the recorder makes no thumbnails for it.
    fn small_objects(&self) -> Option<crate::thumbnail::SmallObjectStore> {
        None
    }
}

/// A boxed future, as [`DynSegmentSink`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`SegmentSink`] in a form usable as `dyn` (`Box<dyn DynSegmentSink>`),
/// for hosts that choose the sink at run time. Every `SegmentSink` is one,
/// and `Box<dyn DynSegmentSink>` is a `SegmentSink` again.
///
/// ```
/// use recorder_core::{DynSegmentSink, LocalSink, ObjectNameTemplate};
///
/// let dir = std::env::temp_dir().join("camrec-doc-dyn-sink");
/// let sink: Box<dyn DynSegmentSink> = Box::new(LocalSink::new(&dir, ObjectNameTemplate::default())?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait DynSegmentSink: Send {
    /// [`SegmentSink::start`].
    fn start_boxed<'a>(
        &'a mut self,
        camera: &'a str,
        start: &'a SegmentStart,
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// [`SegmentSink::fragment`].
    fn fragment_boxed<'a>(
        &'a mut self,
        fragment: &'a Fragment,
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// [`SegmentSink::finish`].
    fn finish_boxed<'a>(
        &'a mut self,
        end: &'a SegmentEnd,
    ) -> BoxFuture<'a, Result<StoredSegment, SinkError>>;
    /// [`SegmentSink::abort`].
    fn abort_boxed(&mut self) -> BoxFuture<'_, Result<Option<StoredSegment>, SinkError>>;
    /// [`SegmentSink::publishes_on_finish`].
    fn publishes_on_finish_dyn(&self) -> bool;
    /// [`SegmentSink::small_objects`].
    fn small_objects_dyn(&self) -> Option<crate::thumbnail::SmallObjectStore>;
}

impl<S: SegmentSink> DynSegmentSink for S {
    fn start_boxed<'a>(
        &'a mut self,
        camera: &'a str,
        start: &'a SegmentStart,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.start(camera, start))
    }
    fn fragment_boxed<'a>(
        &'a mut self,
        fragment: &'a Fragment,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.fragment(fragment))
    }
    fn finish_boxed<'a>(
        &'a mut self,
        end: &'a SegmentEnd,
    ) -> BoxFuture<'a, Result<StoredSegment, SinkError>> {
        Box::pin(self.finish(end))
    }
    fn abort_boxed(&mut self) -> BoxFuture<'_, Result<Option<StoredSegment>, SinkError>> {
        Box::pin(self.abort())
    }
    fn publishes_on_finish_dyn(&self) -> bool {
        self.publishes_on_finish()
    }
    fn small_objects_dyn(&self) -> Option<crate::thumbnail::SmallObjectStore> {
        self.small_objects()
    }
}

impl SegmentSink for Box<dyn DynSegmentSink> {
    async fn start(&mut self, camera: &str, start: &SegmentStart) -> Result<(), SinkError> {
        self.as_mut().start_boxed(camera, start).await
    }
    async fn fragment(&mut self, fragment: &Fragment) -> Result<(), SinkError> {
        self.as_mut().fragment_boxed(fragment).await
    }
    async fn finish(&mut self, end: &SegmentEnd) -> Result<StoredSegment, SinkError> {
        self.as_mut().finish_boxed(end).await
    }
    async fn abort(&mut self) -> Result<Option<StoredSegment>, SinkError> {
        self.as_mut().abort_boxed().await
    }
    fn publishes_on_finish(&self) -> bool {
        self.as_ref().publishes_on_finish_dyn()
    }
    fn small_objects(&self) -> Option<crate::thumbnail::SmallObjectStore> {
        self.as_ref().small_objects_dyn()
    }
}

/// A segment that a sink finished and published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSegment {
    /// Object name relative to the sink's root, `/`-separated, including
    /// any `-N` suffix added to avoid overwriting an existing object.
    pub name: String,
    /// Where it is: the full file path for a local sink.
    pub location: String,
    /// Total bytes stored, init segment included.
    pub bytes: u64,
    /// Complete fragments stored.
    pub fragments: u32,
    /// The segment's index as appended to it, when the sink built it
    /// (`None` after a repair, or if the segment could not be indexed).
    pub index: Option<std::sync::Arc<crate::index::SegmentIndex>>,
}

/// Why a sink could not store a segment.
///
/// Messages name the file or object and say what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The object name template is unusable.
    #[error(transparent)]
    Template(#[from] TemplateError),

    /// The disk (or the user's quota) is full.
    #[error(
        "no space left while {action} {path}: free disk space (delete or move old recordings); \
         fragments already written stay in the file and `.part` files are repaired on the next start"
    )]
    StorageFull {
        /// What the sink was doing ("writing", "creating directory", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The S3 spool reached its size limit (the store is slow or down).
    #[error(
        "the S3 spool {path} is full ({limit} bytes limit): {what}. The store is not keeping up \
         or is unreachable: check it (see the upload errors), or raise the spool limit"
    )]
    SpoolFull {
        /// The spool file or directory.
        path: PathBuf,
        /// The configured limit in bytes.
        limit: u64,
        /// What was refused.
        what: String,
    },

    /// The process may not write there.
    #[error(
        "permission denied while {action} {path}: give the recorder's user write access to it \
         (or choose another output directory)"
    )]
    PermissionDenied {
        /// What the sink was doing.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The filesystem is mounted read-only.
    #[error(
        "read-only filesystem while {action} {path}: remount it read-write or choose another \
         output directory"
    )]
    ReadOnly {
        /// What the sink was doing.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Another camrec process holds the folder's lock (it is recording
    /// there, or repairing it).
    #[error(
        "the folder {path} is in use by another running camrec (its lock file {lock} is held): \
         give each instance its own output folder, or stop the other one first"
    )]
    FolderInUse {
        /// The folder.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },

    /// Any other I/O failure.
    #[error("I/O error while {action} {path}: {source}")]
    Io {
        /// What the sink was doing.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `fragment`, `finish` called with no open segment: a caller bug.
    #[error("{call} called with no open segment: call `start` first")]
    NoOpenSegment {
        /// The method that was called.
        call: &'static str,
    },

    /// A fragment or end event for a different segment than the open one.
    #[error(
        "event for segment {got} while segment {open} is open ({path}): \
         feed the sink the muxer's events in order"
    )]
    SegmentMismatch {
        /// The index of the open segment.
        open: u64,
        /// The index the event carried.
        got: u64,
        /// The open segment's file.
        path: PathBuf,
    },

    /// A header patch points outside the bytes written so far.
    #[error(
        "header patch at offset {offset} (+8 bytes) lies beyond the {len} bytes of {path}: \
         the muxer and sink disagree about the segment (a bug)"
    )]
    InvalidPatch {
        /// Patch offset.
        offset: u64,
        /// Bytes written so far.
        len: u64,
        /// The file.
        path: PathBuf,
    },

    /// Every `NAME-N.mp4` candidate is taken.
    #[error(
        "could not find a free name next to {path} (tried {tried} suffixes): \
         move old recordings away or change the name template"
    )]
    NameExhausted {
        /// The wanted name.
        path: PathBuf,
        /// How many names were tried.
        tried: u32,
    },

    /// An earlier write failed and the file could not be cut back to its
    /// last complete fragment, so no more fragments are accepted.
    #[error(
        "{path} is unusable after an earlier write error; it is kept as `.part` \
         and will be repaired on the next start (run `repair` on its directory)"
    )]
    Poisoned {
        /// The file.
        path: PathBuf,
    },

    /// A blocking I/O task panicked or was cancelled.
    #[error("the blocking I/O task for {path} failed: {reason}")]
    TaskFailed {
        /// The file concerned.
        path: PathBuf,
        /// The join error, as text.
        reason: String,
    },
}

impl SinkError {
    /// Classifies an I/O error so the message can tell the operator what
    /// to do: full disk, permissions and read-only mounts each get their own
    /// variant.
    pub fn from_io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        // ENOSPC (28) and EDQUOT (122 on Linux) are checked by number too, so
        // errors built from raw codes by other layers are classified alike.
        let raw = source.raw_os_error();
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => SinkError::StorageFull {
                action,
                path,
                source,
            },
            _ if matches!(raw, Some(28 | 122)) => SinkError::StorageFull {
                action,
                path,
                source,
            },
            io::ErrorKind::PermissionDenied => SinkError::PermissionDenied {
                action,
                path,
                source,
            },
            io::ErrorKind::ReadOnlyFilesystem => SinkError::ReadOnly {
                action,
                path,
                source,
            },
            _ => SinkError::Io {
                action,
                path,
                source,
            },
        }
    }

    /// True if the error means the storage is full (the recorder may want to
    /// alert and keep retrying rather than give up).
    pub fn is_storage_full(&self) -> bool {
        matches!(
            self,
            SinkError::StorageFull { .. } | SinkError::SpoolFull { .. }
        )
    }
}

/// Runs blocking file I/O off the async worker threads; `path` names the
/// file in the error if the task fails.
async fn blocking<T: Send + 'static>(
    path: &std::path::Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SinkError::TaskFailed {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_maps_to_storage_full() {
        let e = SinkError::from_io("writing", "/x/a.mp4.part", io::Error::from_raw_os_error(28));
        assert!(e.is_storage_full(), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("/x/a.mp4.part") && msg.contains("free disk space"),
            "{msg}"
        );

        let e = SinkError::from_io("writing", "/x", io::Error::from(io::ErrorKind::StorageFull));
        assert!(e.is_storage_full());
        let e = SinkError::from_io("writing", "/x", io::Error::from_raw_os_error(122));
        assert!(e.is_storage_full());
    }

    #[test]
    fn permission_and_readonly_map_to_their_variants() {
        let e = SinkError::from_io("creating", "/root/x", io::Error::from_raw_os_error(13));
        assert!(matches!(e, SinkError::PermissionDenied { .. }), "{e:?}");
        assert!(e.to_string().contains("write access"));
        let e = SinkError::from_io("creating", "/ro/x", io::Error::from_raw_os_error(30));
        assert!(matches!(e, SinkError::ReadOnly { .. }), "{e:?}");
        let e = SinkError::from_io("creating", "/x", io::Error::other("boom"));
        assert!(matches!(e, SinkError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("boom"));
    }
}
