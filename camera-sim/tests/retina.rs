//! Checks the simulator against retina, the client camrec uses.

mod common;

use std::time::Duration;

use camera_sim::{AuthMode, Faults, MountConfig, SimConfig, SimHandle, Simulator};
use futures::StreamExt;
use retina::client::{
    Credentials, Demuxed, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport, UdpTransportOptions,
};
use retina::codec::CodecItem;

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn open(
    sim: &SimHandle,
    path: &str,
    creds: Option<Credentials>,
    transport: Transport,
) -> Result<Demuxed, retina::Error> {
    let url = url::Url::parse(&sim.url(path)).unwrap();
    let mut session =
        retina::client::Session::describe(url, SessionOptions::default().creds(creds)).await?;
    for i in 0..session.streams().len() {
        session
            .setup(i, SetupOptions::default().transport(transport.clone()))
            .await?;
    }
    session.play(PlayOptions::default()).await?.demuxed()
}

#[derive(Debug, Default)]
struct Seen {
    video: u64,
    keyframes: u64,
    audio: u64,
    rtcp: u64,
    sizes: Vec<(u32, u32)>,
    video_ts: Vec<i64>,
    error: Option<String>,
    /// The stream ended (EOF or error) before the deadline.
    ended: bool,
}

/// Reads items for `dur` (or until the stream ends or errors).
async fn watch(demuxed: &mut Demuxed, dur: Duration) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + dur;
    loop {
        let item = match tokio::time::timeout_at(deadline, demuxed.next()).await {
            Err(_) => break,
            Ok(None) => {
                seen.ended = true;
                break;
            }
            Ok(Some(Err(e))) => {
                seen.error = Some(e.to_string());
                seen.ended = true;
                break;
            }
            Ok(Some(Ok(i))) => i,
        };
        match item {
            CodecItem::VideoFrame(f) => {
                seen.video += 1;
                seen.keyframes += u64::from(f.is_random_access_point());
                seen.video_ts.push(f.timestamp().elapsed());
                if f.has_new_parameters() || seen.sizes.is_empty() {
                    if let Some(retina::codec::ParametersRef::Video(v)) =
                        demuxed.streams()[f.stream_id()].parameters()
                    {
                        seen.sizes.push(v.pixel_dimensions());
                    }
                }
            }
            CodecItem::AudioFrame(_) => seen.audio += 1,
            CodecItem::Rtcp(_) => seen.rtcp += 1,
            _ => {}
        }
    }
    seen
}

fn tcp() -> Transport {
    Transport::Tcp(TcpTransportOptions::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_plays_over_tcp_and_counts_match() {
    let sim = start(SimConfig::demo()).await;
    let mut d = open(&sim, "/stream1", None, tcp()).await.unwrap();
    let seen = watch(&mut d, Duration::from_millis(2500)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.sizes, vec![(640, 360)]);
    assert!(seen.video >= 55, "{seen:?}");
    assert!(
        seen.keyframes >= 2 && seen.audio >= 30 && seen.rtcp >= 2,
        "{seen:?}"
    );
    for w in seen.video_ts.windows(2) {
        assert_eq!(w[1] - w[0], 3600);
    }
    drop(d);
    let sent = sim.frame_log("/stream1").unwrap();
    // The client may have missed only what was in flight when it stopped.
    assert!(sent.video_frames >= seen.video && sent.video_frames <= seen.video + 3);
    assert!(sent.keyframes >= seen.keyframes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_plays_over_udp() {
    let sim = start(SimConfig::demo()).await;
    let mut d = open(
        &sim,
        "/stream1",
        None,
        Transport::Udp(UdpTransportOptions::default()),
    )
    .await
    .unwrap();
    let seen = watch(&mut d, Duration::from_millis(1500)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert!(seen.video >= 30 && seen.audio >= 15, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_digest_and_basic_auth() {
    for mode in [AuthMode::Digest, AuthMode::Basic] {
        let sim = start(SimConfig::demo().credentials("admin", "secret", mode)).await;
        let good = Credentials {
            username: "admin".into(),
            password: "secret".into(),
        };
        let mut d = open(&sim, "/stream1", Some(good), tcp()).await.unwrap();
        assert!(watch(&mut d, Duration::from_millis(500)).await.video > 5);
        let bad = Credentials {
            username: "admin".into(),
            password: "nope".into(),
        };
        let err = open(&sim, "/stream1", Some(bad), tcp())
            .await
            .err()
            .unwrap();
        assert_eq!(err.status_code(), Some(401), "{mode:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_sees_sps_change_in_the_same_session() {
    let sim = start(
        SimConfig::new().mount(
            MountConfig::new("/cam", common::short_clip())
                .sps_change_source(common::small_clip())
                .faults(Faults {
                    sps_change_after: Some(Duration::from_millis(800)),
                    ..Faults::none()
                }),
        ),
    )
    .await;
    let mut d = open(&sim, "/cam", None, tcp()).await.unwrap();
    let seen = watch(&mut d, Duration::from_millis(2500)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.sizes, vec![(640, 360), (320, 240)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_session_ends_on_close_after() {
    let sim = start(
        SimConfig::demo().mount(MountConfig::demo("/tapo").faults(Faults {
            close_after: Some(Duration::from_millis(700)),
            ..Faults::none()
        })),
    )
    .await;
    let mut d = open(&sim, "/tapo", None, tcp()).await.unwrap();
    let t = std::time::Instant::now();
    let seen = watch(&mut d, Duration::from_secs(3)).await;
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(seen.video > 5);
    // retina ends the stream (without an error) when the server closes it.
    assert!(seen.ended, "retina should see the closed connection");
    // The other mount is unaffected.
    let mut d = open(&sim, "/stream1", None, tcp()).await.unwrap();
    assert!(watch(&mut d, Duration::from_millis(1200))
        .await
        .error
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_with_stale_cseq_keepalives() {
    let sim = start(
        SimConfig::new()
            .session_timeout(2)
            .mount(MountConfig::demo("/tapo").faults(Faults {
                stale_cseq_keepalive: true,
                ..Faults::none()
            })),
    )
    .await;
    let mut d = open(&sim, "/tapo", None, tcp()).await.unwrap();
    let seen = watch(&mut d, Duration::from_secs(5)).await;
    // Reproduces the Tapo failure camrec must survive: retina drops the
    // session at the first keepalive (sent every ~timeout/2 = 1 s).
    let err = seen.error.expect("retina should reject the stale reply");
    assert!(err.contains("Unexpected RTSP response"), "{err}");
    assert!(seen.video > 10);
}
