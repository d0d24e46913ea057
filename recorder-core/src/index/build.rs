//! Building an index: from the bytes a sink writes (at segment close), or
//! from a file that has none (after a crash, or written before indexes).
//!
//! Both paths parse the same boxes with the same code, so an index rebuilt
//! from a file equals the one written when it was recorded.

use std::io::{Read, Seek};
use std::time::Duration;

use super::{FragmentIndex, IndexError, SegmentIndex, TrackIndex};
use crate::mp4::{self, parse_moof, parse_moov, BoxHeader, Boxes, FieldReader, MovieTrack};
use crate::sink::repair::{read_body, top_box_at};
use crate::time::{ticks_to_ns, WallTime};

/// The largest `moov` or `moof` read when rebuilding (as repair's limit).
const MAX_META_BOX: u64 = 64 << 20;

/// Collects a segment's index while it is written.
///
/// Give it the init segment, then each fragment's header bytes (`prft` +
/// `moof` + `mdat` header) with the fragment's offset and length, in file
/// order; [`finish`](Self::finish) returns the index. Pure: no I/O.
#[derive(Debug)]
pub struct IndexBuilder {
    movie: Vec<MovieTrack>,
    index: SegmentIndex,
    primary: usize,
    /// Primary track's first decode time and end, in ticks.
    first_dts: Option<u64>,
    end_dts: u64,
}

impl IndexBuilder {
    /// Starts an index for `camera` whose file begins with `init` (`ftyp` +
    /// `moov`, and possibly more: only the boxes up to `moov` are read).
    pub fn new(camera: &str, init: &[u8]) -> Result<Self, IndexError> {
        let mut end = 0u64;
        let mut moov = None;
        for b in Boxes::new(init) {
            let b = match b {
                Ok(b) => b,
                Err(_) if moov.is_some() => break,
                Err(e) => return Err(e.into()),
            };
            end = (b.body_offset + b.body.len()) as u64;
            if b.kind == mp4::MOOV {
                moov = Some(b.body);
                break;
            }
        }
        let moov = moov.ok_or(mp4::Mp4Error::Missing { kind: mp4::MOOV })?;
        Ok(Self::from_moov(camera, moov, end)?)
    }

    fn from_moov(camera: &str, moov: &[u8], init_end: u64) -> Result<Self, mp4::Mp4Error> {
        let movie = parse_moov(moov)?;
        let tracks: Vec<TrackIndex> = movie
            .iter()
            .map(|t| TrackIndex {
                codec: t.codec_name(),
                timescale: t.timescale,
                width: t.width,
                height: t.height,
                sample_rate: t.sample_rate,
                channels: t.channels,
            })
            .collect();
        let primary = tracks.iter().position(TrackIndex::is_video).unwrap_or(0);
        Ok(IndexBuilder {
            movie,
            primary,
            first_dts: None,
            end_dts: 0,
            index: SegmentIndex {
                camera: camera.to_owned(),
                wall_start: WallTime(0),
                wall_end: WallTime(0),
                duration: Duration::ZERO,
                tracks,
                init: 0..init_end,
                fragments: Vec::new(),
                video_frames: 0,
            },
        })
    }

    /// Fragments added so far.
    pub fn fragments(&self) -> usize {
        self.index.fragments.len()
    }

