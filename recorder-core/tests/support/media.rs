// What a file holds, as ffmpeg/ffprobe see it; test clips made with
// ffmpeg; files left in a directory; GStreamer's RTSP server. Std-only and
// free of inner attributes so the CLI tests can include it too (through
// `e2e_support/media.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One stream of a file, from `ffprobe -count_frames -count_packets`.
#[derive(Debug, Clone, Default)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub sample_rate: u32,
    pub start_time: f64,
    pub duration: f64,
    /// Frames the decoder produced.
    pub decoded: u64,
    /// Packets (samples) stored.
    pub packets: u64,
}

/// Everything the e2e tests assert about one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub video: StreamInfo,
    pub audio: Option<StreamInfo>,
    /// Container duration.
    pub duration: f64,
    /// `ffmpeg -v error` output of a full decode (empty = clean).
    pub errors: String,
    pub first_frame_key: bool,
    /// Video packet pts, in decode order, in seconds.
    pub video_pts: Vec<f64>,
}

impl FileReport {
    /// Largest step between consecutive video presentation times.
    pub fn max_video_gap(&self) -> f64 {
        let mut pts = self.video_pts.clone();
        pts.sort_by(f64::total_cmp);
        pts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
    }

    /// Presentation span of the video (first to last frame).
    pub fn video_span(&self) -> f64 {
        let min = self.video_pts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .video_pts
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (max - min).max(0.0)
    }

    /// Audio start minus video start, in seconds.
    pub fn av_offset(&self) -> Option<f64> {
        self.audio
            .as_ref()
            .map(|a| a.start_time - self.video.start_time)
    }

    /// Panics unless the file decodes without a single error line and
    /// starts on a keyframe.
    pub fn assert_clean(&self) {
        assert!(
            self.errors.is_empty(),
            "{}: ffmpeg reported errors:\n{}",
            self.path.display(),
            self.errors
        );
        assert!(
            self.first_frame_key,
            "{}: first video frame is not a keyframe",
            self.path.display()
        );
        assert_eq!(
            self.video.decoded,
            self.video.packets,
            "{}: every stored video frame decodes",
            self.path.display()
        );
    }

    /// Panics unless audio starts within one AAC frame (plus 20 ms for
    /// timestamp rounding at the camera) of video.
    pub fn assert_av_aligned(&self) {
        self.assert_av_aligned_within(0.0);
    }

    /// Like [`FileReport::assert_av_aligned`] with `extra` seconds of slack.
    pub fn assert_av_aligned_within(&self, extra: f64) {
        let a = self
            .audio
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no audio stream", self.path.display()));
        let frame = 1024.0 / f64::from(a.sample_rate.max(1));
        let off = a.start_time - self.video.start_time;
        assert!(
            off.abs() <= frame + 0.02 + extra,
            "{}: audio starts {off:+.3} s from video (one audio frame is {frame:.3} s)",
            self.path.display()
        );
    }
}

fn parse_kv(line: &str) -> std::collections::HashMap<&str, &str> {
    line.split('|').filter_map(|f| f.split_once('=')).collect()
}

fn num<T: std::str::FromStr + Default>(m: &std::collections::HashMap<&str, &str>, k: &str) -> T {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// Full decode with `ffmpeg -v error`; returns its error output.
pub fn ffmpeg_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("ffmpeg exit status {}", out.status));
    }
    s
}

/// Runs `ffprobe -v error ARGS PATH` and returns its output.
pub fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs ffprobe and returns its `key=value` output lines.
pub fn ffprobe_values(path: &Path, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["-of", "default=noprint_wrappers=1"];
    all.extend_from_slice(args);
    ffprobe(path, &all)
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The first value ffprobe printed for `key`.
fn ffprobe_value(path: &Path, args: &[&str], key: &str) -> Option<String> {
    ffprobe_values(path, args)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Decoded frame count of the first stream of `kind` ("v" or "a").
pub fn decoded_frames(path: &Path, kind: &str) -> u64 {
    let sel = format!("{kind}:0");
    let args = [
        "-count_frames",
        "-select_streams",
        &sel,
        "-show_entries",
        "stream=nb_read_frames",
    ];
    ffprobe_value(path, &args, "nb_read_frames")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

/// start_time of the first stream of `kind`, in seconds.
pub fn start_time(path: &Path, kind: &str) -> f64 {
    let sel = format!("{kind}:0");
    let args = [
        "-select_streams",
        &sel,
        "-show_entries",
        "stream=start_time",
    ];
    ffprobe_value(path, &args, "start_time")
        .map(|v| v.parse().unwrap())
        .unwrap()
}

/// Whether the first decoded video frame is a keyframe.
pub fn first_frame_is_key(path: &Path) -> bool {
    let args = [
        "-select_streams",
        "v:0",
        "-read_intervals",
        "%+#1",
        "-show_entries",
        "frame=key_frame",
    ];
    ffprobe_value(path, &args, "key_frame").unwrap() == "1"
}

pub fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

/// Probes and decodes one file.
pub fn inspect(path: &Path) -> FileReport {
    let text = ffprobe(
        path,
        &[
            "-count_frames",
            "-count_packets",
            "-show_entries",
            "stream=codec_type,width,height,sample_rate,start_time,duration,nb_read_frames,nb_read_packets:format=duration",
            "-of",
            "compact",
        ],
    );
    let mut video = None;
    let mut audio = None;
    let mut duration = 0.0;
    for line in text.lines() {
        let m = parse_kv(line);
        if line.starts_with("format|") {
            duration = num(&m, "duration");
            continue;
        }
        let info = StreamInfo {
            width: num(&m, "width"),
            height: num(&m, "height"),
            sample_rate: num(&m, "sample_rate"),
            start_time: num(&m, "start_time"),
            duration: num(&m, "duration"),
            decoded: num(&m, "nb_read_frames"),
            packets: num(&m, "nb_read_packets"),
        };
        match m.get("codec_type") {
            Some(&"video") if video.is_none() => video = Some(info),
            Some(&"audio") if audio.is_none() => audio = Some(info),
            _ => {}
        }
    }
    let video = video.unwrap_or_else(|| panic!("{}: no video stream:\n{text}", path.display()));
    let first_key = ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "csv=p=0",
        ],
    );
    let video_pts = ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .collect();
    FileReport {
        path: path.to_owned(),
        video,
        audio,
        duration,
        errors: ffmpeg_errors(path),
        first_frame_key: first_key.trim().starts_with('1'),
        video_pts,
    }
}

/// Files under `dir` (recursively) whose names end with `suffix`, sorted
/// by name (names start with the segment's UTC time, so this is time order).
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    out
}

