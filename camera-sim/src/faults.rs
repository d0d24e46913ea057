//! Fault knobs that make a mount misbehave the way real cameras do.

use std::time::Duration;

/// Misbehaviours of one mount. All times count from each session's `PLAY`.
///
/// Changing them at runtime with [`crate::SimHandle::set_faults`] affects
/// sessions that are already playing: e.g. setting `close_after` to a time
/// that has already passed closes their connections at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Close the TCP connection this long after `PLAY` (Tapo cameras do it
    /// every ~15 s). Sessions on that connection end with it.
    pub close_after: Option<Duration>,
    /// After this long, send nothing at all (no RTP, RTCP or RTSP replies)
    /// while keeping the TCP connection open.
    pub stall_after: Option<Duration>,
    /// Answer `GET_PARAMETER`/`SET_PARAMETER` with the previous request's
    /// `CSeq` (the Tapo keepalive bug).
    pub stale_cseq_keepalive: bool,
    /// After the duration, add the given number of 90 kHz ticks (may be
    /// negative) to every RTP timestamp. Audio gets the same jump in time,
    /// scaled to its own clock. RTCP sender reports include the jump.
    pub timestamp_jump_after: Option<(Duration, i64)>,
    /// After this long, switch video to the mount's second clip (see
    /// [`crate::MountConfig::sps_change_source`]) at the next keyframe, in the
    /// same session; the new SPS/PPS go in-band before that keyframe.
    pub sps_change_after: Option<Duration>,
    /// Fraction (0.0..=1.0) of RTP packets to drop. Dropped packets still use
    /// up sequence numbers, so the client sees loss.
    pub drop_packets: f64,
    /// Seed for the packet-drop RNG so runs are reproducible.
    pub drop_seed: u64,
    /// After this long, write a burst of random bytes onto the TCP connection
    /// (once per session), then carry on streaming.
    pub garbage_after: Option<Duration>,
    /// Answer `TEARDOWN` of a session the connection does not hold (one
    /// that ended with its connection) with this status instead of
    /// `454 Session Not Found`, as cameras that reply `400`/`405` do: a
    /// client then cannot confirm that the session is gone.
    pub teardown_unknown_status: Option<u16>,
    /// Send no parameter sets at all: none in the SDP (`sprop-*`) and none
    /// in-band (the clip's own are stripped, none repeated before
    /// keyframes), as a camera misconfigured that way does. No client can
    /// decode the stream.
    pub no_parameter_sets: bool,
}

impl Faults {
    /// A mount with no faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// `drop_packets` clamped to a usable probability.
    pub(crate) fn drop_probability(&self) -> f64 {
        if self.drop_packets.is_nan() {
            0.0
        } else {
            self.drop_packets.clamp(0.0, 1.0)
        }
    }
}

/// Whether a knob's deadline has passed.
pub(crate) fn due(knob: Option<Duration>, elapsed: Duration) -> bool {
    knob.is_some_and(|d| elapsed >= d)
}
