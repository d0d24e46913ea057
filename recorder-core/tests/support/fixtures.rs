//! The fixture MP4s under `tests/fixtures`, read into track specs and
//! frames as a camera would send them.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use recorder_core::mux::*;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The body of the first box named `fourcc` anywhere in `data` (fixtures
/// hold exactly one sample entry per track, so the first match is right).
fn box_body<'a>(data: &'a [u8], fourcc: &[u8; 4]) -> Option<&'a [u8]> {
    let at = data.windows(4).position(|w| w == fourcc)?;
    let size = u32::from_be_bytes(data[at - 4..at].try_into().ok()?) as usize;
    data.get(at + 4..at - 4 + size)
}

/// Reads an MP4 file into track specs and frames in decode order, with
/// presentation times after the file's edit lists (as a camera would send).
pub fn load_fixture(path: &Path) -> (Vec<TrackSpec>, Vec<Frame>) {
    let data = std::fs::read(path).unwrap();
    let size = data.len() as u64;
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(&data[..]), size).unwrap();
    let mut ids: Vec<u32> = reader.tracks().keys().copied().collect();
    ids.sort();
    let mut specs = Vec::new();
    let mut frames: Vec<(f64, Frame)> = Vec::new();
    for (ti, id) in ids.iter().enumerate() {
        let track = &reader.tracks()[id];
        let timescale = track.timescale();
        let trak = &track.trak;
        let shift = trak
            .edts
            .as_ref()
            .and_then(|e| e.elst.as_ref())
            .and_then(|e| e.entries.first())
            .map(|e| e.media_time as i64)
            .unwrap_or(0);
        let stsd = &trak.mdia.minf.stbl.stsd;
        let (codec, video) = if let Some(avc1) = &stsd.avc1 {
            let avcc = Bytes::copy_from_slice(box_body(&data, b"avcC").unwrap());
            (
                CodecConfig::H264 {
                    avcc,
                    width: avc1.width,
                    height: avc1.height,
                },
                true,
            )
        } else if let Some(hev1) = &stsd.hev1 {
            let hvcc = Bytes::copy_from_slice(box_body(&data, b"hvcC").unwrap());
            (
                CodecConfig::H265 {
                    hvcc,
                    width: hev1.width,
                    height: hev1.height,
                },
                true,
            )
        } else if stsd.mp4a.is_none() && box_body(&data, b"hvcC").is_some() {
            // The mp4 crate reads `hev1` entries only; ours are `hvc1`.
            let hvcc = Bytes::copy_from_slice(box_body(&data, b"hvcC").unwrap());
            (
                CodecConfig::H265 {
                    hvcc,
                    width: track.width(),
                    height: track.height(),
                },
                true,
            )
        } else if let Some(mp4a) = &stsd.mp4a {
            let d = &mp4a.esds.as_ref().unwrap().es_desc.dec_config.dec_specific;
            let asc = ((d.profile as u16) << 11)
                | ((d.freq_index as u16) << 7)
                | ((d.chan_conf as u16) << 3);
            (
                CodecConfig::Aac {
                    asc: Bytes::copy_from_slice(&asc.to_be_bytes()),
                    sample_rate: timescale,
                    channels: mp4a.channelcount,
                },
                false,
            )
        } else {
            panic!("unsupported fixture track in {}", path.display());
        };
        specs.push(TrackSpec { timescale, codec });
        let count = reader.sample_count(*id).unwrap();
        for n in 1..=count {
            let s = reader.read_sample(*id, n).unwrap().unwrap();
            let dts = s.start_time as i64 - shift;
            let pts = s.start_time as i64 + i64::from(s.rendering_offset) - shift;
            let frame = Frame {
                track: ti,
                pts,
                wall: WallTime(1_700_000_000_000_000_000 + pts * 1_000_000_000 / timescale as i64),
                keyframe: s.is_sync,
                duration_hint: (!video).then_some(1024),
                data: s.bytes,
            };
            frames.push((dts as f64 / timescale as f64, frame));
        }
    }
    frames.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap()
            .then(a.1.track.cmp(&b.1.track))
    });
    (specs, frames.into_iter().map(|(_, f)| f).collect())
}
