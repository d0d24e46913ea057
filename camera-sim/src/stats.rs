//! Counters of what each mount sent, so tests can compare a recording
//! against the truth.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one mount, shared by all its sessions.
#[derive(Debug, Default)]
pub(crate) struct MountCounters {
    pub sessions_started: AtomicU64,
    pub video_frames: AtomicU64,
    pub keyframes: AtomicU64,
    pub video_frames_damaged: AtomicU64,
    pub audio_frames: AtomicU64,
    pub packets_sent: AtomicU64,
    pub packets_dropped: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub rtcp_reports: AtomicU64,
    pub closed_by_fault: AtomicU64,
}

impl MountCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> FrameLog {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FrameLog {
            sessions_started: g(&self.sessions_started),
            video_frames: g(&self.video_frames),
            keyframes: g(&self.keyframes),
            video_frames_damaged: g(&self.video_frames_damaged),
            audio_frames: g(&self.audio_frames),
            packets_sent: g(&self.packets_sent),
            packets_dropped: g(&self.packets_dropped),
            bytes_sent: g(&self.bytes_sent),
            rtcp_reports: g(&self.rtcp_reports),
            closed_by_fault: g(&self.closed_by_fault),
        }
    }
}

/// A snapshot of what one mount has sent, summed over all its sessions
/// since the simulator started.
///
/// A frame counts as sent once all its packets were handed to the
/// transport (or deliberately dropped by [`crate::Faults::drop_packets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameLog {
    /// Sessions that received `PLAY`.
    pub sessions_started: u64,
    /// Video access units sent.
    pub video_frames: u64,
    /// Video access units that were keyframes (IDR / IRAP), included in `video_frames`.
    pub keyframes: u64,
    /// Video access units with at least one packet dropped by the drop fault.
    pub video_frames_damaged: u64,
    /// AAC access units sent.
    pub audio_frames: u64,
    /// RTP packets sent (audio and video).
    pub packets_sent: u64,
    /// RTP packets deliberately not sent by the drop fault.
    pub packets_dropped: u64,
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// RTCP sender reports sent.
    pub rtcp_reports: u64,
    /// Connections closed by the `close_after` fault.
    pub closed_by_fault: u64,
}

impl FrameLog {
    /// Counter-wise difference from an earlier snapshot, for measuring one
    /// phase of a test.
    pub fn since(&self, earlier: &FrameLog) -> FrameLog {
        FrameLog {
            sessions_started: self
                .sessions_started
                .saturating_sub(earlier.sessions_started),
            video_frames: self.video_frames.saturating_sub(earlier.video_frames),
            keyframes: self.keyframes.saturating_sub(earlier.keyframes),
            video_frames_damaged: self
                .video_frames_damaged
                .saturating_sub(earlier.video_frames_damaged),
            audio_frames: self.audio_frames.saturating_sub(earlier.audio_frames),
            packets_sent: self.packets_sent.saturating_sub(earlier.packets_sent),
            packets_dropped: self.packets_dropped.saturating_sub(earlier.packets_dropped),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            rtcp_reports: self.rtcp_reports.saturating_sub(earlier.rtcp_reports),
            closed_by_fault: self.closed_by_fault.saturating_sub(earlier.closed_by_fault),
        }
    }
}
