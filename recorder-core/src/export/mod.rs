//! Export: one progressive ("faststart") MP4 of a wall-clock range,
//! assembled from stored fragments without re-encoding. Sans-IO.
//!
//! Browsers read a `moov`-first MP4 with complete sample tables as a file
//! of known length they can seek in; fragmented MP4 read progressively
//! shows a growing duration. So the export writes `ftyp` + `moov` (every
//! sample's size, duration, composition offset and keyframe flag) +
//! the `mdat` header first, then copies the stored sample bytes as they
//! are, in byte ranges of the segments.
//!
//! Two passes, neither holding the media:
//!
//! 1. [`select`] picks, from the segments' indexes, the fragments the
//!    range needs (from the keyframe before `start` to the fragment holding
//!    `end`) and names the small reads that describe them: each segment's
//!    init and each fragment's `prft`+`moof`+`mdat` header.
//! 2. [`ExportPlan::new`] parses those bytes into sample tables and yields
//!    the header bytes and the list of [`Piece`]s (segment, byte range) to
//!    copy after them, in order.
//!
//! Playback begins exactly at `start`: media begins at the keyframe before
//! it, and an edit list (`elst`) per track skips to the frame shown at
//! `start`; audio uses the same instant, so it stays in sync.
//!
//! Across a gap between segments the export keeps wall-clock time: the
//! last frame (and audio frame) before the gap lasts until the first after
//! it, so the file's duration is the range asked for and a player shows
//! the last picture during the gap. Across a change of codec, resolution
//! or decoder configuration the export ends at the change (a single track
//! cannot switch decoders in every player) and says so in
//! [`ExportPlan::truncated`].

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;

use crate::index::SegmentIndex;
use crate::mp4::{
    self, find_child, parse_moof, parse_moov, BoxWriter, Boxes, MovieTrack, Mp4Error,
};
use crate::mux::init_segment::{write_hdlr, write_minf_head, UNITY_MATRIX};
use crate::time::{ns_to_ticks, ticks_to_ns, WallTime};

/// Timescale of `mvhd`, `tkhd` and the edit lists.
const MOVIE_TIMESCALE: u32 = 1000;

/// Why an export cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// `start` is not before `end`.
    #[error("export range is empty: start {start} is not before end {end}")]
    EmptyRange {
        /// Requested start.
        start: crate::time::Rfc3339,
        /// Requested end.
        end: crate::time::Rfc3339,
    },
    /// No segment covers any of the range.
    #[error("nothing was recorded between {start} and {end}")]
    NothingRecorded {
        /// Requested start.
        start: crate::time::Rfc3339,
        /// Requested end.
        end: crate::time::Rfc3339,
    },
    /// The indexes are not sorted by start time.
    #[error("segment indexes must be sorted by start time (segment {0} starts before the one before it)")]
    NotSorted(usize),
    /// The bytes given do not match the reads [`select`] asked for.
    #[error("expected {expected} read results, got {got}")]
    ReadCount {
        /// Reads asked for.
        expected: usize,
        /// Results given.
        got: usize,
    },
    /// A segment's init or a fragment's header could not be parsed.
    #[error("segment {segment} ({what}) is unreadable: {source}")]
    Unreadable {
        /// Position of the segment in the list given.
        segment: usize,
        /// What was read (`init`, `fragment 12`).
        what: String,
        /// Why.
        #[source]
        source: Mp4Error,
    },
    /// A fragment's samples lie outside its `mdat`, or a track lacks its
    /// sample description.
    #[error("segment {segment} is inconsistent: {what}")]
    Inconsistent {
        /// Position of the segment in the list given.
        segment: usize,
        /// What is wrong.
        what: String,
    },
}

/// A read [`ExportPlan::new`] needs: bytes `range` of segment `segment`
/// (its position in the list given to [`select`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Position of the segment in the list.
    pub segment: usize,
    /// The byte range.
    pub range: Range<u64>,
}

/// Bytes to copy after the header: `range` of segment `segment`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Position of the segment in the list given to [`select`].
    pub segment: usize,
    /// The byte range within it.
    pub range: Range<u64>,
}

/// Where and why an export ends before the requested end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Where the exported media ends.
    pub at: WallTime,
    /// Why.
    pub reason: String,
}

