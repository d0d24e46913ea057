//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration_arg;
use crate::logging::LogFormat;
use recorder_cli::config::retention::{self, RetentionFlags};

/// Record IP cameras into playable fragmented MP4 segments, with no ffmpeg.
#[derive(Parser, Debug)]
#[command(
    name = "camrec",
    version,
    about,
    after_help = "Exit codes: 0 ok; 1 runtime failure; 2 usage or configuration error; 130 stopped by a second signal.\nConfiguration: docs/configuration.md; metrics and health: docs/operations.md."
)]
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
    /// Record cameras (from --config, CAMERAn_RTSP_URL / CAMERA_n_URL, or URLs) into a folder or S3.
    Record(RecordArgs),
    /// Check a configuration and print the effective settings (secrets redacted).
    Config(ConfigCommand),
    /// Record the built-in simulated camera for ~30 s into ./recordings.
    Demo(DemoArgs),
    /// Serve an MP4 file (or the built-in clip) as a simulated RTSP camera.
    Sim(SimArgs),
    /// Connect to a camera and print what it offers.
    Probe(ProbeArgs),
    /// Repair `.mp4.part` files a crash left in a folder.
    Repair(RepairArgs),
    /// Apply the retention policy to a recordings folder: list (--dry-run) or delete (--apply) what it removes.
    Prune(PruneArgs),
    /// Bucket tools: `camrec s3 lifecycle [--apply]` shows or applies the retention settings as the bucket's lifecycle rules.
    S3(S3Command),
    /// Serve recordings read-only over HTTP: a web page, HLS playback, exports (docs/playback.md).
    Serve(ServeArgs),
    /// List the cameras of a recordings folder or bucket, or one camera's segments and gaps.
    List(ListArgs),
    /// Export a camera's time range as one MP4 (no re-encoding; plays and seeks in browsers).
    Export(ExportArgs),
}

/// Where recordings are read from (`camrec list`, `camrec export`).
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// Recordings folder, or s3://bucket/prefix (endpoint and credentials from S3_ENDPOINT,
    /// S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY or the configuration file) [default: the configuration's storage].
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// TOML configuration file (its storage settings and key_template are used).
    #[arg(long, short = 'c', env = "CAMREC_CONFIG")]
    pub config: Option<PathBuf>,
    /// File name template the recordings were written with [default: the configuration's].
    #[arg(long)]
    pub template: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// List this camera's segments (start, end, duration, bytes, codecs, resolution) and the gaps between them.
    #[arg(long)]
    pub camera: Option<String>,
    /// Only segments that end after this time (RFC 3339, e.g. 2026-12-06T10:00:00Z).
    #[arg(long, requires = "camera")]
    pub start: Option<String>,
    /// Only segments that start before this time (RFC 3339).
    #[arg(long, requires = "camera")]
    pub end: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The camera.
    #[arg(long)]
    pub camera: String,
    /// First instant of the export (RFC 3339): the file starts with the frame shown then.
    #[arg(long)]
    pub start: String,
    /// End of the export (RFC 3339, exclusive).
    #[arg(long)]
    pub end: String,
    /// The MP4 file to write.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct S3Command {
    #[command(subcommand)]
    pub action: S3Action,
}

#[derive(Subcommand, Debug)]
pub enum S3Action {
    /// Compare the bucket's lifecycle rules with the retention settings
    /// (max_age per camera, clips_max_age, incomplete uploads aborted
    /// after a day); with --apply, write them (the bucket's other rules are
    /// kept). Exit code 3 when they differ and --apply was not given.
    Lifecycle(LifecycleArgs),
}

#[derive(Args, Debug)]
pub struct LifecycleArgs {
    /// Write camrec's rules to the bucket.
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub cfg: ConfigArgs,
}

/// Where the configuration comes from: a file, the environment (see
/// docs/configuration.md) and these flags, which win over both.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "CAMREC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Camera URLs, e.g. rtsp://user:pass@192.168.1.10:554/stream1; when
    /// given, they replace the cameras of the file and the environment.
    pub urls: Vec<String>,
    /// Camera ids (one per URL, in order); default derived from the URL.
    #[arg(long = "camera-id")]
    pub camera_ids: Vec<String>,
    /// Folder to write into (selects local storage) [default: ./recordings],
    /// or s3://bucket/prefix (selects S3; endpoint and keys from the
    /// configuration or S3_ENDPOINT, S3_ACCESS_KEY_ID / S3_ACCESS_KEY,
    /// S3_SECRET_ACCESS_KEY / S3_SECRET_KEY).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Target segment length, e.g. 15m (a segment ends at the first keyframe after it); 1s to 24h.
    #[arg(long, value_parser = duration_arg::segment)]
    pub segment: Option<Duration>,
    /// Start segments on wall-clock multiples of the segment length (:00, :15, ...).
    #[arg(long)]
    pub align: bool,
    /// Longest fragment, e.g. 1s: video on disk is at most this old plus one GOP; 100ms to 60s.
    #[arg(long, value_parser = duration_arg::fragment)]
    pub fragment: Option<Duration>,
    /// File name template [default: {camera}/{YYYYMMDD}/{HHMMSS}_{camera}.mp4].
    #[arg(long)]
    pub template: Option<String>,
    /// RTP transport for every camera: tcp or udp.
    #[arg(long)]
    pub transport: Option<String>,
    /// Reconnect to a camera that sent nothing for this long, e.g. 10s; 1s to 1h.
    #[arg(long, value_parser = duration_arg::stall_timeout)]
    pub stall_timeout: Option<Duration>,
    /// fsync every fragment (slower; survives power loss, not just crashes).
    #[arg(long)]
    pub sync_fragments: bool,
    /// Serve /metrics, /health and /ready here [default: 127.0.0.1:9090].
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Do not serve /metrics, /health, /ready.
    #[arg(long, conflicts_with = "metrics_listen")]
    pub no_metrics: bool,
    /// Also export the metric names of the ffmpeg-based recorder's
    /// dashboards (camera_*{camera_id=...}); see docs/migrating.md.
    #[arg(long)]
    pub legacy_metrics: bool,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Time between two thumbnails (JPEG of a keyframe) of each camera,
    /// e.g. 5m [default: 5m; the first at the camera's first keyframe]; 1s to 24h.
    #[arg(long, value_parser = duration_arg::thumbnail_interval)]
    pub thumbnail_interval: Option<Duration>,
    /// Make no thumbnails.
    #[arg(long, conflicts_with = "thumbnail_interval")]
    pub no_thumbnails: bool,
}

