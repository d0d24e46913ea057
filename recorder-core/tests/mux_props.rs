//! Property tests: random frame sequences (sizes, durations, GOPs,
//! B-frame reordering, interleaved audio, 32-bit overflow, jumps) through
//! the muxer, every segment read back with the `mp4` crate.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use recorder_core::mux::*;
use support::muxed::*;

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    frames: usize,
    bframes: bool,
    audio: bool,
    jumps: bool,
    leading_non_key: usize,
    start: i64,
    segment_ms: u64,
    fragment_ms: u64,
    restarts: bool,
    /// From this video frame on (decode order), the camera repeats one
    /// timestamp while the wall clock keeps going.
    freeze_from: Option<usize>,
    /// A small `max_fragment_bytes`, so the byte cap cuts fragments.
    small_cap: bool,
}

prop_compose! {
    fn case()(
        seed in any::<u64>(),
        frames in 1usize..400,
        bframes in any::<bool>(),
        audio in any::<bool>(),
        jumps in prop::bool::weighted(0.3),
        leading_non_key in 0usize..5,
        // The start values exercise tfdt beyond 32 bits.
        start in prop_oneof![Just(0i64), Just((1i64 << 32) - 50_000), 0i64..1_000_000_000],
        segment_ms in 500u64..5_000,
        fragment_ms in 100u64..1_500,
        restarts in prop::bool::weighted(0.2),
        freeze_from in prop::option::weighted(0.2, 0usize..400),
        small_cap in prop::bool::weighted(0.2),
    ) -> Case {
        Case {
            seed, frames, bframes, audio, jumps, leading_non_key, start, segment_ms, fragment_ms,
            restarts, freeze_from, small_cap,
        }
    }
}

fn payload(id: u64, len: usize) -> Bytes {
    let mut v = id.to_be_bytes().to_vec();
    v.resize(8 + len, (id % 251) as u8);
    Bytes::from(v)
}

fn payload_id(data: &[u8]) -> u64 {
    u64::from_be_bytes(data[..8].try_into().unwrap())
}

enum Input {
    Frame(Frame),
    Restart,
}

/// Builds the input: video in decode order with presentation timestamps,
/// audio frames interleaved by time.
fn build(c: &Case) -> Vec<Input> {
    let mut rng = StdRng::seed_from_u64(c.seed);
    let mut presentation: Vec<(i64, bool)> = Vec::new();
    let mut t = c.start;
    let mut i = 0;
    while presentation.len() < c.frames {
        let gop = rng.gen_range(1..40);
        for k in 0..gop {
            let key = k == 0 && i >= c.leading_non_key;
            presentation.push((t, key));
            i += 1;
            t += rng.gen_range(2000..7200);
        }
    }
    presentation.truncate(c.frames);
    // Decode order: inside a GOP, each run of three frames after the
    // keyframe is sent anchor-first (B B P -> P B B).
    let mut decode: Vec<(i64, bool)> = Vec::new();
    let mut k = 0;
    while k < presentation.len() {
        let end = (k + 1..presentation.len())
            .find(|&j| presentation[j].1)
            .unwrap_or(presentation.len());
        decode.push(presentation[k]);
        let mut j = k + 1;
        while j < end {
            if c.bframes && j + 3 <= end {
                decode.extend_from_slice(&[
                    presentation[j + 2],
                    presentation[j],
                    presentation[j + 1],
                ]);
                j += 3;
            } else {
                decode.push(presentation[j]);
                j += 1;
            }
        }
        k = end;
    }
    let mut out = Vec::new();
    let mut id = 0u64;
    let mut audio_t = c.start * 48_000 / 90_000;
    let mut offset = 0i64;
    let mut frozen = None;
    for (n, (pts, key)) in decode.into_iter().enumerate() {
        if c.jumps && rng.gen_bool(0.02) {
            offset += if rng.gen_bool(0.5) {
                90_000 * 30
            } else {
                -90_000 * 5
            };
        }
        if c.restarts && n > 0 && rng.gen_bool(0.02) {
            out.push(Input::Restart);
        }
        let pts = pts + offset;
        let wall = WallTime(1_700_000_000_000_000_000 + (pts - c.start) * 1_000_000_000 / 90_000);
        while c.audio && audio_t * 90_000 / 48_000 <= pts {
            id += 1;
            out.push(Input::Frame(Frame {
                track: 1,
                pts: audio_t,
                wall,
                keyframe: true,
                duration_hint: Some(1024),
                data: payload(id, rng.gen_range(0..300)),
            }));
            audio_t += 1024;
        }
        id += 1;
        let sent = if c.freeze_from.is_some_and(|f| n >= f) {
            *frozen.get_or_insert(pts)
        } else {
            pts
        };
        out.push(Input::Frame(Frame {
            track: 0,
            pts: sent,
            wall,
            keyframe: key,
            duration_hint: None,
            data: payload(id, rng.gen_range(0..5000)),
        }));
    }
    out
}

