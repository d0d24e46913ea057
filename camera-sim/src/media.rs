//! Loads an MP4 file into memory as RTP-ready samples.
//!
//! Clips used by tests are small, so every sample is read up front: the
//! streaming path then never touches the file and can't fail on I/O.

use std::io::Cursor;

use bytes::Bytes;

use crate::config::MediaSource;
use crate::error::{Result, SimError};

/// RTP clock rate for video, fixed by RFC 6184 / RFC 7798.
pub(crate) const VIDEO_CLOCK: u32 = 90_000;

/// Video codec and its out-of-band parameter sets.
#[derive(Debug, Clone)]
pub(crate) enum VideoCodec {
    H264 { sps: Bytes, pps: Bytes },
    H265 { vps: Bytes, sps: Bytes, pps: Bytes },
}

impl VideoCodec {
    /// Parameter-set NALs to send in-band before each keyframe.
    pub(crate) fn parameter_sets(&self) -> Vec<Bytes> {
        match self {
            VideoCodec::H264 { sps, pps } => vec![sps.clone(), pps.clone()],
            VideoCodec::H265 { vps, sps, pps } => vec![vps.clone(), sps.clone(), pps.clone()],
        }
    }
}

/// One access unit; times are in the track's RTP clock.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Decode time: when the sample is sent.
    pub dts: u64,
    /// Presentation time: the RTP timestamp it carries.
    pub pts: u64,
    pub is_sync: bool,
    /// Video: NAL units without length prefixes. Audio: one AAC AU.
    pub units: Vec<Bytes>,
}

/// A video track ready for packetization.
#[derive(Debug, Clone)]
pub(crate) struct VideoTrack {
    pub codec: VideoCodec,
    pub width: u16,
    pub height: u16,
    pub samples: Vec<Sample>,
}

/// An AAC track ready for packetization.
#[derive(Debug, Clone)]
pub(crate) struct AudioTrack {
    pub sample_rate: u32,
    pub channels: u8,
    /// Raw AudioSpecificConfig for the SDP `config=` parameter.
    pub asc: Vec<u8>,
    pub samples: Vec<Sample>,
}

/// A whole clip; `period` is the loop length shared by both tracks so that
/// audio and video never drift apart across loops.
#[derive(Debug, Clone)]
pub(crate) struct Clip {
    pub video: VideoTrack,
    pub audio: Option<AudioTrack>,
    /// Loop length in microseconds.
    pub period_us: u64,
}

impl Clip {
    /// Loop length expressed in a given clock.
    pub(crate) fn period_ticks(&self, clock: u32) -> u64 {
        (self.period_us * u64::from(clock)).div_ceil(1_000_000)
    }
}

/// Reads and validates a clip from its configured source.
pub(crate) fn load(source: &MediaSource) -> Result<Clip> {
    let bytes = match source {
        MediaSource::Bytes(b) => b.to_vec(),
        MediaSource::Path(p) => std::fs::read(p).map_err(|e| SimError::ReadFile {
            path: p.clone(),
            source: e,
        })?,
    };
    parse(bytes)
}

