//! The per-segment random-access index: what a time lookup, an HLS
//! playlist or an export needs from a segment, stored at its end.
//!
//! When a segment is finished, its sink appends two top-level boxes after
//! the last fragment: a `cidx` box (the encoded [`SegmentIndex`]) and a
//! fixed 16-byte `cidt` trailer that gives the `cidx` box's size, the way
//! `mfro` points at `mfra`. Players and ffmpeg skip unknown top-level
//! boxes, so the file plays as before. A reader fetches the index with one
//! read of the file's tail ([`TAIL_GUESS`] bytes: one `pread`, or one S3
//! GET with `Range: bytes=-65536`), and a second only for larger indexes;
//! see [`parse_tail`]. Files without an index (written before it existed,
//! or cut by a crash) are indexed by [`rebuild`], which walks the boxes.
//!
//! The byte layout is documented in `docs/index-format.md`.
//!
//! ```
//! use recorder_core::index::{decode, encode, SegmentIndex};
//! use recorder_core::WallTime;
//!
//! let index = SegmentIndex {
//!     camera: "porch".into(),
//!     wall_start: WallTime(1_700_000_000_000_000_000),
//!     wall_end: WallTime(1_700_000_010_000_000_000),
//!     duration: std::time::Duration::from_secs(10),
//!     tracks: Vec::new(),
//!     init: 0..700,
//!     fragments: Vec::new(),
//!     video_frames: 0,
//! };
//! assert_eq!(decode(&encode(&index))?, index);
//! # Ok::<(), recorder_core::index::IndexError>(())
//! ```

mod build;
mod format;

use std::ops::Range;
use std::time::Duration;

pub use build::{rebuild, IndexBuilder};
pub use format::{
    decode, encode, parse_tail, read_tail, trailer, IndexError, Tail, INDEX_BOX, MAX_INDEX_LEN,
    TAIL_GUESS, TRAILER_BOX, TRAILER_LEN,
};

use crate::time::WallTime;

/// Everything a time lookup needs from one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentIndex {
    /// The camera id the segment was recorded for ("" when unknown: a
    /// segment rebuilt without one).
    pub camera: String,
    /// Wall-clock time of the first frame of the primary track.
    pub wall_start: WallTime,
    /// `wall_start` plus `duration`.
    pub wall_end: WallTime,
    /// Media duration of the primary track (video if there is one).
    pub duration: Duration,
    /// The tracks, in `moov` order (track id = position + 1).
    pub tracks: Vec<TrackIndex>,
    /// Byte range of the init segment (`ftyp` + `moov`).
    pub init: Range<u64>,
    /// The fragments in file order.
    pub fragments: Vec<FragmentIndex>,
    /// Video frames stored (samples of the first video track).
    pub video_frames: u64,
}

/// One track of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackIndex {
    /// Codec short name: `h264`, `h265`, `aac`, `pcm_mulaw`, `pcm_alaw`.
    pub codec: String,
    /// Ticks per second of the track's decode times.
    pub timescale: u32,
    /// Video width in pixels (0 for audio).
    pub width: u16,
    /// Video height in pixels (0 for audio).
    pub height: u16,
    /// Audio sampling rate in Hz (0 for video).
    pub sample_rate: u32,
    /// Audio channels (0 for video).
    pub channels: u16,
}

impl TrackIndex {
    /// True for a video track.
    pub fn is_video(&self) -> bool {
        matches!(self.codec.as_str(), "h264" | "h265")
    }
}

/// One fragment (`prft` + `moof` + `mdat`) of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentIndex {
    /// Byte offset of the fragment's first box in the file.
    pub offset: u64,
    /// Length of the fragment in bytes (`prft` + `moof` + `mdat`).
    pub len: u64,
    /// Length of what precedes the sample bytes (`prft`, `moof` and the
    /// `mdat` header): reading `offset..offset + header_len` is enough to
    /// know every sample.
    pub header_len: u32,
    /// Wall-clock time of the fragment's first frame (from its `prft`).
    pub wall_start: WallTime,
    /// Duration on the primary track.
    pub duration: Duration,
    /// True if the primary track's first sample is a keyframe.
    pub keyframe: bool,
    /// Per track: decode time of the first sample, in the track's ticks
    /// from the segment's time zero (the `tfdt`).
    pub decode_start: Vec<u64>,
    /// Per track: samples in this fragment.
    pub samples: Vec<u32>,
}

impl FragmentIndex {
    /// The fragment's byte range in the file.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset.saturating_add(self.len)
    }

    /// The byte range of `prft` + `moof` + `mdat` header.
    pub fn header_range(&self) -> Range<u64> {
        self.offset..self.offset.saturating_add(u64::from(self.header_len))
    }

    /// Wall-clock end: start plus duration.
    pub fn wall_end(&self) -> WallTime {
        self.wall_start.add_ns(self.duration.as_nanos() as i128)
    }
}

