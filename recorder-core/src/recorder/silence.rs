//! "Never silent": notices when a camera delivers frames but nothing
//! reaches storage, and says why.
//!
//! A camera can stream happily while the recording is empty: it never
//! sends a keyframe, every frame is over the size cap, its timestamps are
//! refused, or storage fails or falls behind. Each of those is counted
//! somewhere, but a counter nobody compares is silence. The watch runs in
//! the reader (it sees every frame) and compares the bytes the writer
//! stored with the time frames kept arriving; past a fragment plus a GOP
//! without a stored byte it names the reason from what changed meanwhile.
//!
//! Sans-IO like the muxer: the caller passes the frame's wall clock and
//! the counters, so tests drive it with plain values.

use std::time::Duration;

use crate::mux::MuxStats;

/// Why a camera that delivers frames stores nothing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotStoringReason {
    /// Video frames arrive but none is a keyframe, so nothing can start a
    /// segment (a camera with a very long or broken GOP, or a stream
    /// joined after a codec change).
    NoKeyframe,
    /// Frames are over [`MuxerConfig::max_frame_bytes`](crate::MuxerConfig::max_frame_bytes)
    /// and dropped, with the video after them until the next keyframe.
    FramesTooLarge,
    /// The muxer refuses the camera's frames (timestamps or track numbers
    /// it cannot place); the log has each refusal.
    FramesRefused,
    /// Frames are accepted and held, but no fragment completes (the video
    /// track went quiet while audio continues, say).
    FramesHeld,
    /// Fragments are made but storage fails (disk full, permission, S3
    /// spool full): see the camera's sink errors.
    StorageFailing,
    /// Fragments are made but storage is too slow: they wait in the queue
    /// or are dropped from it.
    StorageBehind,
}

impl NotStoringReason {
    /// Every reason, for exporters that report each one.
    pub const ALL: [NotStoringReason; 6] = [
        NotStoringReason::NoKeyframe,
        NotStoringReason::FramesTooLarge,
        NotStoringReason::FramesRefused,
        NotStoringReason::FramesHeld,
        NotStoringReason::StorageFailing,
        NotStoringReason::StorageBehind,
    ];

    /// Lowercase code for logs, metrics and `/ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStoringReason::NoKeyframe => "no_keyframe",
            NotStoringReason::FramesTooLarge => "frames_too_large",
            NotStoringReason::FramesRefused => "frames_refused",
            NotStoringReason::FramesHeld => "frames_held",
            NotStoringReason::StorageFailing => "storage_failing",
            NotStoringReason::StorageBehind => "storage_behind",
        }
    }

    /// One sentence for an operator: what is wrong and where to look.
    pub fn explain(self) -> &'static str {
        match self {
            NotStoringReason::NoKeyframe => {
                "frames arrive but no keyframe does: set the camera's keyframe (I-frame) interval to a few seconds"
            }
            NotStoringReason::FramesTooLarge => {
                "frames are larger than the frame size cap and are dropped: lower the camera's bitrate or raise max_frame_bytes"
            }
            NotStoringReason::FramesRefused => {
                "the muxer refuses the camera's frames (see the `frame refused` warnings)"
            }
            NotStoringReason::FramesHeld => {
                "frames arrive but no fragment completes: the video track may have stopped while audio continues"
            }
            NotStoringReason::StorageFailing => {
                "fragments are made but storage fails (see the sink errors: disk or spool full, permissions, S3)"
            }
            NotStoringReason::StorageBehind => {
                "fragments are made but storage is too slow and they are queued or dropped"
            }
        }
    }
}

impl std::fmt::Display for NotStoringReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GOP assumed before the camera has shown two keyframes: long enough for
/// the 4–8 s GOPs of cameras in "smart"/low-bitrate modes.
const DEFAULT_GOP: Duration = Duration::from_secs(10);
/// GOPs longer than this are not waited for: a minute without storing is
/// worth a word whatever the camera's settings.
const MAX_GOP: Duration = Duration::from_secs(60);

/// Counters the watch compares, read from the muxer and the camera status.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes the writer stored (the camera status's `bytes_recorded`).
    pub stored_bytes: u64,
    /// Sink errors so far.
    pub sink_errors: u64,
    /// Frames the muxer refused with an error.
    pub frames_refused: u64,
    /// The muxer's fragments, skipped and too-large frames.
    pub fragments: u64,
    pub frames_skipped: u64,
    pub frames_too_large: u64,
}

