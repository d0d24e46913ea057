//! Playback of recordings over HTTP: the camera list, a camera's
//! recordings in a window, an HLS playlist over their byte ranges, the
//! files themselves with `Range` support (folders) or presigned URLs
//! (buckets), one MP4 export of a window, and the web page at `/`.
//! See docs/playback.md.
//!
//! [`router`] serves an [`Archive`] (`camrec serve`, `camrec record`); the
//! camera list is its own route ([`cameras_route`], [`camera_list`]) so a
//! host can merge it with live state.

pub mod error;
mod files;
pub mod hls;
mod page;
pub mod range;
mod routes;
mod timefmt;
pub mod window;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use recorder_core::archive::Archive;

pub use routes::{camera_list, cameras_route, router, routes, CameraJson};

/// Longest window of a playlist.
pub const MAX_HLS_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Longest window of a recordings listing.
pub const MAX_LIST_WINDOW: Duration = Duration::from_secs(31 * 24 * 3600);
/// Default longest window of an export.
pub const DEFAULT_MAX_EXPORT: Duration = Duration::from_secs(24 * 3600);
/// How long a presigned S3 URL in a playlist stays valid.
pub const PRESIGN_VALIDITY: Duration = Duration::from_secs(6 * 3600);
/// Two recordings further apart than this have a gap between them.
pub const GAP_TOLERANCE: Duration = Duration::from_millis(500);
/// How long the known camera ids are trusted before a listing refreshes
/// them (only asked for when a camera has nothing in a window).
const CAMERAS_TTL: Duration = Duration::from_secs(10);

/// Limits of the playback routes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest export window (longer: 400).
    pub max_export: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_export: DEFAULT_MAX_EXPORT,
        }
    }
}

/// What the playback routes serve: an archive and limits.
pub struct Playback {
    archive: Arc<Archive>,
    limits: Limits,
    known: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Playback {
    /// Playback of `archive`.
    pub fn new(archive: Arc<Archive>, limits: Limits) -> Arc<Playback> {
        Arc::new(Playback {
            archive,
            limits,
            known: Mutex::new(None),
        })
    }

    /// The archive served.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.archive
    }
}
