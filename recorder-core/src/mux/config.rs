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
    /// A frame larger than this is dropped and counted
    /// ([`MuxStats::frames_too_large`](super::MuxStats::frames_too_large));
    /// a 4K keyframe is 1-2 MiB.
    pub max_frame_bytes: usize,
    /// Most payload bytes held in the open fragment: reaching it ends the
    /// fragment early, so a camera whose timestamps never advance still has
    /// bounded memory.
    pub max_fragment_bytes: usize,
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
            max_frame_bytes: 16 << 20,
            max_fragment_bytes: 32 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::MuxerConfig;
    use crate::mux::{CodecConfig, EndReason, Frame, Muxer, TrackSpec, WallTime};

    /// A host may pass any `Duration`: every conversion in the muxer
    /// saturates, so extreme settings record (oddly cut) instead of panicking.
    #[test]
    fn extreme_durations_do_not_panic() {
        let track = || TrackSpec {
            timescale: 90_000,
            codec: CodecConfig::H264 {
                avcc: Bytes::from_static(&[
                    1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
                ]),
                width: 320,
                height: 240,
            },
        };
        for d in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            for align in [false, true] {
                let cfg = MuxerConfig {
                    segment_duration: d,
                    align_to_wall_clock: align,
                    fragment_duration: d,
                    max_timestamp_jump: d,
                    max_reorder: d,
                    max_gap_in_segment: d,
                    ..MuxerConfig::default()
                };
                let mut m = Muxer::new(vec![track()], cfg).unwrap();
                let mut out = Vec::new();
                for (i, wall) in [0, 1, i64::MAX - 1, i64::MIN + 1, i64::MAX]
                    .into_iter()
                    .enumerate()
                {
                    let i = i as i64;
                    let _ = m.push(
                        Frame {
                            track: 0,
                            pts: i * 3600 + if i == 3 { i64::MAX / 2 } else { 0 },
                            wall: WallTime(wall),
                            keyframe: i % 2 == 0,
                            duration_hint: None,
                            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                        },
                        &mut out,
                    );
                }
                m.restart_timeline(&mut out);
                m.finish(EndReason::Finished, &mut out);
            }
        }
    }
}
