//! Reading a fragmented file's track descriptions (`moov`) and sample
//! runs (`moof`): what the segment index and the export need.
//!
//! Like the rest of this module, every read is bounds-checked: the bytes
//! may come from a torn file or a hostile bucket.

use super::{find_child, Boxes, FieldReader, FourCc, Mp4Error};
use crate::mp4;

/// The most samples one `trun` may declare before it is refused: real
/// fragments hold a few hundred (G.711 a few tens of thousands), and a
/// garbage count must not make a reader allocate gigabytes.
const MAX_RUN_SAMPLES: u32 = 1 << 20;

/// One track of a `moov`, as the index and the export see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovieTrack {
    /// `tkhd` track id.
    pub id: u32,
    /// `mdhd` timescale (ticks per second).
    pub timescale: u32,
    /// `hdlr` handler type (`vide`, `soun`).
    pub handler: FourCc,
    /// Type of the first sample entry (`avc1`, `hvc1`, `mp4a`, `ulaw`, ...).
    pub entry: FourCc,
    /// Width and height from the visual sample entry (0 for audio).
    pub width: u16,
    /// See `width`.
    pub height: u16,
    /// Channel count from the audio sample entry (0 for video).
    pub channels: u16,
    /// Sampling rate from the audio sample entry, in Hz (0 for video).
    pub sample_rate: u32,
    /// The whole `stsd` box (header included), to copy into another file.
    pub stsd: Vec<u8>,
    /// `trex` defaults for samples whose `trun` omits a field.
    pub defaults: SampleDefaults,
}

impl MovieTrack {
    /// True for a video track.
    pub fn is_video(&self) -> bool {
        self.handler == FourCc(*b"vide")
    }

    /// The codec's short name (`h264`, `h265`, `aac`, `pcm_mulaw`,
    /// `pcm_alaw`), or the sample entry type for others.
    pub fn codec_name(&self) -> String {
        match &self.entry.0 {
            b"avc1" | b"avc3" => "h264".into(),
            b"hvc1" | b"hev1" => "h265".into(),
            b"mp4a" => "aac".into(),
            b"ulaw" => "pcm_mulaw".into(),
            b"alaw" => "pcm_alaw".into(),
            _ => self.entry.to_string(),
        }
    }
}

/// Per-sample values used when a fragment does not give them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleDefaults {
    /// Duration in ticks.
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// Sample flags.
    pub flags: u32,
}

/// Reads every track of a `moov` body, in file order.
pub fn parse_moov(moov: &[u8]) -> Result<Vec<MovieTrack>, Mp4Error> {
    let mut tracks = Vec::new();
    for b in Boxes::new(moov) {
        let b = b?;
        if b.kind == mp4::TRAK {
            tracks.push(parse_trak(b.body)?);
        }
    }
    if let Ok(mvex) = find_child(moov, mp4::MVEX) {
        for b in Boxes::new(mvex.body).map_while(Result::ok) {
            if b.kind != mp4::TREX {
                continue;
            }
            let mut r = FieldReader::new(b.body);
            r.version_flags()?;
            let id = r.u32()?;
            r.skip(4)?; // default_sample_description_index
            let d = SampleDefaults {
                duration: r.u32()?,
                size: r.u32()?,
                flags: r.u32()?,
            };
            if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
                t.defaults = d;
            }
        }
    }
    Ok(tracks)
}

