//! Thumbnails: a picture of a camera's keyframe every few minutes, stored
//! next to its recording.
//!
//! [`render_keyframe`] turns one keyframe into a [`KeyframeImage`]: a JPEG
//! for H.264 (decoded by OpenH264, cargo feature `thumbnails`), or a
//! one-frame MP4 for H.265 (no dependable pure-Rust or bundled decoder
//! exists) and for every codec when the feature is off. The camera task
//! calls it every [`ThumbnailConfig::interval`]; a clip writer can call it
//! for a clip's first keyframe. [`SmallObjectStore`] stores the result in
//! the folder or bucket the segments go to.
//!
//! A camera with a thumbnail every minute, named like its segments:
//!
//! ```
//! use std::time::Duration;
//! use recorder_core::thumbnail::ThumbnailConfig;
//! use recorder_core::{CameraConfig, CameraUrl};
//!
//! let url = CameraUrl::parse("rtsp://192.0.2.10/stream1")?;
//! let cam = CameraConfig::new("porch", url)
//!     .with_thumbnails(ThumbnailConfig::default().with_interval(Duration::from_secs(60)));
//! assert_eq!(cam.thumbnails.unwrap().interval, Duration::from_secs(60));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "thumbnails")]
mod jpeg;
mod keyframe_mp4;
mod store;

use std::time::Duration;

#[cfg(feature = "thumbnails")]
pub use jpeg::h264_keyframe_to_jpeg;
pub use keyframe_mp4::one_frame_mp4;
pub use store::{SmallObjectStore, StoredObject};

use crate::mux::{Frame, TrackSpec};
use crate::sink::{ObjectNameTemplate, TemplateError};

/// The default thumbnail names: the segments' default with `.jpg`.
pub const DEFAULT_THUMBNAIL_TEMPLATE: &str = "{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.jpg";

/// The default time between two thumbnails of a camera.
pub const DEFAULT_THUMBNAIL_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The default JPEG quality (1-100).
pub const DEFAULT_JPEG_QUALITY: u8 = 80;

/// What a keyframe that cannot be decoded here is stored as: its name is
/// the template's with `.jpg` replaced by this.
pub const KEYFRAME_MP4_SUFFIX: &str = ".keyframe.mp4";

/// How a camera's thumbnails are made.
///
/// ```
/// use std::time::Duration;
/// use recorder_core::thumbnail::ThumbnailConfig;
///
/// let cfg = ThumbnailConfig::default().with_interval(Duration::from_secs(60));
/// assert_eq!(cfg.template.as_str(), "{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.jpg");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ThumbnailConfig {
    /// Time between two thumbnails. The first is made at the first
    /// keyframe the camera delivers, the next at the first keyframe at
    /// least this long after it.
    pub interval: Duration,
    /// Names of the thumbnails below the sink's root; ends in `.jpg`.
    pub template: ObjectNameTemplate,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
}

impl Default for ThumbnailConfig {
    fn default() -> Self {
        ThumbnailConfig {
            interval: DEFAULT_THUMBNAIL_INTERVAL,
            template: ObjectNameTemplate::parse(DEFAULT_THUMBNAIL_TEMPLATE)
                .expect("the default thumbnail template parses"),
            quality: DEFAULT_JPEG_QUALITY,
        }
    }
}

impl ThumbnailConfig {
    /// Sets [`ThumbnailConfig::interval`].
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`ThumbnailConfig::template`], which must end in `.jpg`.
    pub fn with_template(mut self, template: ObjectNameTemplate) -> Result<Self, TemplateError> {
        template.require_extension(".jpg")?;
        self.template = template;
        Ok(self)
    }

    /// Sets [`ThumbnailConfig::quality`] (clamped to 1..=100).
    pub fn with_quality(mut self, quality: u8) -> Self {
        self.quality = quality.clamp(1, 100);
        self
    }
}

/// A JPEG picture of one decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// The JPEG file's bytes.
    pub jpeg: Vec<u8>,
    /// Width in pixels of the picture (the decoded, cropped frame).
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
}

/// One keyframe made storable: a JPEG, or the frame in a one-frame MP4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyframeImage {
    /// A decoded picture.
    Jpeg(Thumbnail),
    /// The undecoded keyframe in a playable one-frame MP4 (H.265, or any
    /// codec in a build without the `thumbnails` feature).
    Mp4 {
        /// The MP4 file's bytes.
        bytes: Vec<u8>,
        /// Width in pixels (from the codec parameters).
        width: u16,
        /// Height in pixels.
        height: u16,
    },
}

