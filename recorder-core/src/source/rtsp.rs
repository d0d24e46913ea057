//! The async edge: one retina session, with the timeouts and bookkeeping
//! retina leaves to us.
//!
//! retina has no connect timeout and no data watchdog, so every step and
//! every wait for a frame is wrapped in a timeout here. It sends keepalives
//! only while the session is polled: call [`Session::next`] continuously
//! and hand frames on through a channel; never stop polling to apply
//! backpressure.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use retina::client::{
    Demuxed, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions,
    Stream as RetinaStream,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use tokio::time::{sleep_until, timeout, timeout_at, Instant, Sleep};

pub use retina::client::SessionGroup;

pub use super::assembler::SourceEvent;
use super::assembler::{Assembler, RawFrame};
use super::camera_url::CameraUrl;
use super::timeline::{TimelineConfig, TimelineStats};
use crate::mux::{CodecConfig, TrackSpec, WallTime};

/// How RTP travels from the camera.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Interleaved on the RTSP TCP connection: works through NAT and
    /// firewalls, no loss on a healthy link. The default.
    #[default]
    Tcp,
    /// Separate UDP ports: LAN only (retina has no reorder buffer).
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// A transport name other than `tcp` or `udp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown RTSP transport `{0}`; expected `tcp` or `udp`")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            _ => Err(UnknownTransport(s.to_owned())),
        }
    }
}

/// Everything needed to open a camera.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// The camera.
    pub url: CameraUrl,
    /// RTP transport.
    pub transport: Transport,
    /// Limit for each of DESCRIBE (includes the TCP connect), SETUP and PLAY.
    pub connect_timeout: Duration,
    /// Limit for the first frame after PLAY (and for video parameters).
    pub first_frame_timeout: Duration,
    /// Longest gap between frames before the session counts as stalled.
    pub stall_timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// At the start of a session, hold frames up to this long (by arrival)
    /// waiting for every track's first RTCP sender report, so tracks are
    /// aligned by the camera's clock rather than by arrival. Zero disables.
    pub sr_wait: Duration,
    /// Longest wait for the camera to forget a previous session of ours
    /// (see [`SessionGroup`]) before connecting anyway.
    pub stale_session_wait: Duration,
    /// Wall-clock smoothing.
    pub timeline: TimelineConfig,
}

impl SourceConfig {
    /// Defaults: TCP, 10 s timeouts, 2 s sender-report wait.
    pub fn new(url: CameraUrl) -> Self {
        SourceConfig {
            url,
            transport: Transport::Tcp,
            connect_timeout: Duration::from_secs(10),
            first_frame_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            user_agent: concat!("camrec/", env!("CARGO_PKG_VERSION")).to_owned(),
            sr_wait: Duration::from_secs(2),
            stale_session_wait: Duration::from_secs(70),
            timeline: TimelineConfig::default(),
        }
    }
}

/// Why the source failed. Every message names the camera by its redacted
/// URL and says what to check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The camera answered 401.
    #[error("{url}: the camera rejected the user name or password (401 Unauthorized); check the credentials in the URL")]
    Unauthorized {
        /// Redacted URL.
        url: String,
    },
    /// No TCP connection (refused, no route, DNS) or no answer at all.
    #[error("{url}: cannot reach the camera at {addr}: {reason}; check the host, the port and that the camera is powered and on the network")]
    Unreachable {
        /// Redacted URL.
        url: String,
        /// `host:port`.
        addr: String,
        /// What happened (OS error, or the timeout that expired).
        reason: String,
        /// The timeout that expired, if that was the failure.
        timeout: Option<Duration>,
    },
    /// An RTSP step got no answer in time.
    #[error("{url}: {step} got no answer within {:.1} s; the camera may be overloaded or out of sessions", .after.as_secs_f64())]
    Timeout {
        /// Redacted URL.
        url: String,
        /// `SETUP`, `PLAY`, `first frame`, ...
        step: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The video's parameter sets (SPS/PPS, and VPS for H.265) came
    /// neither in the SDP nor in-band before the first-frame timeout.
    #[error("{url}: {}", no_parameters_message(*.frames, *.after))]
    NoVideoParameters {
        /// Redacted URL.
        url: String,
        /// Video frames that arrived meanwhile (undecodable without them).
        frames: u64,
        /// The first-frame timeout.
        after: Duration,
    },
    /// Frames stopped arriving mid-session.
    #[error("{url}: no frames for {:.1} s; the stream stalled", .after.as_secs_f64())]
    Stalled {
        /// Redacted URL.
        url: String,
        /// The stall timeout.
        after: Duration,
    },
    /// Nothing the camera offers can be stored.
    #[error("{url}: none of the camera's streams can be recorded (offered: {}); camrec stores H.264, H.265, AAC and G.711 (PCMU/PCMA); change the camera's encoder settings", offered.join(", "))]
    NoSupportedStreams {
        /// `media/encoding (reason)` of each offered stream.
        offered: Vec<String>,
        /// Redacted URL.
        url: String,
    },
    /// Any other RTSP or RTP failure, with retina's description (which
    /// never contains credentials: retina never sees them in a URL, and the
    /// text is scrubbed anyway).
    #[error("{url}: {}RTSP error: {message}", status.map(|s| format!("status {s}: ")).unwrap_or_default())]
    Protocol {
        /// Redacted URL.
        url: String,
        /// RTSP status code, if the camera replied with an error.
        status: Option<u16>,
        /// retina's description.
        message: String,
    },
    /// The camera closed the session.
    #[error("{url}: the camera ended the stream")]
    EndOfStream {
        /// Redacted URL.
        url: String,
    },
}

