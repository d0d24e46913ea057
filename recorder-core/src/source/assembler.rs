//! Orders what the camera sent into [`SourceEvent`]s (pure, no I/O).
//!
//! Frames are held at the start of a session until every track has had an
//! RTCP sender report (or a bounded wait has passed), so tracks can be
//! aligned by the camera's clock. A frame's loss count and parameter change
//! are yielded just before the frame itself.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::timeline::{Timeline, TimelineConfig, TimelineStats};
use crate::mux::{CodecConfig, Frame, TrackSpec, WallTime};

/// Most frames held while waiting for sender reports, so a burst cannot
/// grow memory without bound.
const MAX_HELD: usize = 4096;

/// Most bytes held while waiting for sender reports: a camera sending huge
/// frames reaches this long before `MAX_HELD` frames. Holding then stops
/// (frames are released, not dropped).
const MAX_HELD_BYTES: usize = 32 << 20;

/// A frame as read from the camera, not yet placed on the timeline.
#[derive(Clone, Debug)]
pub(super) struct RawFrame {
    pub track: usize,
    /// Extended RTP timestamp.
    pub rtp: i64,
    pub arrival: WallTime,
    pub keyframe: bool,
    pub duration_hint: Option<u32>,
    pub data: Bytes,
    /// RTP packets lost just before this frame.
    pub loss: u16,
    /// Parameters this frame brought, if it brought any.
    pub new_codec: Option<CodecConfig>,
}

#[derive(Debug)]
pub(super) struct Assembler {
    tracks: Vec<TrackSpec>,
    timeline: Timeline,
    held: VecDeque<RawFrame>,
    holding: bool,
    /// Payload bytes pushed while holding (only compared while holding).
    held_bytes: usize,
    sr_wait: Duration,
    ready: VecDeque<SourceEvent>,
}

impl Assembler {
    pub fn new(tracks: Vec<TrackSpec>, sr_wait: Duration, config: TimelineConfig) -> Self {
        let timescales: Vec<u32> = tracks.iter().map(|t| t.timescale).collect();
        Assembler {
            timeline: Timeline::new(&timescales, config),
            tracks,
            held: VecDeque::new(),
            holding: !sr_wait.is_zero(),
            held_bytes: 0,
            sr_wait,
            ready: VecDeque::new(),
        }
    }

    pub fn tracks(&self) -> &[TrackSpec] {
        &self.tracks
    }

    /// Sets a track's codec before anything was yielded (parameters that
    /// arrived in-band during connect are initial, not a change).
    pub fn set_initial_codec(&mut self, track: usize, codec: CodecConfig) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.codec = codec;
        }
    }

    pub fn push_frame(&mut self, frame: RawFrame) {
        if frame.track >= self.tracks.len() {
            return;
        }
        if self.holding {
            self.held_bytes = self.held_bytes.saturating_add(frame.data.len());
        }
        self.held.push_back(frame);
        self.update_holding();
    }

    pub fn sender_report(&mut self, track: usize, rtp: i64, ntp: u64, arrival: WallTime) {
        if let Some(off) = self.timeline.sender_report(track, rtp, ntp, arrival) {
            self.ready.push_back(SourceEvent::SenderReport {
                track,
                rtp,
                ntp: WallTime::from_ntp(ntp),
                camera_clock_offset_ns: off,
            });
            self.update_holding();
        }
    }

    /// The next event, if one is ready.
    pub fn pop(&mut self) -> Option<SourceEvent> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Some(ev);
            }
            if self.holding {
                return None;
            }
            let raw = self.held.pop_front()?;
            self.emit(raw);
        }
    }

    /// Stops waiting for sender reports: everything held becomes ready.
    /// Used when the session ends, so frames that arrived are never lost.
    pub fn release_held(&mut self) {
        self.holding = false;
    }

    pub fn stats(&self) -> TimelineStats {
        self.timeline.stats()
    }

    fn update_holding(&mut self) {
        if !self.holding {
            return;
        }
        let all_srs = (0..self.tracks.len()).all(|t| self.timeline.has_sender_report(t));
        let span = match (self.held.front(), self.held.back()) {
            (Some(a), Some(b)) => {
                Duration::from_nanos(b.arrival.0.saturating_sub(a.arrival.0).max(0) as u64)
            }
            _ => Duration::ZERO,
        };
        if all_srs
            || span >= self.sr_wait
            || self.held.len() >= MAX_HELD
            || self.held_bytes >= MAX_HELD_BYTES
        {
            self.holding = false;
        }
    }

    fn emit(&mut self, raw: RawFrame) {
        if raw.loss > 0 {
            self.ready.push_back(SourceEvent::Loss {
                track: raw.track,
                packets: u32::from(raw.loss),
            });
        }
        if let Some(codec) = raw.new_codec {
            if self.tracks[raw.track].codec != codec {
                self.tracks[raw.track].codec = codec.clone();
                self.ready.push_back(SourceEvent::ParametersChanged {
                    track: raw.track,
                    codec,
                });
            }
        }
        if let Some(p) = self.timeline.place(raw.track, raw.rtp, raw.arrival) {
            self.ready.push_back(SourceEvent::Frame(Frame {
                track: raw.track,
                pts: p.pts,
                wall: p.wall,
                keyframe: raw.keyframe,
                duration_hint: raw.duration_hint,
                data: raw.data,
            }));
        }
    }
}

