//! Drives the muxer with arbitrary frame sequences, restarts, codec changes
//! and finishes. The muxer must never panic, and what it emits must hang
//! together: fragments only inside segments, sizes that add up.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use recorder_core::mux::*;

fn video(w: u16) -> CodecConfig {
    CodecConfig::H264 {
        avcc: Bytes::from_static(&[1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 0]),
        width: w,
        height: 240,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let audio = data[0] & 1 == 1;
    let mut tracks = vec![TrackSpec { timescale: 90_000, codec: video(320) }];
    if audio {
        tracks.push(TrackSpec {
            timescale: 8_000 + u32::from(data[1]) * 100,
            codec: CodecConfig::Aac { asc: Bytes::from_static(&[0x15, 0x88]), sample_rate: 16_000, channels: 1 },
        });
    }
    let cfg = MuxerConfig {
        segment_duration: Duration::from_millis(1 + u64::from(data[2]) * 40),
        fragment_duration: Duration::from_millis(1 + u64::from(data[3]) * 10),
        align_to_wall_clock: data[0] & 2 == 2,
        ..MuxerConfig::default()
    };
    let mut mux = Muxer::new(tracks.clone(), cfg).unwrap();
    let mut events = Vec::new();
    let payload = Bytes::from_static(&[0u8; 64]);
    for op in data[4..].chunks(12) {
        if op.len() < 12 {
            break;
        }
        let pts = i64::from_le_bytes(op[0..8].try_into().unwrap()) >> (op[8] & 63);
        let track = usize::from(op[9]) % tracks.len();
        match op[10] % 16 {
            0 => mux.restart_timeline(&mut events),
            1 => mux.finish(EndReason::Finished, &mut events),
            2 => {
                let _ = mux.update_track(0, video(160 + u16::from(op[11])));
            }
            _ => {
                let frame = Frame {
                    track,
                    pts,
                    wall: WallTime(pts.wrapping_mul(11_111)),
                    keyframe: op[11] & 1 == 1,
                    duration_hint: (track == 1).then_some(u32::from(op[11]) * 8),
                    data: payload.slice(..usize::from(op[11]) % 64),
                };
                mux.push(frame, &mut events).unwrap();
            }
        }
    }
    mux.finish(EndReason::Finished, &mut events);
    let mut open: Option<(u64, u64)> = None;
    for e in &events {
        match e {
            MuxEvent::SegmentStarted(s) => {
                assert!(open.is_none(), "segment started inside a segment");
                open = Some((s.index, s.init.len() as u64));
            }
            MuxEvent::Fragment(f) => {
                let (index, bytes) = open.as_mut().expect("fragment outside a segment");
                assert_eq!(*index, f.segment);
                *bytes += f.bytes.len() as u64;
            }
            MuxEvent::SegmentFinished(end) => {
                let (index, bytes) = open.take().expect("finish without start");
                assert_eq!(index, end.index);
                assert_eq!(bytes, end.bytes);
            }
        }
    }
    assert!(open.is_none(), "finish left a segment open");
});