/// What to say when no parameter sets arrived: whether video came without
/// them (a camera setting) or no video came at all (the network).
fn no_parameters_message(frames: u64, after: Duration) -> String {
    let secs = after.as_secs_f64();
    if frames > 0 {
        format!(
            "{frames} video frames arrived in {secs:.1} s but no parameter sets (SPS/PPS, \
             and VPS for H.265), neither in the SDP nor in the stream, so none can be \
             decoded; enable the camera's option to send them with every keyframe \
             (often \"SPS/PPS in stream\" or \"repeat headers\"), or raise the first-frame \
             timeout if its keyframes are further apart than {secs:.0} s"
        )
    } else {
        format!(
            "no video arrived within {secs:.1} s after PLAY (and the SDP carries no \
             parameter sets), so the stream cannot start; over UDP a firewall or NAT may be \
             dropping the packets (try transport tcp); otherwise the camera may be \
             overloaded or out of sessions"
        )
    }
}

impl SourceError {
    /// True for failures that retrying soon will not fix (bad credentials,
    /// wrong path, unsupported codecs): retry on the slow cadence.
    pub fn is_config_error(&self) -> bool {
        match self {
            SourceError::Unauthorized { .. } | SourceError::NoSupportedStreams { .. } => true,
            // Video without parameter sets is a camera setting; no video
            // at all may be the network, worth a quick retry.
            SourceError::NoVideoParameters { frames, .. } => *frames > 0,
            SourceError::Protocol {
                status: Some(s), ..
            } => matches!(s, 400 | 403 | 404 | 405 | 451 | 461),
            _ => false,
        }
    }

    /// True when the camera itself ended the session by closing the RTSP
    /// connection. Its session is then gone at the camera, so a reconnect
    /// need not wait for it to expire (see [`SessionGroup`]): pass a fresh
    /// group to [`connect`]. Sessions that ended any other way (a stall,
    /// undecodable data) may still be playing at the camera and are worth
    /// waiting for: a camera with few session slots refuses new ones
    /// meanwhile, and over UDP it keeps sending to our old ports.
    pub fn camera_ended_session(&self) -> bool {
        matches!(self, SourceError::EndOfStream { .. })
    }

    fn from_retina(e: retina::Error, url: &CameraUrl) -> Self {
        let redacted = url.redacted();
        let status = e.status_code();
        if status == Some(401) {
            return SourceError::Unauthorized { url: redacted };
        }
        let text = e.to_string();
        // retina's only stable signal for connect failures is this prefix.
        if let Some(reason) = text.strip_prefix("Unable to connect to RTSP server: ") {
            return SourceError::Unreachable {
                url: redacted,
                addr: url.host_port(),
                reason: super::text::sanitize(&url.scrub(reason.trim())),
                timeout: None,
            };
        }
        // retina's messages carry packet-capture context on later lines;
        // keep them but on one line so logs stay greppable.
        let message = text
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        SourceError::Protocol {
            url: redacted,
            status,
            message: super::text::sanitize(&url.scrub(&message)),
        }
    }
}

/// An offered stream that is not recorded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedStream {
    /// Index in the SDP.
    pub stream: usize,
    /// `video`, `audio`, `application`, ...
    pub media: String,
    /// Encoding name as in the SDP (lowercase), e.g. `jpeg`, `g726-32`.
    pub encoding: String,
    /// Why it is not recorded.
    pub reason: String,
}

