//! Shared test helpers: generated clips and a minimal raw RTSP client that
//! exposes the exact bytes the simulator sends.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use camera_sim::{SimConfig, SimHandle, Simulator};

/// Starts a simulator on its own thread at an ephemeral port.
pub fn start(config: SimConfig) -> SimHandle {
    Simulator::start_in_thread(config, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Generates (once per test binary) a short clip with ffmpeg.
fn clip(name: &str, cell: &'static OnceLock<PathBuf>, video_args: &[&str]) -> PathBuf {
    cell.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("camera-sim-{}-{name}.mp4", std::process::id()));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-y", "-v", "error", "-f", "lavfi", "-i"]);
        cmd.arg(format!(
            "testsrc2=size={}:rate=25:duration=2",
            video_args[0]
        ));
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=16000:duration=2",
        ]);
        cmd.args(&video_args[1..]);
        cmd.args([
            "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-ac", "1", "-b:a", "32k",
        ]);
        cmd.args(["-movflags", "+faststart"]).arg(&path);
        let status = cmd.status().expect("run ffmpeg");
        assert!(status.success(), "ffmpeg failed to make {name}");
        path
    })
    .clone()
}

/// 2 s, 640x360 H.264 baseline, same shape as the demo clip.
pub fn short_clip() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    clip(
        "short",
        &C,
        &[
            "640x360",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-bf",
            "0",
        ],
    )
}

/// 2 s, 320x240 H.264 baseline: a different SPS for the SPS-change fault.
pub fn small_clip() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    clip(
        "small",
        &C,
        &[
            "320x240",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-bf",
            "0",
        ],
    )
}

/// 2 s, H.264 main profile with B-frames (pts != dts).
pub fn bframe_clip() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    clip(
        "bframes",
        &C,
        &[
            "640x360",
            "-c:v",
            "libx264",
            "-profile:v",
            "main",
            "-bf",
            "2",
        ],
    )
}

/// 2 s, H.265 (ffmpeg writes an `hev1` sample entry by default).
pub fn hevc_clip(tag: &str) -> PathBuf {
    static HEV1: OnceLock<PathBuf> = OnceLock::new();
    static HVC1: OnceLock<PathBuf> = OnceLock::new();
    let cell = if tag == "hvc1" { &HVC1 } else { &HEV1 };
    clip(
        tag,
        cell,
        &[
            "320x240",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=0",
            "-tag:v",
            tag,
        ],
    )
}

/// An RTSP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn cseq(&self) -> Option<u32> {
        self.header("CSeq")?.parse().ok()
    }
}

/// Something read from the connection.
#[derive(Debug)]
pub enum Item {
    Reply(Reply),
    Data { channel: u8, data: Vec<u8> },
}

/// A deliberately simple blocking RTSP client over TCP.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    pub session: Option<String>,
    /// Set once the server closed the connection (as opposed to a timeout).
    pub eof: bool,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
            cseq: 0,
            session: None,
            eof: false,
        }
    }

    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }

    /// Bytes received but not parseable as a reply or frame.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a request and returns its CSeq.
    pub fn send(&mut self, method: &str, url: &str, headers: &[(&str, &str)]) -> u32 {
        self.cseq += 1;
        let mut req = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if let Some(s) = &self.session {
            req.push_str(&format!("Session: {s}\r\n"));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes()).unwrap();
        self.cseq
    }

    /// Sends a request and waits for the next reply, skipping media.
    pub fn request(&mut self, method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(method, url, headers);
        loop {
            match self.next_item().expect("connection ended before reply") {
                Item::Reply(r) => return r,
                Item::Data { .. } => {}
            }
        }
    }

    /// DESCRIBE, SETUP both tracks on interleaved channels 0-1 and 2-3, PLAY.
    /// Returns the PLAY reply.
    pub fn play_all(&mut self, url: &str) -> Reply {
        let d = self.request("DESCRIBE", url, &[("Accept", "application/sdp")]);
        assert_eq!(d.status, 200);
        let base = d.header("Content-Base").unwrap().to_string();
        let s = self.request(
            "SETUP",
            &format!("{base}trackID=0"),
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
        );
        assert_eq!(s.status, 200, "{s:?}");
        self.session = Some(
            s.header("Session")
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string(),
        );
        let s = self.request(
            "SETUP",
            &format!("{base}trackID=1"),
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=2-3")],
        );
        assert_eq!(s.status, 200, "{s:?}");
        let p = self.request("PLAY", &base, &[("Range", "npt=0.000-")]);
        assert_eq!(p.status, 200);
        p
    }

    /// Reads the next reply or interleaved frame; `None` on EOF, timeout, or
    /// bytes that are neither.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.parse()? {
                return Some(item);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return None;
                }
                Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// `Some(None)`: need more bytes. `None`: unparseable.
    fn parse(&mut self) -> Option<Option<Item>> {
        if self.buf.is_empty() {
            return Some(None);
        }
        if self.buf[0] == b'$' {
            if self.buf.len() < 4 {
                return Some(None);
            }
            let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            if self.buf.len() < 4 + len {
                return Some(None);
            }
            let channel = self.buf[1];
            let data = self.buf[4..4 + len].to_vec();
            self.buf.drain(..4 + len);
            return Some(Some(Item::Data { channel, data }));
        }
        if !self.buf.starts_with(b"RTSP/1.0 ") {
            return None;
        }
        let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Some(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let body_len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0usize);
        if self.buf.len() < end + 4 + body_len {
            return Some(None);
        }
        let body = self.buf[end + 4..end + 4 + body_len].to_vec();
        self.buf.drain(..end + 4 + body_len);
        Some(Some(Item::Reply(Reply {
            status,
            headers,
            body,
        })))
    }
}

/// A parsed RTP packet.
#[derive(Debug, Clone)]
pub struct Rtp {
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

pub fn parse_rtp(p: &[u8]) -> Rtp {
    assert!(p.len() >= 12 && p[0] >> 6 == 2, "not RTP: {p:02x?}");
    Rtp {
        marker: p[1] & 0x80 != 0,
        pt: p[1] & 0x7f,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        payload: p[12..].to_vec(),
    }
}

/// Collects interleaved packets for `dur`, by channel.
pub fn collect(client: &mut RawClient, dur: Duration) -> Vec<(u8, Vec<u8>)> {
    let deadline = std::time::Instant::now() + dur;
    let mut out = Vec::new();
    while std::time::Instant::now() < deadline {
        match client.next_item() {
            Some(Item::Data { channel, data }) => out.push((channel, data)),
            Some(Item::Reply(_)) => {}
            None => break,
        }
    }
    out
}
