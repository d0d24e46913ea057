//! The muxer state machine: where segments and fragments begin and end,
//! and how frame timestamps become decode times and durations.
//!
//! The timeline model is described in `docs/timestamps.md`.

use bytes::Bytes;

use super::config::MuxerConfig;
use super::error::MuxError;
use super::fragment_writer::{write_fragment_header, ProducerReference, SampleEntry, TrackRun};
use super::init_segment::{write_init, MOVIE_TIMESCALE};
use super::types::*;
use crate::mp4::HeaderPatch;
use crate::time;

/// Counters a host can read at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MuxStats {
    /// Frames given to [`Muxer::push`].
    pub frames_in: u64,
    /// Frames that could not be stored: before the first keyframe, after a
    /// codec change before the next keyframe.
    pub frames_skipped: u64,
    /// Timestamp discontinuities seen (and re-based).
    pub discontinuities: u64,
    /// Segments started.
    pub segments: u64,
    /// Fragments emitted.
    pub fragments: u64,
    /// Bytes emitted (init segments and fragments).
    pub bytes: u64,
    /// Frames dropped for being larger than
    /// [`MuxerConfig::max_frame_bytes`]; the video after such a frame is
    /// skipped until the next keyframe (it would not decode).
    pub frames_too_large: u64,
    /// Fragments ended early because they held
    /// [`MuxerConfig::max_fragment_bytes`], or because the wall clock passed
    /// twice the fragment duration while timestamps did not advance.
    pub fragments_cut_by_limit: u64,
}

/// Turns frames into self-contained fragmented MP4 segments.
///
/// Sans-IO: [`push`](Muxer::push) and [`finish`](Muxer::finish) append
/// [`MuxEvent`]s to a caller-owned vector; nothing is read from a clock or
/// written anywhere.
///
/// ```
/// use bytes::Bytes;
/// use recorder_core::mux::*;
///
/// let avcc = Bytes::from_static(&[1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 0]);
/// let video = TrackSpec { timescale: 90_000, codec: CodecConfig::H264 { avcc, width: 640, height: 360 } };
/// let mut mux = Muxer::new(vec![video], MuxerConfig::default()).unwrap();
/// let mut events = Vec::new();
/// for i in 0..50i64 {
///     let frame = Frame {
///         track: 0,
///         pts: i * 3600,
///         wall: WallTime(1_700_000_000_000_000_000 + i * 40_000_000),
///         keyframe: i % 25 == 0,
///         duration_hint: None,
///         data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
///     };
///     mux.push(frame, &mut events).unwrap();
/// }
/// mux.finish(EndReason::Finished, &mut events);
/// assert!(matches!(events[0], MuxEvent::SegmentStarted(_)));
/// assert!(matches!(events.last(), Some(MuxEvent::SegmentFinished(_))));
/// ```
pub struct Muxer {
    cfg: MuxerConfig,
    tracks: Vec<Track>,
    primary: usize,
    segment: Option<Segment>,
    next_index: u64,
    stats: MuxStats,
    /// Set by `restart_timeline` until the next frame anchors the new
    /// session's timestamps.
    awaiting_anchor: bool,
    /// Adjusted time (ns) and wall clock of the last frame stored.
    last_frame: Option<(i64, WallTime)>,
    /// Payload bytes in the tracks' pending samples.
    pending_bytes: usize,
    /// Twice `fragment_duration` in ns: the wall-clock fallback that ends a
    /// fragment whose timestamps stopped advancing (converted once, not per
    /// frame).
    fragment_wall_limit_ns: i64,
    /// `max_frame_bytes`, capped at what a `trun` entry can describe.
    max_frame_len: usize,
    /// A too-large frame was warned about; cleared by the next fragment so
    /// a camera sending them steadily logs once per fragment, not per frame.
    warned_too_large: bool,
    /// With an edit list: presentation of a segment starts this long (ns)
    /// after its first keyframe ([`Muxer::set_edit_start`]).
    edit_start_ns: Option<i64>,
}

struct Track {
    spec: TrackSpec,
    video: bool,
    /// `max_reorder` and `max_timestamp_jump` in this track's ticks,
    /// converted once rather than per frame.
    reorder_ticks: i64,
    jump_ticks: i64,
    pending_codec: Option<CodecConfig>,
    /// Added to incoming timestamps: re-bases discontinuities and new sessions.
    offset_ticks: i64,
    /// Audio: last timestamp; video: largest timestamp so far.
    last_pts: Option<i64>,
    /// Typical sample duration, used where the next timestamp is unknown.
    typical_duration_ticks: u32,
    /// Timestamps have gone backwards (B-frames): decode order differs.
    reordered: bool,
    samples: Vec<PendingSample>,
    /// Decode time where the next fragment's samples begin.
    next_dts: Option<i64>,
    /// The segment's time zero in this track's timescale.
    origin_ticks: i64,
    segment_samples: u64,
    need_keyframe: bool,
    /// How far decode times run ahead of presentation (B-frames), fixed per
    /// segment by its first fragment so composition offsets stay positive.
    decode_delay_ticks: Option<i64>,
    /// Decode time of the track's first sample in the open segment.
    segment_first_dts: Option<i64>,
}

struct PendingSample {
    pts: i64,
    data: Bytes,
    sync: bool,
    wall: WallTime,
    /// The frame's duration hint, in the track's ticks.
    duration_hint_ticks: Option<u32>,
}

struct Segment {
    index: u64,
    wall_start: WallTime,
    start_ns: i64,
    /// Wall-clock instant (ns) at which an aligned segment ends.
    wall_boundary_ns: Option<i64>,
    origin_ns: Option<i64>,
    sequence: u32,
    bytes: u64,
    fragments: u32,
    end_request: Option<EndReason>,
    mvhd_duration_at: usize,
    mehd_duration_at: usize,
    /// Per track, where its edit list's duration and media time go.
    edits_at: Vec<(usize, usize)>,
    /// First primary timestamp of the open fragment.
    fragment_start_pts: Option<i64>,
    /// Wall clock (ns) at which the open fragment ends even if timestamps
    /// do not advance; `i64::MAX` while no fragment is open.
    fragment_wall_deadline: i64,
    /// Largest primary timestamp in the segment.
    max_primary_pts: i64,
}

