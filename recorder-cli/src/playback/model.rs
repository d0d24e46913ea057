//! What playback needs to know of a stored segment: the values the
//! segment's index carries, in the shape the playlist and the JSON routes
//! read them.

use recorder_core::time::WallTime;

/// A byte span of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// One `moof`+`mdat` fragment of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Its bytes in the segment's file.
    pub bytes: Span,
    /// Wall-clock time of its first sample.
    pub start: WallTime,
    /// Whether its first video sample is a keyframe (playback may start
    /// there).
    pub keyframe: bool,
}

/// One stored segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The archive's name for it (a key relative to the folder or prefix).
    pub key: String,
    /// Wall-clock start (its first frame).
    pub start: WallTime,
    /// Wall-clock end (after its last frame).
    pub end: WallTime,
    /// Size of the file.
    pub bytes: u64,
    /// RFC 6381 codec strings of its tracks, e.g. `avc1.64001f`, `mp4a.40.2`.
    pub codecs: Vec<String>,
    /// Video width and height.
    pub resolution: Option<(u32, u32)>,
    /// The `ftyp`+`moov` at the file's start.
    pub init: Span,
    /// Its fragments in file order.
    pub fragments: Vec<Fragment>,
}

impl Segment {
    /// Where fragment `i` ends in wall-clock time: the next one's start,
    /// the segment's end for the last.
    pub fn fragment_end(&self, i: usize) -> WallTime {
        self.fragments
            .get(i + 1)
            .map_or(self.end, |f| f.start)
            .max(self.fragments[i].start)
    }
}
