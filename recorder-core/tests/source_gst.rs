//! The RTSP source against a real third-party server: GStreamer's RTSP
//! server (through python3-gi) serving `fixtures/gst_h264_bframes_aac.mp4`.
//!
//! Skips, with a printed reason, only when python3-gi with GstRtspServer
//! is missing. Set `CAMREC_PYTHON` to choose the interpreter.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use recorder_core::mux::CodecConfig;
use recorder_core::source::rtsp::SessionGroup;
use recorder_core::source::{connect, CameraUrl, SourceConfig, SourceError, SourceEvent};
use support::media::GstServer;

const SECRET: &str = "Pa55-w0rd";

/// GStreamer's RTSP server serving the fixture, requiring `auth` if given.
fn start_server(auth: Option<(&str, &str)>) -> Option<GstServer> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gst_h264_bframes_aac.mp4");
    GstServer::start_with_auth(&fixture, auth)
}

/// The server's URL with `creds` (`user:password@` or empty) in front of the host.
fn url(server: &GstServer, creds: &str) -> CameraUrl {
    CameraUrl::parse(&format!("rtsp://{creds}127.0.0.1:{}/test", server.port)).unwrap()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_records_video_and_audio_with_auth() {
    let Some(server) = start_server(Some(("camuser", SECRET))) else {
        return;
    };
    let cfg = SourceConfig::new(url(&server, &format!("camuser:{SECRET}@")));
    let group = Arc::new(SessionGroup::default());
    let mut session = connect(&cfg, &group).await.expect("connect");

    let tracks = session.tracks().to_vec();
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    match &tracks[0].codec {
        CodecConfig::H264 {
            avcc,
            width,
            height,
        } => {
            assert_eq!((*width, *height), (320, 240));
            assert_eq!(avcc[0], 1, "avcC version");
        }
        other => panic!("track 0 is {other:?}"),
    }
    assert_eq!(tracks[0].timescale, 90_000);
    match &tracks[1].codec {
        CodecConfig::Aac {
            asc,
            sample_rate,
            channels,
        } => {
            assert_eq!((*sample_rate, *channels), (48_000, 1));
            assert!(asc.len() >= 2);
        }
        other => panic!("track 1 is {other:?}"),
    }
    assert!(session.skipped_streams().is_empty());

    let start = Instant::now();
    let mut video = Vec::new();
    let mut audio = Vec::new();
    let mut srs = 0;
    let mut losses = 0;
    while start.elapsed() < Duration::from_secs(15) {
        match session.next().await.expect("next") {
            SourceEvent::Frame(f) => {
                let now = now_ns();
                assert!(
                    (f.wall.0 - now).abs() < 10_000_000_000,
                    "wall clock {} vs now {now}",
                    f.wall.0
                );
                if f.track == 0 {
                    video.push(f);
                } else {
                    audio.push(f);
                }
            }
            SourceEvent::SenderReport { .. } => srs += 1,
            SourceEvent::ParametersChanged { track, codec } => {
                panic!("unexpected parameter change on {track}: {codec:?}")
            }
            SourceEvent::Loss { track, packets } => {
                println!(
                    "loss on track {track}: {packets} packets after {} video / {} audio frames",
                    video.len(),
                    audio.len()
                );
                losses += packets;
            }
        }
        if video.last().is_some_and(|f| f.pts >= 3 * 90_000)
            && audio.last().is_some_and(|f| f.pts >= 3 * 48_000)
        {
            break;
        }
    }
    let info = session.probe_info();
    println!("{info}\nsender reports: {srs}, lost packets: {losses}");
    // gst-rtsp-server's RTP-Info sequence number can be one ahead of the
    // first audio packet; anything more would be a real loss on loopback.
    assert!(losses <= 2, "{losses} packets lost on loopback");
    assert!(video.len() >= 60, "{} video frames", video.len());
    assert!(audio.len() >= 120, "{} audio frames", audio.len());

    assert!(video[0].keyframe, "the first video frame is a keyframe");
    assert!(video.iter().filter(|f| f.keyframe).count() >= 2);
    assert!(video.iter().all(|f| f.duration_hint.is_none()));
    // With B-frames pts is not monotonic in decode order, but keyframes
    // (and the overall maximum) advance, one frame (3600 ticks) apart.
    let kf: Vec<i64> = video.iter().filter(|f| f.keyframe).map(|f| f.pts).collect();
    assert!(kf.windows(2).all(|w| w[1] > w[0]), "{kf:?}");
    let mut pts: Vec<i64> = video.iter().map(|f| f.pts).collect();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), video.len(), "no duplicate video pts");
    // B-frames of the last group may still be in flight: check spacing up
    // to the last keyframe.
    let last_kf = *kf.last().unwrap();
    let gaps: Vec<i64> = pts
        .windows(2)
        .filter(|w| w[1] <= last_kf)
        .map(|w| w[1] - w[0])
        .filter(|&d| d != 3600)
        .collect();
    assert!(gaps.is_empty(), "25 fps spacing, found gaps {gaps:?}");
    println!("{:?}", info.timeline);
    // Audio: strictly increasing by one AAC frame. gst's rtpmp4gpay
    // rounds nanosecond buffer times to the 48 kHz clock, so its RTP
    // timestamps alternate 1023/1025; the source passes them on as sent.
    for w in audio.windows(2) {
        assert!(
            (w[1].pts - w[0].pts - 1024).abs() <= 1 && w[1].wall > w[0].wall,
            "audio steps from pts {} wall {:?} to pts {} wall {:?}",
            w[0].pts,
            w[0].wall,
            w[1].pts,
            w[1].wall
        );
    }
    assert!(audio.iter().all(|f| f.duration_hint == Some(1024)));
    // Both tracks start together in the file; the source aligns them
    // within a few frames whether or not sender reports were seen.
    let v0 = video[0].pts as f64 / 90_000.0;
    let a0 = audio[0].pts as f64 / 48_000.0;
    assert!(
        (v0 - a0).abs() < 0.2,
        "video starts at {v0} s, audio at {a0} s"
    );
    // Wall clock advances with media time.
    let last = video.iter().max_by_key(|f| f.pts).unwrap();
    let dwall = (last.wall.0 - video[0].wall.0) as f64 / 1e9;
    let dpts = (last.pts - video[0].pts) as f64 / 90_000.0;
    assert!(
        (dwall - dpts).abs() < 1.0,
        "wall {dwall} s vs media {dpts} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_wrong_password_is_unauthorized() {
    let Some(server) = start_server(Some(("camuser", SECRET))) else {
        return;
    };
    let group = Arc::new(SessionGroup::default());
    let wrong = "Wr0ng-Secret";
    let cfg = SourceConfig::new(url(&server, &format!("camuser:{wrong}@")));
    let err = connect(&cfg, &group).await.expect_err("must fail");
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_config_error());
    let msg = err.to_string();
    println!("{msg}");
    assert!(!msg.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(msg.contains("check the credentials"));

    // No credentials at all: the same, clear error.
    let cfg = SourceConfig::new(url(&server, ""));
    let err = connect(&cfg, &group).await.expect_err("must fail");
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn source_refused_port_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = CameraUrl::parse(&format!("rtsp://u:{SECRET}@127.0.0.1:{port}/x")).unwrap();
    let mut cfg = SourceConfig::new(url);
    cfg.connect_timeout = Duration::from_secs(2);
    let t = Instant::now();
    let err = connect(&cfg, &Arc::new(SessionGroup::default()))
        .await
        .expect_err("nothing listens there");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(!err.is_config_error());
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")));
    assert!(!msg.contains(SECRET));
}