/// Timestamps from the network are clamped into this range so arithmetic
/// on them can never overflow (it is still ~1.6 million years at 90 kHz).
const MAX_TIMESTAMP: i64 = 1 << 52;

fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN / 4), i128::from(i64::MAX / 4)) as i64
}

fn to_ns(ticks: i64, timescale: u32) -> i64 {
    saturate(time::ticks_to_ns(i128::from(ticks), timescale))
}

fn to_ticks(ns: i64, timescale: u32) -> i64 {
    saturate(time::ns_to_ticks(i128::from(ns), timescale))
}

/// Bytes per PCM sample for codecs stored one MP4 sample per PCM sample.
fn pcm_sample_size(codec: &CodecConfig) -> Option<u32> {
    match codec {
        CodecConfig::G711 { channels, .. } => Some(u32::from(*channels).max(1)),
        _ => None,
    }
}

fn validate(track: usize, spec: &TrackSpec) -> Result<(), MuxError> {
    if spec.timescale == 0 {
        return Err(MuxError::ZeroTimescale { track });
    }
    let problem = match &spec.codec {
        CodecConfig::H264 { avcc, .. } if avcc.len() < 7 || avcc[0] != 1 => {
            "H.264 avcC record is shorter than 7 bytes or not version 1"
        }
        CodecConfig::H265 { hvcc, .. } if hvcc.len() < 23 || hvcc[0] != 1 => {
            "H.265 hvcC record is shorter than 23 bytes or not version 1"
        }
        CodecConfig::Aac { asc, .. } if asc.len() < 2 => {
            "AAC AudioSpecificConfig is shorter than 2 bytes"
        }
        CodecConfig::Aac { channels: 0, .. } | CodecConfig::G711 { channels: 0, .. } => {
            "audio track with 0 channels"
        }
        _ => return Ok(()),
    };
    Err(MuxError::BadCodecConfig { track, problem })
}

