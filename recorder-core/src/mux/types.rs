//! The values that flow into and out of the muxer.

use bytes::Bytes;

use crate::mp4::HeaderPatch;
pub use crate::time::WallTime;

/// How a track's samples are coded, with the decoder configuration the
/// `moov` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecConfig {
    /// H.264 with a ready `AVCDecoderConfigurationRecord` (retina's
    /// `VideoParameters::extra_data()`), samples with 4-byte NAL lengths.
    H264 {
        /// The avcC record.
        avcc: Bytes,
        /// Coded width in pixels.
        width: u16,
        /// Coded height in pixels.
        height: u16,
    },
    /// H.265 with a ready `HEVCDecoderConfigurationRecord`, samples with
    /// 4-byte NAL lengths.
    H265 {
        /// The hvcC record.
        hvcc: Bytes,
        /// Coded width in pixels.
        width: u16,
        /// Coded height in pixels.
        height: u16,
    },
    /// AAC with its raw `AudioSpecificConfig`; one access unit per frame.
    Aac {
        /// The AudioSpecificConfig bytes (2 or more).
        asc: Bytes,
        /// Sampling rate in Hz.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
    },
    /// G.711 (8-bit companded PCM), stored as `ulaw`/`alaw` sample entries.
    G711 {
        /// μ-law (`true`) or A-law (`false`).
        mu_law: bool,
        /// Sampling rate in Hz (8000 for nearly every camera).
        sample_rate: u32,
        /// Channel count.
        channels: u16,
    },
}

impl CodecConfig {
    /// True for video codecs.
    pub fn is_video(&self) -> bool {
        matches!(self, CodecConfig::H264 { .. } | CodecConfig::H265 { .. })
    }

    /// A short name for logs and metadata (`h264`, `h265`, `aac`, `pcm_mulaw`, `pcm_alaw`).
    pub fn name(&self) -> &'static str {
        match self {
            CodecConfig::H264 { .. } => "h264",
            CodecConfig::H265 { .. } => "h265",
            CodecConfig::Aac { .. } => "aac",
            CodecConfig::G711 { mu_law: true, .. } => "pcm_mulaw",
            CodecConfig::G711 { mu_law: false, .. } => "pcm_alaw",
        }
    }

    /// `(width, height)` for video.
    pub fn dimensions(&self) -> Option<(u16, u16)> {
        match self {
            CodecConfig::H264 { width, height, .. } | CodecConfig::H265 { width, height, .. } => {
                Some((*width, *height))
            }
            _ => None,
        }
    }
}

/// One track as the muxer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackSpec {
    /// Ticks per second of this track's timestamps (90000 for RTP video,
    /// the sampling rate for audio).
    pub timescale: u32,
    /// Codec and its configuration.
    pub codec: CodecConfig,
}

/// One access unit from the camera.
///
/// Video frames arrive in decode order; their `pts` is the presentation
/// time, which goes backwards inside a group of pictures when the encoder
/// uses B-frames. The muxer derives decode times itself.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Index into the track list given to [`Muxer::new`](super::Muxer::new).
    pub track: usize,
    /// Presentation time in the track's timescale, on a timeline shared by
    /// every track of the session (the source aligns tracks; RTP wraps
    /// are already unwrapped).
    pub pts: i64,
    /// When the frame was captured (or arrived, if the camera sends no
    /// sender reports).
    pub wall: WallTime,
    /// True for a random access point (IDR): segments and keyframe
    /// fragments start here.
    pub keyframe: bool,
    /// For audio, the frame length in ticks (1024 for AAC); `None` for video.
    pub duration_hint: Option<u32>,
    /// The sample bytes (4-byte length-prefixed NAL units for video). Kept
    /// by reference; the muxer never copies it.
    pub data: Bytes,
}

