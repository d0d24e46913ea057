//! Protocol details and fault knobs, checked on the raw bytes the simulator
//! sends (via a minimal RTSP client in `common`).

mod common;

use std::time::{Duration, Instant};

use camera_sim::{Faults, FrameLog, MountConfig, SimConfig};
use common::{collect, parse_rtp, start, Item, RawClient, Rtp};

fn mount_with(faults: Faults) -> SimConfig {
    SimConfig::new().mount(MountConfig::new("/cam", common::short_clip()).faults(faults))
}

fn log(sim: &camera_sim::SimHandle) -> FrameLog {
    sim.frame_log("/cam").unwrap()
}

/// Video packets (channel 0) from a capture.
fn video(pkts: &[(u8, Vec<u8>)]) -> Vec<Rtp> {
    pkts.iter()
        .filter(|(c, _)| *c == 0)
        .map(|(_, d)| parse_rtp(d))
        .collect()
}

fn rtp_info_param(info: &str, idx: usize, key: &str) -> u32 {
    let part = info.split(',').nth(idx).unwrap();
    part.split(';')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn rtp_info_ssrc_and_sender_reports_match_the_stream() {
    let sim = start(mount_with(Faults::none()));
    let mut c = RawClient::connect(sim.local_addr());
    let opts = c.request("OPTIONS", &sim.url("/cam"), &[]);
    assert!(opts.header("Public").unwrap().contains("GET_PARAMETER"));
    let play = c.play_all(&sim.url("/cam"));
    let info = play.header("RTP-Info").unwrap().to_string();
    assert!(
        info.contains(&format!("url={}/trackID=0", sim.url("/cam"))),
        "{info}"
    );
    let pkts = collect(&mut c, Duration::from_millis(1700));
    let v = video(&pkts);
    assert_eq!(v[0].seq as u32, rtp_info_param(&info, 0, "seq"));
    let rtptime = rtp_info_param(&info, 0, "rtptime");
    assert_eq!(
        v[0].ts, rtptime,
        "first frame pts is 0 in a no-B-frame clip"
    );
    assert!(v.iter().all(|p| p.pt == 96 && p.ssrc == v[0].ssrc));
    let a: Vec<Rtp> = pkts
        .iter()
        .filter(|(c, _)| *c == 2)
        .map(|(_, d)| parse_rtp(d))
        .collect();
    assert_eq!(a[0].seq as u32, rtp_info_param(&info, 1, "seq"));
    assert!(a.iter().all(|p| p.pt == 97 && p.marker));
    // Sender reports on the RTCP channels, with a timestamp near the stream's.
    let srs: Vec<&Vec<u8>> = pkts
        .iter()
        .filter(|(c, _)| *c == 1)
        .map(|(_, d)| d)
        .collect();
    assert!(!srs.is_empty());
    assert_eq!(srs[0][1], 200);
    let sr_ts = u32::from_be_bytes(srs[0][16..20].try_into().unwrap());
    let near = sr_ts.wrapping_sub(rtptime);
    assert!(near < 90_000 * 2, "SR rtp time {near} ticks after start");
    assert!(pkts.iter().any(|(c, _)| *c == 3));
    // The first access unit is an IDR preceded by in-band SPS and PPS.
    assert_eq!(v[0].payload[0] & 0x1f, 7);
    assert_eq!(v[1].payload[0] & 0x1f, 8);
}

#[test]
fn loops_with_continuous_timestamps_and_sequence_numbers() {
    let sim = start(mount_with(Faults::none()));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let v = video(&collect(&mut c, Duration::from_millis(4500)));
    for w in v.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
    }
    let frame_ts: Vec<u32> = v.iter().filter(|p| p.marker).map(|p| p.ts).collect();
    assert!(frame_ts.len() > 100, "{} frames", frame_ts.len());
    for w in frame_ts.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        // 3600 per frame at 25 fps; the loop boundary may add the audio's
        // extra tail (the shared loop period).
        assert!((3600..=3600 + 9000).contains(&d), "delta {d}");
    }
    let l = log(&sim);
    assert_eq!(l.sessions_started, 1);
    assert!(l.keyframes >= 4, "{l:?}");
}