fn parse(mut bytes: Vec<u8>) -> Result<Clip> {
    // The mp4 crate only knows the `hev1` sample entry; `hvc1` has the same
    // layout, so relabel it. The hvcC record is parsed here because the crate
    // skips its contents.
    let boxes = find_sample_entries(&bytes);
    let mut hvcc = None;
    for (pos, end) in &boxes {
        let fourcc = &bytes[pos + 4..pos + 8];
        if fourcc == b"hvc1" || fourcc == b"hev1" {
            bytes[pos + 4..pos + 8].copy_from_slice(b"hev1");
            // Child boxes follow the 78-byte VisualSampleEntry fields.
            hvcc = bytes
                .get(pos + 8 + 78..*end)
                .and_then(|children| find_child(children, b"hvcC"))
                .map(parse_hvcc);
        }
    }
    let size = bytes.len() as u64;
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), size)?;
    if reader.is_fragmented() {
        return Err(SimError::UnsupportedMedia("fragmented MP4".into()));
    }
    let mut track_ids: Vec<u32> = reader.tracks().keys().copied().collect();
    track_ids.sort_unstable();

    let mut video = None;
    let mut audio = None;
    let mut period_us = 0u64;
    for id in track_ids {
        let track = &reader.tracks()[&id];
        let Ok(media_type) = track.media_type() else {
            continue;
        };
        let timescale = track.timescale();
        if timescale == 0 {
            return Err(SimError::UnsupportedMedia(format!(
                "track {id} timescale 0"
            )));
        }
        match media_type {
            mp4::MediaType::H264 if video.is_none() => {
                let avc1 = track.trak.mdia.minf.stbl.stsd.avc1.as_ref().expect("H264");
                let avcc = &avc1.avcc;
                let missing =
                    |what: &str| SimError::UnsupportedMedia(format!("avcC without {what}"));
                let codec = VideoCodec::H264 {
                    sps: avcc
                        .sequence_parameter_sets
                        .first()
                        .map(|n| Bytes::copy_from_slice(&n.bytes))
                        .ok_or_else(|| missing("SPS"))?,
                    pps: avcc
                        .picture_parameter_sets
                        .first()
                        .map(|n| Bytes::copy_from_slice(&n.bytes))
                        .ok_or_else(|| missing("PPS"))?,
                };
                let len_size = usize::from(avcc.length_size_minus_one & 3) + 1;
                let (width, height) = (avc1.width, avc1.height);
                let (track, end) =
                    read_video(&mut reader, id, timescale, codec, len_size, (width, height))?;
                period_us = period_us.max(end);
                video = Some(track);
            }
            mp4::MediaType::H265 if video.is_none() => {
                let (codec, len_size) = hvcc.take().ok_or_else(|| {
                    SimError::UnsupportedMedia("H.265 track without usable hvcC".into())
                })??;
                let (width, height) = (track.width(), track.height());
                let (track, end) =
                    read_video(&mut reader, id, timescale, codec, len_size, (width, height))?;
                period_us = period_us.max(end);
                video = Some(track);
            }
            mp4::MediaType::AAC if audio.is_none() => {
                let esds = track
                    .trak
                    .mdia
                    .minf
                    .stbl
                    .stsd
                    .mp4a
                    .as_ref()
                    .and_then(|m| m.esds.as_ref())
                    .ok_or_else(|| SimError::UnsupportedMedia("mp4a without esds".into()))?;
                let dsi = esds.es_desc.dec_config.dec_specific.clone();
                let sample_rate = track.sample_freq_index()?.freq();
                let asc_word: u16 = (u16::from(dsi.profile & 0x1f) << 11)
                    | (u16::from(dsi.freq_index & 0xf) << 7)
                    | (u16::from(dsi.chan_conf & 0xf) << 3);
                let (samples, end) = read_samples(&mut reader, id, timescale, sample_rate, None)?;
                period_us = period_us.max(end * 1_000_000 / u64::from(sample_rate));
                audio = Some(AudioTrack {
                    sample_rate,
                    channels: dsi.chan_conf.max(1),
                    asc: asc_word.to_be_bytes().to_vec(),
                    samples,
                });
            }
            _ => {}
        }
    }
    let video =
        video.ok_or_else(|| SimError::UnsupportedMedia("no H.264/H.265 video track".into()))?;
    if video.samples.is_empty() {
        return Err(SimError::UnsupportedMedia(
            "video track has no samples".into(),
        ));
    }
    Ok(Clip {
        video,
        audio: audio.filter(|a| !a.samples.is_empty()),
        period_us: period_us.max(1),
    })
}

/// Reads a video track's samples (length-prefixed NALs of `len_size`
/// bytes) into a [`VideoTrack`]; also returns its end in microseconds.
fn read_video(
    reader: &mut mp4::Mp4Reader<Cursor<Vec<u8>>>,
    track_id: u32,
    timescale: u32,
    codec: VideoCodec,
    len_size: usize,
    (width, height): (u16, u16),
) -> Result<(VideoTrack, u64)> {
    let (samples, end) = read_samples(reader, track_id, timescale, VIDEO_CLOCK, Some(len_size))?;
    let track = VideoTrack {
        codec,
        width,
        height,
        samples,
    };
    Ok((track, end * 1_000_000 / u64::from(VIDEO_CLOCK)))
}

/// Reads all samples of a track, converting times to `clock`. Returns the
/// samples and the end time (last dts + duration) in `clock` ticks.
fn read_samples(
    reader: &mut mp4::Mp4Reader<Cursor<Vec<u8>>>,
    track_id: u32,
    timescale: u32,
    clock: u32,
    nal_len_size: Option<usize>,
) -> Result<(Vec<Sample>, u64)> {
    let count = reader.sample_count(track_id)?;
    let conv = |t: i64| -> i64 { t * i64::from(clock) / i64::from(timescale) };
    let mut raw = Vec::with_capacity(count as usize);
    for i in 1..=count {
        let Some(s) = reader.read_sample(track_id, i)? else {
            continue;
        };
        let dts = s.start_time as i64;
        let pts = dts + i64::from(s.rendering_offset);
        let units = match nal_len_size {
            Some(n) => split_nals(&s.bytes, n).ok_or_else(|| {
                SimError::UnsupportedMedia(format!("track {track_id} sample {i}: bad NAL lengths"))
            })?,
            None => vec![s.bytes.clone()],
        };
        raw.push((dts, pts, u64::from(s.duration), s.is_sync, units));
    }
    // Edit lists are ignored, so composition offsets may start negative
    // (ctts v1): shift everything so the earliest time is zero.
    let min = raw.iter().map(|r| r.0.min(r.1)).min().unwrap_or(0).min(0);
    let mut end = 0u64;
    let samples = raw
        .into_iter()
        .map(|(dts, pts, dur, is_sync, units)| {
            let dts = conv(dts - min) as u64;
            end = end.max(dts + conv(dur as i64) as u64);
            Sample {
                dts,
                pts: conv(pts - min) as u64,
                is_sync,
                units,
            }
        })
        .collect();
    Ok((samples, end))
}

