//! Real S3 servers on loopback for the S3 sink tests (moto, Garage), a
//! fault-injecting TCP proxy to put in front of them, and helpers to feed a
//! muxer through a sink and check what lands in the bucket.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder_core::mux::{EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec};
use recorder_core::sink::s3::{S3Config, S3Sink, S3Store};
use recorder_core::sink::{SegmentSink, StoredSegment};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

pub use super::garage::{GARAGE_BUCKET, GARAGE_KEY_ID, GARAGE_SECRET};

fn tools_dir() -> PathBuf {
    std::env::var_os("CAMREC_S3_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camrec-s3")
        })
}

fn find_tool(env: &str, rel: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let p = tools_dir().join(rel);
    p.exists().then_some(p)
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if StdStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A server process, killed on drop.
pub struct Server {
    pub port: u16,
    pub child: Option<Child>,
    cmd: Vec<String>,
    pub dir: Option<tempfile::TempDir>,
    pub key_id: String,
    pub secret: String,
    pub region: String,
    pub bucket: Option<String>,
}

impl Server {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server");
        self.child = Some(child);
        assert!(
            wait_port(self.port, Duration::from_secs(30)),
            "server {:?} did not open port {}",
            self.cmd,
            self.port
        );
    }

    /// Kills the process (like a crash of the store).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (and data dir).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A config pointing at this server.
    pub fn config(&self, bucket: &str, spool: &Path) -> S3Config {
        let mut cfg = S3Config::new(bucket)
            .with_endpoint(self.endpoint())
            .with_credentials(&self.key_id, &self.secret);
        cfg.region = self.region.clone();
        cfg.spool_dir = spool.to_owned();
        cfg.retry.initial = Duration::from_millis(100);
        cfg.retry.max = Duration::from_millis(800);
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.request_timeout = Duration::from_secs(20);
        cfg
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto (`moto_server`), or `None` with a printed reason.
pub fn moto() -> Option<Server> {
    let Some(bin) = find_tool("CAMREC_MOTO_SERVER", "moto/bin/moto_server") else {
        eprintln!(
            "SKIP: moto_server not installed (run scripts/s3-test-servers.sh install, or set CAMREC_MOTO_SERVER)"
        );
        return None;
    };
    let port = free_port();
    let mut s = Server {
        port,
        child: None,
        cmd: vec![
            bin.to_string_lossy().into_owned(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        dir: None,
        key_id: "testing".into(),
        secret: "testing-secret".into(),
        region: "us-east-1".into(),
        bucket: None,
    };
    s.spawn();
    Some(s)
}

/// A one-node Garage with key [`GARAGE_KEY_ID`] and bucket
/// [`GARAGE_BUCKET`], or `None` with a printed reason.
pub fn garage() -> Option<Server> {
    let Some(bin) = find_tool("CAMREC_GARAGE", "garage/bin/garage") else {
        eprintln!(
            "SKIP: garage not installed (run scripts/s3-test-servers.sh install, or set CAMREC_GARAGE)"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg_path = super::garage::write_config(dir.path(), port, free_port());
    let bin_s = bin.to_string_lossy().into_owned();
    let cfg_s = cfg_path.to_string_lossy().into_owned();
    let mut s = Server {
        port,
        child: None,
        cmd: vec![bin_s.clone(), "-c".into(), cfg_s.clone(), "server".into()],
        dir: Some(dir),
        key_id: GARAGE_KEY_ID.into(),
        secret: GARAGE_SECRET.into(),
        region: "garage".into(),
        bucket: Some(GARAGE_BUCKET.into()),
    };
    s.spawn();
    super::garage::init_cluster(&bin, &cfg_path);
    Some(s)
}

/// What the proxy does with connections.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward to the server.
    Pass = 0,
    /// Close every connection at once (a store that is down).
    Refuse = 1,
    /// Answer every request with `503 Service Unavailable`.
    Unavailable = 2,
    /// Forward after a 1.5 s delay.
    Slow = 3,
}

/// A TCP proxy on loopback in front of a real server, for injecting faults.
pub struct Proxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let (generation, gen_rx) = watch::channel(0u64);
        let m = mode.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mode = m.load(Ordering::SeqCst);
                let mut gen_rx = gen_rx.clone();
                gen_rx.mark_unchanged();
                tokio::spawn(async move {
                    match mode {
                        1 => drop(conn),
                        2 => {
                            let _ = conn
                                .write_all(
                                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                )
                                .await;
                            let _ = conn.shutdown().await;
                        }
                        _ => {
                            if mode == 3 {
                                tokio::time::sleep(Duration::from_millis(1500)).await;
                            }
                            let addr: SocketAddr = ([127, 0, 0, 1], upstream).into();
                            let Ok(mut up) = tokio::net::TcpStream::connect(addr).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut conn, &mut up) => {}
                                // A mode change cuts pooled connections.
                                _ = gen_rx.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            mode,
            generation,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// `frames` repeated `times`, each copy shifted after the previous one
/// (the fixture starts with a keyframe, so every copy starts a GOP).
pub fn repeat_frames(tracks: &[TrackSpec], frames: &[Frame], times: usize) -> Vec<Frame> {
    let span: Vec<i64> = (0..tracks.len())
        .map(|t| {
            let ts: Vec<&Frame> = frames.iter().filter(|f| f.track == t).collect();
            let min = ts.iter().map(|f| f.pts).min().unwrap_or(0);
            let max = ts.iter().map(|f| f.pts).max().unwrap_or(0);
            let step = if ts.len() > 1 {
                (max - min) / (ts.len() as i64 - 1)
            } else {
                0
            };
            max - min + step
        })
        .collect();
    // Use one duration for all tracks so they stay aligned (in seconds).
    let secs = span
        .iter()
        .zip(tracks)
        .map(|(s, t)| *s as f64 / t.timescale as f64)
        .fold(0.0, f64::max);
    let mut out = Vec::with_capacity(frames.len() * times);
    for i in 0..times {
        for f in frames {
            let mut f = f.clone();
            let ts = tracks[f.track].timescale as f64;
            let shift = (secs * i as f64 * ts).round() as i64;
            f.pts += shift;
            f.wall = recorder_core::mux::WallTime(f.wall.0 + (secs * i as f64 * 1e9) as i64);
            out.push(f);
        }
    }
    out
}

/// Video frames in `frames`.
pub fn video_frames(tracks: &[TrackSpec], frames: &[Frame]) -> u64 {
    frames
        .iter()
        .filter(|f| tracks[f.track].codec.is_video())
        .count() as u64
}

/// [`record`] one segment of `frames` into a new sink of `store` for
/// `camera`. The sink is returned so crash tests decide when it goes away.
pub async fn record_one(
    store: &S3Store,
    camera: &str,
    tracks: Vec<TrackSpec>,
    frames: Vec<Frame>,
    between: impl FnMut(usize) -> Option<Duration>,
    finish: bool,
) -> (S3Sink, Recorded) {
    let mut sink = store.sink(camera);
    let rec = record(
        &mut sink,
        camera,
        tracks,
        frames,
        one_segment(),
        between,
        finish,
    )
    .await;
    (sink, rec)
}

/// Waits (up to `limit`) until the store has uploaded `n` parts.
pub async fn wait_for_parts(store: &S3Store, n: u64, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while store.status().parts_uploaded < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Feeds `frames` through a muxer into `sink` (one segment per
/// `segment` duration), calling `between(i)` after each fragment; returns
/// the stored segments.
pub async fn record<S: SegmentSink>(
    sink: &mut S,
    camera: &str,
    tracks: Vec<TrackSpec>,
    frames: Vec<Frame>,
    cfg: MuxerConfig,
    mut between: impl FnMut(usize) -> Option<Duration>,
    finish: bool,
) -> Recorded {
    let video = tracks.iter().position(|t| t.codec.is_video()).unwrap();
    let mut mux = Muxer::new(tracks, cfg).unwrap();
    let mut video_in_fragments = 0u64;
    let mut events = Vec::new();
    let mut stored = Vec::new();
    let mut nfrag = 0;
    for f in frames {
        mux.push(f, &mut events).unwrap();
        for ev in events.drain(..) {
            match ev {
                MuxEvent::SegmentStarted(s) => sink.start(camera, &s).await.unwrap(),
                MuxEvent::Fragment(fr) => {
                    sink.fragment(&fr).await.unwrap();
                    video_in_fragments += u64::from(fr.samples[video]);
                    nfrag += 1;
                    if let Some(d) = between(nfrag) {
                        tokio::time::sleep(d).await;
                    }
                }
                MuxEvent::SegmentFinished(e) => stored.push(sink.finish(&e).await.unwrap()),
            }
        }
    }
    if finish {
        mux.finish(EndReason::Finished, &mut events);
        for ev in events.drain(..) {
            match ev {
                MuxEvent::SegmentStarted(s) => sink.start(camera, &s).await.unwrap(),
                MuxEvent::Fragment(fr) => {
                    sink.fragment(&fr).await.unwrap();
                    video_in_fragments += u64::from(fr.samples[video]);
                }
                MuxEvent::SegmentFinished(e) => stored.push(sink.finish(&e).await.unwrap()),
            }
        }
    }
    Recorded {
        stored,
        video_in_fragments,
    }
}

/// What [`record`] fed.
pub struct Recorded {
    /// Segments finished.
    pub stored: Vec<StoredSegment>,
    /// Video frames in the fragments handed to the sink.
    pub video_in_fragments: u64,
}

/// `mvhd` timescale and duration of an MP4 file's bytes.
pub fn mvhd_duration(data: &[u8]) -> (u32, u64) {
    let at = data.windows(4).position(|w| w == b"mvhd").unwrap() + 4;
    let version = data[at];
    let b = &data[at + 4..];
    if version == 1 {
        let ts = u32::from_be_bytes(b[16..20].try_into().unwrap());
        let d = u64::from_be_bytes(b[20..28].try_into().unwrap());
        (ts, d)
    } else {
        let ts = u32::from_be_bytes(b[8..12].try_into().unwrap());
        let d = u32::from_be_bytes(b[12..16].try_into().unwrap());
        (ts, u64::from(d))
    }
}

/// Downloads `key` into `dir`, returning the path.
pub async fn download(store: &S3Store, key: &str, dir: &Path) -> PathBuf {
    let out = store
        .client()
        .get_object()
        .bucket(&store.config().bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    let bytes = out.body.collect().await.unwrap().into_bytes();
    let path = dir.join(key.replace('/', "_"));
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// Every key in the bucket.
pub async fn list_keys(store: &S3Store) -> Vec<String> {
    store
        .client()
        .list_objects_v2()
        .bucket(&store.config().bucket)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|page| page.contents.unwrap_or_default())
        .filter_map(|o| o.key)
        .collect()
}

/// Open multipart uploads in the bucket.
pub async fn open_uploads(store: &S3Store) -> Vec<String> {
    let out = store
        .client()
        .list_multipart_uploads()
        .bucket(&store.config().bucket)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_owned))
        .collect()
}

/// A muxer config with one long segment and 1 s fragments.
pub fn one_segment() -> MuxerConfig {
    MuxerConfig {
        segment_duration: Duration::from_secs(3600),
        ..MuxerConfig::default()
    }
}

/// Content type and user metadata of an object.
pub async fn head_meta(
    store: &S3Store,
    key: &str,
) -> (Option<String>, std::collections::HashMap<String, String>) {
    let h = store
        .client()
        .head_object()
        .bucket(&store.config().bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    (
        h.content_type().map(str::to_owned),
        h.metadata().cloned().unwrap_or_default(),
    )
}
