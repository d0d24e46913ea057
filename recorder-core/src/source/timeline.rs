//! From per-track RTP timestamps to one shared timeline and a wall clock.
//!
//! Pure arithmetic: the caller passes in every time (arrival of a frame,
//! of a sender report), so the rules can be tested without a network or a
//! clock.
//!
//! Rules:
//! - Each track's `pts` advances exactly with its (unwrapped) RTP clock:
//!   `pts = rtp − rtp_first + offset`. The offset is fixed when the track's
//!   first frame is placed and never changes for the life of the session,
//!   so a track's `pts` never jumps because of alignment.
//! - The offset places the track's first frame on the shared timeline: by
//!   the RTCP sender reports (SR) of this track and of the session's first
//!   track when both are known, else by arrival time relative to the
//!   session's first frame.
//! - The wall clock is smooth: `base + (pts − base_pts)`. The reference
//!   it is checked against is the SR-derived capture time when the camera's
//!   clock is plausible, else arrival time. It is re-anchored when the two
//!   disagree by more than a bound, so jitter never reaches the files but a
//!   drifting or jumping camera clock is corrected.

use std::time::Duration;

use crate::mux::WallTime;
use crate::time::{ns_to_ticks, ticks_to_ns};

/// Tuning for [`Timeline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineConfig {
    /// Largest disagreement between the smooth wall clock and its reference
    /// before re-anchoring.
    pub max_wall_drift: Duration,
    /// How long frames may keep arriving later than the smooth clock
    /// predicts (by more than `max_wall_drift`) before it is moved forward.
    /// Late arrival is usually network delay, not clock drift.
    pub late_arrival_grace: Duration,
    /// Sender reports whose NTP time differs from our clock by more than
    /// this are still used to align tracks, but not as wall clock: the
    /// camera's clock is wrong (no NTP, wrong time zone).
    pub max_camera_clock_offset: Duration,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            max_wall_drift: Duration::from_secs(1),
            late_arrival_grace: Duration::from_secs(5),
            max_camera_clock_offset: Duration::from_secs(5),
        }
    }
}

/// Where a frame lands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// On the shared timeline, in the track's timescale.
    pub pts: i64,
    /// Capture (or arrival) time.
    pub wall: WallTime,
}

/// What the timeline knows, for probes and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Sender reports seen, per track.
    pub sender_reports: Vec<u64>,
    /// Per track: true if its start was aligned by sender reports.
    pub aligned_by_sr: Vec<bool>,
    /// Camera clock minus our clock at the latest sender report, in
    /// nanoseconds (network delay included), if any SR was seen.
    pub camera_clock_offset_ns: Option<i64>,
    /// Times the wall clock was re-anchored after the first frame.
    pub wall_reanchors: u64,
}

#[derive(Copy, Clone, Debug)]
struct Sr {
    rtp: i64,
    ntp: WallTime,
    trusted: bool,
}

#[derive(Clone, Debug)]
struct Track {
    timescale: u32,
    first: Option<i64>,
    /// Wall clock given to this track's previous frame.
    last_wall: Option<WallTime>,
    offset: i64,
    aligned_by_sr: bool,
    sr: Option<Sr>,
    srs: u64,
}

#[derive(Copy, Clone, Debug)]
struct Origin {
    arrival: WallTime,
    ntp: Option<WallTime>,
}

#[derive(Copy, Clone, Debug)]
struct WallBase {
    wall: WallTime,
    pts_ns: i128,
    from_sr: bool,
    /// Arrival time at which frames started arriving late, if they are.
    late_since: Option<WallTime>,
}

/// The per-session timeline. See the module docs for the rules.
#[derive(Clone, Debug)]
pub struct Timeline {
    config: TimelineConfig,
    tracks: Vec<Track>,
    origin: Option<Origin>,
    base: Option<WallBase>,
    reanchors: u64,
    last_offset_ns: Option<i64>,
}

fn sat_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn wall_plus_ns(w: WallTime, ns: i128) -> WallTime {
    WallTime(sat_i64(w.0 as i128 + ns))
}