fn parse_trak(trak: &[u8]) -> Result<MovieTrack, Mp4Error> {
    let tkhd = find_child(trak, mp4::TKHD)?;
    let mut r = FieldReader::new(tkhd.body);
    let (version, _) = r.version_flags()?;
    r.versioned_u64(version)?;
    r.versioned_u64(version)?;
    let id = r.u32()?;
    let mdia = find_child(trak, mp4::MDIA)?;
    let mdhd = find_child(mdia.body, mp4::MDHD)?;
    let mut r = FieldReader::new(mdhd.body);
    let (version, _) = r.version_flags()?;
    r.versioned_u64(version)?;
    r.versioned_u64(version)?;
    let timescale = r.u32()?;
    if timescale == 0 {
        return Err(Mp4Error::Missing { kind: mp4::MDHD });
    }
    let hdlr = find_child(mdia.body, mp4::HDLR)?;
    let mut r = FieldReader::new(hdlr.body);
    r.version_flags()?;
    r.skip(4)?;
    let handler = r.fourcc()?;
    // Without a sample description the track is still indexable (repair
    // and the index need only ids and timescales); the export refuses it.
    let stsd = find_child(mdia.body, mp4::MINF)
        .and_then(|minf| find_child(minf.body, mp4::STBL))
        .and_then(|stbl| find_child(stbl.body, mp4::STSD).map(|stsd| (stbl, stsd)))
        .ok();
    let mut t = MovieTrack {
        id,
        timescale,
        handler,
        entry: FourCc([0; 4]),
        width: 0,
        height: 0,
        channels: 0,
        sample_rate: 0,
        stsd: Vec::new(),
        defaults: SampleDefaults::default(),
    };
    let Some((stbl, stsd)) = stsd else {
        return Ok(t);
    };
    // The whole box: its 8-byte header precedes the body.
    t.stsd = stbl
        .body
        .get(stsd.body_offset.saturating_sub(8)..stsd.body_offset + stsd.body.len())
        .unwrap_or_default()
        .to_vec();
    let mut r = FieldReader::new(stsd.body);
    r.version_flags()?;
    r.u32()?; // entry count
    let entry = Boxes::new(&stsd.body[r.pos()..])
        .next()
        .ok_or(Mp4Error::Missing { kind: mp4::STSD })??;
    t.entry = entry.kind;
    let mut r = FieldReader::new(entry.body);
    r.skip(8)?; // reserved, data_reference_index
    if t.is_video() {
        r.skip(16)?;
        t.width = r.u16()?;
        t.height = r.u16()?;
    } else if handler == FourCc(*b"soun") {
        r.skip(8)?;
        t.channels = r.u16()?;
        r.skip(6)?; // sample size, pre_defined, reserved
        t.sample_rate = r.u32()? >> 16;
    }
    Ok(t)
}

/// One sample of a track run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RunSample {
    /// Duration in ticks.
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// Sample flags ([`is_sync`](Self::is_sync) reads them).
    pub flags: u32,
    /// Presentation minus decode time, in ticks.
    pub composition_offset: i32,
}

impl RunSample {
    /// True if the sample is a sync sample (keyframe).
    pub fn is_sync(&self) -> bool {
        // sample_is_non_sync_sample is bit 16.
        self.flags & 0x0001_0000 == 0
    }
}

/// The samples of one track in one `moof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackRun {
    /// `tfhd` track id.
    pub track_id: u32,
    /// `tfdt` decode time of the first sample, in ticks.
    pub base_decode_time: u64,
    /// Where the first sample's bytes start, from the start of the `moof`
    /// box (camrec writes `default-base-is-moof`).
    pub data_offset: i64,
    /// The samples, in decode order; their bytes are contiguous.
    pub samples: Vec<RunSample>,
}

impl TrackRun {
    /// Sum of the sample durations, in ticks.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }

    /// Sum of the sample sizes, in bytes.
    pub fn bytes(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }
}

/// Reads the track runs of a `moof` body. `tracks` supplies the `trex`
/// defaults. Several `trun`s of one `traf` are merged into one run (camrec
/// writes one per track).
pub fn parse_moof(moof: &[u8], tracks: &[MovieTrack]) -> Result<Vec<TrackRun>, Mp4Error> {
    parse_moof_with(moof, |id| {
        tracks.iter().find(|t| t.id == id).map(|t| t.defaults)
    })
}

