//! Helpers for recorder-core's integration tests, one module per concern.
//! Each test crate declares `mod support;` and uses the modules it needs.
#![allow(dead_code)]

/// The fixture MP4s, read into track specs and frames.
pub mod fixtures;
/// A single-node Garage's configuration and set-up (std only).
pub mod garage;
/// Hand-built fragmented MP4 segments for the sink tests.
pub mod hand_built;
/// ffmpeg/ffprobe checks of files, test clips, file listings, GStreamer's
/// RTSP server. Also included by `recorder-cli/tests` (std-only).
pub mod media;
/// Segments assembled from muxer events and parsed back.
pub mod muxed;
/// Cameras recorded end to end through `Recorder` + `LocalSink`.
pub mod recording;
/// S3 test servers, a fault-injecting proxy, and bucket helpers.
pub mod s3;
/// VLC's RTSP server and the clips it serves.
pub mod vlc;