#[tokio::test]
async fn source_silent_server_times_out_as_unreachable() {
    // Accepts the TCP connection but never answers, like a hung camera.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let url = CameraUrl::parse(&format!("rtsp://127.0.0.1:{port}/x")).unwrap();
    let mut cfg = SourceConfig::new(url);
    cfg.connect_timeout = Duration::from_millis(800);
    let t = Instant::now();
    let err = connect(&cfg, &Arc::new(SessionGroup::default()))
        .await
        .expect_err("no answer");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );
    match &err {
        SourceError::Unreachable { timeout, .. } => {
            assert_eq!(*timeout, Some(Duration::from_millis(800)))
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("0.8 s"), "{err}");
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_udp_transport_delivers_frames() {
    let Some(server) = start_server(None) else {
        return;
    };
    let mut cfg = SourceConfig::new(url(&server, ""));
    cfg.transport = recorder_core::source::Transport::Udp;
    let mut session = connect(&cfg, &Arc::new(SessionGroup::default()))
        .await
        .expect("connect over UDP");
    let (mut v, mut a) = (0, 0);
    while v < 25 || a < 40 {
        if let SourceEvent::Frame(f) = session.next().await.expect("next") {
            if f.track == 0 {
                v += 1;
            } else {
                a += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_silence_after_the_file_ends_is_a_stall() {
    let Some(server) = start_server(None) else {
        return;
    };
    let mut cfg = SourceConfig::new(url(&server, ""));
    cfg.stall_timeout = Duration::from_millis(1500);
    let mut session = connect(&cfg, &Arc::new(SessionGroup::default()))
        .await
        .expect("connect");
    let start = Instant::now();
    let mut frames = 0;
    let err = loop {
        match session.next().await {
            Ok(SourceEvent::Frame(_)) => frames += 1,
            Ok(_) => {}
            Err(e) => break e,
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never stalled");
    };
    println!("{err} after {frames} frames");
    // The 6 s file plays to its end; then gst either closes the session or
    // goes quiet, and the watchdog must notice the quiet.
    assert!(
        matches!(
            err,
            SourceError::Stalled { .. } | SourceError::EndOfStream { .. }
        ),
        "{err:?}"
    );
    assert!(
        frames > 350,
        "the whole file arrived first ({frames} frames)"
    );
}