/// Every file under `dir` (recursively), sorted by name.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    files_with_suffix(dir, "")
}

/// Finished segments under `dir`, in time order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files_with_suffix(dir, ".mp4")
}

/// Makes a test clip with ffmpeg's synthetic sources: `secs` long,
/// `size` (e.g. "320x240"), 25 fps, 1 s GOP, AAC mono at `rate` Hz.
/// `extra` adds encoder flags (profile, B-frames).
pub fn make_clip(path: &Path, secs: u32, size: &str, rate: u32, extra: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate={rate}:duration={secs}"
        ))
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
        .args(extra)
        .args(["-c:a", "aac", "-b:a", "32k", "-ac", "1"])
        .args(["-movflags", "+faststart"])
        .arg(path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

/// UTC seconds of the day a segment's name says it starts at
/// (`.../HHMMSS_camera.mp4`, the default template).
pub fn name_seconds_of_day(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_string_lossy();
    let hms: u64 = name[..6].parse().unwrap_or_else(|_| panic!("{name}"));
    hms / 10_000 * 3600 + hms / 100 % 100 * 60 + hms % 100
}

/// UTC seconds of the day now.
pub fn now_seconds_of_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 86_400
}

/// Panics unless the segment's name (its first frame's wall clock) lies
/// within `[from - 2 s, to + 2 s]` (seconds of the UTC day).
pub fn assert_named_in(path: &Path, from: u64, to: u64) {
    let t = name_seconds_of_day(path);
    // Circular distance, so a test running over midnight still passes.
    let d = |a: u64, b: u64| (a + 86_400 - b) % 86_400;
    assert!(
        d(t, from) <= d(to, from) + 2 || d(from, t) <= 2,
        "{}: named {t} s into the day, recorded between {from} and {to}",
        path.display()
    );
}

/// The Python interpreter with GStreamer bindings (`CAMREC_PYTHON`, else
/// the distribution's, which has python3-gi: pyenv shims and virtualenvs
/// usually lack it).
pub fn python() -> String {
    std::env::var("CAMREC_PYTHON").unwrap_or_else(|_| {
        if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3".into()
        } else {
            "python3".into()
        }
    })
}

/// `Err(why)` unless python3-gi with GstRtspServer 1.0 can be imported.
pub fn gi_available() -> Result<(), String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3-gi with GstRtspServer 1.0 is missing ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// GStreamer's RTSP server (`tests/support/gst_rtsp_server.py`) serving one
/// file once at `rtsp://[USER:PASSWORD@]127.0.0.1:PORT/test`; killed on drop.
pub struct GstServer {
    child: std::process::Child,
    pub port: u16,
}

impl GstServer {
    /// Serves `file` without authentication. `None` (after printing why)
    /// when python3-gi with GstRtspServer is missing; panics on any other
    /// failure.
    pub fn start(file: &Path) -> Option<GstServer> {
        GstServer::start_with_auth(file, None)
    }

    /// Like [`GstServer::start`], requiring `(user, password)` if given.
    pub fn start_with_auth(file: &Path, auth: Option<(&str, &str)>) -> Option<GstServer> {
        use std::io::BufRead;
        if let Err(why) = gi_available() {
            eprintln!("SKIPPED: {why}");
            return None;
        }
        // Via `..` so the path also holds when recorder-cli includes this file.
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../recorder-core/tests/support/gst_rtsp_server.py");
        let mut cmd = Command::new(python());
        cmd.arg(script).arg(file);
        if let Some((u, p)) = auth {
            cmd.args(["--user", u, "--password", p]);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn gst_rtsp_server.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("gst_rtsp_server.py did not report its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"));
        Some(GstServer { child, port })
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for GstServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until a `.mp4.part` of at least `bytes` exists under `dir`.
pub fn wait_for_part(dir: &Path, bytes: u64, limit: std::time::Duration) -> PathBuf {
    let t = std::time::Instant::now();
    loop {
        if let Some(p) = files_with_suffix(dir, ".mp4.part")
            .into_iter()
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= bytes))
        {
            return p;
        }
        assert!(t.elapsed() < limit, "no .mp4.part in {}", dir.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