impl Timeline {
    /// A timeline for tracks with the given timescales (in track order).
    pub fn new(timescales: &[u32], config: TimelineConfig) -> Self {
        Timeline {
            config,
            tracks: timescales
                .iter()
                .map(|&timescale| Track {
                    timescale: timescale.max(1),
                    first: None,
                    last_wall: None,
                    offset: 0,
                    aligned_by_sr: false,
                    sr: None,
                    srs: 0,
                })
                .collect(),
            origin: None,
            base: None,
            reanchors: 0,
            last_offset_ns: None,
        }
    }

    /// Records an RTCP sender report of `track`: extended RTP time `rtp`
    /// (retina's `Timestamp::timestamp()`, same scale as the frames'),
    /// 64-bit NTP time `ntp`, received at `arrival`. Returns the camera
    /// clock's offset from ours in nanoseconds, or `None` if the report
    /// was ignored (unknown track, zero NTP time).
    pub fn sender_report(
        &mut self,
        track: usize,
        rtp: i64,
        ntp: u64,
        arrival: WallTime,
    ) -> Option<i64> {
        let max_off = self.config.max_camera_clock_offset.as_nanos() as i128;
        let t = self.tracks.get_mut(track)?;
        // Some cameras fill the NTP field with zeros: no clock at all.
        if ntp == 0 {
            return None;
        }
        let ntp = WallTime::from_ntp(ntp);
        let offset = ntp.0 as i128 - arrival.0 as i128;
        t.sr = Some(Sr {
            rtp,
            ntp,
            trusted: offset.abs() <= max_off,
        });
        t.srs += 1;
        let offset = sat_i64(offset);
        self.last_offset_ns = Some(offset);
        Some(offset)
    }

    /// True once `track` has had a sender report.
    pub fn has_sender_report(&self, track: usize) -> bool {
        self.tracks.get(track).is_some_and(|t| t.sr.is_some())
    }

    /// The camera's NTP time for RTP time `rtp` of `track`, from its latest
    /// sender report.
    pub fn ntp_time(&self, track: usize, rtp: i64) -> Option<WallTime> {
        let t = self.tracks.get(track)?;
        let sr = t.sr?;
        let ticks = rtp as i128 - sr.rtp as i128;
        Some(wall_plus_ns(sr.ntp, ticks_to_ns(ticks, t.timescale)))
    }

    /// Places a frame of `track` with extended RTP time `rtp` (retina's
    /// `Timestamp::timestamp()`) that arrived at `arrival`. `None` for an
    /// unknown track.
    pub fn place(&mut self, track: usize, rtp: i64, arrival: WallTime) -> Option<Placement> {
        if track >= self.tracks.len() {
            return None;
        }
        let ntp = self.ntp_time(track, rtp);
        let origin = *self.origin.get_or_insert(Origin { arrival, ntp });
        let t = self.tracks.get_mut(track)?;
        let first = match t.first {
            Some(f) => f,
            None => {
                let start_ns = match (origin.ntp, ntp) {
                    (Some(o), Some(n)) => {
                        t.aligned_by_sr = true;
                        n.0 as i128 - o.0 as i128
                    }
                    _ => arrival.0 as i128 - origin.arrival.0 as i128,
                };
                t.offset = sat_i64(ns_to_ticks(start_ns, t.timescale));
                t.first = Some(rtp);
                rtp
            }
        };
        let pts = sat_i64(rtp as i128 - first as i128 + t.offset as i128);
        let timescale = t.timescale;
        // The latest SR maps RTP time to capture time only while the RTP
        // clock runs on from it: after a timestamp jump (until the next SR)
        // it would put the frame hours away from its arrival. A capture
        // time further from arrival than a trusted camera clock can be is
        // a stale mapping: use arrival for this frame.
        let max_off = self.config.max_camera_clock_offset.as_nanos() as i128;
        let trusted_ntp = ntp.filter(|n| {
            t.sr.is_some_and(|s| s.trusted) && (n.0 as i128 - arrival.0 as i128).abs() <= max_off
        });
        let wall = self.wall_for(ticks_to_ns(pts as i128, timescale), trusted_ntp, arrival);
        // Re-anchoring on the first sender report (capture time is a little
        // earlier than arrival) steps the clock back by the network delay:
        // hold the track's clock still instead of running it backwards. A
        // step back beyond the drift bound is a correction of a wrong base
        // (a first frame stuck in a buffer) and goes through.
        let bound = self.config.max_wall_drift.as_nanos() as i128;
        let t = &mut self.tracks[track];
        let wall = match t.last_wall {
            Some(last) if wall <= last && (last.0 as i128 - wall.0 as i128) <= bound => {
                WallTime(last.0.saturating_add(1))
            }
            _ => wall,
        };
        t.last_wall = Some(wall);
        Some(Placement { pts, wall })
    }

