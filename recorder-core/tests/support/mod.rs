//! Helpers shared by the muxer tests: reading fixture MP4s into frames,
//! assembling segments from muxer events, and an independent parse of our
//! output with the `mp4` crate.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// A segment assembled from events, header patches applied.
pub struct Segment {
    pub start: SegmentStart,
    pub end: Option<SegmentEnd>,
    pub fragments: Vec<Fragment>,
    pub bytes: Vec<u8>,
}

pub fn assemble(events: Vec<MuxEvent>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for e in events {
        match e {
            MuxEvent::SegmentStarted(s) => out.push(Segment {
                bytes: s.init.to_vec(),
                start: s,
                end: None,
                fragments: Vec::new(),
            }),
            MuxEvent::Fragment(f) => {
                let seg = out.last_mut().expect("fragment before segment start");
                assert_eq!(f.segment, seg.start.index);
                assert!(seg.end.is_none(), "fragment after segment end");
                seg.bytes.extend_from_slice(&f.bytes.to_vec());
                seg.fragments.push(f);
            }
            MuxEvent::SegmentFinished(end) => {
                let seg = out.last_mut().expect("end before start");
                assert_eq!(end.index, seg.start.index);
                assert_eq!(end.bytes as usize, seg.bytes.len());
                for p in &end.header_patches {
                    let at = p.offset as usize;
                    seg.bytes[at..at + 8].copy_from_slice(&p.bytes);
                }
                seg.end = Some(end);
            }
        }
    }
    out
}

/// One sample as read back from a segment.
#[derive(Debug, Clone)]
pub struct ParsedSample {
    pub decode_time: u64,
    pub duration: u32,
    pub composition_offset: i32,
    pub sync: bool,
    pub data: Vec<u8>,
}

/// A segment parsed with the `mp4` crate; sample bytes located by our own
/// walk of the top-level boxes (the crate does not resolve fragment data
/// offsets).
pub struct Parsed {
    pub timescales: Vec<u32>,
    /// Per track id - 1: samples in decode order.
    pub tracks: Vec<Vec<ParsedSample>>,
    /// Per track: tfdt of each fragment.
    pub tfdts: Vec<Vec<u64>>,
    pub mvhd_duration_ms: u64,
}

pub fn parse_segment(data: &[u8]) -> Parsed {
    let reader = mp4::Mp4Reader::read_header(Cursor::new(data), data.len() as u64)
        .expect("mp4 crate parses the segment");
    assert!(reader.is_fragmented());
    let mut ids: Vec<u32> = reader.tracks().keys().copied().collect();
    ids.sort();
    let timescales: Vec<u32> = ids
        .iter()
        .map(|id| reader.tracks()[id].timescale())
        .collect();
    let mut tracks = vec![Vec::new(); ids.len()];
    let mut tfdts = vec![Vec::new(); ids.len()];
    // Top-level moof offsets, in order, to resolve default-base-is-moof.
    let mut moof_offsets = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if &data[pos + 4..pos + 8] == b"moof" {
            moof_offsets.push(pos);
        }
        assert!(size >= 8, "bad box size at {pos}");
        pos += size;
    }
    assert_eq!(pos, data.len(), "top-level boxes must tile the file");
    assert_eq!(moof_offsets.len(), reader.moofs.len());
    for (moof, base) in reader.moofs.iter().zip(moof_offsets) {
        for traf in &moof.trafs {
            let ti = (traf.tfhd.track_id - 1) as usize;
            assert_eq!(traf.tfhd.flags & 0x020000, 0x020000);
            let tfdt = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time;
            tfdts[ti].push(tfdt);
            let trun = traf.trun.as_ref().expect("trun");
            let mut offset = base + trun.data_offset.expect("data offset") as usize;
            let mut t = tfdt;
            for i in 0..trun.sample_count as usize {
                let size = trun.sample_sizes[i] as usize;
                let duration = trun.sample_durations[i];
                let flags = trun.sample_flags.get(i).copied().unwrap_or(0x0200_0000);
                let cto = trun.sample_cts.get(i).copied().unwrap_or(0) as i32;
                tracks[ti].push(ParsedSample {
                    decode_time: t,
                    duration,
                    composition_offset: cto,
                    sync: flags & 0x0001_0000 == 0,
                    data: data[offset..offset + size].to_vec(),
                });
                offset += size;
                t += u64::from(duration);
            }
        }
    }
    Parsed {
        timescales,
        tracks,
        tfdts,
        mvhd_duration_ms: reader.moov.mvhd.duration,
    }
}

pub fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

/// Decodes a file fully; returns ffmpeg's error output (empty = clean).
pub fn ffmpeg_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("ffmpeg exit status {}", out.status));
    }
    s
}

/// Runs ffprobe and returns its `key=value` output lines.
pub fn ffprobe(path: &Path, args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "default=noprint_wrappers=1"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Decoded frame count of the first stream of `kind` ("v" or "a").
pub fn decoded_frames(path: &Path, kind: &str) -> u64 {
    let sel = format!("{kind}:0");
    ffprobe(
        path,
        &[
            "-count_frames",
            "-select_streams",
            &sel,
            "-show_entries",
            "stream=nb_read_frames",
        ],
    )
    .into_iter()
    .find(|(k, _)| k == "nb_read_frames")
    .map(|(_, v)| v.parse().unwrap())
    .unwrap_or(0)
}

/// start_time of the first stream of `kind`, in seconds.
pub fn start_time(path: &Path, kind: &str) -> f64 {
    let sel = format!("{kind}:0");
    ffprobe(
        path,
        &[
            "-select_streams",
            &sel,
            "-show_entries",
            "stream=start_time",
        ],
    )
    .into_iter()
    .find(|(k, _)| k == "start_time")
    .map(|(_, v)| v.parse().unwrap())
    .unwrap()
}

/// Whether the first decoded video frame is a keyframe.
pub fn first_frame_is_key(path: &Path) -> bool {
    ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "frame=key_frame",
        ],
    )
    .into_iter()
    .find(|(k, _)| k == "key_frame")
    .map(|(_, v)| v == "1")
    .unwrap()
}