#[derive(Clone, Debug)]
struct UsedSegment {
    segment: usize,
    fragments: Range<usize>,
}

/// The fragments an export needs and the reads that describe them.
#[derive(Clone, Debug)]
pub struct Selection {
    used: Vec<UsedSegment>,
    start: WallTime,
    end: WallTime,
    truncated: Option<Truncation>,
    reads: Vec<Read>,
}

impl Selection {
    /// The reads to make, in order; hand their bytes to
    /// [`ExportPlan::new`] in the same order.
    pub fn reads(&self) -> &[Read] {
        &self.reads
    }

    /// The start actually exported (the request's, or the first recorded
    /// instant after it).
    pub fn start(&self) -> WallTime {
        self.start
    }

    /// The end actually exported.
    pub fn end(&self) -> WallTime {
        self.end
    }
}

/// Picks what an export of `[start, end)` needs from `indexes` (sorted by
/// start, all of one camera).
pub fn select(
    indexes: &[&SegmentIndex],
    start: WallTime,
    end: WallTime,
) -> Result<Selection, ExportError> {
    if start >= end {
        return Err(ExportError::EmptyRange {
            start: crate::time::Rfc3339(start),
            end: crate::time::Rfc3339(end),
        });
    }
    for (i, w) in indexes.windows(2).enumerate() {
        if w[1].wall_start < w[0].wall_start {
            return Err(ExportError::NotSorted(i + 1));
        }
    }
    let overlapping: Vec<usize> = (0..indexes.len())
        .filter(|&i| {
            let x = indexes[i];
            x.wall_end > start && x.wall_start < end && !x.fragments.is_empty()
        })
        .collect();
    let Some(&first) = overlapping.first() else {
        return Err(ExportError::NothingRecorded {
            start: crate::time::Rfc3339(start),
            end: crate::time::Rfc3339(end),
        });
    };
    let start = start.max(indexes[first].wall_start);
    let mut used = Vec::new();
    let mut truncated = None;
    let mut real_end = start;
    for &i in &overlapping {
        let x = indexes[i];
        if i != first && !x.same_format(indexes[first]) {
            truncated = Some(Truncation {
                at: x.wall_start,
                reason: format!(
                    "the recording changes format at {} ({} to {}); the export ends there",
                    x.wall_start.to_rfc3339(),
                    describe(indexes[first]),
                    describe(x)
                ),
            });
            break;
        }
        let from = if i == first {
            let at = x.fragment_at(start).unwrap_or(0);
            x.keyframe_fragment_before(at).unwrap_or(0)
        } else {
            0
        };
        let to = if end < x.wall_end {
            x.fragment_at(WallTime(end.0 - 1))
                .map_or(x.fragments.len(), |f| f + 1)
        } else {
            x.fragments.len()
        };
        real_end = end.min(x.wall_end);
        used.push(UsedSegment {
            segment: i,
            fragments: from..to.max(from + 1),
        });
    }
    let mut reads = Vec::new();
    for u in &used {
        let x = indexes[u.segment];
        reads.push(Read {
            segment: u.segment,
            range: x.init.clone(),
        });
        for f in &x.fragments[u.fragments.clone()] {
            reads.push(Read {
                segment: u.segment,
                range: f.header_range(),
            });
        }
    }
    Ok(Selection {
        used,
        start,
        end: real_end.max(start),
        truncated,
        reads,
    })
}

fn describe(x: &SegmentIndex) -> String {
    let mut parts: Vec<String> = x.codecs().iter().map(|c| c.to_string()).collect();
    if let Some((w, h)) = x.resolution() {
        parts.push(format!("{w}x{h}"));
    }
    parts.join(" ")
}

/// The sample tables of one output track, kept run-length encoded where
/// the file's boxes are (PCM audio has thousands of equal samples a
/// second).
#[derive(Debug, Default)]
struct TrackTables {
    timescale: u32,
    samples: u32,
    /// `stts` runs: (samples, duration).
    stts: Vec<(u32, u32)>,
    /// `ctts` runs: (samples, composition offset).
    ctts: Vec<(u32, i32)>,
    /// Every sample's size, unless all are `uniform_size`.
    sizes: Vec<u32>,
    uniform_size: Option<u32>,
    /// 1-based numbers of sync samples, once a non-sync one was seen.
    sync: Vec<u32>,
    all_sync: bool,
    /// (offset from the start of the `mdat` payload, samples).
    chunks: Vec<(u64, u32)>,
    /// Decode time of the last sample, in export ticks.
    last_dts: Option<i64>,
    /// Export decode time of the next sample if nothing moves it.
    next_dts: i64,
    first_dts: Option<i64>,
    /// Presentation times of video samples (export ticks), to find the
    /// frame shown at `start`.
    pts: Vec<i64>,
}