    fn wall_for(&mut self, pts_ns: i128, sr_ref: Option<WallTime>, arrival: WallTime) -> WallTime {
        let from_sr = sr_ref.is_some();
        let reference = sr_ref.unwrap_or(arrival);
        let bound = self.config.max_wall_drift.as_nanos() as i128;
        let anchor = WallBase {
            wall: reference,
            pts_ns,
            from_sr,
            late_since: None,
        };
        let Some(base) = self.base.as_mut() else {
            self.base = Some(anchor);
            return reference;
        };
        let smooth = wall_plus_ns(base.wall, pts_ns - base.pts_ns);
        // Positive: the reference is later than the smooth clock says.
        let lag = reference.0 as i128 - smooth.0 as i128;
        let reanchor = if from_sr && !base.from_sr {
            // The first usable sender report: capture time beats arrival.
            true
        } else if from_sr {
            lag.abs() > bound
        } else if lag < -bound {
            // A frame cannot arrive before it was captured: base is wrong.
            true
        } else if lag > self.config.late_arrival_grace.as_nanos() as i128 {
            // Later than any network delay: the camera's timestamps
            // jumped back (e.g. an RTP jump before the next sender report).
            true
        } else if lag > bound {
            // Late frames: network delay unless it lasts.
            let since = *base.late_since.get_or_insert(arrival);
            arrival.0 as i128 - since.0 as i128 >= self.config.late_arrival_grace.as_nanos() as i128
        } else {
            base.late_since = None;
            false
        };
        if reanchor {
            self.base = Some(anchor);
            self.reanchors += 1;
            reference
        } else {
            smooth
        }
    }

