//! camrec's library: record IP cameras into fragmented MP4 segments.
//!
//! Data flows one way: camera → [`source`] (frames) → [`mux`] (fragments) →
//! [`sink`] (bytes) → store.

pub mod mp4;
pub mod mux;
pub mod recorder;
pub mod sink;
pub mod source;
pub mod time;
