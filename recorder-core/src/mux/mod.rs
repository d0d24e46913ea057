//! The fragmented-MP4 muxer: frames in, self-contained segments out.
//!
//! Sans-IO: plain functions over values, no async, no clock, no I/O. Each
//! segment is a complete file (`ftyp`, `moov` with `mvex`, then
//! `prft`+`moof`+`mdat` fragments) that starts on a keyframe. The timeline
//! model is described in `docs/timestamps.md`.

mod config;
mod error;
mod fragment_writer;
pub(crate) mod init_segment;
mod muxer;
mod types;

pub use config::MuxerConfig;
pub use error::MuxError;
pub use muxer::{MuxStats, Muxer};
pub use types::*;