    /// What the timeline knows so far.
    pub fn stats(&self) -> TimelineStats {
        TimelineStats {
            sender_reports: self.tracks.iter().map(|t| t.srs).collect(),
            aligned_by_sr: self.tracks.iter().map(|t| t.aligned_by_sr).collect(),
            camera_clock_offset_ns: self.last_offset_ns,
            wall_reanchors: self.reanchors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    /// 2024-01-01T00:00:00Z.
    const T0: WallTime = WallTime(1_704_067_200 * SEC);

    fn at(ms: i64) -> WallTime {
        WallTime(T0.0 + ms * MS)
    }

    /// NTP's 32-bit fraction cannot hold every nanosecond.
    #[track_caller]
    fn assert_near(a: WallTime, b: WallTime) {
        assert!((a.0 - b.0).abs() < 1000, "{a:?} != {b:?}");
    }

    fn tl() -> Timeline {
        Timeline::new(&[90_000, 48_000], TimelineConfig::default())
    }

    #[test]
    fn without_sr_tracks_align_by_arrival() {
        let mut t = tl();
        let v0 = t.place(0, 1_000_000, at(0)).unwrap();
        assert_eq!(
            v0,
            Placement {
                pts: 0,
                wall: at(0)
            }
        );
        // Audio's first frame arrives 20 ms later, with an unrelated RTP base.
        let a0 = t.place(1, 77, at(20)).unwrap();
        assert_eq!(a0.pts, 960);
        assert_eq!(a0.wall, at(20));
        // Both advance with their own RTP clocks, arrival jitter ignored.
        let v1 = t.place(0, 1_000_000 + 3000, at(80)).unwrap();
        assert_eq!(v1.pts, 3000);
        assert_eq!(v1.wall, WallTime(at(33).0 + 333_333));
        let a1 = t.place(1, 77 + 1024, at(21)).unwrap();
        assert_eq!(a1.pts, 960 + 1024);
        assert_eq!(t.stats().aligned_by_sr, vec![false, false]);
        assert_eq!(t.stats().wall_reanchors, 0);
    }

    #[test]
    fn with_sr_tracks_align_by_ntp() {
        let mut t = tl();
        // Video: RTP 90_000 was captured at T0. Audio: RTP 500 at T0 + 100 ms.
        t.sender_report(0, 90_000, T0.to_ntp(), at(5));
        t.sender_report(1, 500, at(100).to_ntp(), at(105));
        assert!(t.has_sender_report(0) && t.has_sender_report(1));
        // Video frame captured at T0 + 1 s arrives at +1.2 s.
        let v = t.place(0, 180_000, at(1200)).unwrap();
        assert_eq!(v.pts, 0);
        assert_near(v.wall, at(1000));
        // Audio captured at T0 + 1.1 s (RTP 500 + 48_000), arrives first or
        // last: arrival does not matter with SRs.
        let a = t.place(1, 48_500, at(1150)).unwrap();
        assert_eq!(a.pts, 4800, "100 ms after video at 48 kHz");
        assert_near(a.wall, at(1100));
        assert_eq!(t.stats().aligned_by_sr, vec![true, true]);
    }

    /// Regression (found by the e2e timestamp-jump test): after an RTP
    /// jump, frames placed before the next sender report were stamped with
    /// the old SR mapping, an hour off, and named their segment so.
    #[test]
    fn rtp_jump_before_the_next_sr_keeps_wall_near_arrival() {
        let mut t = Timeline::new(&[90_000], TimelineConfig::default());
        t.sender_report(0, 0, T0.to_ntp(), at(0));
        let p = t.place(0, 90_000, at(1000)).unwrap();
        assert_near(p.wall, at(1000));
        let hour = 3600 * 90_000;
        for (i, ms) in [1040i64, 1080, 1120].into_iter().enumerate() {
            let p = t.place(0, hour + 93_600 + i as i64 * 3600, at(ms)).unwrap();
            assert!(
                (p.wall.0 - at(ms).0).abs() < SEC,
                "frame at {ms} ms stamped {} s off",
                (p.wall.0 - at(ms).0) / SEC
            );
        }
        // The camera's next SR includes the jump: capture time again.
        t.sender_report(0, hour + 180_000, at(2000).to_ntp(), at(2001));
        let p = t.place(0, hour + 180_000 + 3600, at(2045)).unwrap();
        assert_near(p.wall, at(2040));
        // 100 s back: "late" by 100 s is no network delay, and the smooth
        // clock must not stamp frames in the past until the next SR.
        let back = hour + 180_000 + 7200 - 100 * 90_000;
        let p = t.place(0, back, at(2085)).unwrap();
        assert!((p.wall.0 - at(2085).0).abs() < SEC, "{p:?}");
        let p = t.place(0, back + 3600, at(2125)).unwrap();
        assert!((p.wall.0 - at(2125).0).abs() < SEC, "{p:?}");
    }

    #[test]
    fn later_sr_does_not_move_pts() {
        let mut t = tl();
        let v0 = t.place(0, 0, at(0)).unwrap();
        let a0 = t.place(1, 0, at(30)).unwrap();
        assert_eq!((v0.pts, a0.pts), (0, 1440));
        t.sender_report(0, 90_000, at(900).to_ntp(), at(1000));
        t.sender_report(1, 48_000, at(950).to_ntp(), at(1000));
        let v = t.place(0, 180_000, at(2000)).unwrap();
        let a = t.place(1, 96_000, at(2000)).unwrap();
        assert_eq!(v.pts, 180_000);
        assert_eq!(a.pts, 96_000 + 1440);
        // The first trusted SR moves the wall clock to capture time once.
        assert_near(v.wall, at(1900));
        assert_eq!(t.stats().wall_reanchors, 1);
    }

    #[test]
    fn wrap_is_continuous() {
        let mut t = tl();
        // retina extends timestamps past 2^32; we just subtract.
        let start = u32::MAX as i64 - 1500;
        let a = t.place(0, start, at(0)).unwrap();
        let b = t.place(0, start + 3000, at(33)).unwrap();
        assert_eq!(a.pts, 0);
        assert_eq!(b.pts, 3000);
        assert!(b.wall > a.wall);
        // An SR sent after the wrap maps correctly too.
        t.sender_report(0, start + 6000, at(66).to_ntp(), at(70));
        assert_near(t.ntp_time(0, start + 96_000).unwrap(), at(1066));
    }

    #[test]
    fn jitter_is_smoothed_drift_is_corrected() {
        let mut t = Timeline::new(&[90_000], TimelineConfig::default());
        t.place(0, 0, at(0)).unwrap();
        // 400 ms late burst: wall stays on the media clock.
        let p = t.place(0, 90_000, at(1400)).unwrap();
        assert_eq!(p.wall, at(1000));
        // The camera's RTP clock runs 2% slow: after 60 s of media, 61.2 s
        // have passed. Late by more than 1 s for longer than the grace period.
        let mut last = p.wall;
        for s in 2..=70i64 {
            let arrival = at(s * 1020);
            let p = t.place(0, s * 90_000, arrival).unwrap();
            assert!(
                (arrival.0 - p.wall.0).abs() <= 6 * SEC,
                "wall stays near real time"
            );
            last = p.wall;
        }
        assert!(t.stats().wall_reanchors >= 1);
        assert!((at(70 * 1020).0 - last.0).abs() < 2 * SEC);
    }

    #[test]
    fn first_sender_report_never_runs_a_track_clock_backwards() {
        let mut t = Timeline::new(&[48_000], TimelineConfig::default());
        // Frames arrive 30 ms after capture; wall comes from arrival...
        let a = t.place(0, 0, at(30)).unwrap();
        let b = t.place(0, 1024, at(51)).unwrap();
        // ...until the sender report says capture was 30 ms earlier.
        t.sender_report(0, 2048, at(42).to_ntp(), at(72));
        let c = t.place(0, 2048, at(72)).unwrap();
        assert!(a.wall < b.wall && b.wall < c.wall, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn early_arrival_reanchors_at_once() {
        let mut t = Timeline::new(&[90_000], TimelineConfig::default());
        // The first frame came very late (stuck in a buffer).
        t.place(0, 0, at(3000)).unwrap();
        // The next one arrives earlier than its capture could have been.
        let p = t.place(0, 9000, at(1500)).unwrap();
        assert_eq!(p.wall, at(1500));
        assert_eq!(t.stats().wall_reanchors, 1);
    }

    #[test]
    fn camera_clock_far_off_is_not_wall_clock() {
        let mut t = tl();
        // Camera thinks it is one hour earlier (time zone).
        let off = t
            .sender_report(0, 0, at(-3_600_000).to_ntp(), at(0))
            .unwrap();
        assert_eq!(off, -3_600 * SEC);
        t.sender_report(1, 0, at(-3_600_000 + 50).to_ntp(), at(0));
        let v = t.place(0, 9000, at(130)).unwrap();
        assert_eq!(v.wall, at(130), "arrival wins over a wrong camera clock");
        // ...but alignment still uses the SRs.
        let a = t.place(1, 4800, at(500)).unwrap();
        assert_eq!(a.pts, 2400, "50 ms after video at 48 kHz");
        assert_eq!(t.stats().aligned_by_sr, vec![true, true]);
    }

    #[test]
    fn timestamp_jump_reanchors_wall_not_pts_math() {
        let mut t = Timeline::new(&[90_000], TimelineConfig::default());
        t.sender_report(0, 0, at(0).to_ntp(), at(10));
        t.place(0, 0, at(10)).unwrap();
        // The camera's RTP jumps 1 h ahead (retina issue #64); its SR follows.
        let jump = 3600 * 90_000;
        t.sender_report(0, jump + 9000, at(100).to_ntp(), at(110));
        let p = t.place(0, jump + 9000, at(110)).unwrap();
        assert_eq!(p.pts, jump + 9000, "the muxer sees the jump and cuts");
        assert_near(p.wall, at(100));
    }

    #[test]
    fn hostile_values_do_not_panic() {
        let mut t = Timeline::new(&[0, 1], TimelineConfig::default());
        t.sender_report(0, i64::MIN, u64::MAX, WallTime(i64::MIN));
        t.sender_report(5, 0, 1, at(0));
        assert_eq!(t.sender_report(1, 0, 0, at(0)), None);
        t.place(0, i64::MAX, WallTime(i64::MAX)).unwrap();
        t.place(0, i64::MIN, WallTime(i64::MIN)).unwrap();
        t.place(1, i64::MIN, at(0)).unwrap();
        assert!(t.place(2, 0, at(0)).is_none());
    }
}