fn push_run_length<T: PartialEq + Copy>(runs: &mut Vec<(u32, T)>, v: T) {
    match runs.last_mut() {
        Some((n, last)) if *last == v => *n += 1,
        _ => runs.push((1, v)),
    }
}

impl TrackTables {
    fn push_run(&mut self, base: i64, run: &mp4::TrackRun, chunk_offset: u64, video: bool) {
        if run.samples.is_empty() {
            return;
        }
        // Keep decode times increasing: a run that would start before the
        // last sample starts right after it.
        let base = match self.last_dts {
            Some(last) => base.max(last.saturating_add(1)),
            None => base.max(0),
        };
        if let Some(last) = self.last_dts {
            // The sample before a jump (a gap between segments) lasts until
            // the next one: wall-clock time is kept.
            let d = u32::try_from(base - last).unwrap_or(u32::MAX);
            match self.stts.last_mut() {
                Some((1, v)) => *v = d,
                Some((n, _)) => {
                    *n -= 1;
                    self.stts.push((1, d));
                }
                None => {}
            }
        }
        self.first_dts.get_or_insert(base);
        let mut dts = base;
        for s in &run.samples {
            self.samples += 1;
            push_run_length(&mut self.stts, s.duration);
            push_run_length(&mut self.ctts, s.composition_offset);
            match self.uniform_size {
                None if self.samples == 1 => self.uniform_size = Some(s.size),
                Some(u) if u == s.size => {}
                Some(u) => {
                    // The first different size: the table is needed.
                    self.sizes = vec![u; self.samples as usize - 1];
                    self.uniform_size = None;
                    self.sizes.push(s.size);
                }
                None => self.sizes.push(s.size),
            }
            if s.is_sync() {
                if !self.all_sync {
                    self.sync.push(self.samples);
                }
            } else if self.all_sync {
                self.all_sync = false;
                self.sync = (1..self.samples).collect();
            }
            if video {
                self.pts
                    .push(dts.saturating_add(i64::from(s.composition_offset)));
            }
            self.last_dts = Some(dts);
            dts = dts.saturating_add(i64::from(s.duration));
        }
        self.next_dts = dts;
        self.chunks.push((chunk_offset, run.samples.len() as u32));
    }

    fn media_duration(&self) -> u64 {
        let first = self.first_dts.unwrap_or(0);
        u64::try_from(self.next_dts.saturating_sub(first)).unwrap_or(0)
    }
}

/// A planned export: the header bytes and the pieces of stored segments to
/// copy after them.
#[derive(Debug)]
pub struct ExportPlan {
    header: Bytes,
    pieces: Vec<Piece>,
    total_len: u64,
    start: WallTime,
    end: WallTime,
    truncated: Option<Truncation>,
    video_frames: u64,
}

