//! The RTSP server: accepting connections and answering requests.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::auth::Authenticator;
use crate::config::Credentials;
use crate::faults::Faults;
use crate::media::Clip;
use crate::player::{self, ConnState, Out, Output};
use crate::rtsp::request::{self, Incoming, Request};
use crate::rtsp::response::Response;
use crate::sdp;
use crate::session::{
    bind_udp_pair, parse_transport, ClientTransport, Session, TrackKind, TrackSetup, TrackTransport,
};
use crate::stats::MountCounters;

const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN";
/// Queue between players/request handler and the socket writer. Bounded so
/// a client that stops reading slows the player instead of growing memory.
const OUT_QUEUE: usize = 1024;

/// A served path with its media, faults and counters.
#[derive(Debug)]
pub(crate) struct Mount {
    pub clip: Arc<Clip>,
    pub alt_clip: Option<Arc<Clip>>,
    pub faults: Mutex<Faults>,
    pub counters: MountCounters,
}

impl Mount {
    /// Current fault knobs (a poisoned lock still holds valid data).
    pub(crate) fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Server-wide state shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub mounts: HashMap<String, Arc<Mount>>,
    pub credentials: Option<Credentials>,
    pub session_timeout: u32,
}

/// Accepts connections until `shutdown` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let state = Arc::new(ConnState::default());
    let writer_state = state.clone();
    let mut writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Data(d) => {
                    if writer_state
                        .stalled
                        .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        continue;
                    }
                    if wr.write_all(&d).await.is_err() {
                        return;
                    }
                }
                Out::Close => {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    });
    let mut conn = Conn {
        shared: shared.clone(),
        out: Output { tx, conn: state },
        auth: shared.credentials.clone().map(Authenticator::new),
        sessions: HashMap::new(),
        last_cseq: None,
        pending_go: None,
        next_channel: 0,
        peer_ip: peer.ip(),
        local_ip: local.ip(),
    };
    let mut buf = BytesMut::with_capacity(4096);
    let mut writer_done = false;
    'conn: loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            n = rd.read_buf(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                loop {
                    match request::parse(&mut buf) {
                        Ok(None) => break,
                        Ok(Some(Incoming::Interleaved)) => {}
                        Ok(Some(Incoming::Request(req))) => {
                            if conn.handle(req).await.is_err() {
                                break 'conn;
                            }
                        }
                        Err(e) => {
                            debug!("closing {peer}: unparseable request {e:?}");
                            let _ = conn.send(Response::new(400), None).await;
                            break 'conn;
                        }
                    }
                }
            }
        }
    }
    // Dropping the sessions aborts their players; dropping the sender lets
    // the writer flush what is queued (e.g. a 400) and finish.
    conn.sessions.clear();
    drop(conn);
    if !writer_done {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer).await;
        writer.abort();
    }
}

/// The connection is gone; stop handling requests.
struct Closed;

struct Conn {
    shared: Arc<Shared>,
    out: Output,
    auth: Option<Authenticator>,
    sessions: HashMap<String, Session>,
    last_cseq: Option<u32>,
    /// Starts the player spawned by the current PLAY once its reply is queued.
    pending_go: Option<tokio::sync::oneshot::Sender<()>>,
    next_channel: u8,
    peer_ip: IpAddr,
    local_ip: IpAddr,
}

impl Conn {
    async fn send(&self, resp: Response, cseq: Option<u32>) -> Result<(), Closed> {
        self.out
            .tx
            .send(Out::Data(resp.encode(cseq)))
            .await
            .map_err(|_| Closed)
    }

    async fn handle(&mut self, req: Request) -> Result<(), Closed> {
        let mut cseq = req.cseq();
        let resp = self.respond(&req, &mut cseq).await;
        self.last_cseq = req.cseq().or(self.last_cseq);
        self.send(resp, cseq).await?;
        if let Some(go) = self.pending_go.take() {
            let _ = go.send(());
        }
        Ok(())
    }

    /// Finds the mount a request path refers to, and the track suffix.
    fn mount_for(&self, path: &str) -> Option<(Arc<Mount>, Option<TrackKind>)> {
        if let Some(m) = self.shared.mounts.get(path) {
            return Some((m.clone(), None));
        }
        let (base, last) = path.rsplit_once('/')?;
        let base = if base.is_empty() { "/" } else { base };
        let m = self.shared.mounts.get(base)?;
        let kind = match last {
            sdp::VIDEO_CONTROL => TrackKind::Video,
            sdp::AUDIO_CONTROL if m.clip.audio.is_some() => TrackKind::Audio,
            _ => return None,
        };
        Some((m.clone(), Some(kind)))
    }

    async fn respond(&mut self, req: &Request, cseq: &mut Option<u32>) -> Response {
        if req.method != "OPTIONS" {
            if let Some(auth) = &self.auth {
                if !auth.check(&req.method, req.header("Authorization")) {
                    return Response::new(401).header("WWW-Authenticate", auth.challenge());
                }
            }
        }
        match req.method.as_str() {
            "OPTIONS" => Response::new(200).header("Public", PUBLIC),
            "DESCRIBE" => self.describe(req),
            "SETUP" => self.setup(req).await,
            "PLAY" => self.play(req),
            "TEARDOWN" => match req.session_id() {
                Some(id) if self.sessions.remove(id).is_some() => Response::new(200),
                _ => Response::new(
                    req.path()
                        .and_then(|p| self.mount_for(&p))
                        .and_then(|(m, _)| m.faults().teardown_unknown_status)
                        .unwrap_or(454),
                ),
            },
            "GET_PARAMETER" | "SET_PARAMETER" => self.keepalive(req, cseq),
            "PAUSE" => Response::new(501),
            _ => Response::new(501).header("Public", PUBLIC),
        }
    }