#[test]
fn timestamp_jump_shifts_both_tracks() {
    let jump = 900_000;
    let sim = start(mount_with(Faults {
        timestamp_jump_after: Some((Duration::from_millis(700), jump)),
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let pkts = collect(&mut c, Duration::from_millis(1500));
    let frame_ts: Vec<u32> = video(&pkts)
        .iter()
        .filter(|p| p.marker)
        .map(|p| p.ts)
        .collect();
    let jumps: Vec<u32> = frame_ts
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .filter(|d| *d != 3600)
        .collect();
    assert_eq!(jumps, vec![jump as u32 + 3600]);
    let audio: Vec<u32> = pkts
        .iter()
        .filter(|(c, _)| *c == 2)
        .map(|(_, d)| parse_rtp(d).ts)
        .collect();
    let ajumps: Vec<u32> = audio
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .filter(|d| *d != 1024)
        .collect();
    assert_eq!(ajumps, vec![160_000 + 1024]);
}

#[test]
fn negative_timestamp_jump() {
    let sim = start(mount_with(Faults {
        timestamp_jump_after: Some((Duration::from_millis(500), -90_000)),
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let frame_ts: Vec<u32> = video(&collect(&mut c, Duration::from_millis(1000)))
        .iter()
        .filter(|p| p.marker)
        .map(|p| p.ts)
        .collect();
    let backwards = frame_ts
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == 3600u32.wrapping_sub(90_000))
        .count();
    assert_eq!(backwards, 1);
}

#[test]
fn drop_packets_is_deterministic() {
    let faults = Faults {
        drop_packets: 0.2,
        drop_seed: 42,
        ..Faults::none()
    };
    let sim = start(mount_with(faults));
    let mut lost = Vec::new();
    for _ in 0..2 {
        let mut c = RawClient::connect(sim.local_addr());
        let play = c.play_all(&sim.url("/cam"));
        let info = play.header("RTP-Info").unwrap().to_string();
        let seq0 = rtp_info_param(&info, 0, "seq") as u16;
        let v = video(&collect(&mut c, Duration::from_millis(800)));
        // Offsets (from the first seq) that arrived in the first 80 packets.
        let got: Vec<u16> = v
            .iter()
            .map(|p| p.seq.wrapping_sub(seq0))
            .filter(|o| *o < 80)
            .collect();
        lost.push(got);
    }
    assert!(
        lost[0].len() < 76 && lost[0].len() > 50,
        "{}",
        lost[0].len()
    );
    assert_eq!(lost[0], lost[1], "same seed, same losses");
    let l = log(&sim);
    assert!(l.packets_dropped > 0 && l.video_frames_damaged > 0, "{l:?}");
}

#[test]
fn stale_cseq_keepalive_answers_with_previous_cseq() {
    let sim = start(mount_with(Faults {
        stale_cseq_keepalive: true,
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    for method in ["GET_PARAMETER", "SET_PARAMETER"] {
        let sent = c.send(method, &sim.url("/cam"), &[]);
        let r = reply(&mut c);
        assert_eq!(r.status, 200);
        assert_eq!(r.cseq(), Some(sent - 1), "{method}");
    }
    // Switching the knob off at runtime restores correct CSeqs.
    sim.set_faults("/cam", Faults::none()).unwrap();
    let sent = c.send("GET_PARAMETER", &sim.url("/cam"), &[]);
    assert_eq!(reply(&mut c).cseq(), Some(sent));
}

fn reply(c: &mut RawClient) -> common::Reply {
    loop {
        if let Item::Reply(r) = c.next_item().unwrap() {
            return r;
        }
    }
}

#[test]
fn close_after_closes_the_connection() {
    let sim = start(mount_with(Faults {
        close_after: Some(Duration::from_millis(1000)),
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let t = Instant::now();
    let pkts = collect(&mut c, Duration::from_secs(4));
    assert!(c.eof, "connection should be closed");
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(900) && e < Duration::from_millis(2000),
        "{e:?}"
    );
    assert!(!pkts.is_empty());
    assert_eq!(log(&sim).closed_by_fault, 1);
}

#[test]
fn stall_after_goes_silent_but_keeps_the_connection() {
    let sim = start(mount_with(Faults {
        stall_after: Some(Duration::from_millis(500)),
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let before = collect(&mut c, Duration::from_millis(700));
    assert!(!before.is_empty());
    let frames = log(&sim).video_frames;
    c.set_read_timeout(Duration::from_millis(300));
    // Drain anything queued before the stall took effect.
    while c.next_item().is_some() {}
    c.send("GET_PARAMETER", &sim.url("/cam"), &[]);
    c.set_read_timeout(Duration::from_millis(1200));
    assert!(c.next_item().is_none());
    assert!(!c.eof, "stalled, not closed");
    assert_eq!(log(&sim).video_frames, frames);
}

#[test]
fn garbage_after_sends_unparseable_bytes() {
    let sim = start(mount_with(Faults {
        garbage_after: Some(Duration::from_millis(500)),
        ..Faults::none()
    }));
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let t = Instant::now();
    collect(&mut c, Duration::from_secs(3));
    assert!(t.elapsed() < Duration::from_millis(1500));
    assert!(!c.eof);
    assert_eq!(c.buffered().first(), Some(&0xff));
}

#[test]
fn sps_change_sends_new_parameter_sets_in_band() {
    let sim = start(
        SimConfig::new().mount(
            MountConfig::new("/cam", common::short_clip())
                .sps_change_source(common::small_clip())
                .faults(Faults {
                    sps_change_after: Some(Duration::from_millis(500)),
                    ..Faults::none()
                }),
        ),
    );
    let mut c = RawClient::connect(sim.local_addr());
    c.play_all(&sim.url("/cam"));
    let v = video(&collect(&mut c, Duration::from_millis(2200)));
    let mut spss: Vec<Vec<u8>> = v
        .iter()
        .filter(|p| p.payload[0] & 0x1f == 7)
        .map(|p| p.payload.clone())
        .collect();
    spss.dedup();
    assert_eq!(spss.len(), 2, "expected the SPS to change once");
    for w in v.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "same session, no gap");
    }
}

#[test]
fn malformed_request_gets_400_and_server_survives() {
    let sim = start(mount_with(Faults::none()));
    let mut c = RawClient::connect(sim.local_addr());
    c.write_raw(b"\x00\x01\x02 what\r\n\r\n");
    match c.next_item() {
        Some(Item::Reply(r)) => assert_eq!(r.status, 400),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(c.next_item().is_none() && c.eof);
    let mut c = RawClient::connect(sim.local_addr());
    assert_eq!(
        c.request("SETUP", &sim.url("/cam/trackID=0"), &[]).status,
        461
    );
    assert_eq!(c.request("PLAY", &sim.url("/cam"), &[]).status, 454);
    assert_eq!(c.request("FROB", &sim.url("/cam"), &[]).status, 501);
    assert_eq!(c.request("DESCRIBE", "rtsp://x/none", &[]).status, 404);
}

#[test]
fn runtime_fault_change_and_many_clients() {
    let sim = start(
        SimConfig::new()
            .mount(MountConfig::new("/cam", common::short_clip()))
            .mount(MountConfig::demo("/other")),
    );
    let mut clients: Vec<RawClient> = (0..3)
        .map(|i| {
            let mut c = RawClient::connect(sim.local_addr());
            c.play_all(&sim.url(if i == 2 { "/other" } else { "/cam" }));
            c
        })
        .collect();
    for c in &mut clients {
        assert!(!collect(c, Duration::from_millis(300)).is_empty());
    }
    assert_eq!(log(&sim).sessions_started, 2);
    assert_eq!(sim.frame_log("/other").unwrap().sessions_started, 1);
    sim.set_faults(
        "/cam",
        Faults {
            close_after: Some(Duration::ZERO),
            ..Faults::none()
        },
    )
    .unwrap();
    for c in &mut clients[..2] {
        collect(c, Duration::from_secs(2));
        assert!(c.eof);
    }
    assert!(!collect(&mut clients[2], Duration::from_millis(300)).is_empty());
    assert!(!clients[2].eof);
}
