//! An RTSP 1.0 camera simulator for camrec's tests.
//!
//! It serves MP4 files (H.264 or H.265 video, AAC audio) as live cameras:
//! real-time paced RTP over TCP-interleaved or UDP transport, looping
//! forever with continuous timestamps, with RTCP sender reports, optional
//! Basic/Digest authentication, and fault knobs that reproduce the ways
//! real cameras misbehave.
//!
//! ```no_run
//! # async fn demo() -> Result<(), camera_sim::SimError> {
//! use camera_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::demo(), "127.0.0.1:0".parse().unwrap()).await?;
//! let url = sim.url("/stream1"); // rtsp://127.0.0.1:PORT/stream1
//! // ... point a client at `url`, then compare with:
//! let sent = sim.frame_log("/stream1").unwrap();
//! # let _ = (url, sent);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod auth;
mod config;
mod error;
mod faults;
mod media;
mod packetize;
mod player;
mod rtcp;
mod rtp;
mod rtsp;
mod sdp;
mod server;
mod session;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub use config::{AuthMode, Credentials, MediaSource, MountConfig, SimConfig};
pub use error::{Result, SimError};
pub use faults::Faults;
pub use stats::FrameLog;

use server::{Mount, Shared};

/// The built-in demo clip: 10 s of 640x360 25 fps H.264 (constrained
/// baseline, keyframe every second, no B-frames) with AAC-LC mono 16 kHz.
/// Regenerate with `assets/make-demo.sh`.
pub const DEMO_MP4: &[u8] = include_bytes!("../assets/demo.mp4");

/// Entry point for starting simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Loads every mount's media and starts serving on `bind_addr` (use port
    /// 0 for an ephemeral port) as a task on the current tokio runtime.
    ///
    /// The server stops on [`SimHandle::shutdown`], when the handle is
    /// dropped, or when the runtime shuts down.
    pub async fn start(config: SimConfig, bind_addr: SocketAddr) -> Result<SimHandle> {
        let shared = Arc::new(build_shared(config)?);
        let listener = tokio::net::TcpListener::bind(bind_addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), rx));
        Ok(SimHandle {
            addr,
            shared,
            shutdown: tx,
            thread: Mutex::new(None),
        })
    }

    /// Like [`Simulator::start`], but runs the server on its own thread with
    /// its own single-threaded runtime, so it can be used from synchronous
    /// tests or alongside a runtime that may block.
    pub fn start_in_thread(config: SimConfig, bind_addr: SocketAddr) -> Result<SimHandle> {
        let shared = Arc::new(build_shared(config)?);
        let std_listener = std::net::TcpListener::bind(bind_addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = watch::channel(false);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("camera-sim {addr}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => server::serve(l, thread_shared, rx).await,
                        Err(e) => tracing::error!("camera-sim listener: {e}"),
                    }
                });
            })?;
        Ok(SimHandle {
            addr,
            shared,
            shutdown: tx,
            thread: Mutex::new(Some(thread)),
        })
    }
}

fn build_shared(config: SimConfig) -> Result<Shared> {
    if config.mounts.is_empty() {
        return Err(SimError::Config("no mounts".into()));
    }
    let mut mounts = HashMap::new();
    for m in config.mounts {
        let clip = Arc::new(media::load(&m.source)?);
        let alt_clip = m
            .sps_change_source
            .as_ref()
            .map(media::load)
            .transpose()?
            .map(Arc::new);
        if let Some(alt) = &alt_clip {
            if std::mem::discriminant(&alt.video.codec) != std::mem::discriminant(&clip.video.codec)
            {
                return Err(SimError::Config(format!(
                    "{}: sps_change_source must use the same video codec",
                    m.path
                )));
            }
        }
        if m.faults.sps_change_after.is_some() && alt_clip.is_none() {
            return Err(SimError::Config(format!(
                "{}: sps_change_after needs MountConfig::sps_change_source",
                m.path
            )));
        }
        let mount = Mount {
            clip,
            alt_clip,
            faults: Mutex::new(m.faults),
            counters: Default::default(),
        };
        if mounts.insert(m.path.clone(), Arc::new(mount)).is_some() {
            return Err(SimError::Config(format!("duplicate mount {}", m.path)));
        }
    }
    Ok(Shared {
        mounts,
        credentials: config.credentials,
        session_timeout: config.session_timeout.unwrap_or(60).max(1),
    })
}

/// A running simulator. Dropping it shuts the server down.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SimHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `rtsp://IP:PORT/path` without credentials.
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://{}{}", self.addr, normalize(path))
    }

    /// `rtsp://user:password@IP:PORT/path` with the configured credentials
    /// (same as [`SimHandle::url`] if none are configured). Not
    /// percent-encoded: keep test credentials URL-safe.
    pub fn url_with_credentials(&self, path: &str) -> String {
        match &self.shared.credentials {
            Some(c) => format!(
                "rtsp://{}:{}@{}{}",
                c.user,
                c.password,
                self.addr,
                normalize(path)
            ),
            None => self.url(path),
        }
    }

    /// What the mount at `path` has sent so far, or `None` for an unknown path.
    pub fn frame_log(&self, path: &str) -> Option<FrameLog> {
        self.mount(path).map(|m| m.counters.snapshot())
    }

    /// The mount's current fault knobs.
    pub fn faults(&self, path: &str) -> Option<Faults> {
        self.mount(path).map(|m| m.faults())
    }

    /// Replaces the mount's fault knobs; playing sessions pick them up within
    /// ~100 ms (times still count from each session's `PLAY`).
    pub fn set_faults(&self, path: &str, faults: Faults) -> Result<()> {
        let mount = self
            .mount(path)
            .ok_or_else(|| SimError::UnknownMount(path.to_string()))?;
        if faults.sps_change_after.is_some() && mount.alt_clip.is_none() {
            return Err(SimError::Config(format!(
                "{path}: sps_change_after needs MountConfig::sps_change_source"
            )));
        }
        *mount.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
        Ok(())
    }

    /// Stops accepting connections and ends every session. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn mount(&self, path: &str) -> Option<&Arc<Mount>> {
        self.shared.mounts.get(&normalize(path))
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn normalize(path: &str) -> String {
    MountConfig::new(path, MediaSource::Bytes(bytes::Bytes::new()))
        .path()
        .to_string()
}