impl Muxer {
    /// A muxer for these tracks. The first video track drives segment and
    /// fragment cuts; without video, the first audio track does.
    pub fn new(tracks: Vec<TrackSpec>, cfg: MuxerConfig) -> Result<Self, MuxError> {
        if tracks.is_empty() {
            return Err(MuxError::NoTracks);
        }
        let videos = tracks.iter().filter(|t| t.codec.is_video()).count();
        if videos > 1 {
            return Err(MuxError::TooManyVideoTracks { count: videos });
        }
        for (i, t) in tracks.iter().enumerate() {
            validate(i, t)?;
        }
        let primary = tracks.iter().position(|t| t.codec.is_video()).unwrap_or(0);
        let tracks = tracks
            .into_iter()
            .map(|spec| {
                let video = spec.codec.is_video();
                Track {
                    reorder_ticks: if video {
                        time::duration_to_ticks(cfg.max_reorder, spec.timescale)
                    } else {
                        0
                    },
                    jump_ticks: time::duration_to_ticks(cfg.max_timestamp_jump, spec.timescale),
                    typical_duration_ticks: (spec.timescale / if video { 25 } else { 50 }).max(1),
                    video,
                    spec,
                    pending_codec: None,
                    offset_ticks: 0,
                    last_pts: None,
                    reordered: false,
                    samples: Vec::new(),
                    next_dts: None,
                    origin_ticks: 0,
                    segment_samples: 0,
                    need_keyframe: false,
                    decode_delay_ticks: None,
                    segment_first_dts: None,
                }
            })
            .collect();
        Ok(Muxer {
            tracks,
            primary,
            segment: None,
            next_index: 0,
            stats: MuxStats::default(),
            awaiting_anchor: false,
            last_frame: None,
            pending_bytes: 0,
            fragment_wall_limit_ns: cfg
                .fragment_duration
                .as_nanos()
                .saturating_mul(2)
                .min(i64::MAX as u128) as i64,
            max_frame_len: cfg.max_frame_bytes.min(u32::MAX as usize),
            warned_too_large: false,
            edit_start_ns: None,
            cfg,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> &MuxStats {
        &self.stats
    }

    /// The settings in use.
    pub fn config(&self) -> &MuxerConfig {
        &self.cfg
    }

    /// The tracks as they will be written into the next segment.
    pub fn tracks(&self) -> Vec<TrackSpec> {
        self.tracks
            .iter()
            .map(|t| TrackSpec {
                timescale: t.spec.timescale,
                codec: t
                    .pending_codec
                    .clone()
                    .unwrap_or_else(|| t.spec.codec.clone()),
            })
            .collect()
    }

    /// Makes segments started from now on begin their presentation `skip`
    /// after their first keyframe: an edit list (`edts`/`elst`) in each
    /// track of the init segment, its fields filled in by the segment's
    /// [`SegmentEnd::header_patches`]. The samples before are still stored
    /// (they are needed to decode the first presented frame); players
    /// start at the exact frame. An event clip uses it for a pre-roll that
    /// starts between keyframes.
    pub fn set_edit_start(&mut self, skip: std::time::Duration) {
        self.edit_start_ns = Some(i64::try_from(skip.as_nanos()).unwrap_or(i64::MAX / 4));
    }

    /// True while a segment is open.
    pub fn in_segment(&self) -> bool {
        self.segment.is_some()
    }

    /// New codec parameters for a track (a new SPS, say). The open segment
    /// ends at the next keyframe and the next one carries the new `moov`;
    /// frames of this track in between are skipped.
    pub fn update_track(&mut self, track: usize, codec: CodecConfig) -> Result<(), MuxError> {
        let tracks = self.tracks.len();
        let t = self
            .tracks
            .get_mut(track)
            .ok_or(MuxError::NoSuchTrack { track, tracks })?;
        validate(
            track,
            &TrackSpec {
                timescale: t.spec.timescale,
                codec: codec.clone(),
            },
        )?;
        if codec.is_video() != t.video {
            return Err(MuxError::BadCodecConfig {
                track,
                problem: "a track cannot change between audio and video",
            });
        }
        if codec == t.spec.codec {
            t.pending_codec = None;
        } else if self.segment.is_none() {
            t.spec.codec = codec;
        } else {
            t.pending_codec = Some(codec);
        }
        Ok(())
    }

    /// Tells the muxer the next frames come from a new session whose
    /// timestamps start afresh (after a reconnect). The open segment stays
    /// open if the wall-clock gap is short; the gap shows in its timeline.
    pub fn restart_timeline(&mut self, out: &mut Vec<MuxEvent>) {
        self.flush(None, out);
        self.awaiting_anchor = self.segment.is_some();
        let primary = self.primary;
        for (i, t) in self.tracks.iter_mut().enumerate() {
            t.last_pts = None;
            t.need_keyframe = i == primary && t.video;
            if self.segment.is_none() {
                t.offset_ticks = 0;
            }
        }
    }

    /// Ends the open segment (if any) with `reason`, emitting its last
    /// fragment and its `SegmentFinished`.
    pub fn finish(&mut self, reason: EndReason, out: &mut Vec<MuxEvent>) {
        self.flush(None, out);
        if self.segment.is_some() {
            self.finish_segment(reason, out);
        }
        self.awaiting_anchor = false;
    }

    /// Adds a frame; any events it completes are appended to `out`.
    pub fn push(&mut self, frame: Frame, out: &mut Vec<MuxEvent>) -> Result<(), MuxError> {
        let ti = frame.track;
        if ti >= self.tracks.len() {
            return Err(MuxError::NoSuchTrack {
                track: ti,
                tracks: self.tracks.len(),
            });
        }
        // One comparison on the hot path: the limit is at most 4 GiB - 1.
        if frame.data.len() > self.max_frame_len {
            if u32::try_from(frame.data.len()).is_err() {
                return Err(MuxError::FrameTooLarge {
                    track: ti,
                    size: frame.data.len(),
                });
            }
            self.stats.frames_in += 1;
            self.drop_too_large(&frame);
            return Ok(());
        }
        self.stats.frames_in += 1;
        let mut frame = frame;
        frame.pts = frame.pts.clamp(-MAX_TIMESTAMP, MAX_TIMESTAMP);
        frame.wall = WallTime(frame.wall.0.clamp(i64::MIN / 4, i64::MAX / 4));
        if self.awaiting_anchor {
            self.anchor(&frame, out);
        }
        let pts = self.place(ti, frame.pts, frame.duration_hint);
        if self.pending_bytes.saturating_add(frame.data.len()) > self.cfg.max_fragment_bytes
            && self.pending_bytes > 0
        {
            self.cut_at_byte_limit(out);
        }
        let stored = if ti == self.primary {
            self.push_primary(frame, pts, out)
        } else {
            self.push_secondary(frame, pts, out)
        };
        if !stored {
            self.stats.frames_skipped += 1;
        }
        Ok(())
    }

    /// Ends the open fragment early: its timestamps stopped advancing while
    /// the wall clock passed twice the fragment duration.
    #[cold]
    #[inline(never)]
    fn cut_by_wall_clock(&mut self, pts: i64, out: &mut Vec<MuxEvent>) {
        self.stats.fragments_cut_by_limit += 1;
        self.flush(Some(pts), out);
    }

    /// Ends the open fragment early: it holds `max_fragment_bytes`.
    #[cold]
    #[inline(never)]
    fn cut_at_byte_limit(&mut self, out: &mut Vec<MuxEvent>) {
        self.stats.fragments_cut_by_limit += 1;
        self.flush_holding_last_primary(out);
    }

    /// Drops a frame over `max_frame_bytes`. Video after a dropped video
    /// frame references it, so the track waits for the next keyframe.
    #[cold]
    #[inline(never)]
    fn drop_too_large(&mut self, frame: &Frame) {
        self.stats.frames_too_large += 1;
        let t = &mut self.tracks[frame.track];
        if t.video {
            t.need_keyframe = true;
        }
        if !self.warned_too_large {
            self.warned_too_large = true;
            tracing::warn!(
                track = frame.track,
                bytes = frame.data.len(),
                limit = self.cfg.max_frame_bytes,
                "dropping a frame larger than the limit (video resumes at the next keyframe)"
            );
        }
    }

    /// Puts a timestamp on the muxer's continuous timeline, re-basing the
    /// track when it jumps.
    fn place(&mut self, ti: usize, raw: i64, hint_ticks: Option<u32>) -> i64 {
        let t = &mut self.tracks[ti];
        if let Some(h) = hint_ticks.filter(|h| *h > 0) {
            t.typical_duration_ticks = h;
        }
        let mut pts = raw
            .saturating_add(t.offset_ticks)
            .clamp(-MAX_TIMESTAMP, MAX_TIMESTAMP);
        if let Some(last) = t.last_pts {
            if pts < last.saturating_sub(t.reorder_ticks) || pts > last.saturating_add(t.jump_ticks)
            {
                let expected = last
                    .saturating_add(i64::from(t.typical_duration_ticks))
                    .min(MAX_TIMESTAMP);
                t.offset_ticks = t.offset_ticks.saturating_add(expected.saturating_sub(pts));
                pts = expected;
                self.stats.discontinuities += 1;
                // Only the primary track's jump ends the segment. A secondary
                // track is re-based onto its continuation, which keeps the
                // segment consistent; cutting for it too would, when a camera
                // jumps every clock at once, end the segment the primary's
                // jump just started one GOP later (a tiny file per jump).
                if ti == self.primary {
                    if let Some(seg) = &mut self.segment {
                        seg.end_request.get_or_insert(EndReason::Discontinuity);
                    }
                }
            }
            if pts < last {
                t.reordered = true;
            }
            if !t.video && pts > last && hint_ticks.is_none() {
                t.typical_duration_ticks =
                    u32::try_from(pts.saturating_sub(last)).unwrap_or(u32::MAX);
            }
            t.last_pts = Some(if t.video { last.max(pts) } else { pts });
        } else {
            t.last_pts = Some(pts);
        }
        pts
    }

    /// After a reconnect: shifts every track so the new session continues
    /// where the old one stopped, plus the wall-clock time that passed.
    fn anchor(&mut self, frame: &Frame, out: &mut Vec<MuxEvent>) {
        self.awaiting_anchor = false;
        let Some((last_ns, last_wall)) = self.last_frame else {
            return;
        };
        let gap_ns = (frame.wall.0 - last_wall.0).max(0);
        if gap_ns as u128 > self.cfg.max_gap_in_segment.as_nanos() {
            self.finish_segment(EndReason::SourceGap, out);
            for t in &mut self.tracks {
                t.offset_ticks = 0;
            }
            return;
        }
        let end_ns = self
            .tracks
            .iter()
            .filter_map(|t| t.next_dts.map(|d| to_ns(d, t.spec.timescale)))
            .max()
            .unwrap_or(last_ns);
        let expected_ns = end_ns.max(last_ns.saturating_add(gap_ns));
        let ts = self.tracks[frame.track].spec.timescale;
        let shift_ns = expected_ns.saturating_sub(to_ns(frame.pts, ts));
        for t in &mut self.tracks {
            t.offset_ticks = to_ticks(shift_ns, t.spec.timescale);
        }
    }

    /// Returns whether the frame was stored.
    fn push_primary(&mut self, frame: Frame, pts: i64, out: &mut Vec<MuxEvent>) -> bool {
        let p = self.primary;
        let video = self.tracks[p].video;
        let key = !video || frame.keyframe;
        if self.tracks[p].need_keyframe {
            if !key {
                return false;
            }
            self.tracks[p].need_keyframe = false;
        }
        if key && video {
            if let Some(reason) = self.cut_reason(pts, frame.wall) {
                self.flush(Some(pts), out);
                self.finish_segment(reason, out);
            }
        }
        match &self.segment {
            None => {
                if !key {
                    return false;
                }
                self.start_segment(pts, frame.wall, out);
            }
            Some(seg) => {
                if self.tracks[p].pending_codec.is_some() {
                    return false;
                }
                let has_samples = self.tracks.iter().any(|t| !t.samples.is_empty());
                if has_samples {
                    let span_done = seg.fragment_start_pts.is_some_and(|start| {
                        to_ns(pts - start, self.tracks[p].spec.timescale) as u128
                            >= self.cfg.fragment_duration.as_nanos()
                    });
                    // Under B-frames a fragment may only end before a frame
                    // presented after everything already in it, so decode
                    // times stay increasing across fragments.
                    if (video && key) || (span_done && pts > seg.max_primary_pts) {
                        self.flush(Some(pts), out);
                    } else if frame.wall.0 >= seg.fragment_wall_deadline {
                        // Timestamps are not advancing (a camera that
                        // freezes them): the wall clock ends the fragment.
                        self.cut_by_wall_clock(pts, out);
                    }
                }
                // Without video, audio decides segment cuts by media time.
                if !video {
                    if let Some(reason) = self.cut_reason(pts, frame.wall) {
                        self.flush(Some(pts), out);
                        self.finish_segment(reason, out);
                        self.start_segment(pts, frame.wall, out);
                    }
                }
            }
        }
        let seg = self.segment.as_mut().expect("segment open");
        if seg.fragment_start_pts.is_none() {
            seg.fragment_start_pts = Some(pts);
            seg.fragment_wall_deadline = frame.wall.0.saturating_add(self.fragment_wall_limit_ns);
        }
        seg.max_primary_pts = seg.max_primary_pts.max(pts);
        self.store(p, frame, pts);
        true
    }

    fn push_secondary(&mut self, frame: Frame, pts: i64, out: &mut Vec<MuxEvent>) -> bool {
        if self.segment.is_none() || self.tracks[frame.track].pending_codec.is_some() {
            return false;
        }
        let t = &self.tracks[frame.track];
        // A stalled primary track must not let audio pile up unbounded.
        if let Some(first) = t.samples.first() {
            if to_ns(pts - first.pts, t.spec.timescale) as u128
                >= 2 * self.cfg.fragment_duration.as_nanos()
            {
                self.flush_holding_last_primary(out);
            }
        }
        self.store(frame.track, frame, pts);
        true
    }

    /// Sets the segment's time zero, once, from the samples pending: the
    /// earliest first decode time of any track.
    fn fix_origin(&mut self) {
        for t in self
            .tracks
            .iter_mut()
            .filter(|t| t.video && !t.samples.is_empty())
        {
            if t.decode_delay_ticks.is_none() {
                // Decode times are the sorted presentation times shifted
                // back by the deepest reordering seen: every composition
                // offset is then >= 0, which all players handle.
                let mut sorted: Vec<i64> = t.samples.iter().map(|s| s.pts).collect();
                sorted.sort_unstable();
                let delay = t
                    .samples
                    .iter()
                    .zip(&sorted)
                    .map(|(s, d)| d - s.pts)
                    .max()
                    .unwrap_or(0);
                t.decode_delay_ticks = Some(delay.max(0));
            }
        }
        let Some(seg) = self.segment.as_mut() else {
            return;
        };
        if seg.origin_ns.is_none() && self.tracks.iter().any(|t| !t.samples.is_empty()) {
            let origin = self
                .tracks
                .iter()
                .filter_map(|t| {
                    let first = if t.video {
                        t.samples
                            .iter()
                            .map(|s| s.pts)
                            .min()
                            .map(|p| p - t.decode_delay_ticks.unwrap_or(0))
                    } else {
                        t.samples.first().map(|s| s.pts)
                    };
                    first.map(|f| to_ns(f, t.spec.timescale))
                })
                .min()
                .expect("some track has samples");
            seg.origin_ns = Some(origin);
            for t in &mut self.tracks {
                t.origin_ticks = to_ticks(origin, t.spec.timescale);
            }
        }
    }

    /// Flushes all but the newest primary sample, whose duration is not
    /// known yet: guessing it could overlap the frame after it.
    fn flush_holding_last_primary(&mut self, out: &mut Vec<MuxEvent>) {
        let p = self.primary;
        // The held sample may be the segment's first: time zero must count it.
        self.fix_origin();
        match self.tracks[p].samples.pop() {
            Some(held) => {
                let pts = held.pts;
                self.flush(Some(pts), out);
                let wall = held.wall;
                let limit = self.fragment_wall_limit_ns;
                self.pending_bytes = held.data.len();
                self.tracks[p].samples.push(held);
                if let Some(seg) = &mut self.segment {
                    seg.fragment_start_pts = Some(pts);
                    seg.fragment_wall_deadline = wall.0.saturating_add(limit);
                }
            }
            None => self.flush(None, out),
        }
    }

    fn store(&mut self, ti: usize, frame: Frame, pts: i64) {
        let t = &mut self.tracks[ti];
        self.last_frame = Some((to_ns(pts, t.spec.timescale), frame.wall));
        self.pending_bytes += frame.data.len();
        t.samples.push(PendingSample {
            pts,
            sync: !t.video || frame.keyframe,
            data: frame.data,
            wall: frame.wall,
            duration_hint_ticks: frame.duration_hint,
        });
    }

    fn cut_reason(&self, pts: i64, wall: WallTime) -> Option<EndReason> {
        let seg = self.segment.as_ref()?;
        if let Some(r) = seg.end_request {
            return Some(r);
        }
        if self.tracks.iter().any(|t| t.pending_codec.is_some()) {
            return Some(EndReason::ParametersChanged);
        }
        if let Some(boundary) = seg.wall_boundary_ns {
            return (wall.0 >= boundary).then_some(EndReason::WallClockBoundary);
        }
        let elapsed = to_ns(pts, self.tracks[self.primary].spec.timescale) - seg.start_ns;
        let seg_ns = self.cfg.segment_duration.as_nanos();
        // Twice the duration by wall clock ends a segment whose timestamps
        // stopped advancing; a healthy stream always ends by media time first.
        let wall_elapsed = wall.0.saturating_sub(seg.wall_start.0).max(0) as u128;
        ((elapsed >= 0 && elapsed as u128 >= seg_ns) || wall_elapsed >= 2 * seg_ns)
            .then_some(EndReason::Duration)
    }

    fn start_segment(&mut self, pts: i64, wall: WallTime, out: &mut Vec<MuxEvent>) {
        for t in &mut self.tracks {
            if let Some(c) = t.pending_codec.take() {
                t.spec.codec = c;
            }
        }
        let specs: Vec<TrackSpec> = self.tracks.iter().map(|t| t.spec.clone()).collect();
        let init = write_init(&specs, self.edit_start_ns.is_some());
        let seg_ns = self
            .cfg
            .segment_duration
            .as_nanos()
            .clamp(1, i64::MAX as u128) as i64;
        let boundary = self
            .cfg
            .align_to_wall_clock
            .then(|| (wall.0.div_euclid(seg_ns) + 1).saturating_mul(seg_ns));
        let index = self.next_index;
        self.next_index += 1;
        self.stats.segments += 1;
        self.stats.bytes += init.bytes.len() as u64;
        self.segment = Some(Segment {
            index,
            wall_start: wall,
            start_ns: to_ns(pts, self.tracks[self.primary].spec.timescale),
            wall_boundary_ns: boundary,
            origin_ns: None,
            sequence: 0,
            bytes: init.bytes.len() as u64,
            fragments: 0,
            end_request: None,
            mvhd_duration_at: init.mvhd_duration_at,
            mehd_duration_at: init.mehd_duration_at,
            edits_at: init.edits_at,
            fragment_start_pts: None,
            fragment_wall_deadline: i64::MAX,
            max_primary_pts: i64::MIN,
        });
        out.push(MuxEvent::SegmentStarted(SegmentStart {
            index,
            init: Bytes::from(init.bytes),
            wall_start: wall,
            tracks: specs,
        }));
    }

    fn finish_segment(&mut self, reason: EndReason, out: &mut Vec<MuxEvent>) {
        let Some(seg) = self.segment.take() else {
            return;
        };
        // The segment's length is the primary track's span; the file's
        // (in `mvhd`) covers every track from the segment's time zero.
        let p = &self.tracks[self.primary];
        let duration_ns = match (p.segment_first_dts, p.next_dts) {
            (Some(first), Some(end)) => to_ns(end - first, p.spec.timescale).max(0),
            _ => 0,
        };
        let millis = self
            .tracks
            .iter()
            .filter_map(|t| {
                let end = t.next_dts?;
                let ticks = u64::try_from(end - t.origin_ticks).unwrap_or(0);
                Some(time::rescale(ticks, t.spec.timescale, MOVIE_TIMESCALE))
            })
            .max()
            .unwrap_or(0);
        let mut header_patches = vec![
            HeaderPatch::u64(seg.mvhd_duration_at as u64, millis),
            HeaderPatch::u64(seg.mehd_duration_at as u64, millis),
        ];
        if let Some(skip) = self.edit_start_ns {
            // Presentation starts at the first keyframe + skip; on each
            // track's media timeline that is counted from the segment's
            // time zero (where decode times start).
            let start_ns = (seg.start_ns + skip - seg.origin_ns.unwrap_or(seg.start_ns)).max(0);
            let start_ms = time::rescale(start_ns as u64, 1_000_000_000, MOVIE_TIMESCALE);
            for (t, (duration_at, media_time_at)) in self.tracks.iter().zip(&seg.edits_at) {
                let media_time = to_ticks(start_ns, t.spec.timescale).max(0) as u64;
                let end_ms = t.next_dts.map_or(0, |end| {
                    let ticks = u64::try_from(end - t.origin_ticks).unwrap_or(0);
                    time::rescale(ticks, t.spec.timescale, MOVIE_TIMESCALE)
                });
                header_patches.push(HeaderPatch::u64(
                    *duration_at as u64,
                    end_ms.saturating_sub(start_ms),
                ));
                header_patches.push(HeaderPatch::u64(*media_time_at as u64, media_time));
            }
            // The movie lasts as long as it is presented.
            header_patches[0] =
                HeaderPatch::u64(seg.mvhd_duration_at as u64, millis.saturating_sub(start_ms));
        }
        let samples = self
            .tracks
            .iter_mut()
            .map(|t| {
                t.next_dts = None;
                t.decode_delay_ticks = None;
                t.segment_first_dts = None;
                t.samples.clear();
                std::mem::take(&mut t.segment_samples)
            })
            .collect();
        self.pending_bytes = 0;
        out.push(MuxEvent::SegmentFinished(SegmentEnd {
            index: seg.index,
            reason,
            duration_ns,
            wall_start: seg.wall_start,
            wall_end: WallTime(seg.wall_start.0.saturating_add(duration_ns)),
            samples,
            bytes: seg.bytes,
            fragments: seg.fragments,
            header_patches,
        }));
    }

    /// Emits everything pending as one fragment. `next_primary` is the
    /// timestamp of the primary frame that follows, when known: it gives the
    /// last sample its exact duration.
    fn flush(&mut self, next_primary: Option<i64>, out: &mut Vec<MuxEvent>) {
        if self.segment.is_none() {
            for t in &mut self.tracks {
                t.samples.clear();
            }
            self.pending_bytes = 0;
            return;
        }
        if self.tracks.iter().all(|t| t.samples.is_empty()) {
            return;
        }
        self.fix_origin();
        let seg = self.segment.as_mut().expect("checked above");
        let max_jump = self.cfg.max_timestamp_jump;
        let mut tables: Vec<(usize, Vec<SampleEntry>, u64, Option<u32>)> =
            Vec::with_capacity(self.tracks.len());
        let mut reference: Option<(usize, ProducerReference, u64, i64, WallTime)> = None;
        let mut payloads = Vec::new();
        for (ti, t) in self.tracks.iter_mut().enumerate() {
            if t.samples.is_empty() {
                continue;
            }
            let n = t.samples.len();
            let lower = t.next_dts.unwrap_or(t.origin_ticks).max(t.origin_ticks);
            if t.video {
                // A track that lands before what is already written (its
                // clock disagrees with the others after a reconnect) is
                // moved forward whole: clamping single decode times would
                // scramble presentation order.
                // Saturating: timestamps come from the camera, and a
                // hostile one can put them anywhere in i64.
                let first = t
                    .samples
                    .iter()
                    .map(|s| s.pts)
                    .min()
                    .unwrap_or(lower)
                    .saturating_sub(t.decode_delay_ticks.unwrap_or(0));
                if first < lower {
                    let delta = lower.saturating_sub(first);
                    // Kept within MAX_TIMESTAMP like every placed time,
                    // so later arithmetic has room.
                    let moved = |p: i64| p.saturating_add(delta).min(MAX_TIMESTAMP);
                    for s in &mut t.samples {
                        s.pts = moved(s.pts);
                    }
                    t.offset_ticks = t.offset_ticks.saturating_add(delta);
                    t.last_pts = t.last_pts.map(moved);
                    self.stats.discontinuities += 1;
                }
            }
            let mut dts: Vec<i64> = t.samples.iter().map(|s| s.pts).collect();
            if t.video {
                dts.sort_unstable();
                let delay = t.decode_delay_ticks.unwrap_or(0);
                for d in dts.iter_mut() {
                    *d = d.saturating_sub(delay);
                }
            }
            let pcm = pcm_sample_size(&t.spec.codec);
            if let Some(size) = pcm {
                // PCM time is its byte count: within a fragment samples
                // are contiguous (a lost packet shortens the fragment's
                // audio; the next fragment's tfdt puts it back in place).
                let mut d = dts[0].max(lower);
                for (slot, s) in dts.iter_mut().zip(&t.samples) {
                    *slot = d;
                    d = d.saturating_add((s.data.len() as u32 / size).max(1) as i64);
                }
            } else {
                let mut prev = lower.saturating_sub(1);
                for d in dts.iter_mut() {
                    *d = (*d).max(prev.saturating_add(1));
                    prev = *d;
                }
            }
            if n >= 2 && t.video {
                let mut diffs: Vec<i64> =
                    dts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
                let mid = diffs.len() / 2;
                let median = *diffs.select_nth_unstable(mid).1;
                t.typical_duration_ticks = u32::try_from(median).unwrap_or(u32::MAX).max(1);
            }
            let last = dts[n - 1];
            let guess = last.saturating_add(i64::from(
                t.samples[n - 1]
                    .duration_hint_ticks
                    .unwrap_or(t.typical_duration_ticks),
            ));
            // The next frame's timestamp gives the exact end, unless frames
            // are reordered: then the next decode time is not known yet.
            let end = match (pcm, next_primary) {
                (Some(size), _) => {
                    last.saturating_add((t.samples[n - 1].data.len() as u32 / size).max(1) as i64)
                }
                (None, Some(next)) if ti == self.primary && !t.reordered => next,
                _ => guess,
            };
            let end = end.clamp(
                last.saturating_add(1),
                last.saturating_add(time::duration_to_ticks(max_jump, t.spec.timescale).max(1)),
            );
            let mut entries = Vec::with_capacity(n);
            for (i, s) in t.samples.iter().enumerate() {
                let next = if i + 1 < n { dts[i + 1] } else { end };
                entries.push(SampleEntry {
                    duration_ticks: u32::try_from(next.saturating_sub(dts[i])).unwrap_or(u32::MAX),
                    size: s.data.len() as u32,
                    sync: s.sync,
                    composition_offset_ticks: (s.pts.saturating_sub(dts[i]))
                        .clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                        as i32,
                });
            }
            let base = (dts[0] - t.origin_ticks) as u64;
            t.segment_first_dts.get_or_insert(dts[0]);
            if reference.is_none() || ti == self.primary {
                let first = t.samples.iter().min_by_key(|s| s.pts).expect("non-empty");
                reference = Some((
                    ti,
                    ProducerReference {
                        track_id: ti as u32 + 1,
                        ntp: first.wall.to_ntp(),
                        media_time_ticks: (first.pts - t.origin_ticks).max(0) as u64,
                    },
                    base,
                    end - dts[0],
                    first.wall,
                ));
            }
            t.next_dts = Some(end);
            t.segment_samples += n as u64;
            payloads.extend(t.samples.drain(..).map(|s| s.data));
            tables.push((ti, entries, base, pcm));
        }
        let (ref_track, prft, ref_base, ref_span, ref_wall) =
            reference.expect("some track has samples");
        let runs: Vec<TrackRun<'_>> = tables
            .iter()
            .map(|(ti, entries, base, pcm)| TrackRun {
                track_id: *ti as u32 + 1,
                video: self.tracks[*ti].video,
                base_decode_time_ticks: *base,
                samples: entries,
                pcm_sample_size: *pcm,
            })
            .collect();
        seg.sequence += 1;
        let header = write_fragment_header(seg.sequence, &prft, &runs);
        let mut samples = vec![0u32; self.tracks.len()];
        for (ti, entries, ..) in &tables {
            samples[*ti] = entries.len() as u32;
        }
        let rt = &self.tracks[ref_track];
        let duration_ns = to_ns(ref_span, rt.spec.timescale);
        let starts_with_keyframe = tables
            .iter()
            .find(|(ti, ..)| *ti == self.primary)
            .is_some_and(|(_, e, ..)| e[0].sync);
        let bytes = FragmentBytes {
            header: Bytes::from(header),
            payloads,
        };
        let len = bytes.len() as u64;
        seg.bytes += len;
        seg.fragments += 1;
        seg.fragment_start_pts = None;
        seg.fragment_wall_deadline = i64::MAX;
        self.pending_bytes = 0;
        self.warned_too_large = false;
        self.stats.fragments += 1;
        self.stats.bytes += len;
        out.push(MuxEvent::Fragment(Fragment {
            segment: seg.index,
            sequence: seg.sequence,
            bytes,
            start_ns: to_ns(ref_base as i64, rt.spec.timescale),
            duration_ns,
            wall_start: ref_wall,
            wall_end: WallTime(ref_wall.0.saturating_add(duration_ns)),
            samples,
            starts_with_keyframe,
        }));
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mux::{CodecConfig, Frame, MuxEvent, TrackSpec, WallTime};

    /// A 320x240 H.264 track and a mono AAC track at `rate` Hz.
    fn h264_aac_tracks(rate: u32, asc: [u8; 2]) -> Vec<TrackSpec> {
        vec![
            TrackSpec {
                timescale: 90_000,
                codec: CodecConfig::H264 {
                    avcc: Bytes::from_static(&[
                        1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
                    ]),
                    width: 320,
                    height: 240,
                },
            },
            TrackSpec {
                timescale: rate,
                codec: CodecConfig::Aac {
                    asc: Bytes::copy_from_slice(&asc),
                    sample_rate: rate,
                    channels: 1,
                },
            },
        ]
    }

    /// Regression (found by the e2e timestamp-jump test): video and audio
    /// jumping together gave two cuts, the second one GOP after the first.
    #[test]
    fn a_jump_of_every_track_cuts_once() {
        let tracks = h264_aac_tracks(16_000, [0x14, 0x08]);
        let cfg = MuxerConfig {
            segment_duration: std::time::Duration::from_secs(60),
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(tracks, cfg).unwrap();
        let mut out = Vec::new();
        let hour_v = 3600 * 90_000;
        let hour_a = 3600 * 16_000;
        let (mut v, mut a) = (0i64, 0i64);
        // 8 s at 25 fps with a keyframe every second; AAC frames interleaved
        // by time; both clocks jump an hour forward at 3 s (video first).
        for i in 0..200i64 {
            let jv = if i >= 75 { hour_v } else { 0 };
            let wall = WallTime(1_700_000_000_000_000_000 + i * 40_000_000);
            m.push(
                Frame {
                    track: 0,
                    pts: v + jv,
                    wall,
                    keyframe: i % 25 == 0,
                    duration_hint: None,
                    data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                },
                &mut out,
            )
            .unwrap();
            v += 3600;
            while a * 90_000 / 16_000 <= v {
                let ja = if a * 90_000 / 16_000 >= 75 * 3600 {
                    hour_a
                } else {
                    0
                };
                m.push(
                    Frame {
                        track: 1,
                        pts: a + ja,
                        wall,
                        keyframe: true,
                        duration_hint: Some(1024),
                        data: Bytes::from_static(&[0x21, 0x10]),
                    },
                    &mut out,
                )
                .unwrap();
                a += 1024;
            }
        }
        m.finish(EndReason::Finished, &mut out);
        let reasons: Vec<EndReason> = out
            .iter()
            .filter_map(|e| match e {
                MuxEvent::SegmentFinished(e) => Some(e.reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, [EndReason::Discontinuity, EndReason::Finished]);
    }

    /// The `tfdt` of every track in a fragment, by track id.
    fn decode_times(fragment: &[u8]) -> Vec<(u32, u64)> {
        use crate::mp4::{self, find_child, Boxes, FieldReader};
        let moof = find_child(fragment, mp4::MOOF).unwrap();
        Boxes::new(moof.body)
            .map(Result::unwrap)
            .filter(|b| b.kind == mp4::TRAF)
            .map(|traf| {
                let tfhd = find_child(traf.body, mp4::TFHD).unwrap();
                let mut r = FieldReader::new(tfhd.body);
                r.version_flags().unwrap();
                let id = r.u32().unwrap();
                let tfdt = find_child(traf.body, mp4::TFDT).unwrap();
                let mut r = FieldReader::new(tfdt.body);
                let (version, _) = r.version_flags().unwrap();
                (id, r.versioned_u64(version).unwrap().0)
            })
            .collect()
    }

    /// Audio that starts before the first keyframe defines the segment's
    /// time zero, at a time that is no whole number of nanoseconds: its
    /// first `tfdt` must still be exactly 0 (ticks -> ns -> ticks round
    /// trip), and the video's the exact offset between them.
    #[test]
    fn audio_defining_time_zero_starts_at_tfdt_zero() {
        let tracks = h264_aac_tracks(48_000, [0x11, 0x90]);
        let mut m = Muxer::new(tracks, MuxerConfig::default()).unwrap();
        let mut out = Vec::new();
        let wall = WallTime(1_700_000_000_000_000_000);
        let video = |pts: i64, keyframe| Frame {
            track: 0,
            pts,
            wall,
            keyframe,
            duration_hint: None,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        };
        let audio = |pts: i64| Frame {
            track: 1,
            pts,
            wall,
            keyframe: true,
            duration_hint: Some(1024),
            data: Bytes::from_static(&[0x21, 0x10]),
        };
        // Video at 1 s; audio from 46 * 1024 ticks (981 333 333.3 ns).
        m.push(video(90_000, true), &mut out).unwrap();
        m.push(audio(46 * 1024), &mut out).unwrap();
        m.push(audio(47 * 1024), &mut out).unwrap();
        m.push(video(93_600, false), &mut out).unwrap();
        m.finish(EndReason::Finished, &mut out);
        let fragment = out
            .iter()
            .find_map(|e| match e {
                MuxEvent::Fragment(f) => Some(f.bytes.to_vec()),
                _ => None,
            })
            .unwrap();
        // 90 000 - 88 320 (46 * 1024 ticks at 48 kHz in 90 kHz ticks).
        assert_eq!(decode_times(&fragment), vec![(1, 1680), (2, 0)]);
    }
}

#[cfg(test)]
mod limit_tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::mux::{CodecConfig, Frame, MuxEvent, TrackSpec, WallTime};

    const T0: i64 = 1_700_000_000_000_000_000;

    fn video_track() -> Vec<TrackSpec> {
        vec![TrackSpec {
            timescale: 90_000,
            codec: CodecConfig::H264 {
                avcc: Bytes::from_static(&[
                    1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
                ]),
                width: 320,
                height: 240,
            },
        }]
    }

    fn frame(pts: i64, wall_ms: i64, keyframe: bool, len: usize) -> Frame {
        Frame {
            track: 0,
            pts,
            wall: WallTime(T0 + wall_ms * 1_000_000),
            keyframe,
            duration_hint: None,
            data: Bytes::from(vec![0u8; len]),
        }
    }

    fn count(out: &[MuxEvent], f: impl Fn(&MuxEvent) -> bool) -> usize {
        out.iter().filter(|e| f(e)).count()
    }

    /// A camera that stamps every frame with the same time: fragments keep
    /// coming (by wall clock), held memory stays bounded, and segments end
    /// by wall clock at keyframes.
    #[test]
    fn frozen_timestamps_still_cut_fragments_and_segments() {
        let cfg = MuxerConfig {
            segment_duration: Duration::from_secs(60),
            max_fragment_bytes: 64 * 1024,
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(video_track(), cfg).unwrap();
        let mut out = Vec::new();
        let mut max_pending = 0;
        // 10 000 frames at 25 fps of wall clock (400 s), keyframe every 2 s.
        for i in 0..10_000i64 {
            m.push(frame(0, i * 40, i % 50 == 0, 1000), &mut out)
                .unwrap();
            max_pending = max_pending.max(m.pending_bytes);
        }
        m.finish(EndReason::Finished, &mut out);
        let fragments = count(&out, |e| matches!(e, MuxEvent::Fragment(_)));
        let segments = count(&out, |e| matches!(e, MuxEvent::SegmentFinished(_)));
        // One fragment per keyframe (every 2 s) at least.
        assert!(fragments >= 200, "{fragments} fragments");
        // 400 s of wall clock at 60 s segments, cut at 120 s by wall clock.
        assert!(segments >= 3, "{segments} segments");
        assert!(max_pending <= 64 * 1024, "held {max_pending} bytes");
        assert_eq!(m.stats().frames_skipped, 0);
    }

    /// Frozen timestamps and a single keyframe: without keyframes to cut
    /// at, the wall clock and the byte cap end fragments.
    #[test]
    fn frozen_timestamps_without_keyframes_hold_bounded_bytes() {
        let cfg = MuxerConfig {
            max_fragment_bytes: 256 * 1024,
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(video_track(), cfg).unwrap();
        let mut out = Vec::new();
        let mut max_pending = 0;
        for i in 0..10_000i64 {
            m.push(frame(0, i * 40, i == 0, 1000), &mut out).unwrap();
            max_pending = max_pending.max(m.pending_bytes);
        }
        let fragments = count(&out, |e| matches!(e, MuxEvent::Fragment(_)));
        // 400 s by wall clock, 2 s per fragment at most.
        assert!(fragments >= 190, "{fragments} fragments");
        assert!(max_pending <= 256 * 1024, "held {max_pending} bytes");
        assert!(m.stats().fragments_cut_by_limit > 0);

        // Fast frames with frozen time too: the byte cap alone cuts.
        let mut m = Muxer::new(
            video_track(),
            MuxerConfig {
                max_fragment_bytes: 256 * 1024,
                ..MuxerConfig::default()
            },
        )
        .unwrap();
        let mut out = Vec::new();
        for i in 0..10_000i64 {
            m.push(frame(0, 0, i == 0, 1000), &mut out).unwrap();
            assert!(m.pending_bytes <= 256 * 1024);
        }
        assert!(count(&out, |e| matches!(e, MuxEvent::Fragment(_))) >= 30);
    }

    /// A stream that never sends a keyframe stores, and holds, nothing.
    #[test]
    fn never_a_keyframe_holds_nothing() {
        let mut m = Muxer::new(video_track(), MuxerConfig::default()).unwrap();
        let mut out = Vec::new();
        for i in 0..10_000i64 {
            m.push(frame(i * 3600, i * 40, false, 1000), &mut out)
                .unwrap();
            assert_eq!(m.pending_bytes, 0);
        }
        assert!(out.is_empty());
        assert_eq!(m.stats().frames_skipped, 10_000);
    }

    /// A frame over the limit is dropped and counted; the video resumes at
    /// the next keyframe.
    #[test]
    fn oversized_frame_is_dropped_and_counted() {
        let cfg = MuxerConfig {
            max_frame_bytes: 10_000,
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(video_track(), cfg).unwrap();
        let mut out = Vec::new();
        for i in 0..100i64 {
            let len = if i == 30 { 10_001 } else { 100 };
            m.push(frame(i * 3600, i * 40, i % 25 == 0, len), &mut out)
                .unwrap();
        }
        m.finish(EndReason::Finished, &mut out);
        assert_eq!(m.stats().frames_too_large, 1);
        // Frames 31..49 depend on the dropped one: skipped until frame 50.
        assert_eq!(m.stats().frames_skipped, 19);
        let stored: u64 = out
            .iter()
            .filter_map(|e| match e {
                MuxEvent::SegmentFinished(s) => Some(s.samples[0]),
                _ => None,
            })
            .sum();
        assert_eq!(stored, 80);
    }
}