    fn describe(&self, req: &Request) -> Response {
        let Some(path) = req.path() else {
            return Response::new(400);
        };
        let Some(mount) = self.shared.mounts.get(&path) else {
            return Response::new(404);
        };
        let host = self.local_ip.to_string();
        let body = sdp::describe(
            &mount.clip,
            rand::random::<u32>().into(),
            &host,
            !mount.faults().no_parameter_sets,
        );
        let base = format!("{}/", req.uri.trim_end_matches('/'));
        Response::new(200)
            .header("Content-Base", base)
            .body("application/sdp", body)
    }

    async fn setup(&mut self, req: &Request) -> Response {
        let Some((mount, kind)) = req.path().and_then(|p| self.mount_for(&p)) else {
            return Response::new(404);
        };
        let kind = match kind {
            Some(k) => k,
            // A bare mount URL is only unambiguous without audio.
            None if mount.clip.audio.is_none() => TrackKind::Video,
            None => return Response::new(459),
        };
        let Some(client) = req.header("Transport").and_then(parse_transport) else {
            return Response::new(461);
        };
        if let Some(id) = req.session_id() {
            match self.sessions.get(id) {
                None => return Response::new(454),
                Some(s) if !Arc::ptr_eq(&s.mount, &mount) => return Response::new(459),
                Some(s) if s.player.is_some() => return Response::new(455),
                Some(_) => {}
            }
        }
        let ssrc = rand::random::<u32>();
        let (transport, reply) = match client {
            ClientTransport::Tcp { channels } => {
                let (a, b) =
                    channels.unwrap_or((self.next_channel, self.next_channel.wrapping_add(1)));
                self.next_channel = self.next_channel.max(b.wrapping_add(1));
                (
                    TrackTransport::Interleaved {
                        rtp_channel: a,
                        rtcp_channel: b,
                    },
                    format!("RTP/AVP/TCP;unicast;interleaved={a}-{b};ssrc={ssrc:08X}"),
                )
            }
            ClientTransport::Udp {
                rtp_port,
                rtcp_port,
            } => {
                let (rtp, rtcp) = match bind_udp_pair(self.local_ip).await {
                    Ok(p) => p,
                    Err(e) => {
                        warn!("no UDP ports: {e}");
                        return Response::new(500);
                    }
                };
                let server_port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
                (
                    TrackTransport::Udp {
                        rtp: Arc::new(rtp),
                        rtcp: Arc::new(rtcp),
                        rtp_dest: SocketAddr::new(self.peer_ip, rtp_port),
                        rtcp_dest: SocketAddr::new(self.peer_ip, rtcp_port),
                    },
                    format!(
                        "RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};server_port={}-{};ssrc={ssrc:08X}",
                        server_port,
                        server_port + 1
                    ),
                )
            }
        };
        let setup = TrackSetup {
            kind,
            control_url: req.uri.clone(),
            ssrc,
            initial_seq: rand::random(),
            initial_ts: rand::random(),
            transport,
        };
        let id = match req.session_id() {
            Some(id) => id.to_string(),
            None => {
                let id = format!("{:016X}", rand::random::<u64>());
                self.sessions.insert(
                    id.clone(),
                    Session {
                        mount,
                        tracks: Vec::new(),
                        player: None,
                    },
                );
                id
            }
        };
        let session = self
            .sessions
            .get_mut(&id)
            .expect("just checked or inserted");
        session.tracks.retain(|t| t.kind != kind);
        session.tracks.push(setup);
        Response::new(200).header("Transport", reply).header(
            "Session",
            format!("{id};timeout={}", self.shared.session_timeout),
        )
    }

    fn play(&mut self, req: &Request) -> Response {
        let Some(id) = req.session_id() else {
            return Response::new(454);
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return Response::new(454);
        };
        let rtp_info: Vec<String> = session
            .tracks
            .iter()
            .map(|t| {
                format!(
                    "url={};seq={};rtptime={}",
                    t.control_url, t.initial_seq, t.initial_ts
                )
            })
            .collect();
        if session.player.is_none() {
            MountCounters::add(&session.mount.counters.sessions_started, 1);
            // The player waits for `handle` to queue this reply first: a
            // client must see the PLAY response before any RTP.
            let out = self.out.clone();
            let mount = session.mount.clone();
            let tracks = session.tracks.clone();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            session.player = Some(tokio::spawn(async move {
                if go_rx.await.is_ok() {
                    player::run(mount, tracks, out).await;
                }
            }));
            self.pending_go = Some(go_tx);
        }
        Response::new(200)
            .header(
                "Session",
                format!("{id};timeout={}", self.shared.session_timeout),
            )
            .header("Range", "npt=0.000-")
            .header("RTP-Info", rtp_info.join(","))
    }

    fn keepalive(&self, req: &Request, cseq: &mut Option<u32>) -> Response {
        let mount = match req.session_id() {
            Some(id) => match self.sessions.get(id) {
                Some(s) => Some(s.mount.clone()),
                None => return Response::new(454),
            },
            None => req.path().and_then(|p| self.mount_for(&p)).map(|(m, _)| m),
        };
        if mount.is_some_and(|m| m.faults().stale_cseq_keepalive) {
            *cseq = self.last_cseq;
        }
        Response::new(200)
    }
}