impl Progress {
    pub fn new(stored_bytes: u64, sink_errors: u64, frames_refused: u64, mux: &MuxStats) -> Self {
        Progress {
            stored_bytes,
            sink_errors,
            frames_refused,
            fragments: mux.fragments,
            frames_skipped: mux.frames_skipped,
            frames_too_large: mux.frames_too_large,
        }
    }
}

/// What [`SilenceWatch::on_frame`] concluded, when it changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing stored for `for_ns` while frames arrived, because `reason`.
    NotStoring {
        reason: NotStoringReason,
        for_ns: i64,
    },
    /// Storing again after a [`Verdict::NotStoring`].
    Resumed,
}

/// Per-camera state of the watch.
#[derive(Debug)]
pub(crate) struct SilenceWatch {
    fragment_ns: i64,
    /// Counters when storing last made progress, and the wall clock then.
    base: Progress,
    since_ns: Option<i64>,
    /// Wall clock of the last keyframe and the interval before it.
    last_keyframe_ns: Option<i64>,
    gop_ns: Option<i64>,
    reported: Option<NotStoringReason>,
}

impl SilenceWatch {
    pub fn new(fragment_duration: Duration) -> Self {
        SilenceWatch {
            fragment_ns: duration_ns(fragment_duration),
            base: Progress::default(),
            since_ns: None,
            last_keyframe_ns: None,
            gop_ns: None,
            reported: None,
        }
    }

    /// Starts the clock again (a new session): time spent connecting is
    /// not time spent not storing.
    pub fn restart(&mut self) {
        self.since_ns = None;
        self.last_keyframe_ns = None;
    }

    /// How long frames may arrive without a stored byte before it is
    /// reported: a fragment plus a GOP.
    pub fn threshold_ns(&self) -> i64 {
        let gop = self
            .gop_ns
            .unwrap_or(duration_ns(DEFAULT_GOP))
            .min(duration_ns(MAX_GOP));
        self.fragment_ns.saturating_add(gop)
    }

    /// Notes a video keyframe of the primary track at `wall_ns`.
    pub fn on_keyframe(&mut self, wall_ns: i64) {
        if let Some(prev) = self.last_keyframe_ns {
            let gop = wall_ns.saturating_sub(prev);
            if gop > 0 {
                self.gop_ns = Some(gop);
            }
        }
        self.last_keyframe_ns = Some(wall_ns);
    }

    /// Called for each frame with its wall clock and the counters after it;
    /// returns a verdict only when the verdict changes.
    pub fn on_frame(&mut self, wall_ns: i64, now: Progress) -> Option<Verdict> {
        let Some(since) = self.since_ns else {
            self.since_ns = Some(wall_ns);
            self.base = now;
            return None;
        };
        if now.stored_bytes != self.base.stored_bytes {
            self.since_ns = Some(wall_ns);
            self.base = now;
            return self.reported.take().map(|_| Verdict::Resumed);
        }
        let for_ns = wall_ns.saturating_sub(since);
        if for_ns <= self.threshold_ns() {
            return None;
        }
        let reason = self.reason(&now);
        if self.reported == Some(reason) {
            return None;
        }
        self.reported = Some(reason);
        Some(Verdict::NotStoring { reason, for_ns })
    }