impl fmt::Display for SkippedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.media, self.encoding, self.reason)
    }
}

/// A recorded track, with what `camrec probe` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInfo {
    /// Index into [`Session::tracks`].
    pub track: usize,
    /// Index in the SDP.
    pub stream: usize,
    /// Encoding name as in the SDP.
    pub encoding: String,
    /// The track as the muxer sees it.
    pub spec: TrackSpec,
    /// RFC 6381 codec string (`avc1.640028`, `mp4a.40.2`), if known.
    pub rfc6381: Option<String>,
    /// Frame rate declared by the SDP or the SPS, if any.
    pub frame_rate: Option<f64>,
}

/// What `camrec probe` prints about a session.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeInfo {
    /// Redacted URL.
    pub url: String,
    /// The server's `a=tool` SDP attribute.
    pub tool: Option<String>,
    /// The transport used.
    pub transport: Transport,
    /// The recorded tracks.
    pub tracks: Vec<TrackInfo>,
    /// Offered streams that are not recorded.
    pub skipped: Vec<SkippedStream>,
    /// Sender reports seen, alignment, camera clock offset.
    pub timeline: TimelineStats,
}

impl fmt::Display for ProbeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "url:       {}", self.url)?;
        writeln!(
            f,
            "server:    {}",
            self.tool.as_deref().unwrap_or("(no a=tool)")
        )?;
        writeln!(f, "transport: {}", self.transport)?;
        for t in &self.tracks {
            write!(
                f,
                "track {}:   {} ({})",
                t.track,
                t.spec.codec.name(),
                t.rfc6381.as_deref().unwrap_or(&t.encoding)
            )?;
            match &t.spec.codec {
                CodecConfig::H264 { width, height, .. }
                | CodecConfig::H265 { width, height, .. } => {
                    write!(f, " {width}x{height}")?;
                    if let Some(r) = t.frame_rate {
                        write!(f, " {r:.2} fps")?;
                    }
                }
                CodecConfig::Aac {
                    sample_rate,
                    channels,
                    ..
                }
                | CodecConfig::G711 {
                    sample_rate,
                    channels,
                    ..
                } => write!(f, " {sample_rate} Hz {channels} ch")?,
            }
            let srs = self
                .timeline
                .sender_reports
                .get(t.track)
                .copied()
                .unwrap_or(0);
            writeln!(f, ", timescale {}, {srs} sender reports", t.spec.timescale)?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped:   stream {}: {s}", s.stream)?;
        }
        match self.timeline.camera_clock_offset_ns {
            Some(ns) => writeln!(
                f,
                "clock:     camera clock is {:+.3} s from ours (RTCP sender reports)",
                ns as f64 / 1e9
            ),
            None => writeln!(
                f,
                "clock:     no RTCP sender reports yet; using arrival time"
            ),
        }
    }
}

/// A playing camera session. Drop it to tear down.
pub struct Session {
    url: CameraUrl,
    transport: Transport,
    demuxed: Demuxed,
    tool: Option<String>,
    /// SDP stream index → track index.
    stream_track: Vec<Option<usize>>,
    infos: Vec<TrackInfo>,
    skipped: Vec<SkippedStream>,
    asm: Assembler,
    first_frame_timeout: Duration,
    stall_timeout: Duration,
    /// When the next frame must have arrived by.
    deadline: Instant,
    /// Fires at or before `deadline`. Registering a timer takes the
    /// runtime's timer-wheel lock, so it is not moved per frame: when it
    /// fires early (frames arrived since it was set), it is re-set to the
    /// current `deadline`, at most once per stall timeout.
    watchdog: Pin<Box<Sleep>>,
    got_frame: bool,
    /// The error that ended the session, returned once held frames are out.
    ended: Option<SourceError>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.url)
            .field("tracks", &self.infos.len())
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Why a stream cannot be recorded, or `None` if it can.
fn unsupported_reason(s: &RetinaStream) -> Option<String> {
    match (s.media(), s.encoding_name()) {
        ("video", "h264" | "h265") => {
            // retina refuses other clock rates at depacketizer creation,
            // which would fail `demuxed()` for the whole session.
            (s.clock_rate_hz() != 90_000)
                .then(|| format!("clock rate {} instead of 90000", s.clock_rate_hz()))
        }
        ("audio", "mpeg4-generic") => match s.parameters() {
            Some(ParametersRef::Audio(_)) => None,
            _ => Some("AAC without a usable config in the SDP".to_owned()),
        },
        ("audio", "pcmu" | "pcma") => None,
        _ => Some("codec not supported for recording".to_owned()),
    }
}