impl KeyframeImage {
    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            KeyframeImage::Jpeg(t) => &t.jpeg,
            KeyframeImage::Mp4 { bytes, .. } => bytes,
        }
    }

    /// `(width, height)` in pixels.
    pub fn dimensions(&self) -> (u16, u16) {
        match self {
            KeyframeImage::Jpeg(t) => (t.width, t.height),
            KeyframeImage::Mp4 { width, height, .. } => (*width, *height),
        }
    }

    /// The MIME type to store it with.
    pub fn content_type(&self) -> &'static str {
        match self {
            KeyframeImage::Jpeg(_) => "image/jpeg",
            KeyframeImage::Mp4 { .. } => "video/mp4",
        }
    }

    /// The object name for this image, from a rendered `.jpg` name.
    pub fn object_name(&self, jpg_name: &str) -> String {
        match self {
            KeyframeImage::Jpeg(_) => jpg_name.to_owned(),
            KeyframeImage::Mp4 { .. } => {
                let stem = jpg_name.strip_suffix(".jpg").unwrap_or(jpg_name);
                format!("{stem}{KEYFRAME_MP4_SUFFIX}")
            }
        }
    }
}

/// Why a keyframe could not be made into a thumbnail. The camera sends
/// these bytes, so every malformed input ends here, never in a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// The track is not video.
    #[error("cannot make a thumbnail of a {codec} track: only video has pictures")]
    NotVideo {
        /// The codec's name.
        codec: &'static str,
    },
    /// The frame is not a keyframe (nothing before it would be decoded).
    #[error("the frame at pts {pts} is not a keyframe: thumbnails are made of keyframes only")]
    NotKeyframe {
        /// Its presentation time.
        pts: i64,
    },
    /// The `avcC` record or the frame's NAL length prefixes are malformed.
    #[error("malformed H.264 {what}: {detail}")]
    Malformed {
        /// `avcC record` or `frame`.
        what: &'static str,
        /// What is wrong, with offsets.
        detail: String,
    },
    /// OpenH264 refused the bitstream.
    #[error("OpenH264 could not decode the keyframe ({bytes} bytes): {detail}")]
    Decode {
        /// Bytes of Annex B given to the decoder.
        bytes: usize,
        /// The decoder's message.
        detail: String,
    },
    /// The decoder accepted the keyframe but returned no picture.
    #[error("OpenH264 returned no picture for the keyframe ({bytes} bytes): the frame is incomplete or not an IDR")]
    NoPicture {
        /// Bytes of Annex B given to the decoder.
        bytes: usize,
    },
    /// The picture is larger than a JPEG can hold or than we accept.
    #[error("decoded picture of {width}x{height} is outside 1..=16384 pixels a side")]
    BadSize {
        /// Decoded width.
        width: usize,
        /// Decoded height.
        height: usize,
    },
    /// The JPEG encoder failed.
    #[error("JPEG encoding of a {width}x{height} picture failed: {detail}")]
    Encode {
        /// Width.
        width: u16,
        /// Height.
        height: u16,
        /// The encoder's message.
        detail: String,
    },
    /// The thumbnail could not be stored.
    #[error("could not store thumbnail {name}: {source}")]
    Store {
        /// Its object name.
        name: String,
        /// The sink's error ([`SinkError`](crate::SinkError), or an
        /// `S3Error` with the `s3` feature).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The muxer refused the keyframe for the one-frame MP4.
    #[error("could not put the keyframe into a one-frame MP4: {detail}")]
    Mux {
        /// The muxer's message.
        detail: String,
    },
}

/// Makes one keyframe of `track` storable: a JPEG of H.264 when the
/// `thumbnails` feature is on, otherwise a one-frame MP4. `frame.track`
/// is ignored (the frame is taken as `track`'s). CPU-bound (a few
/// milliseconds for 1080p): call it off the async reactor
/// (`tokio::task::spawn_blocking`).
pub fn render_keyframe(
    track: &TrackSpec,
    frame: &Frame,
    quality: u8,
) -> Result<KeyframeImage, ThumbnailError> {
    if !track.codec.is_video() {
        return Err(ThumbnailError::NotVideo {
            codec: track.codec.name(),
        });
    }
    if !frame.keyframe {
        return Err(ThumbnailError::NotKeyframe { pts: frame.pts });
    }
    #[cfg(feature = "thumbnails")]
    if let crate::mux::CodecConfig::H264 { .. } = track.codec {
        return h264_keyframe_to_jpeg(&track.codec, &frame.data, quality).map(KeyframeImage::Jpeg);
    }
    let _ = quality;
    let (width, height) = track.codec.dimensions().unwrap_or((0, 0));
    let bytes = one_frame_mp4(track, frame)?;
    Ok(KeyframeImage::Mp4 {
        bytes,
        width,
        height,
    })
}