/// [`parse_moof`] with the `trex` defaults of each track id from
/// `defaults` (`None`: the track has no `trex`). A run whose samples need a
/// default duration that neither `tfhd` nor `trex` gives is an error.
pub fn parse_moof_with(
    moof: &[u8],
    defaults: impl Fn(u32) -> Option<SampleDefaults>,
) -> Result<Vec<TrackRun>, Mp4Error> {
    let mut runs = Vec::new();
    for traf in Boxes::new(moof) {
        let traf = traf?;
        if traf.kind != mp4::TRAF {
            continue;
        }
        let tfhd = find_child(traf.body, mp4::TFHD)?;
        let mut r = FieldReader::new(tfhd.body);
        let (_, flags) = r.version_flags()?;
        let track_id = r.u32()?;
        let trex = defaults(track_id);
        let mut has_duration = trex.is_some();
        let mut d = trex.unwrap_or_default();
        let mut base = 0i64;
        if flags & mp4::TFHD_BASE_DATA_OFFSET != 0 {
            // Relative to the file, not the `moof`: not what camrec writes,
            // and not representable here.
            base = i64::try_from(r.u64()?).unwrap_or(i64::MAX);
        }
        if flags & mp4::TFHD_SAMPLE_DESCRIPTION_INDEX != 0 {
            r.skip(4)?;
        }
        if flags & mp4::TFHD_DEFAULT_DURATION != 0 {
            d.duration = r.u32()?;
            has_duration = true;
        }
        if flags & mp4::TFHD_DEFAULT_SIZE != 0 {
            d.size = r.u32()?;
        }
        if flags & mp4::TFHD_DEFAULT_FLAGS != 0 {
            d.flags = r.u32()?;
        }
        let tfdt = find_child(traf.body, mp4::TFDT)?;
        let mut r = FieldReader::new(tfdt.body);
        let (version, _) = r.version_flags()?;
        let (base_decode_time, _) = r.versioned_u64(version)?;
        let mut run = TrackRun {
            track_id,
            base_decode_time,
            data_offset: base,
            samples: Vec::new(),
        };
        let mut first = true;
        for trun in Boxes::new(traf.body).map_while(Result::ok) {
            if trun.kind != mp4::TRUN {
                continue;
            }
            let mut r = FieldReader::new(trun.body);
            let (_, flags) = r.version_flags()?;
            let count = r.u32()?;
            let offset = if flags & mp4::TRUN_DATA_OFFSET != 0 {
                Some(r.i32()?)
            } else {
                None
            };
            let first_flags = if flags & mp4::TRUN_FIRST_SAMPLE_FLAGS != 0 {
                Some(r.u32()?)
            } else {
                None
            };
            let per_sample = 4 * (flags & mp4::TRUN_PER_SAMPLE_FIELDS).count_ones() as usize;
            let needed = (count as usize).saturating_mul(per_sample);
            if count > MAX_RUN_SAMPLES || needed > r.remaining() {
                return Err(Mp4Error::Truncated {
                    offset: r.pos() as u64,
                    needed: needed as u64,
                    available: r.remaining() as u64,
                });
            }
            if flags & mp4::TRUN_SAMPLE_DURATION == 0 && !has_duration && count > 0 {
                return Err(Mp4Error::Missing { kind: mp4::TREX });
            }
            if first {
                run.data_offset = base.saturating_add(i64::from(offset.unwrap_or(0)));
                first = false;
            }
            run.samples.reserve(count as usize);
            for i in 0..count {
                let mut s = RunSample {
                    duration: d.duration,
                    size: d.size,
                    flags: d.flags,
                    composition_offset: 0,
                };
                if flags & mp4::TRUN_SAMPLE_DURATION != 0 {
                    s.duration = r.u32()?;
                }
                if flags & mp4::TRUN_SAMPLE_SIZE != 0 {
                    s.size = r.u32()?;
                }
                if flags & mp4::TRUN_SAMPLE_FLAGS != 0 {
                    s.flags = r.u32()?;
                } else if let (0, Some(f)) = (i, first_flags) {
                    s.flags = f;
                }
                if flags & mp4::TRUN_SAMPLE_COMPOSITION_OFFSET != 0 {
                    // Version 0 stores it unsigned; camrec never writes
                    // values above i32::MAX, so one reading serves both.
                    s.composition_offset = r.i32()?;
                }
                run.samples.push(s);
            }
        }
        runs.push(run);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_moov(&body);
            let _ = parse_moof(&body, &[]);
            let mut traf = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            traf.extend_from_slice(b"traf");
            traf.extend_from_slice(&body);
            let _ = parse_moof(&traf, &[]);
        }
    }
}