fn codec_of(s: &RetinaStream) -> Option<(CodecConfig, Option<String>, Option<f64>)> {
    let dims = |d: (u32, u32)| {
        (
            u16::try_from(d.0).unwrap_or(u16::MAX),
            u16::try_from(d.1).unwrap_or(u16::MAX),
        )
    };
    match (s.encoding_name(), s.parameters()?) {
        (enc @ ("h264" | "h265"), ParametersRef::Video(v)) => {
            let (width, height) = dims(v.pixel_dimensions());
            let data = Bytes::copy_from_slice(v.extra_data());
            let codec = if enc == "h264" {
                CodecConfig::H264 {
                    avcc: data,
                    width,
                    height,
                }
            } else {
                CodecConfig::H265 {
                    hvcc: data,
                    width,
                    height,
                }
            };
            let fps = v
                .frame_rate()
                .filter(|r| r.0 != 0)
                .map(|(num, den)| f64::from(den) / f64::from(num))
                .or(s.framerate().map(f64::from));
            Some((codec, Some(v.rfc6381_codec().to_owned()), fps))
        }
        ("mpeg4-generic", ParametersRef::Audio(a)) => Some((
            CodecConfig::Aac {
                asc: Bytes::copy_from_slice(a.extra_data()),
                sample_rate: a.clock_rate(),
                channels: a.channels().get(),
            },
            a.rfc6381_codec().map(str::to_owned),
            None,
        )),
        (enc @ ("pcmu" | "pcma"), ParametersRef::Audio(a)) => Some((
            CodecConfig::G711 {
                mu_law: enc == "pcmu",
                sample_rate: a.clock_rate(),
                channels: a.channels().get(),
            },
            None,
            None,
        )),
        _ => None,
    }
}

/// False for the placeholder of a video track whose parameters have not
/// arrived yet.
fn codec_known(c: &CodecConfig) -> bool {
    match c {
        CodecConfig::H264 { avcc: d, .. } | CodecConfig::H265 { hvcc: d, .. } => !d.is_empty(),
        _ => true,
    }
}

/// True if an H.265 access unit (4-byte NAL lengths) is an IRAP picture:
/// its first base-layer picture NAL is BLA, IDR or CRA (types 16 to 21).
/// Malformed input is simply not an IRAP.
fn h265_is_irap(mut au: &[u8]) -> bool {
    while let (Some(len), Some(hdr)) = (au.get(..4), au.get(4..6)) {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let unit_type = (hdr[0] >> 1) & 0x3f;
        let layer = ((hdr[0] & 1) << 5) | (hdr[1] >> 3);
        if layer == 0 && unit_type < 32 {
            // The first picture (VCL) NAL decides: all of a picture's
            // slices share its type.
            return (16..=21).contains(&unit_type);
        }
        match au.get(4usize.saturating_add(len)..) {
            Some(rest) if len > 0 => au = rest,
            _ => return false,
        }
    }
    false
}

fn wall_of(t: retina::WallTime) -> WallTime {
    let st: SystemTime = t.into();
    match st.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => WallTime(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        Err(e) => WallTime(-i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX)),
    }
}

