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

pub use routes::{camera_list, cameras_route, paths, router, routes, CameraJson};

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

/// Settings of the playback routes.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Longest export window (longer: 400).
    pub max_export: Duration,
    /// On a bucket, serve segment bytes through camrec (the bytes route
    /// reads the bucket) instead of presigned URLs: for browsers when the
    /// bucket has no CORS rule for the page's origin.
    pub proxy_bucket: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_export: DEFAULT_MAX_EXPORT,
            proxy_bucket: false,
        }
    }
}

/// What the playback routes serve: an archive and settings.
pub struct Playback {
    archive: Arc<Archive>,
    settings: Settings,
    known: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Playback {
    /// Playback of `archive`.
    pub fn new(archive: Arc<Archive>, settings: Settings) -> Arc<Playback> {
        Arc::new(Playback {
            archive,
            settings,
            known: Mutex::new(None),
        })
    }

    /// The archive served.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.archive
    }
}