    /// The reason, from what changed since storing last made progress.
    /// Storage first: when fragments are made, the muxer is not the cause.
    fn reason(&self, now: &Progress) -> NotStoringReason {
        let b = &self.base;
        if now.fragments > b.fragments {
            if now.sink_errors > b.sink_errors {
                NotStoringReason::StorageFailing
            } else {
                NotStoringReason::StorageBehind
            }
        } else if now.frames_too_large > b.frames_too_large {
            NotStoringReason::FramesTooLarge
        } else if now.frames_refused > b.frames_refused {
            NotStoringReason::FramesRefused
        } else if now.frames_skipped > b.frames_skipped {
            NotStoringReason::NoKeyframe
        } else if now.sink_errors > b.sink_errors {
            // A segment start refused before any fragment counted.
            NotStoringReason::StorageFailing
        } else {
            NotStoringReason::FramesHeld
        }
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn progress(stored: u64) -> Progress {
        Progress {
            stored_bytes: stored,
            ..Progress::default()
        }
    }

    /// Feeds 25 fps frames from `from_s` to `to_s`, letting `f` shape the
    /// counters, and returns the verdicts with the second they came at.
    fn run(
        w: &mut SilenceWatch,
        from_s: i64,
        to_s: i64,
        mut f: impl FnMut(i64, &mut Progress),
        p: &mut Progress,
    ) -> Vec<(i64, Verdict)> {
        let mut out = Vec::new();
        let mut t = from_s * S;
        while t < to_s * S {
            f(t, p);
            if let Some(v) = w.on_frame(t, *p) {
                out.push((t / S, v));
            }
            t += S / 25;
        }
        out
    }

    #[test]
    fn storing_steadily_is_never_reported() {
        let mut w = SilenceWatch::new(Duration::from_secs(1));
        let mut p = progress(0);
        let v = run(
            &mut w,
            0,
            120,
            |t, p| p.stored_bytes = (t / S) as u64,
            &mut p,
        );
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn no_keyframe_is_reported_after_a_fragment_and_the_default_gop() {
        let mut w = SilenceWatch::new(Duration::from_secs(1));
        let mut p = progress(0);
        let v = run(&mut w, 0, 30, |_, p| p.frames_skipped += 1, &mut p);
        assert_eq!(v.len(), 1, "{v:?}");
        let (at, verdict) = v[0];
        assert_eq!(at, 11, "1 s fragment + 10 s default GOP");
        assert!(matches!(
            verdict,
            Verdict::NotStoring {
                reason: NotStoringReason::NoKeyframe,
                ..
            }
        ));
    }

    #[test]
    fn the_observed_gop_sets_the_threshold() {
        let mut w = SilenceWatch::new(Duration::from_secs(1));
        w.on_keyframe(0);
        w.on_keyframe(2 * S);
        assert_eq!(w.threshold_ns(), 3 * S);
        w.on_keyframe(10 * 60 * S);
        assert_eq!(w.threshold_ns(), 61 * S, "GOP capped at a minute");
    }

    #[test]
    fn storage_reasons_win_when_fragments_are_made() {
        let mut w = SilenceWatch::new(Duration::from_secs(1));
        let mut p = progress(100);
        let v = run(
            &mut w,
            0,
            20,
            |t, p| {
                p.fragments = (t / S) as u64;
                p.frames_skipped += 1;
            },
            &mut p,
        );
        assert!(matches!(
            v[..],
            [(
                _,
                Verdict::NotStoring {
                    reason: NotStoringReason::StorageBehind,
                    ..
                }
            )]
        ));
        // Errors start: the reason changes once, then stays quiet.
        let v = run(
            &mut w,
            20,
            40,
            |t, p| {
                p.fragments = (t / S) as u64;
                p.sink_errors = (t / S) as u64;
            },
            &mut p,
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(matches!(
            v[0].1,
            Verdict::NotStoring {
                reason: NotStoringReason::StorageFailing,
                ..
            }
        ));
        // Storage recovers: one Resumed.
        let v = run(
            &mut w,
            40,
            60,
            |t, p| p.stored_bytes = (t / S) as u64,
            &mut p,
        );
        assert_eq!(v, vec![(40, Verdict::Resumed)]);
    }

    #[test]
    fn each_muxer_cause_is_named() {
        for (reason, bump) in [
            (
                NotStoringReason::FramesTooLarge,
                (|p: &mut Progress| p.frames_too_large += 1) as fn(&mut Progress),
            ),
            (NotStoringReason::FramesRefused, |p| p.frames_refused += 1),
            (NotStoringReason::FramesHeld, |_| {}),
        ] {
            let mut w = SilenceWatch::new(Duration::from_secs(1));
            let mut p = progress(0);
            let v = run(&mut w, 0, 15, |_, p| bump(p), &mut p);
            assert!(
                matches!(v[..], [(_, Verdict::NotStoring { reason: r, .. })] if r == reason),
                "{reason:?}: {v:?}"
            );
        }
    }

    #[test]
    fn a_new_session_restarts_the_clock() {
        let mut w = SilenceWatch::new(Duration::from_secs(1));
        let mut p = progress(0);
        assert!(run(&mut w, 0, 8, |_, p| p.frames_skipped += 1, &mut p).is_empty());
        w.restart();
        // 8 s more after the reconnect: 8 + 8 > 11 would fire without it.
        assert!(run(&mut w, 100, 108, |_, p| p.frames_skipped += 1, &mut p).is_empty());
    }
}