/// Opens the camera: DESCRIBE, SETUP of every recordable stream, PLAY, and
/// waits until every video track's parameters are known (cameras without
/// `sprop-parameter-sets` send them only in-band), so [`Session::tracks`]
/// is complete when this returns. Frames read meanwhile are kept.
///
/// `group` should be one per camera, reused across reconnects: stale
/// sessions of a previous connection are waited out first (bounded by
/// [`SourceConfig::stale_session_wait`]). After a session the camera ended
/// itself ([`SourceError::camera_ended_session`]) there is nothing to wait
/// for: pass a fresh group.
pub async fn connect(
    cfg: &SourceConfig,
    group: &Arc<SessionGroup>,
) -> Result<Session, SourceError> {
    let url = &cfg.url;
    let redacted = url.redacted();
    let status = group.stale_sessions();
    if status.num_sessions > 0 {
        tracing::info!(
            url = %redacted,
            sessions = status.num_sessions,
            "waiting for the camera to drop our previous session"
        );
        if timeout(cfg.stale_session_wait, group.await_stale_sessions(&status))
            .await
            .is_err()
        {
            tracing::warn!(url = %redacted, "previous session still not gone; connecting anyway");
        }
    }

    let options = SessionOptions::default()
        .creds(url.credentials().cloned())
        .user_agent(cfg.user_agent.clone())
        .session_group(group.clone());
    let mut described = match timeout(
        cfg.connect_timeout,
        retina::client::Session::describe(url.url().clone(), options),
    )
    .await
    {
        Ok(r) => r.map_err(|e| SourceError::from_retina(e, url))?,
        Err(_) => {
            return Err(SourceError::Unreachable {
                url: redacted,
                addr: url.host_port(),
                reason: format!(
                    "no connection or no answer to DESCRIBE within {:.1} s",
                    cfg.connect_timeout.as_secs_f64()
                ),
                timeout: Some(cfg.connect_timeout),
            })
        }
    };

    let mut wanted = Vec::new();
    let mut skipped = Vec::new();
    for (i, s) in described.streams().iter().enumerate() {
        match unsupported_reason(s) {
            None => wanted.push(i),
            Some(reason) => skipped.push(SkippedStream {
                stream: i,
                media: s.media().to_owned(),
                encoding: s.encoding_name().to_owned(),
                reason,
            }),
        }
    }
    if wanted.is_empty() {
        return Err(SourceError::NoSupportedStreams {
            offered: skipped.iter().map(ToString::to_string).collect(),
            url: redacted,
        });
    }
    for s in &skipped {
        tracing::info!(url = %redacted, stream = s.stream, "not recording {s}");
    }

    let transport = match cfg.transport {
        Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
        Transport::Udp => retina::client::Transport::Udp(Default::default()),
    };
    for &i in &wanted {
        let setup = SetupOptions::default()
            .transport(transport.clone())
            .frame_format(FrameFormat::MP4);
        match timeout(cfg.connect_timeout, described.setup(i, setup)).await {
            Ok(r) => r.map_err(|e| SourceError::from_retina(e, url))?,
            Err(_) => {
                return Err(SourceError::Timeout {
                    url: redacted,
                    step: "SETUP",
                    after: cfg.connect_timeout,
                })
            }
        }
    }
    // Permissive: many cameras omit or garble RTP-Info; we align tracks
    // ourselves (timeline.rs), so retina's NPT origin does not matter.
    let play = PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive);
    let playing = match timeout(cfg.connect_timeout, described.play(play)).await {
        Ok(r) => r.map_err(|e| SourceError::from_retina(e, url))?,
        Err(_) => {
            return Err(SourceError::Timeout {
                url: redacted,
                step: "PLAY",
                after: cfg.connect_timeout,
            })
        }
    };
    let demuxed = playing
        .demuxed()
        .map_err(|e| SourceError::from_retina(e, url))?;

    let streams = demuxed.streams();
    let mut stream_track = vec![None; streams.len()];
    let mut infos = Vec::with_capacity(wanted.len());
    let mut pending_video = Vec::new();
    for (track, &i) in wanted.iter().enumerate() {
        let s = &streams[i];
        stream_track[i] = Some(track);
        let (codec, rfc6381, frame_rate) = match codec_of(s) {
            Some(c) => c,
            None => {
                // Placeholder until the first in-band SPS/PPS arrives.
                pending_video.push(track);
                let empty = Bytes::new();
                let codec = if s.encoding_name() == "h265" {
                    CodecConfig::H265 {
                        hvcc: empty,
                        width: 0,
                        height: 0,
                    }
                } else {
                    CodecConfig::H264 {
                        avcc: empty,
                        width: 0,
                        height: 0,
                    }
                };
                (codec, None, s.framerate().map(f64::from))
            }
        };
        infos.push(TrackInfo {
            track,
            stream: i,
            encoding: s.encoding_name().to_owned(),
            spec: TrackSpec {
                timescale: s.clock_rate_hz(),
                codec,
            },
            rfc6381,
            frame_rate,
        });
    }
    let tracks: Vec<TrackSpec> = infos.iter().map(|i| i.spec.clone()).collect();
    let tool = demuxed.tool().map(|t| super::text::sanitize(t));
    let deadline = deadline_after(cfg.first_frame_timeout);
    let mut session = Session {
        url: url.clone(),
        transport: cfg.transport,
        demuxed,
        tool,
        stream_track,
        infos,
        skipped,
        asm: Assembler::new(tracks, cfg.sr_wait, cfg.timeline.clone()),
        first_frame_timeout: cfg.first_frame_timeout,
        stall_timeout: cfg.stall_timeout,
        deadline,
        watchdog: Box::pin(sleep_until(deadline)),
        got_frame: false,
        ended: None,
    };
    session.await_video_parameters(pending_video).await?;
    Ok(session)
}