impl ExportPlan {
    /// Builds the plan from the bytes of `selection`'s reads (in order).
    pub fn new(
        indexes: &[&SegmentIndex],
        selection: &Selection,
        reads: &[Bytes],
    ) -> Result<ExportPlan, ExportError> {
        if reads.len() != selection.reads.len() {
            return Err(ExportError::ReadCount {
                expected: selection.reads.len(),
                got: reads.len(),
            });
        }
        let mut truncated = selection.truncated.clone();
        let mut end = selection.end;
        let mut next_read = reads.iter();
        let mut movie: Option<Vec<MovieTrack>> = None;
        let mut tables: Vec<TrackTables> = Vec::new();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut payload_len = 0u64;
        // Export time (ns) of the current segment's time zero.
        let mut offset_ns: i128 = 0;
        let mut prev: Option<(usize, i128)> = None; // (segment, its first primary dts in ns)
        let mut start_ns: i128 = 0;
        let mut video_frames = 0u64;
        for u in &selection.used {
            let x = indexes[u.segment];
            let init = next_read.next().expect("counted above");
            let tracks = find_child(init, mp4::MOOV)
                .and_then(|m| parse_moov(m.body))
                .map_err(|source| ExportError::Unreadable {
                    segment: u.segment,
                    what: "init".into(),
                    source,
                })?;
            match &movie {
                None => {
                    if let Some(t) = tracks.iter().find(|t| t.stsd.is_empty()) {
                        return Err(ExportError::Inconsistent {
                            segment: u.segment,
                            what: format!("track {} has no sample description", t.id),
                        });
                    }
                    tables = tracks
                        .iter()
                        .map(|t| TrackTables {
                            timescale: t.timescale,
                            all_sync: true,
                            ..TrackTables::default()
                        })
                        .collect();
                    movie = Some(tracks.clone());
                }
                Some(m) => {
                    let same = m.len() == tracks.len()
                        && m.iter().zip(&tracks).all(|(a, b)| {
                            a.stsd == b.stsd && a.timescale == b.timescale && a.id == b.id
                        });
                    if !same {
                        truncated = Some(Truncation {
                            at: x.wall_start,
                            reason: format!(
                                "the decoder configuration changes at {}; the export ends there",
                                x.wall_start.to_rfc3339()
                            ),
                        });
                        end = end.min(x.wall_start);
                        break;
                    }
                }
            }
            let m = movie.as_ref().expect("set above");
            let primary = x.primary_track();
            let ts = |ti: usize| m.get(ti).map_or(1, |t| t.timescale);
            let first_dts_ns = |seg: &SegmentIndex| {
                ticks_to_ns(
                    i128::from(
                        seg.fragments[0]
                            .decode_start
                            .get(primary)
                            .copied()
                            .unwrap_or(0),
                    ),
                    ts(primary),
                )
            };
            let this_first = first_dts_ns(x);
            offset_ns = match prev {
                None => {
                    // The earliest sample of the first fragment used is
                    // the export's time zero.
                    let f = &x.fragments[u.fragments.start];
                    let base = (0..m.len())
                        .filter(|&ti| f.samples.get(ti).is_some_and(|&n| n > 0))
                        .map(|ti| {
                            let d = f.decode_start.get(ti).copied().unwrap_or(0);
                            ticks_to_ns(i128::from(d), ts(ti))
                        })
                        .min()
                        .unwrap_or(0);
                    start_ns = -base + this_first + i128::from(selection.start.0)
                        - i128::from(x.wall_start.0);
                    -base
                }
                Some((p, p_first)) => {
                    let pw = indexes[p].wall_start.0;
                    offset_ns + p_first + i128::from(x.wall_start.0) - i128::from(pw) - this_first
                }
            };
            prev = Some((u.segment, this_first));
            for fi in u.fragments.clone() {
                let f = &x.fragments[fi];
                let header = next_read.next().expect("counted above");
                let what = || format!("fragment {fi}");
                let unreadable = |source| ExportError::Unreadable {
                    segment: u.segment,
                    what: what(),
                    source,
                };
                let moof = Boxes::new(header)
                    .map_while(Result::ok)
                    .find(|b| b.kind == mp4::MOOF)
                    .ok_or(Mp4Error::Missing { kind: mp4::MOOF })
                    .map_err(unreadable)?;
                let moof_start = (moof.body_offset as u64).saturating_sub(8);
                let runs = parse_moof(moof.body, m).map_err(unreadable)?;
                let payload = f.offset + u64::from(f.header_len)..f.offset + f.len;
                for run in &runs {
                    let Some(ti) = m.iter().position(|t| t.id == run.track_id) else {
                        continue;
                    };
                    let file_start =
                        i128::from(f.offset + moof_start) + i128::from(run.data_offset);
                    let rel = file_start - i128::from(payload.start);
                    if rel < 0
                        || rel + i128::from(run.bytes()) > i128::from(payload.end - payload.start)
                    {
                        return Err(ExportError::Inconsistent {
                            segment: u.segment,
                            what: format!(
                                "{}: samples of track {} lie outside its mdat",
                                what(),
                                run.track_id
                            ),
                        });
                    }
                    let base = i64::try_from(ns_to_ticks(offset_ns, ts(ti)))
                        .unwrap_or(0)
                        .saturating_add(i64::try_from(run.base_decode_time).unwrap_or(i64::MAX));
                    let video = m[ti].is_video();
                    if video && ti == primary {
                        video_frames += run.samples.len() as u64;
                    }
                    tables[ti].push_run(base, run, payload_len + rel as u64, video);
                }
                // Payloads of adjacent fragments are separated by their
                // headers, so each fragment is its own piece.
                pieces.push(Piece {
                    segment: u.segment,
                    range: payload.clone(),
                });
                payload_len += payload.end - payload.start;
            }
        }
        let m = movie.ok_or(ExportError::ReadCount {
            expected: selection.reads.len(),
            got: 0,
        })?;
        // The frame shown at `start`: the last one presented at or before it.
        let primary = m.iter().position(MovieTrack::is_video);
        let shown_ns = match primary {
            Some(v) => {
                let t = &tables[v];
                let target = i64::try_from(ns_to_ticks(start_ns, t.timescale)).unwrap_or(0);
                let best = t
                    .pts
                    .iter()
                    .copied()
                    .filter(|&p| p <= target)
                    .max()
                    .or_else(|| t.pts.iter().copied().min())
                    .unwrap_or(0);
                ticks_to_ns(i128::from(best), t.timescale)
            }
            None => start_ns,
        };
        // Index times may be anything a hostile file says: no i64 overflow.
        let edit_ns = (i128::from(end.0) - i128::from(selection.start.0)).max(0);
        let header = write_header(&m, &tables, shown_ns, edit_ns, payload_len);
        let total_len = header.len() as u64 + payload_len;
        Ok(ExportPlan {
            header: Bytes::from(header),
            pieces,
            total_len,
            start: selection.start,
            end,
            truncated,
            video_frames,
        })
    }