/// Retention of a local folder (docs/operations.md#retention); each flag
/// wins over the file's `[retention]` key and every camera's own.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Retention (local folder)")]
pub struct RetentionArgs {
    /// Delete each camera's segments older than this, e.g. 30d (units w, d, h, m, s).
    #[arg(long, value_parser = retention::parse_age)]
    pub max_age: Option<Duration>,
    /// Keep each camera's segments within this size, e.g. 500GiB (oldest deleted first).
    #[arg(long, value_parser = retention::parse_size)]
    pub max_bytes: Option<u64>,
    /// Delete every camera's segments older than this.
    #[arg(long, value_parser = retention::parse_age)]
    pub total_max_age: Option<Duration>,
    /// Keep all cameras' segments together within this size.
    #[arg(long, value_parser = retention::parse_size)]
    pub total_max_bytes: Option<u64>,
    /// Delete unpinned clips (under clips/) older than this.
    #[arg(long, value_parser = retention::parse_age)]
    pub clips_max_age: Option<Duration>,
    /// Keep unpinned clips within this size.
    #[arg(long, value_parser = retention::parse_size)]
    pub clips_max_bytes: Option<u64>,
    /// Keep this much free space on the folder's volume, e.g. 5GiB (oldest segments deleted first).
    #[arg(long, value_parser = retention::parse_size)]
    pub min_free: Option<u64>,
}

impl RetentionArgs {
    /// As configuration overrides.
    pub fn flags(&self) -> RetentionFlags {
        RetentionFlags {
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            total_max_age: self.total_max_age,
            total_max_bytes: self.total_max_bytes,
            clips_max_age: self.clips_max_age,
            clips_max_bytes: self.clips_max_bytes,
            min_free: self.min_free,
        }
    }
}

/// When to show the live status table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusMode {
    /// When stderr is a terminal and logs are not JSON.
    Auto,
    /// Always (unless logs are JSON).
    Always,
    /// Never: plain log lines.
    Never,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// Stop after this long (default: until Ctrl-C / SIGTERM); at most 8784h (a year).
    #[arg(long, value_parser = duration_arg::any)]
    pub duration: Option<Duration>,
    /// Live per-camera table on the terminal.
    #[arg(long, value_enum, default_value = "auto")]
    pub status: StatusMode,
    /// Also write every log line to this file (with the status table on,
    /// only warnings are shown on the terminal).
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ConfigCommand {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate the configuration (file + environment + flags) and print
    /// the effective settings, secrets redacted. Exit code 2 when invalid.
    Check(ConfigArgs),
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
    #[arg(long, value_parser = duration_arg::any, default_value = "30s")]
    pub duration: Duration,
    /// Segment length (short, so the demo shows several files).
    #[arg(long, value_parser = duration_arg::segment, default_value = "10s")]
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
    #[arg(long, value_parser = duration_arg::any)]
    pub close_after: Option<Duration>,
    /// Fault: stop sending (keep TCP open) this long after PLAY.
    #[arg(long, value_parser = duration_arg::any)]
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

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "apply"])))]
pub struct PruneArgs {
    /// Recordings folder (the --out of camrec record) [default: the configuration's folder].
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete it.
    #[arg(long)]
    pub apply: bool,
    /// TOML configuration file (its retention table, key templates and storage dir are used).
    #[arg(long, short = 'c', env = "CAMREC_CONFIG")]
    pub config: Option<PathBuf>,
    /// File name template the folder was written with [default: the configuration's].
    #[arg(long)]
    pub template: Option<String>,
    /// Name template the folder's thumbnails were written with, ending in .jpg
    /// [default: the configuration's `[thumbnails] key_template`].
    #[arg(long)]
    pub thumbnail_template: Option<String>,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Longest export served, e.g. 6h (longer windows are refused with a 400).
    #[arg(long, value_parser = duration_arg::any, default_value = "24h")]
    pub max_export: Duration,
    /// On a bucket, send video through camrec instead of presigned URLs
    /// (for browsers when the bucket has no CORS rule for this page).
    #[arg(long)]
    pub proxy_bucket: bool,
}