impl Session {
    /// The recorded tracks, in muxer order. Current: updated when
    /// [`SourceEvent::ParametersChanged`] is yielded.
    pub fn tracks(&self) -> &[TrackSpec] {
        self.asm.tracks()
    }

    /// Offered streams that are not recorded.
    pub fn skipped_streams(&self) -> &[SkippedStream] {
        &self.skipped
    }

    /// The server's `a=tool` SDP attribute, if any.
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }

    /// The camera's URL.
    pub fn url(&self) -> &CameraUrl {
        &self.url
    }

    /// What `camrec probe` prints. Sender-report facts grow as the session
    /// runs.
    pub fn probe_info(&self) -> ProbeInfo {
        ProbeInfo {
            url: self.url.redacted(),
            tool: self.tool.clone(),
            transport: self.transport,
            // The assembler holds each track's current codec; `infos` only
            // what the codec does not say (stream, profile, frame rate).
            tracks: self
                .infos
                .iter()
                .zip(self.asm.tracks())
                .map(|(i, t)| TrackInfo {
                    spec: t.clone(),
                    ..i.clone()
                })
                .collect(),
            skipped: self.skipped.clone(),
            timeline: self.asm.stats(),
        }
    }

    /// The next event. Errors end the session: drop it and reconnect.
    pub async fn next(&mut self) -> Result<SourceEvent, SourceError> {
        loop {
            if let Some(ev) = self.asm.pop() {
                return Ok(ev);
            }
            if let Some(e) = &self.ended {
                return Err(e.clone());
            }
            if let Err(e) = self.read_one().await {
                // Frames held for sender-report alignment arrived before
                // the session ended: hand them out before the error.
                self.asm.release_held();
                self.ended = Some(e);
            }
        }
    }

    async fn await_video_parameters(&mut self, mut pending: Vec<usize>) -> Result<(), SourceError> {
        let deadline = deadline_after(self.first_frame_timeout);
        let mut frames = 0u64;
        while !pending.is_empty() {
            let item = match timeout_at(deadline, self.demuxed.next()).await {
                Ok(i) => i,
                Err(_) => {
                    return Err(SourceError::NoVideoParameters {
                        url: self.url.redacted(),
                        frames,
                        after: self.first_frame_timeout,
                    })
                }
            };
            if matches!(item, Some(Ok(CodecItem::VideoFrame(_)))) {
                frames += 1;
            }
            self.handle(item)?;
            pending.retain(|&t| !codec_known(&self.asm.tracks()[t].codec));
        }
        Ok(())
    }

    async fn read_one(&mut self) -> Result<(), SourceError> {
        let demuxed = &mut self.demuxed;
        let watchdog = &mut self.watchdog;
        let deadline = self.deadline;
        let item = poll_fn(|cx| {
            if let Poll::Ready(item) = demuxed.poll_next_unpin(cx) {
                return Poll::Ready(Ok(item));
            }
            loop {
                if watchdog.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if watchdog.deadline() >= deadline {
                    return Poll::Ready(Err(()));
                }
                // Frames arrived since it was set: wait for the rest of
                // the gap (polling again registers the new deadline).
                watchdog.as_mut().reset(deadline);
            }
        })
        .await;
        let item = match item {
            Ok(i) => i,
            Err(()) => {
                let url = self.url.redacted();
                return Err(if self.got_frame {
                    SourceError::Stalled {
                        url,
                        after: self.stall_timeout,
                    }
                } else {
                    SourceError::Timeout {
                        url,
                        step: "first frame",
                        after: self.first_frame_timeout,
                    }
                });
            }
        };
        self.handle(item)
    }

    fn handle(
        &mut self,
        item: Option<Result<CodecItem, retina::Error>>,
    ) -> Result<(), SourceError> {
        let item = match item {
            None => {
                return Err(SourceError::EndOfStream {
                    url: self.url.redacted(),
                })
            }
            Some(Err(e)) => return Err(SourceError::from_retina(e, &self.url)),
            Some(Ok(i)) => i,
        };
        match item {
            CodecItem::VideoFrame(f) => {
                let Some(track) = self.stream_track.get(f.stream_id()).copied().flatten() else {
                    return Ok(());
                };
                let new_codec = if f.has_new_parameters() {
                    self.demuxed.streams().get(f.stream_id()).and_then(codec_of)
                } else {
                    None
                };
                if let Some((_, rfc, fps)) = &new_codec {
                    let info = &mut self.infos[track];
                    info.rfc6381.clone_from(rfc);
                    info.frame_rate = fps.or(info.frame_rate);
                }
                let known = codec_known(&self.asm.tracks()[track].codec);
                let rtp = f.timestamp().timestamp();
                let arrival = wall_of(f.start_ctx().received_wall());
                let loss = f.loss();
                let retina_key = f.is_random_access_point();
                let data = Bytes::from(f.into_data());
                // retina flags only IDR pictures in H.265. Encoders with
                // open GOPs (x265's default, VLC's streams of such files)
                // send an IDR once and CRA pictures after that, so a late
                // joiner would never see a keyframe.
                let keyframe = retina_key
                    || (matches!(self.asm.tracks()[track].codec, CodecConfig::H265 { .. })
                        && h265_is_irap(&data));
                let raw = RawFrame {
                    track,
                    rtp,
                    arrival,
                    keyframe,
                    duration_hint: None,
                    loss,
                    data,
                    new_codec: new_codec.map(|c| c.0),
                };
                if !known {
                    // Nothing was sent for this track yet, so the in-band
                    // parameters become its initial ones, not a change.
                    let Some(codec) = raw.new_codec.clone() else {
                        // Undecodable without parameters; a keyframe with
                        // SPS/PPS follows.
                        return Ok(());
                    };
                    self.asm.set_initial_codec(track, codec);
                    self.asm.push_frame(RawFrame {
                        new_codec: None,
                        ..raw
                    });
                } else {
                    self.asm.push_frame(raw);
                }
                self.frame_arrived();
            }
            CodecItem::AudioFrame(f) => {
                let Some(track) = self.stream_track.get(f.stream_id()).copied().flatten() else {
                    return Ok(());
                };
                self.asm.push_frame(RawFrame {
                    track,
                    rtp: f.timestamp().timestamp(),
                    arrival: wall_of(f.ctx().received_wall()),
                    keyframe: true,
                    duration_hint: Some(f.frame_length().get()),
                    loss: f.loss(),
                    data: Bytes::copy_from_slice(f.data()),
                    new_codec: None,
                });
                self.frame_arrived();
            }
            CodecItem::Rtcp(pkt) => {
                let Some(track) = self.stream_track.get(pkt.stream_id()).copied().flatten() else {
                    return Ok(());
                };
                let (Some(ts), Some(first)) = (pkt.rtp_timestamp(), pkt.pkts().next()) else {
                    return Ok(());
                };
                if let Ok(Some(sr)) = first.as_sender_report() {
                    let arrival = wall_of(pkt.ctx().received_wall());
                    self.asm
                        .sender_report(track, ts.timestamp(), sr.ntp_timestamp().0, arrival);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn frame_arrived(&mut self) {
        self.got_frame = true;
        self.deadline = deadline_after(self.stall_timeout);
    }
}

/// `now + d`, for timeouts a host configures: `Instant + Duration::MAX`
/// panics, so an unreachable deadline becomes "in 30 years" (as tokio's own
/// `timeout` does).
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_give_a_far_deadline_not_a_panic() {
        assert!(deadline_after(Duration::MAX) > Instant::now() + Duration::from_secs(86_400));
        assert!(deadline_after(Duration::ZERO) <= Instant::now());
    }

    fn url() -> CameraUrl {
        CameraUrl::parse("rtsp://admin:TopSecret9@cam:554/live").unwrap()
    }

    #[test]
    fn missing_parameter_sets_say_whether_video_came_at_all() {
        let e = |frames| {
            SourceError::NoVideoParameters {
                url: url().redacted(),
                frames,
                after: Duration::from_secs(10),
            }
            .to_string()
        };
        let without = e(250);
        assert!(
            without.contains("250 video frames arrived in 10.0 s"),
            "{without}"
        );
        assert!(
            without.contains("send them with every keyframe"),
            "{without}"
        );
        let is_config = |frames| {
            SourceError::NoVideoParameters {
                url: url().redacted(),
                frames,
                after: Duration::from_secs(10),
            }
            .is_config_error()
        };
        assert!(is_config(250), "a camera setting: the slow retry cadence");
        assert!(!is_config(0), "maybe the network: retried soon");
        let nothing = e(0);
        assert!(
            nothing.contains("no video arrived within 10.0 s"),
            "{nothing}"
        );
        assert!(nothing.contains("try transport tcp"), "{nothing}");
        for m in [without, nothing] {
            assert!(!m.contains("TopSecret9"), "{m}");
        }
    }

    #[test]
    fn errors_name_the_fix_and_hide_the_password() {
        let u = url().redacted();
        let errs = [
            SourceError::Unauthorized { url: u.clone() },
            SourceError::Unreachable {
                url: u.clone(),
                addr: "cam:554".into(),
                reason: "Connection refused".into(),
                timeout: None,
            },
            SourceError::Timeout {
                url: u.clone(),
                step: "PLAY",
                after: Duration::from_secs(10),
            },
            SourceError::Stalled {
                url: u.clone(),
                after: Duration::from_secs(10),
            },
            SourceError::NoSupportedStreams {
                offered: vec!["video/jpeg (codec not supported for recording)".into()],
                url: u.clone(),
            },
            SourceError::Protocol {
                url: u.clone(),
                status: Some(404),
                message: "not found".into(),
            },
            SourceError::EndOfStream { url: u },
        ];
        for e in &errs {
            let s = e.to_string();
            assert!(!s.contains("TopSecret9"), "{s}");
            assert!(!format!("{e:?}").contains("TopSecret9"));
            assert!(s.contains("rtsp://admin:***@cam:554/live"), "{s}");
        }
        assert!(errs[0].to_string().contains("check the credentials"));
        assert!(errs[0].is_config_error());
        assert!(errs[4].is_config_error());
        assert!(errs[5].is_config_error());
        assert!(!errs[1].is_config_error());
        assert!(!errs[3].is_config_error());
        // Only the camera closing the connection frees its session.
        assert!(errs[6].camera_ended_session());
        assert!(errs[..6].iter().all(|e| !e.camera_ended_session()));
        assert!(errs[4].to_string().contains("video/jpeg"));
        assert!(errs[2].to_string().contains("10.0 s"));
    }

    #[test]
    fn config_debug_hides_the_password() {
        let cfg = SourceConfig::new(url());
        let d = format!("{cfg:?}");
        assert!(!d.contains("TopSecret9"), "{d}");
        assert!(d.contains("admin:***@cam"));
    }

    /// `nals` as 4-byte-length-prefixed NAL units with the given H.265
    /// types (layer 0, temporal id 1) and a byte of payload each.
    fn h265_au(types: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &t in types {
            out.extend_from_slice(&3u32.to_be_bytes());
            out.extend_from_slice(&[t << 1, 1, 0xaf]);
        }
        out
    }

    #[test]
    fn h265_irap_pictures_are_found_after_parameter_sets() {
        // VPS, SPS, PPS, prefix SEI, then the picture.
        for irap in 16..=21 {
            assert!(h265_is_irap(&h265_au(&[32, 33, 34, 39, irap])), "{irap}");
        }
        // TRAIL_R, TRAIL_N, RASL_N, RADL_R, reserved 22 (not an IRAP type).
        for other in [1, 0, 8, 7, 22] {
            assert!(!h265_is_irap(&h265_au(&[35, other])), "{other}");
        }
        assert!(!h265_is_irap(&[]));
        assert!(!h265_is_irap(&h265_au(&[32, 33, 34])), "no picture");
        // Truncated or zero-length NALs end the scan without panicking.
        let mut cut = h265_au(&[39, 21]);
        cut[3] = 200;
        assert!(!h265_is_irap(&cut));
        assert!(!h265_is_irap(&[0, 0, 0, 0, 0x40, 1]));
        assert!(!h265_is_irap(&[0, 0, 0, 9, 0x2a]));
        // Enhancement-layer (nuh_layer_id 1) NALs do not decide.
        let mut au = h265_au(&[21, 1]);
        au[5] = (1 << 3) | 1;
        assert!(!h265_is_irap(&au), "CRA in layer 1, TRAIL in layer 0");
        let mut au = h265_au(&[1, 21]);
        au[5] = (1 << 3) | 1;
        assert!(h265_is_irap(&au), "TRAIL in layer 1, CRA in layer 0");
    }

    #[test]
    fn transport_parses() {
        assert_eq!("TCP".parse::<Transport>().unwrap(), Transport::Tcp);
        assert_eq!("udp".parse::<Transport>().unwrap(), Transport::Udp);
        assert!("http".parse::<Transport>().is_err());
        assert_eq!(Transport::default(), Transport::Tcp);
    }
}