impl SegmentIndex {
    /// The primary track: the first video track, else the first track.
    pub fn primary_track(&self) -> usize {
        self.tracks
            .iter()
            .position(TrackIndex::is_video)
            .unwrap_or(0)
    }

    /// The first video track's `(width, height)`.
    pub fn resolution(&self) -> Option<(u16, u16)> {
        self.tracks
            .iter()
            .find(|t| t.is_video())
            .map(|t| (t.width, t.height))
    }

    /// The codec names, in track order.
    pub fn codecs(&self) -> Vec<&str> {
        self.tracks.iter().map(|t| t.codec.as_str()).collect()
    }

    /// Where the media ends: the end of the last fragment (or of the init
    /// segment when there is none). The index boxes follow it.
    pub fn media_end(&self) -> u64 {
        self.fragments
            .last()
            .map_or(self.init.end, |f| f.range().end)
    }

    /// The fragment whose span holds `t` (the last one starting at or
    /// before it), `None` if `t` is before the segment or after its end.
    pub fn fragment_at(&self, t: WallTime) -> Option<usize> {
        if t < self.wall_start || t >= self.wall_end {
            return None;
        }
        let i = self.fragments.partition_point(|f| f.wall_start <= t);
        Some(i.saturating_sub(1))
    }

    /// The last fragment at or before fragment `i` that starts on a
    /// keyframe (playback from `i` must begin there).
    pub fn keyframe_fragment_before(&self, i: usize) -> Option<usize> {
        self.fragments
            .get(..=i.min(self.fragments.len().saturating_sub(1)))?
            .iter()
            .rposition(|f| f.keyframe)
    }

    /// True if the two segments can be played as one stream: same codecs,
    /// timescales and resolutions.
    pub fn same_format(&self, other: &SegmentIndex) -> bool {
        self.tracks == other.tracks
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::testutil::synth_segments;
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    #[test]
    fn written_equals_rebuilt_and_roundtrips() {
        let segs = synth_segments(&[(0, 4_000)], true);
        let (bytes, written) = &segs[0];
        assert_eq!(written.camera, "cam");
        assert_eq!(written.tracks.len(), 2);
        assert_eq!(written.codecs(), ["h264", "aac"]);
        assert_eq!(written.resolution(), Some((320, 240)));
        // 25 fps, 4 s, fragments of one second.
        assert_eq!(written.video_frames, 100);
        assert_eq!(written.fragments.len(), 4);
        assert!(written.fragments.iter().all(|f| f.keyframe));
        assert_eq!(written.duration, Duration::from_secs(4));
        let media = written.media_end();
        let rebuilt = rebuild(&mut Cursor::new(&bytes[..media as usize]), media, "cam").unwrap();
        assert_eq!(&rebuilt, written);
        // The whole file (index included) rebuilds the same: the index
        // boxes are skipped.
        let rebuilt = rebuild(&mut Cursor::new(bytes), bytes.len() as u64, "cam").unwrap();
        assert_eq!(&rebuilt, written);
        let read = read_tail(&mut Cursor::new(bytes), bytes.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(&read, written);
        assert!(read_tail(&mut Cursor::new(&bytes[..media as usize]), media)
            .unwrap()
            .is_none());
        // A short tail asks for more.
        let tail = &bytes[bytes.len() - 20..];
        assert!(matches!(
            parse_tail(tail, bytes.len() as u64).unwrap(),
            Tail::NeedMore { .. }
        ));
    }

    #[test]
    fn lookups() {
        let segs = synth_segments(&[(0, 4_000)], true);
        let i = &segs[0].1;
        assert_eq!(i.fragment_at(i.wall_start), Some(0));
        assert_eq!(i.fragment_at(i.wall_start.add_ns(2_500_000_000)), Some(2));
        assert_eq!(i.fragment_at(i.wall_end), None);
        assert_eq!(i.fragment_at(WallTime(0)), None);
        assert_eq!(i.keyframe_fragment_before(3), Some(3));
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&data);
            let _ = parse_tail(&data, data.len() as u64);
        }

        #[test]
        fn decode_of_mutated_index_never_panics(at in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
            let segs = synth_segments(&[(0, 2_000)], true);
            let bytes = &segs[0].0;
            let media = segs[0].1.media_end() as usize;
            let mut idx = bytes[media..].to_vec();
            let n = idx.len();
            idx[at % n] = byte;
            let _ = decode(&idx[..cut.min(n)]);
            let _ = parse_tail(&idx, n as u64);
        }
    }
}
