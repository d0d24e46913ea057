//! Muxer settings.

use std::time::Duration;

/// How the muxer cuts segments and fragments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MuxerConfig {
    /// Target segment length; a segment ends at the first keyframe after it.
    pub segment_duration: Duration,
    /// Cut segments at wall-clock multiples of `segment_duration` (15-minute
    /// segments start at :00, :15, :30, :45 UTC) instead of counting media time.
    pub align_to_wall_clock: bool,
    /// A fragment closes at the next keyframe or once it spans this long,
    /// whichever comes first.
    pub fragment_duration: Duration,
    /// A timestamp step forward larger than this (or any step backwards) is a
    /// discontinuity: the track is re-based and the segment ends at the next
    /// keyframe.
    pub max_timestamp_jump: Duration,
    /// How far back a video timestamp may go without being a discontinuity:
    /// B-frames are presented before the frames decoded ahead of them.
    pub max_reorder: Duration,
    /// After [`Muxer::restart_timeline`](super::Muxer::restart_timeline), a
    /// gap in wall-clock time up to this long continues the open segment
    /// (with the gap visible in its timeline); a longer one starts a new one.
    pub max_gap_in_segment: Duration,
}

impl Default for MuxerConfig {
    fn default() -> Self {
        MuxerConfig {
            segment_duration: Duration::from_secs(15 * 60),
            align_to_wall_clock: false,
            fragment_duration: Duration::from_secs(1),
            max_timestamp_jump: Duration::from_secs(10),
            max_reorder: Duration::from_secs(2),
            max_gap_in_segment: Duration::from_secs(60),
        }
    }
}