/// What [`Session::next`](super::Session::next) yields.
#[derive(Clone, Debug)]
pub enum SourceEvent {
    /// A frame, placed on the shared timeline.
    Frame(Frame),
    /// The track's codec parameters changed; the next frame of the track
    /// uses them. Also reflected in
    /// [`Session::tracks`](super::Session::tracks).
    ParametersChanged {
        /// The track.
        track: usize,
        /// The new configuration.
        codec: CodecConfig,
    },
    /// RTP packets were lost before the next frame of the track.
    Loss {
        /// The track.
        track: usize,
        /// Packets lost.
        packets: u32,
    },
    /// An RTCP sender report (for metrics and `camrec probe`).
    SenderReport {
        /// The track.
        track: usize,
        /// Extended RTP time of the report.
        rtp: i64,
        /// The camera's clock at that RTP time.
        ntp: WallTime,
        /// Camera clock minus our clock, in nanoseconds.
        camera_clock_offset_ns: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const T0: i64 = 1_704_067_200 * 1_000_000_000;

    fn at(ms: i64) -> WallTime {
        WallTime(T0 + ms * MS)
    }

    fn h264(tag: u8) -> CodecConfig {
        CodecConfig::H264 {
            avcc: Bytes::from(vec![1, tag]),
            width: 320,
            height: 240,
        }
    }

    fn asm(sr_wait_ms: u64) -> Assembler {
        let tracks = vec![
            TrackSpec {
                timescale: 90_000,
                codec: h264(0),
            },
            TrackSpec {
                timescale: 8_000,
                codec: CodecConfig::G711 {
                    mu_law: true,
                    sample_rate: 8000,
                    channels: 1,
                },
            },
        ];
        Assembler::new(
            tracks,
            Duration::from_millis(sr_wait_ms),
            TimelineConfig::default(),
        )
    }

    fn frame(track: usize, rtp: i64, arrival_ms: i64) -> RawFrame {
        RawFrame {
            track,
            rtp,
            arrival: at(arrival_ms),
            keyframe: track == 1,
            duration_hint: (track == 1).then_some(160),
            data: Bytes::from_static(b"x"),
            loss: 0,
            new_codec: None,
        }
    }

    fn kinds(a: &mut Assembler) -> Vec<String> {
        std::iter::from_fn(|| a.pop())
            .map(|e| match e {
                SourceEvent::Frame(f) => format!("F{}@{}", f.track, f.pts),
                SourceEvent::Loss { track, packets } => format!("L{track}x{packets}"),
                SourceEvent::ParametersChanged { track, .. } => format!("P{track}"),
                SourceEvent::SenderReport { track, .. } => format!("S{track}"),
            })
            .collect()
    }

    #[test]
    fn no_wait_passes_frames_through() {
        let mut a = asm(0);
        a.push_frame(frame(0, 1000, 0));
        assert_eq!(kinds(&mut a), ["F0@0"]);
        a.push_frame(frame(1, 50, 10));
        assert_eq!(kinds(&mut a), ["F1@80"]);
    }

    #[test]
    fn loss_and_parameter_change_come_before_the_frame() {
        let mut a = asm(0);
        a.push_frame(frame(0, 0, 0));
        let mut f = frame(0, 3000, 33);
        f.loss = 3;
        f.new_codec = Some(h264(7));
        a.push_frame(f);
        // Same parameters again: no event.
        let mut g = frame(0, 6000, 66);
        g.new_codec = Some(h264(7));
        a.push_frame(g);
        assert_eq!(kinds(&mut a), ["F0@0", "L0x3", "P0", "F0@3000", "F0@6000"]);
        assert_eq!(a.tracks()[0].codec, h264(7));
    }

    #[test]
    fn holds_until_every_track_has_a_sender_report() {
        let mut a = asm(2000);
        a.push_frame(frame(0, 0, 0));
        a.push_frame(frame(1, 0, 5));
        assert!(a.pop().is_none(), "held");
        // Audio was captured 40 ms after video, per the camera's clock.
        a.sender_report(0, 0, at(-200).to_ntp(), at(6));
        assert_eq!(kinds(&mut a), ["S0"], "still held: audio has no SR");
        a.sender_report(1, 0, at(-160).to_ntp(), at(7));
        assert_eq!(kinds(&mut a), ["S1", "F0@0", "F1@320"]);
        assert_eq!(a.stats().aligned_by_sr, vec![true, true]);
    }

    #[test]
    fn releases_after_the_wait_without_reports() {
        let mut a = asm(2000);
        a.push_frame(frame(0, 0, 0));
        a.push_frame(frame(1, 0, 20));
        a.push_frame(frame(0, 90_000, 1000));
        assert!(a.pop().is_none());
        a.push_frame(frame(0, 180_000, 2000));
        assert_eq!(kinds(&mut a), ["F0@0", "F1@160", "F0@90000", "F0@180000"]);
        assert_eq!(a.stats().aligned_by_sr, vec![false, false]);
    }

    #[test]
    fn frames_held_when_the_session_ends_are_released() {
        let mut a = asm(2000);
        a.push_frame(frame(0, 0, 0));
        a.push_frame(frame(0, 3600, 40));
        assert!(a.pop().is_none(), "still waiting for sender reports");
        a.release_held();
        assert_eq!(kinds(&mut a), ["F0@0", "F0@3600"]);
    }

    #[test]
    fn held_frames_are_bounded() {
        let mut a = asm(60_000);
        for i in 0..MAX_HELD as i64 {
            a.push_frame(frame(1, i * 160, 0));
        }
        assert!(a.pop().is_some(), "released at the cap");
    }

    #[test]
    fn held_bytes_are_bounded() {
        let mut a = asm(60_000);
        let big = Bytes::from(vec![0u8; MAX_HELD_BYTES / 4]);
        for i in 0..3 {
            a.push_frame(RawFrame {
                data: big.clone(),
                ..frame(0, i * 3600, 0)
            });
            assert!(a.pop().is_none(), "below the byte cap: still holding");
        }
        a.push_frame(RawFrame {
            data: big,
            ..frame(0, 3 * 3600, 0)
        });
        assert!(a.pop().is_some(), "released at the byte cap");
    }

    #[test]
    fn unknown_track_is_ignored() {
        let mut a = asm(0);
        a.push_frame(frame(9, 0, 0));
        a.sender_report(9, 0, at(0).to_ntp(), at(0));
        assert!(a.pop().is_none());
    }
}