/// Why a segment ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Reached the target duration (at the first keyframe after it).
    Duration,
    /// Reached a wall-clock boundary (aligned segments).
    WallClockBoundary,
    /// A track's codec parameters changed; the next segment has a new `moov`.
    ParametersChanged,
    /// The timestamps jumped (backwards, or forwards beyond the threshold).
    Discontinuity,
    /// The source went away (session ended, stall, reconnect).
    SourceGap,
    /// The caller finished the recording (shutdown, `--duration` reached).
    Finished,
}

impl EndReason {
    /// Stable lowercase name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Duration => "duration",
            EndReason::WallClockBoundary => "wall_clock_boundary",
            EndReason::ParametersChanged => "parameters_changed",
            EndReason::Discontinuity => "discontinuity",
            EndReason::SourceGap => "source_gap",
            EndReason::Finished => "finished",
        }
    }
}

/// Bytes of one fragment (`prft` + `moof` + `mdat`): a small header the
/// muxer wrote, followed by the frame payloads, by reference.
#[derive(Clone, Debug, Default)]
pub struct FragmentBytes {
    /// `prft`, `moof` and the `mdat` header.
    pub header: Bytes,
    /// The sample payloads in `mdat` order.
    pub payloads: Vec<Bytes>,
}

impl FragmentBytes {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.header.len() + self.payloads.iter().map(Bytes::len).sum::<usize>()
    }

    /// True if there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks in file order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.header).chain(self.payloads.iter())
    }

    /// Copies the fragment into one contiguous buffer (for tests and sinks
    /// that need it; the muxer itself never does this).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for c in self.chunks() {
            v.extend_from_slice(c);
        }
        v
    }
}

/// Facts about a started segment.
#[derive(Clone, Debug)]
pub struct SegmentStart {
    /// Sequence number of this segment within the muxer's life (from 0).
    pub index: u64,
    /// `ftyp` + `moov`.
    pub init: Bytes,
    /// Wall-clock time of the segment's first (key)frame: names the file.
    pub wall_start: WallTime,
    /// Tracks stored in this segment, in `moov` order.
    pub tracks: Vec<TrackSpec>,
}

/// Facts about one emitted fragment.
#[derive(Clone, Debug)]
pub struct Fragment {
    /// The segment this fragment belongs to.
    pub segment: u64,
    /// `mfhd` sequence number (from 1 within the segment).
    pub sequence: u32,
    /// The bytes.
    pub bytes: FragmentBytes,
    /// Start of the fragment on the segment's timeline, in nanoseconds.
    pub start_ns: i64,
    /// Length of the fragment on the primary track, in nanoseconds.
    pub duration_ns: i64,
    /// Wall-clock time of the first primary-track sample.
    pub wall_start: WallTime,
    /// Wall-clock time at the end of the last primary-track sample.
    pub wall_end: WallTime,
    /// Samples per track (index as in [`SegmentStart::tracks`]).
    pub samples: Vec<u32>,
    /// True if the fragment starts with a keyframe.
    pub starts_with_keyframe: bool,
}

/// Facts about a finished segment.
#[derive(Clone, Debug)]
pub struct SegmentEnd {
    /// The segment's index.
    pub index: u64,
    /// Why it ended.
    pub reason: EndReason,
    /// Duration of the primary track, in nanoseconds.
    pub duration_ns: i64,
    /// Wall-clock start and end (end = start of the first frame after it).
    pub wall_start: WallTime,
    /// See `wall_start`.
    pub wall_end: WallTime,
    /// Samples per track.
    pub samples: Vec<u64>,
    /// Total bytes of the segment, init included.
    pub bytes: u64,
    /// Fragments written.
    pub fragments: u32,
    /// Overwrites that put the true duration into the init segment.
    pub header_patches: Vec<HeaderPatch>,
}

/// What the muxer produced in response to an input, in order.
#[derive(Clone, Debug)]
pub enum MuxEvent {
    /// A new segment begins; write `init` first.
    SegmentStarted(SegmentStart),
    /// Append these bytes to the current segment.
    Fragment(Fragment),
    /// The current segment is complete.
    SegmentFinished(SegmentEnd),
}