    /// `ftyp` + `moov` + the `mdat` header: the first bytes of the file.
    pub fn header_bytes(&self) -> &Bytes {
        &self.header
    }

    /// The byte ranges of stored segments that follow the header, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The exported file's length.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Where playback starts.
    pub fn start(&self) -> WallTime {
        self.start
    }

    /// Where playback ends.
    pub fn end(&self) -> WallTime {
        self.end
    }

    /// The playback duration (`end - start`).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(
            u64::try_from(i128::from(self.end.0) - i128::from(self.start.0)).unwrap_or(0),
        )
    }

    /// Set when the export ends before the requested end for a reason other
    /// than the recording ending (a format change).
    pub fn truncated(&self) -> Option<&Truncation> {
        self.truncated.as_ref()
    }

    /// Video frames in the file (from the keyframe before `start`).
    pub fn video_frames(&self) -> u64 {
        self.video_frames
    }
}

fn to_movie(ns: i128) -> u64 {
    u64::try_from(ns_to_ticks(ns, MOVIE_TIMESCALE)).unwrap_or(0)
}

fn write_header(
    movie: &[MovieTrack],
    tables: &[TrackTables],
    shown_ns: i128,
    edit_ns: i128,
    payload_len: u64,
) -> Vec<u8> {
    let mut ftyp = BoxWriter::default();
    ftyp.boxed(mp4::FTYP, |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        for b in [b"isom", b"iso2", b"avc1", b"mp41"] {
            w.bytes(b);
        }
    });
    // Chunk offsets depend on the `moov`'s length, which does not depend
    // on their values (co64): write once to measure, once for real.
    let moov_len = write_moov(movie, tables, shown_ns, edit_ns, 0).len();
    let base = (ftyp.pos() + moov_len + 16) as u64;
    let mut out = ftyp.into_inner();
    out.extend(write_moov(movie, tables, shown_ns, edit_ns, base));
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&mp4::MDAT.0);
    out.extend_from_slice(&(payload_len + 16).to_be_bytes());
    out
}

fn write_moov(
    movie: &[MovieTrack],
    tables: &[TrackTables],
    shown_ns: i128,
    edit_ns: i128,
    base: u64,
) -> Vec<u8> {
    let edit = to_movie(edit_ns);
    let mut w = BoxWriter::with_capacity(
        4096 + tables
            .iter()
            .map(|t| t.sizes.len() * 4 + (t.stts.len() + t.ctts.len() + t.chunks.len()) * 8)
            .sum::<usize>(),
    );
    w.boxed(mp4::MOOV, |w| {
        w.full(mp4::MVHD, 1, 0, |w| {
            w.u64(0);
            w.u64(0);
            w.u32(MOVIE_TIMESCALE);
            w.u64(edit);
            w.u32(0x0001_0000);
            w.u16(0x0100);
            w.zeros(10);
            for m in UNITY_MATRIX {
                w.u32(m);
            }
            w.zeros(24);
            w.u32(movie.len() as u32 + 1);
        });
        for (i, (t, tab)) in movie.iter().zip(tables).enumerate() {
            if tab.samples == 0 {
                continue;
            }
            write_trak(w, i as u32 + 1, t, tab, shown_ns, edit, base);
        }
    });
    w.into_inner()
}

