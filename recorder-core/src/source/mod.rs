//! The RTSP source: one retina session per camera, turned into [`Frame`]s
//! for the muxer.
//!
//! - [`camera_url`]: user-given URLs, credentials split off and redacted.
//! - [`backoff`]: reconnect delays.
//! - [`timeline`]: RTP timestamps to a shared `pts` and a wall clock (pure).
//! - [`rtsp`]: the async edge: connect, timeouts, events.
//! - [`text`]: camera-controlled text made safe to print.
//!
//! [`Frame`]: crate::mux::Frame

mod assembler;
pub mod backoff;
pub mod camera_url;
pub mod rtsp;
pub mod text;
pub mod timeline;

pub use backoff::{Backoff, BackoffConfig};
pub use camera_url::{CameraUrl, UrlError};
pub use rtsp::{
    connect, ProbeInfo, Session, SessionGroup, SkippedStream, SourceConfig, SourceError,
    SourceEvent, TrackInfo, Transport,
};
pub use timeline::{Placement, Timeline, TimelineConfig, TimelineStats};
