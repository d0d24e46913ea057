//! Segments assembled from muxer events, and an independent parse of our
//! output with the `mp4` crate.

use std::io::Cursor;

use recorder_core::mux::*;

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
                    p.apply(&mut seg.bytes).expect("patch within the segment");
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
