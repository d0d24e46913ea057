//! Per-client RTSP session state: which tracks are set up, over which
//! transport, and the playing task.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::server::Mount;

/// Which track of the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackKind {
    Video,
    Audio,
}

/// What the client asked for in its `Transport` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientTransport {
    Tcp { channels: Option<(u8, u8)> },
    Udp { rtp_port: u16, rtcp_port: u16 },
}

/// Picks the first alternative of a `Transport` header this server supports.
pub(crate) fn parse_transport(header: &str) -> Option<ClientTransport> {
    header.split(',').find_map(|alt| {
        let mut parts = alt.split(';').map(str::trim);
        let spec = parts.next()?.to_ascii_uppercase();
        let params: Vec<&str> = parts.collect();
        if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
            return None;
        }
        let value = |key: &str| {
            params.iter().find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
            })
        };
        let range = |v: &str| -> Option<(u16, Option<u16>)> {
            match v.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
                None => Some((v.parse().ok()?, None)),
            }
        };
        match spec.as_str() {
            "RTP/AVP/TCP" => {
                let channels = match value("interleaved") {
                    None => None,
                    Some(v) => {
                        let (a, b) = range(v)?;
                        let a = u8::try_from(a).ok()?;
                        let b = match b {
                            Some(b) => u8::try_from(b).ok()?,
                            None => a.checked_add(1)?,
                        };
                        Some((a, b))
                    }
                };
                Some(ClientTransport::Tcp { channels })
            }
            "RTP/AVP" | "RTP/AVP/UDP" => {
                let (a, b) = range(value("client_port")?)?;
                let rtcp_port = b.unwrap_or(a.checked_add(1)?);
                if a == 0 {
                    return None;
                }
                Some(ClientTransport::Udp {
                    rtp_port: a,
                    rtcp_port,
                })
            }
            _ => None,
        }
    })
}

/// Where a track's packets go.
#[derive(Debug, Clone)]
pub(crate) enum TrackTransport {
    Interleaved {
        rtp_channel: u8,
        rtcp_channel: u8,
    },
    Udp {
        rtp: Arc<UdpSocket>,
        rtcp: Arc<UdpSocket>,
        rtp_dest: SocketAddr,
        rtcp_dest: SocketAddr,
    },
}

/// One set-up track with its random RTP identity.
#[derive(Debug, Clone)]
pub(crate) struct TrackSetup {
    pub kind: TrackKind,
    /// The URL the client used in `SETUP`, echoed in `RTP-Info` so it matches
    /// what the client computed from the SDP.
    pub control_url: String,
    pub ssrc: u32,
    pub initial_seq: u16,
    pub initial_ts: u32,
    pub transport: TrackTransport,
}

/// A session on one connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub mount: Arc<Mount>,
    pub tracks: Vec<TrackSetup>,
    pub player: Option<JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = self.player.take() {
            p.abort();
        }
    }
}

/// Binds an even/odd pair of UDP ports on `ip`: clients expect
/// `server_port=n-(n+1)`.
pub(crate) async fn bind_udp_pair(ip: IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let mut last_err = None;
    for _ in 0..64 {
        let base = rand::random::<u16>() % 20_000 * 2 + 20_000;
        let rtp = match UdpSocket::bind((ip, base)).await {
            Ok(s) => s,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        match UdpSocket::bind((ip, base + 1)).await {
            Ok(rtcp) => return Ok((rtp, rtcp)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free UDP port pair")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast;interleaved=2-3"),
            Some(ClientTransport::Tcp {
                channels: Some((2, 3))
            })
        );
        assert_eq!(
            parse_transport("RTP/AVP;unicast;client_port=5000-5001"),
            Some(ClientTransport::Udp {
                rtp_port: 5000,
                rtcp_port: 5001
            })
        );
        assert_eq!(
            parse_transport("RTP/AVP;multicast,RTP/AVP/TCP;unicast"),
            Some(ClientTransport::Tcp { channels: None })
        );
        assert_eq!(parse_transport("RTP/AVP;unicast"), None);
        assert_eq!(parse_transport("RTP/AVP/TCP;interleaved=255-x"), None);
        assert_eq!(parse_transport(""), None);
    }
}
