//! camrec's library: record IP cameras into fragmented MP4 segments, in a
//! local folder or in S3-compatible storage, with no ffmpeg.
//!
//! Data flows one way: camera → [`source`] (frames) → [`mux`] (fragments) →
//! [`sink`] (bytes) → store. A [`Recorder`] runs one task per camera and
//! tells its host what happens through [`RecorderEvent`]s and read-only
//! [`CameraSnapshot`]s.
//!
//! Record one camera into a folder and print every stored segment:
//!
//! ```no_run
//! use recorder_core::{CameraConfig, CameraUrl, LocalSink, ObjectNameTemplate, Recorder, RecorderEvent};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let recorder = Recorder::new();
//! let mut events = recorder.subscribe();
//! let camera = CameraConfig::new("porch", CameraUrl::parse("rtsp://user:pass@192.0.2.10/stream1")?);
//! recorder.add_camera(camera, LocalSink::new("./recordings", ObjectNameTemplate::default())?)?;
//! while let Ok(event) = events.recv().await {
//!     if let RecorderEvent::SegmentStored(seg) = event {
//!         println!("{} ({} bytes, {:?})", seg.location, seg.bytes, seg.duration);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Cargo features: `s3` (on by default) adds `sink::s3`, the S3 sink
//! (AWS SDK); without it the crate records to folders only and builds
//! without the SDK. `thumbnails` (on by default) decodes H.264 keyframes
//! into JPEG thumbnails with OpenH264 (built from bundled C++ sources);
//! without it, keyframes are kept as one-frame MP4s instead.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod export;
pub mod index;
pub mod mp4;
pub mod mux;
pub mod recorder;
pub mod retention;
pub mod retry;
pub mod sink;
pub mod source;
pub mod thumbnail;
pub mod time;

pub use mux::{CodecConfig, EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec, WallTime};
pub use recorder::{
    CameraConfig, CameraSnapshot, CameraState, CameraStatus, ClipEnd, ClipError, ClipHandle,
    ClipInfo, ClipRequest, ClipSettings, ClipStatus, ErrorKind, NotStoringReason, Recorder,
    RecorderError, RecorderEvent, SegmentRecord,
};
pub use sink::{
    repair_dir, DynSegmentSink, LocalSink, LocalSinkOptions, ObjectNameTemplate, SegmentSink,
    SinkError, StoredSegment,
};
#[cfg(feature = "s3")]
pub use sink::{S3Config, S3Error, S3Sink, S3Store};
pub use source::{BackoffConfig, CameraUrl, SourceConfig, Transport};
