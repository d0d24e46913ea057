//! The parts of `camrec` that are plain functions over values, exposed as
//! a library so they can be fuzzed, benchmarked and reused: configuration
//! parsing and playback (HLS playlists, ranges, the HTTP routes).

pub mod config;
pub mod playback;
