//! The fragmented-MP4 muxer: frames in, self-contained segments out.
//!
//! Sans-IO: plain functions over values, no async, no clock, no I/O.

mod types;

pub use types::*;