fn write_trak(
    w: &mut BoxWriter,
    id: u32,
    t: &MovieTrack,
    tab: &TrackTables,
    shown_ns: i128,
    edit: u64,
    base: u64,
) {
    let video = t.is_video();
    w.boxed(mp4::TRAK, |w| {
        w.full(mp4::TKHD, 1, 3, |w| {
            w.u64(0);
            w.u64(0);
            w.u32(id);
            w.u32(0);
            w.u64(edit);
            w.zeros(8);
            w.u16(0);
            w.u16(0);
            w.u16(if video { 0 } else { 0x0100 });
            w.u16(0);
            for m in UNITY_MATRIX {
                w.u32(m);
            }
            w.u32(u32::from(t.width) << 16);
            w.u32(u32::from(t.height) << 16);
        });
        // The track's media time 0 is its first sample, at `first_dts` on
        // the export's timeline: the edit starts at the shown instant
        // relative to it, after an empty edit if the track starts later.
        let shown = i64::try_from(ns_to_ticks(shown_ns, tab.timescale)).unwrap_or(0);
        let media_time = shown - tab.first_dts.unwrap_or(0);
        let empty = if media_time < 0 {
            to_movie(ticks_to_ns(i128::from(-media_time), tab.timescale)).min(edit)
        } else {
            0
        };
        w.edit_list(empty, edit - empty, media_time.max(0) as u64);
        w.boxed(mp4::MDIA, |w| {
            w.full(mp4::MDHD, 1, 0, |w| {
                w.u64(0);
                w.u64(0);
                w.u32(tab.timescale);
                w.u64(tab.media_duration());
                w.u16(0x55c4);
                w.u16(0);
            });
            write_hdlr(w, video);
            w.boxed(mp4::MINF, |w| {
                write_minf_head(w, video);
                w.boxed(mp4::STBL, |w| write_stbl(w, t, tab, base));
            });
        });
    });
}

fn write_stbl(w: &mut BoxWriter, t: &MovieTrack, tab: &TrackTables, base: u64) {
    w.bytes(&t.stsd);
    w.full(mp4::STTS, 0, 0, |w| {
        w.u32(tab.stts.len() as u32);
        for (n, d) in &tab.stts {
            w.u32(*n);
            w.u32(*d);
        }
    });
    if tab.ctts.iter().any(|&(_, c)| c != 0) {
        let version = u8::from(tab.ctts.iter().any(|&(_, c)| c < 0));
        w.full(mp4::CTTS, version, 0, |w| {
            w.u32(tab.ctts.len() as u32);
            for (n, c) in &tab.ctts {
                w.u32(*n);
                w.i32(*c);
            }
        });
    }
    if !tab.all_sync {
        w.full(mp4::STSS, 0, 0, |w| {
            w.u32(tab.sync.len() as u32);
            for s in &tab.sync {
                w.u32(*s);
            }
        });
    }
    let stsc = run_length(tab.chunks.iter().map(|c| c.1));
    w.full(mp4::STSC, 0, 0, |w| {
        w.u32(stsc.len() as u32);
        let mut chunk = 1u32;
        for (n, per) in &stsc {
            w.u32(chunk);
            w.u32(*per);
            w.u32(1);
            chunk += n;
        }
    });
    w.full(mp4::STSZ, 0, 0, |w| {
        w.u32(tab.uniform_size.unwrap_or(0));
        w.u32(tab.samples);
        for s in &tab.sizes {
            w.u32(*s);
        }
    });
    w.full(mp4::CO64, 0, 0, |w| {
        w.u32(tab.chunks.len() as u32);
        for (off, _) in &tab.chunks {
            w.u64(base + off);
        }
    });
}

/// `(count, value)` runs of equal consecutive values.
fn run_length<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
