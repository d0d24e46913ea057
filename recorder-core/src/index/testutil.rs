//! Segments made by the real muxer and indexed the way sinks index them.

use bytes::Bytes;

use super::{encode, IndexBuilder, SegmentIndex};
use crate::mux::{CodecConfig, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec, WallTime};

/// Wall-clock time of the synthetic recording's first frame.
pub(crate) const T0: i64 = 1_700_000_000_000_000_000;

/// The audio track of a synthetic recording.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Audio {
    None,
    /// AAC at 16 kHz, 1024-sample frames.
    Aac,
    /// G.711 μ-law at 8 kHz, 20 ms packets.
    Pcm,
}

fn tracks(audio: Audio) -> Vec<TrackSpec> {
    let mut t = vec![TrackSpec {
        timescale: 90_000,
        codec: CodecConfig::H264 {
            avcc: Bytes::from_static(&[
                1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
            ]),
            width: 320,
            height: 240,
        },
    }];
    match audio {
        Audio::None => {}
        Audio::Aac => t.push(TrackSpec {
            timescale: 16_000,
            codec: CodecConfig::Aac {
                asc: Bytes::from_static(&[0x14, 0x08]),
                sample_rate: 16_000,
                channels: 1,
            },
        }),
        Audio::Pcm => t.push(TrackSpec {
            timescale: 8_000,
            codec: CodecConfig::G711 {
                mu_law: true,
                sample_rate: 8_000,
                channels: 1,
            },
        }),
    }
    t
}

/// One segment per `(start_ms, length_ms)` from `T0`: 25 fps video with a
/// keyframe every second, fragments of one second, optional 16 kHz AAC.
/// Returns each segment's bytes (index appended) and its index.
pub(crate) fn synth_segments(spans: &[(i64, i64)], audio: bool) -> Vec<(Vec<u8>, SegmentIndex)> {
    synth_segments_with(spans, if audio { Audio::Aac } else { Audio::None })
}

/// [`synth_segments`] with the given audio track.
pub(crate) fn synth_segments_with(
    spans: &[(i64, i64)],
    audio: Audio,
) -> Vec<(Vec<u8>, SegmentIndex)> {
    let mut out = Vec::new();
    for &(start_ms, len_ms) in spans {
        let cfg = MuxerConfig {
            segment_duration: std::time::Duration::from_secs(3600),
            fragment_duration: std::time::Duration::from_secs(1),
            ..MuxerConfig::default()
        };
        let mut m = Muxer::new(tracks(audio), cfg).unwrap();
        let mut ev = Vec::new();
        let frames = len_ms / 40;
        let base_pts = start_ms * 90;
        for i in 0..frames {
            let wall = WallTime(T0 + (start_ms + i * 40) * 1_000_000);
            m.push(
                Frame {
                    track: 0,
                    pts: base_pts + i * 3600,
                    wall,
                    keyframe: i % 25 == 0,
                    duration_hint: None,
                    data: Bytes::from(vec![(i % 251) as u8; 100 + (i % 7) as usize]),
                },
                &mut ev,
            )
            .unwrap();
            if audio == Audio::Pcm {
                // 20 ms packets of 160 bytes, two per video frame.
                for k in 0..2 {
                    let ms = start_ms + i * 40 + k * 20;
                    m.push(
                        Frame {
                            track: 1,
                            pts: ms * 8,
                            wall: WallTime(T0 + ms * 1_000_000),
                            keyframe: true,
                            duration_hint: Some(160),
                            data: Bytes::from(vec![0x7f; 160]),
                        },
                        &mut ev,
                    )
                    .unwrap();
                }
            }
            if audio == Audio::Aac {
                // 1024-sample AAC frames at 16 kHz: 64 ms each.
                let a0 = (i * 40 * 16) / 1024;
                let a1 = ((i + 1) * 40 * 16) / 1024;
                for a in a0..a1 {
                    m.push(
                        Frame {
                            track: 1,
                            pts: start_ms * 16 + a * 1024,
                            wall: WallTime(T0 + (start_ms + a * 64) * 1_000_000),
                            keyframe: true,
                            duration_hint: Some(1024),
                            data: Bytes::from(vec![0x21; 20]),
                        },
                        &mut ev,
                    )
                    .unwrap();
                }
            }
        }
        m.finish(crate::mux::EndReason::Finished, &mut ev);
        let mut bytes = Vec::new();
        let mut builder = None;
        for e in ev {
            match e {
                MuxEvent::SegmentStarted(s) => {
                    builder = Some(IndexBuilder::new("cam", &s.init).unwrap());
                    bytes.extend_from_slice(&s.init);
                }
                MuxEvent::Fragment(f) => {
                    let len = f.bytes.len() as u64;
                    builder
                        .as_mut()
                        .unwrap()
                        .push_fragment(bytes.len() as u64, &f.bytes.header, len)
                        .unwrap();
                    bytes.extend_from_slice(&f.bytes.to_vec());
                }
                MuxEvent::SegmentFinished(end) => {
                    for p in &end.header_patches {
                        p.apply(&mut bytes).unwrap();
                    }
                }
            }
        }
        let index = builder.unwrap().finish();
        bytes.extend_from_slice(&encode(&index));
        out.push((bytes, index));
    }
    out
}
