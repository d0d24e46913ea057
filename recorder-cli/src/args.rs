//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration_arg;
use crate::logging::LogFormat;

/// Record IP cameras into playable fragmented MP4 segments, with no ffmpeg.
#[derive(Parser, Debug)]
#[command(name = "camrec", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Record one or more RTSP cameras into a folder.
    Record(RecordArgs),
    /// Record the built-in simulated camera for ~30 s into ./recordings.
    Demo(DemoArgs),
    /// Serve an MP4 file (or the built-in clip) as a simulated RTSP camera.
    Sim(SimArgs),
    /// Connect to a camera and print what it offers.
    Probe(ProbeArgs),
    /// Repair `.mp4.part` files a crash left in a folder.
    Repair(RepairArgs),
}

/// Options shared by `record` and `demo`.
#[derive(Args, Debug, Clone)]
pub struct RecordingOptions {
    /// Folder to write `{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.mp4` into.
    #[arg(long, short, default_value = "./recordings")]
    pub out: PathBuf,
    /// Target segment length (a segment ends at the first keyframe after it).
    #[arg(long, value_parser = duration_arg::parse, default_value = "15m")]
    pub segment: Duration,
    /// Start segments on wall-clock multiples of --segment (:00, :15, ...).
    #[arg(long)]
    pub align: bool,
    /// Longest fragment: video on disk is at most this old plus one GOP.
    #[arg(long, value_parser = duration_arg::parse, default_value = "1s")]
    pub fragment: Duration,
    /// Stop after this long (default: until Ctrl-C / SIGTERM).
    #[arg(long, value_parser = duration_arg::parse)]
    pub duration: Option<Duration>,
    /// File name template.
    #[arg(long, default_value = recorder_core::sink::DEFAULT_TEMPLATE)]
    pub template: String,
    /// fsync every fragment (slower; survives power loss, not just crashes).
    #[arg(long)]
    pub sync_fragments: bool,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Camera URLs, e.g. rtsp://user:pass@192.168.1.10:554/stream1.
    #[arg(required = true)]
    pub urls: Vec<String>,
    /// Camera ids (one per URL, in order); default derived from the URL.
    #[arg(long = "camera-id")]
    pub camera_ids: Vec<String>,
    /// RTP transport: tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub transport: String,
    /// Give up on a silent camera after this long and reconnect.
    #[arg(long, value_parser = duration_arg::parse, default_value = "10s")]
    pub stall_timeout: Duration,
    #[command(flatten)]
    pub rec: RecordingOptions,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub rec: DemoOptions,
}

#[derive(Args, Debug)]
pub struct DemoOptions {
    /// Folder to write into.
    #[arg(long, short, default_value = "./recordings")]
    pub out: PathBuf,
    /// How long to record.
    #[arg(long, value_parser = duration_arg::parse, default_value = "30s")]
    pub duration: Duration,
    /// Segment length (short, so the demo shows several files).
    #[arg(long, value_parser = duration_arg::parse, default_value = "10s")]
    pub segment: Duration,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8554")]
    pub listen: SocketAddr,
    /// MP4 file to serve (H.264/H.265 + AAC); default: the built-in clip.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Mount path.
    #[arg(long, default_value = "/stream1")]
    pub path: String,
    /// Require this user (with --password), Digest auth.
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    /// Password for --user.
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// Fault: close each session this long after PLAY (Tapo-style drops).
    #[arg(long, value_parser = duration_arg::parse)]
    pub close_after: Option<Duration>,
    /// Fault: stop sending (keep TCP open) this long after PLAY.
    #[arg(long, value_parser = duration_arg::parse)]
    pub stall_after: Option<Duration>,
    /// Fault: answer keepalives with a stale CSeq (Tapo bug).
    #[arg(long)]
    pub stale_cseq: bool,
    /// Fault: drop this fraction of RTP packets (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub drop_packets: f64,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Camera URL.
    pub url: String,
    /// RTP transport: tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub transport: String,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    /// Recordings folder.
    pub dir: PathBuf,
}
