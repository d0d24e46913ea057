//! Retention of a local folder: keep each camera's and all cameras'
//! recordings within an age and a size, keep a floor of free space on the
//! volume, delete the oldest first, and never touch an open segment or a
//! pinned file.
//!
//! - [`Account`]: what the folder holds, built by one walk at start-up
//!   ([`scan`]) and kept current from the recorder's events, so a pass
//!   costs what it deletes, not what the folder holds (sans-IO).
//! - [`RetentionPolicy`] and [`plan`]: which files to delete now (pure).
//! - [`delete_planned`], [`free_bytes`]: the file-system side.
//! - [`Pruner`]: the async driver a host runs beside its
//!   [`Recorder`](crate::Recorder), with counters ([`RetentionSnapshot`]).
//!
//! On disk: continuous segments are the names the object-name template
//! reads back ([`ObjectNameTemplate::match_name`](crate::sink::ObjectNameTemplate::match_name)),
//! thumbnails the names the thumbnail template reads back (both given as
//! [`NameTemplates`]; thumbnails count and go as their camera's segments);
//! clips are `.mp4` files under `clips/` and follow their own limits; a
//! file `NAME.pin` beside `NAME` pins it (never deleted); `NAME.mp4.part`
//! is an open segment (never a candidate). Other files are not
//! retention's.
//!
//! ```no_run
//! use std::time::Duration;
//! use recorder_core::retention::{Limits, Pruner, RetentionPolicy, DEFAULT_PRUNE_EVERY};
//! use recorder_core::{ObjectNameTemplate, Recorder};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = RetentionPolicy::new()
//!     .with_per_camera(Limits::none().with_max_age(Duration::from_secs(30 * 86_400)))
//!     .with_min_free_bytes(5 << 30);
//! let (pruner, scanned) = Pruner::open("./recordings", ObjectNameTemplate::default(), policy)?;
//! println!("{} files, {} bytes in {:?}", scanned.files, scanned.bytes, scanned.elapsed);
//! let recorder = Recorder::new();
//! let (stop_tx, stop) = tokio::sync::watch::channel(false);
//! // Subscribe before adding cameras, so no stored segment is missed.
//! let task = tokio::spawn(pruner.clone().run(recorder.subscribe(), stop, DEFAULT_PRUNE_EVERY));
//! // ... add cameras, record, shut the recorder down ...
//! stop_tx.send(true)?;
//! task.await?;
//! # Ok(())
//! # }
//! ```

mod account;
mod apply;
mod plan;
mod policy;
mod pruner;
mod scan;

use std::io;
use std::path::PathBuf;

pub use account::{
    classify, Account, FileKey, FileKind, NameClass, NameTemplates, StoredFile, Usage, CLIPS_DIR,
    PART_SUFFIX, PIN_SUFFIX,
};
pub use apply::{delete_planned, free_bytes, path_of, pin_path, DeleteOutcome};
pub use plan::{plan, DeleteReason, Deletion, Plan};
pub use policy::{Limits, RetentionPolicy};
pub use pruner::{CameraRetention, PassReport, Pruner, RetentionSnapshot, DEFAULT_PRUNE_EVERY};
pub use scan::{scan, ScanReport};

/// Why retention could not look at a folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The folder could not be listed.
    #[error("retention cannot list {path}: {source}")]
    Walk {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `statvfs` failed on the folder.
    #[error("retention cannot read the free space of the volume of {path}: {source}")]
    FreeSpace {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}