/// Splits a length-prefixed sample into NAL units.
fn split_nals(data: &Bytes, len_size: usize) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let hdr = data.get(pos..pos + len_size)?;
        let len = hdr
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        pos += len_size;
        let end = pos.checked_add(len)?;
        if end > data.len() {
            return None;
        }
        if len > 0 {
            out.push(data.slice(pos..end));
        }
        pos = end;
    }
    Some(out)
}

/// Container boxes on the path from the file root to `stsd`.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];

/// Returns `(start, end)` of every sample entry in every `stsd`.
fn find_sample_entries(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    walk(data, 0, data.len(), &mut out);
    out
}

fn walk(data: &[u8], mut pos: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    while let Some((typ, box_end)) = box_at(data, pos, end) {
        if CONTAINERS.iter().any(|c| **c == typ) {
            walk(data, pos + 8, box_end, out);
        } else if &typ == b"stsd" {
            // Full box header (4) + entry_count (4) precede the entries.
            let mut p = pos + 16;
            while let Some((_, e)) = box_at(data, p, box_end) {
                out.push((p, e));
                p = e;
            }
        }
        pos = box_end;
    }
}

/// Reads a box header at `pos`, returning its type and end offset.
fn box_at(data: &[u8], pos: usize, end: usize) -> Option<([u8; 4], usize)> {
    let hdr = data.get(pos..pos + 8)?;
    let size = u32::from_be_bytes(hdr[..4].try_into().ok()?) as usize;
    let box_end = pos.checked_add(size)?;
    if size < 8 || box_end > end {
        return None;
    }
    Some((hdr[4..8].try_into().ok()?, box_end))
}

/// Returns the body of the first child box of type `typ`.
fn find_child<'a>(data: &'a [u8], typ: &[u8; 4]) -> Option<&'a [u8]> {
    let mut pos = 0;
    while let Some((t, e)) = box_at(data, pos, data.len()) {
        if &t == typ {
            return Some(&data[pos + 8..e]);
        }
        pos = e;
    }
    None
}

/// Parses an HEVCDecoderConfigurationRecord into parameter sets and the NAL
/// length size.
fn parse_hvcc(body: &[u8]) -> Result<(VideoCodec, usize)> {
    let bad = || SimError::UnsupportedMedia("malformed hvcC".into());
    let len_size = usize::from(*body.get(21).ok_or_else(bad)? & 3) + 1;
    let n_arrays = *body.get(22).ok_or_else(bad)?;
    let mut pos = 23;
    let (mut vps, mut sps, mut pps) = (None, None, None);
    for _ in 0..n_arrays {
        let typ = body.get(pos).ok_or_else(bad)? & 0x3f;
        let n = u16::from_be_bytes(
            body.get(pos + 1..pos + 3)
                .ok_or_else(bad)?
                .try_into()
                .unwrap(),
        );
        pos += 3;
        for _ in 0..n {
            let len = usize::from(u16::from_be_bytes(
                body.get(pos..pos + 2).ok_or_else(bad)?.try_into().unwrap(),
            ));
            let nal = Bytes::copy_from_slice(body.get(pos + 2..pos + 2 + len).ok_or_else(bad)?);
            pos += 2 + len;
            let slot = match typ {
                32 => &mut vps,
                33 => &mut sps,
                34 => &mut pps,
                _ => continue,
            };
            slot.get_or_insert(nal);
        }
    }
    match (vps, sps, pps) {
        (Some(vps), Some(sps), Some(pps)) => Ok((VideoCodec::H265 { vps, sps, pps }, len_size)),
        _ => Err(SimError::UnsupportedMedia("hvcC lacks VPS/SPS/PPS".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_clip_loads() {
        let clip = load(&MediaSource::Bytes(Bytes::from_static(crate::DEMO_MP4))).unwrap();
        assert!(matches!(clip.video.codec, VideoCodec::H264 { .. }));
        assert_eq!((clip.video.width, clip.video.height), (640, 360));
        assert_eq!(clip.video.samples.len(), 250);
        assert!(clip.video.samples[0].is_sync);
        let audio = clip.audio.as_ref().unwrap();
        assert_eq!(audio.sample_rate, 16_000);
        assert_eq!(audio.asc, vec![0x14, 0x08]);
        assert!(clip.period_us >= 10_000_000 && clip.period_us < 10_200_000);
    }

    #[test]
    fn split_rejects_overrun() {
        assert!(split_nals(&Bytes::from_static(&[0, 0, 0, 5, 1]), 4).is_none());
        let v = split_nals(&Bytes::from_static(&[0, 0, 0, 1, 9, 0, 0, 0, 1, 8]), 4).unwrap();
        assert_eq!(v.len(), 2);
    }
}
