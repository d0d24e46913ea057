//! Playback of recordings over HTTP: the camera list, a camera's
//! recordings in a window, an HLS playlist over their byte ranges, the
//! files themselves with `Range` support (folders) or presigned URLs
//! (buckets), one MP4 export of a window, and the web page at `/`.
//! See docs/playback.md.

pub mod error;
pub mod hls;
pub mod range;
mod timefmt;
pub mod window;