fn tracks(audio: bool) -> Vec<TrackSpec> {
    let mut t = vec![TrackSpec {
        timescale: 90_000,
        codec: CodecConfig::H264 {
            avcc: Bytes::from_static(&[
                1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x00, 0x01, 0x00, 0x00,
            ]),
            width: 1920,
            height: 1080,
        },
    }];
    if audio {
        t.push(TrackSpec {
            timescale: 48_000,
            codec: CodecConfig::Aac {
                asc: Bytes::from_static(&[0x11, 0x88]),
                sample_rate: 48_000,
                channels: 1,
            },
        });
    }
    t
}

fn check(c: Case) -> Result<(), TestCaseError> {
    let inputs = build(&c);
    let cfg = MuxerConfig {
        segment_duration: Duration::from_millis(c.segment_ms),
        fragment_duration: Duration::from_millis(c.fragment_ms),
        max_fragment_bytes: if c.small_cap { 20_000 } else { 32 << 20 },
        ..MuxerConfig::default()
    };
    let cap = cfg.max_fragment_bytes;
    let mut mux = Muxer::new(tracks(c.audio), cfg).unwrap();
    let mut events = Vec::new();
    let mut input_ids = Vec::new();
    for input in inputs {
        match input {
            Input::Frame(f) => {
                input_ids.push((f.track, payload_id(&f.data)));
                mux.push(f, &mut events).unwrap();
            }
            Input::Restart => mux.restart_timeline(&mut events),
        }
    }
    mux.finish(EndReason::Finished, &mut events);
    let stats = mux.stats().clone();
    // A fragment holds at most the cap plus the frame that crossed it (the
    // largest payload here is 5008 bytes).
    for e in &events {
        if let MuxEvent::Fragment(f) = e {
            let payload: usize = f.bytes.payloads.iter().map(|p| p.len()).sum();
            prop_assert!(payload <= cap + 5008, "fragment holds {} bytes", payload);
        }
    }
    let segments = assemble(events);
    // Frozen timestamps get 1-tick decode steps under one presentation
    // time: signed composition offsets (trun v1), as with deep reordering.
    let reordered = c.bframes || c.freeze_from.is_some();
    let mut seen = HashSet::new();
    let mut stored = 0u64;
    for seg in &segments {
        let end = seg.end.as_ref().expect("every segment is finished");
        let parsed = parse_segment(&seg.bytes);
        let video = &parsed.tracks[0];
        prop_assert!(!video.is_empty(), "segment without video");
        prop_assert!(video[0].sync, "segment does not start on a keyframe");
        for (ti, samples) in parsed.tracks.iter().enumerate() {
            prop_assert_eq!(samples.len() as u64, end.samples[ti]);
            for (si, s) in samples.iter().enumerate() {
                if s.composition_offset < 0 && !reordered {
                    eprintln!(
                        "seg {} track {ti} sample {si}/{}: {:?}",
                        seg.start.index,
                        samples.len(),
                        &samples[si.saturating_sub(2)..(si + 2).min(samples.len())]
                            .iter()
                            .map(|s| (s.decode_time, s.duration, s.composition_offset, s.sync))
                            .collect::<Vec<_>>()
                    );
                }
                prop_assert!(s.duration > 0, "zero duration");
                prop_assert!(
                    s.composition_offset >= 0 || reordered,
                    "negative offset without reordering"
                );
                prop_assert!(seen.insert(payload_id(&s.data)), "payload stored twice");
                stored += 1;
            }
            // Decode times only grow, and fragments never overlap.
            let tfdts = &parsed.tfdts[ti];
            prop_assert!(
                tfdts.windows(2).all(|w| w[0] < w[1]),
                "tfdt not increasing: {:?}",
                tfdts
            );
            for w in samples.windows(2) {
                prop_assert!(
                    w[1].decode_time >= w[0].decode_time + u64::from(w[0].duration),
                    "overlap"
                );
            }
        }
        // The primary track's durations sum to the segment's span, except
        // for gaps the timeline shows on purpose (reconnects, B-frame
        // guesses), which only ever add time.
        let sum: u64 = video.iter().map(|s| u64::from(s.duration)).sum();
        let span = video.last().unwrap().decode_time + u64::from(video.last().unwrap().duration)
            - video[0].decode_time;
        let span_ns = (span as i128 * 1_000_000_000 / 90_000) as i64;
        prop_assert!(
            (span_ns - end.duration_ns).abs() <= 20_000,
            "span {} vs reported {}",
            span_ns,
            end.duration_ns
        );
        if !c.bframes && !c.restarts && c.freeze_from.is_none() {
            prop_assert_eq!(sum, span, "durations do not sum to the span");
        } else {
            prop_assert!(sum <= span);
        }
        // Payload bytes are intact: each one is its input, whole.
        for s in video {
            let id = payload_id(&s.data);
            prop_assert!(s.data[8..].iter().all(|b| *b == (id % 251) as u8));
        }
    }
    prop_assert_eq!(stored, stats.frames_in - stats.frames_skipped);
    // Only video before the first keyframe (and audio while no segment is
    // open) may be skipped; everything else is stored.
    if !c.restarts {
        let first_key = input_ids
            .iter()
            .position(|(t, id)| *t == 0 && seen.contains(id));
        if let Some(first) = first_key {
            for (t, id) in &input_ids[first..] {
                prop_assert!(
                    *t != 0 || seen.contains(id),
                    "video frame {} after the first keyframe was dropped",
                    id
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_make_valid_segments(c in case()) {
        check(c)?;
    }
}

#[test]
fn pathological_inputs_do_not_panic() {
    let mut mux = Muxer::new(tracks(true), MuxerConfig::default()).unwrap();
    let mut ev = Vec::new();
    for (i, pts) in [i64::MAX, i64::MIN, 0, i64::MAX - 1, -5, 5, i64::MIN + 1]
        .into_iter()
        .enumerate()
    {
        for track in 0..2 {
            mux.push(
                Frame {
                    track,
                    pts,
                    wall: WallTime(pts),
                    keyframe: i % 2 == 0,
                    duration_hint: Some(u32::MAX),
                    data: Bytes::from_static(b"x"),
                },
                &mut ev,
            )
            .unwrap();
        }
    }
    mux.restart_timeline(&mut ev);
    mux.finish(EndReason::Finished, &mut ev);
    assert!(matches!(
        mux.push(
            Frame {
                track: 7,
                pts: 0,
                wall: WallTime(0),
                keyframe: true,
                duration_hint: None,
                data: Bytes::new()
            },
            &mut ev
        ),
        Err(MuxError::NoSuchTrack {
            track: 7,
            tracks: 2
        })
    ));
}
