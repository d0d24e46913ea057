//! Hand-built fragmented MP4 segments for the sink tests (the muxer is
//! written separately; these only need to be valid enough for box walking
//! and duration recomputation).

use bytes::Bytes;
use recorder_core::mp4::HeaderPatch;
use recorder_core::mux::{EndReason, Fragment, FragmentBytes, SegmentEnd, SegmentStart, WallTime};

/// Movie timescale (`mvhd`).
pub const MOVIE_TS: u32 = 1000;
/// Video timescale (`mdhd`).
pub const VIDEO_TS: u32 = 90_000;

pub fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

pub fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = ((u32::from(version) << 24) | flags).to_be_bytes().to_vec();
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// An init segment and the file offsets of `mvhd.duration` and
/// `mehd.fragment_duration` (both 64-bit).
pub struct Init {
    pub bytes: Vec<u8>,
    pub mvhd_duration_at: usize,
    pub mehd_duration_at: usize,
}

/// `ftyp` + `moov` with one video track (id 1, 90 kHz) and, if `audio`, an
/// audio track (id 2, 8 kHz); `trex` gives track 1 a default duration of
/// `trex_default`.
pub fn init(audio: bool, trex_default: u32) -> Init {
    // The `ftyp` camrec writes: repair only touches files that start with it.
    let ftyp = bx(b"ftyp", b"iso6\0\0\0\0iso6iso5isommp41");
    let mut mvhd_body = Vec::new();
    mvhd_body.extend(0u64.to_be_bytes()); // creation
    mvhd_body.extend(0u64.to_be_bytes()); // modification
    mvhd_body.extend(MOVIE_TS.to_be_bytes());
    let dur_in_mvhd_body = 4 + mvhd_body.len(); // + version/flags
    mvhd_body.extend(0u64.to_be_bytes()); // duration
    mvhd_body.extend(0x0001_0000u32.to_be_bytes()); // rate
    mvhd_body.extend(0x0100u16.to_be_bytes()); // volume
    mvhd_body.extend([0u8; 10]);
    mvhd_body.extend([0u8; 36]); // matrix (zeros are fine here)
    mvhd_body.extend([0u8; 24]);
    mvhd_body.extend(3u32.to_be_bytes()); // next track id
    let mvhd = full(b"mvhd", 1, 0, &mvhd_body);

    let trak = |id: u32, ts: u32, handler: &[u8; 4]| {
        let mut tkhd = Vec::new();
        tkhd.extend(0u32.to_be_bytes());
        tkhd.extend(0u32.to_be_bytes());
        tkhd.extend(id.to_be_bytes());
        tkhd.extend([0u8; 4 + 4 + 8 + 2 + 2 + 2 + 2 + 36 + 4 + 4]);
        let mut mdhd = Vec::new();
        mdhd.extend(0u32.to_be_bytes());
        mdhd.extend(0u32.to_be_bytes());
        mdhd.extend(ts.to_be_bytes());
        mdhd.extend(0u32.to_be_bytes());
        mdhd.extend([0x55, 0xc4, 0, 0]);
        let mut hdlr = vec![0u8; 4];
        hdlr.extend(handler);
        hdlr.extend([0u8; 13]);
        let mdia = bx(
            b"mdia",
            &cat(&[&full(b"mdhd", 0, 0, &mdhd), &full(b"hdlr", 0, 0, &hdlr)]),
        );
        bx(b"trak", &cat(&[&full(b"tkhd", 0, 3, &tkhd), &mdia]))
    };
    let trex = |id: u32, dur: u32| {
        let mut b = Vec::new();
        b.extend(id.to_be_bytes());
        b.extend(1u32.to_be_bytes());
        b.extend(dur.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        full(b"trex", 0, 0, &b)
    };
    let mehd = full(b"mehd", 1, 0, &0u64.to_be_bytes());
    let mut mvex_body = mehd.clone();
    mvex_body.extend(trex(1, trex_default));
    let mut traks = trak(1, VIDEO_TS, b"vide");
    if audio {
        traks.extend(trak(2, 8000, b"soun"));
        mvex_body.extend(trex(2, 1024));
    }
    let mvex = bx(b"mvex", &mvex_body);
    let moov = bx(b"moov", &cat(&[&mvhd, &traks, &mvex]));

    let mvhd_duration_at = ftyp.len() + 8 + 8 + dur_in_mvhd_body;
    let mehd_duration_at = ftyp.len() + 8 + mvhd.len() + traks.len() + 8 + 12;
    let bytes = cat(&[&ftyp, &moov]);
    Init {
        bytes,
        mvhd_duration_at,
        mehd_duration_at,
    }
}

/// How a fragment states its sample durations.
#[derive(Copy, Clone, Debug)]
pub enum Durations {
    /// Per sample in `trun` (flag 0x100).
    PerSample,
    /// `tfhd.default_sample_duration` (flag 0x08), all samples equal.
    TfhdDefault,
    /// Neither: `trex` supplies the default.
    TrexDefault,
}

/// One fragment: `prft` + `moof` (video traf, and an audio traf first if
/// `audio`) + `mdat`, the payloads kept separate as the muxer does.
pub fn fragment(
    seq: u32,
    tfdt: u64,
    durations: &[u32],
    how: Durations,
    audio: bool,
) -> FragmentBytes {
    let payloads: Vec<Bytes> = durations
        .iter()
        .enumerate()
        .map(|(i, _)| Bytes::from(vec![seq as u8; 10 + (i * 7 + seq as usize) % 23]))
        .collect();
    let prft = {
        let mut b = Vec::new();
        b.extend(1u32.to_be_bytes());
        b.extend((u64::from(seq) << 32).to_be_bytes());
        b.extend(tfdt.to_be_bytes());
        full(b"prft", 1, 0, &b)
    };
    let mfhd = full(b"mfhd", 0, 0, &seq.to_be_bytes());
    let video_traf = |data_offset: u32| {
        let mut tfhd = 1u32.to_be_bytes().to_vec();
        let mut tfhd_flags = 0x02_0000;
        if let Durations::TfhdDefault = how {
            tfhd_flags |= 0x08;
            tfhd.extend(durations[0].to_be_bytes());
        }
        let tfdt_box = full(b"tfdt", 1, 0, &tfdt.to_be_bytes());
        let per_sample = matches!(how, Durations::PerSample);
        let trun_flags = 0x001 | 0x200 | if per_sample { 0x100 } else { 0 };
        let mut trun = (durations.len() as u32).to_be_bytes().to_vec();
        trun.extend(data_offset.to_be_bytes());
        for (d, p) in durations.iter().zip(&payloads) {
            if per_sample {
                trun.extend(d.to_be_bytes());
            }
            trun.extend((p.len() as u32).to_be_bytes());
        }
        bx(
            b"traf",
            &cat(&[
                &full(b"tfhd", 0, tfhd_flags, &tfhd),
                &tfdt_box,
                &full(b"trun", 0, trun_flags, &trun),
            ]),
        )
    };
    // An audio traf with no samples but a huge tfdt: if repair looked at
    // the wrong track the duration would be far off.
    let audio_traf = || {
        let tfhd = full(
            b"tfhd",
            0,
            0x02_0000 | 0x08,
            &cat(&[&2u32.to_be_bytes(), &1024u32.to_be_bytes()]),
        );
        let tfdt_box = full(b"tfdt", 1, 0, &(1u64 << 40).to_be_bytes());
        let trun = full(b"trun", 0, 0, &0u32.to_be_bytes());
        bx(b"traf", &cat(&[&tfhd, &tfdt_box, &trun]))
    };
    let build_moof = |data_offset: u32| {
        let mut body = mfhd.clone();
        if audio {
            body.extend(audio_traf());
        }
        body.extend(video_traf(data_offset));
        bx(b"moof", &body)
    };
    let moof_len = build_moof(0).len();
    let moof = build_moof((moof_len + 8) as u32);
    let payload_len: usize = payloads.iter().map(Bytes::len).sum();
    let mut header = cat(&[&prft, &moof]);
    header.extend(((payload_len + 8) as u32).to_be_bytes());
    header.extend(b"mdat");
    FragmentBytes {
        header: Bytes::from(header),
        payloads,
    }
}

/// A whole segment as the muxer would emit it: init, fragments, and the
/// end event carrying the duration patches.
pub struct Segment {
    pub init: Init,
    pub start: SegmentStart,
    pub fragments: Vec<Fragment>,
    pub end: SegmentEnd,
    /// `(file offset where the fragment ends, track end time in 90 kHz)`.
    pub boundaries: Vec<(usize, u64)>,
}

impl Segment {
    /// `n` fragments of `per` samples, 3000 ticks (1/30 s) each.
    pub fn new(
        index: u64,
        wall: WallTime,
        n: u32,
        per: usize,
        how: Durations,
        audio: bool,
    ) -> Self {
        let init = init(audio, 3000);
        let start = SegmentStart {
            index,
            init: Bytes::from(init.bytes.clone()),
            wall_start: wall,
            tracks: Vec::new(),
        };
        let mut fragments = Vec::new();
        let mut boundaries = Vec::new();
        let mut offset = init.bytes.len();
        let mut t = 0u64;
        for seq in 1..=n {
            let durations = vec![3000u32; per];
            let bytes = fragment(seq, t, &durations, how, audio);
            offset += bytes.len();
            t += 3000 * per as u64;
            boundaries.push((offset, t));
            fragments.push(Fragment {
                segment: index,
                sequence: seq,
                bytes,
                start_ns: 0,
                duration_ns: 0,
                wall_start: wall,
                wall_end: wall,
                samples: vec![per as u32],
                starts_with_keyframe: true,
            });
        }
        let movie = t * u64::from(MOVIE_TS) / u64::from(VIDEO_TS);
        let end = SegmentEnd {
            index,
            reason: EndReason::Finished,
            duration_ns: 0,
            wall_start: wall,
            wall_end: wall,
            samples: vec![],
            bytes: offset as u64,
            fragments: n,
            header_patches: vec![
                HeaderPatch::u64(init.mvhd_duration_at as u64, movie),
                HeaderPatch::u64(init.mehd_duration_at as u64, movie),
            ],
        };
        Segment {
            init,
            start,
            fragments,
            end,
            boundaries,
        }
    }

    /// Every byte of the segment as written before the end patches.
    pub fn unpatched(&self) -> Vec<u8> {
        let mut v = self.init.bytes.clone();
        for f in &self.fragments {
            v.extend(f.bytes.to_vec());
        }
        v
    }

    /// `unpatched` with the duration fields set to `movie` ticks.
    pub fn with_duration(&self, bytes: &[u8], movie: u64) -> Vec<u8> {
        let mut v = bytes.to_vec();
        for at in [self.init.mvhd_duration_at, self.init.mehd_duration_at] {
            v[at..at + 8].copy_from_slice(&movie.to_be_bytes());
        }
        v
    }
}

/// Reads the 64-bit field at `at`.
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Media ticks (90 kHz) to movie ticks (1 kHz), rounded to nearest as
/// repair does.
pub fn movie_ticks(media: u64) -> u64 {
    (media * u64::from(MOVIE_TS) + u64::from(VIDEO_TS) / 2) / u64::from(VIDEO_TS)
}