    /// Adds the fragment at `offset` of `len` bytes whose first bytes are
    /// `header` (`prft`? `moof` then the `mdat` header; more is ignored).
    pub fn push_fragment(
        &mut self,
        offset: u64,
        header: &[u8],
        len: u64,
    ) -> Result<(), IndexError> {
        let mut wall = None;
        let mut runs = None;
        let mut header_len = None;
        for b in Boxes::new(header) {
            let b = match b {
                Ok(b) => b,
                // The `mdat` is cut after its header.
                Err(mp4::Mp4Error::Overrun {
                    kind: mp4::MDAT,
                    offset,
                    ..
                }) => {
                    let rest = header.get(offset as usize..).unwrap_or_default();
                    let h = BoxHeader::parse(rest)?;
                    header_len = Some(offset + h.header_len);
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            match b.kind {
                mp4::PRFT => {
                    let mut r = FieldReader::new(b.body);
                    let (version, _) = r.version_flags()?;
                    r.u32()?; // reference track
                    let ntp = r.u64()?;
                    let _ = version;
                    wall = Some(WallTime::from_ntp(ntp));
                }
                mp4::MOOF => runs = Some(parse_moof(b.body, &self.movie)?),
                mp4::MDAT => {
                    header_len = Some((b.body_offset) as u64);
                    break;
                }
                _ => {}
            }
        }
        let runs = runs.ok_or(mp4::Mp4Error::Missing { kind: mp4::MOOF })?;
        let header_len = header_len.ok_or(mp4::Mp4Error::Missing { kind: mp4::MDAT })?;
        let n = self.movie.len();
        let mut decode_start = vec![0u64; n];
        let mut samples = vec![0u32; n];
        let mut primary_run = None;
        let mut first_run = None;
        for run in &runs {
            let Some(ti) = self.movie.iter().position(|t| t.id == run.track_id) else {
                continue;
            };
            decode_start[ti] = run.base_decode_time;
            samples[ti] = samples[ti].saturating_add(run.samples.len() as u32);
            if ti == self.primary {
                primary_run = Some(run);
            }
            first_run.get_or_insert((ti, run));
        }
        let (dur_ticks, ts) = match (primary_run, first_run) {
            (Some(r), _) => (r.duration(), self.movie[self.primary].timescale),
            (None, Some((ti, r))) => (r.duration(), self.movie[ti].timescale),
            (None, None) => (0, 1),
        };
        let duration = Duration::from_nanos(ticks_to_ns(i128::from(dur_ticks), ts).max(0) as u64);
        let keyframe = primary_run
            .and_then(|r| r.samples.first())
            .is_some_and(|s| s.is_sync());
        if let Some(r) = primary_run {
            self.first_dts.get_or_insert(r.base_decode_time);
            self.end_dts = self
                .end_dts
                .max(r.base_decode_time.saturating_add(r.duration()));
        }
        let wall_start = wall.unwrap_or_else(|| {
            self.index
                .fragments
                .last()
                .map_or(WallTime(0), |f| f.wall_end())
        });
        self.index.fragments.push(FragmentIndex {
            offset,
            len,
            header_len: u32::try_from(header_len).unwrap_or(u32::MAX),
            wall_start,
            duration,
            keyframe,
            decode_start,
            samples,
        });
        Ok(())
    }

    /// The index of what was added.
    pub fn finish(mut self) -> SegmentIndex {
        let i = &mut self.index;
        i.wall_start = i.fragments.first().map_or(WallTime(0), |f| f.wall_start);
        let span = self.end_dts.saturating_sub(self.first_dts.unwrap_or(0));
        let ts = self.movie.get(self.primary).map_or(1, |t| t.timescale);
        i.duration = Duration::from_nanos(ticks_to_ns(i128::from(span), ts).max(0) as u64);
        i.wall_end = i.wall_start.add_ns(i.duration.as_nanos() as i128);
        if let Some(v) = i.tracks.iter().position(TrackIndex::is_video) {
            i.video_frames = i.fragments.iter().map(|f| u64::from(f.samples[v])).sum();
        }
        self.index
    }
}

/// Builds the index of a segment file that has none by walking its boxes
/// (`file` of length `len`): reads `moov` and every `moof`, never the
/// media. Stops at the first torn or foreign box; a `moof` counts only with
/// the `mdat` right after it, as repair keeps it.
pub fn rebuild<R: Read + Seek>(
    file: &mut R,
    len: u64,
    camera: &str,
) -> Result<SegmentIndex, IndexError> {
    let mut builder: Option<IndexBuilder> = None;
    // Start of the current fragment (its `prft`, else its `moof`) and the
    // `moof` read, waiting for its `mdat`.
    let mut frag_start: Option<u64> = None;
    let mut pending: Option<(u64, Vec<u8>)> = None;
    let mut pos = 0u64;
    while let Some((h, end)) = top_box_at(file, pos, len)? {
        match h.kind {
            mp4::MOOV if builder.is_none() => {
                if h.size > MAX_META_BOX {
                    break;
                }
                let body = read_body(file, pos + h.header_len, h.size - h.header_len)?;
                builder = Some(IndexBuilder::from_moov(camera, &body, end)?);
            }
            mp4::PRFT => {
                frag_start = Some(pos);
                pending = None;
            }
            mp4::MOOF => {
                if builder.is_none() || h.size > MAX_META_BOX {
                    break;
                }
                let start = frag_start.take().unwrap_or(pos);
                // The header bytes from the fragment's start to the moof's end.
                let bytes = read_body(file, start, end - start)?;
                pending = Some((start, bytes));
            }
            mp4::MDAT => {
                let Some((start, mut header)) = pending.take() else {
                    break;
                };
                let b = builder.as_mut().expect("a moof needs the moov first");
                header.extend_from_slice(&read_body(file, pos, h.header_len)?);
                b.push_fragment(start, &header, end - start)?;
            }
            _ => {
                frag_start = None;
                pending = None;
            }
        }
        pos = end;
    }
    let b = builder.ok_or(mp4::Mp4Error::Missing { kind: mp4::MOOV })?;
    Ok(b.finish())
}
