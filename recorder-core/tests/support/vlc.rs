// VLC's RTSP server (Debian `vlc-bin` + `vlc-plugin-base`) serving a file
// in a loop, and test clips it streams. Std-only.
//
// VLC refuses to run as root, so as root it runs as `nobody` (through
// `runuser`): the served file's folder must then be readable by everyone.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `Err(why)` when `cvlc` is not installed.
pub fn vlc_available() -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join("cvlc").is_file()) {
        Ok(())
    } else {
        Err("VLC is missing (no cvlc in PATH); install vlc-bin and vlc-plugin-base".into())
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// VLC serving one file in a loop at `rtsp://[USER:PASSWORD@]127.0.0.1:PORT/cam`
/// (RTP over UDP only: VLC 3.0 answers interleaved SETUP with 461). Killed
/// (its whole process group) on drop.
pub struct VlcServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl VlcServer {
    /// Serves `file` in a loop, requiring `(user, password)` (Basic) if
    /// given. `None` (after printing why) when VLC is missing; panics on
    /// any other failure.
    pub fn start(file: &Path, auth: Option<(&str, &str)>) -> Option<VlcServer> {
        if let Err(why) = vlc_available() {
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let dir = file.parent().unwrap();
        if is_root() {
            // tempfile makes 0700 folders; `nobody` must read the clip.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let port = free_port();
        let log = dir.join(format!("vlc-{port}.log"));
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", "cvlc"]);
            c
        } else {
            Command::new("cvlc")
        };
        cmd.args(["-I", "dummy", "--no-audio", "--loop"])
            .arg(file)
            .arg("--sout")
            .arg(format!("#rtp{{sdp=rtsp://127.0.0.1:{port}/cam}}"));
        if let Some((u, p)) = auth {
            cmd.args(["--sout-rtsp-user", u, "--sout-rtsp-pwd", p]);
        }
        // Its own process group, so drop ends VLC and not just runuser.
        cmd.process_group(0)
            .env("HOME", "/tmp")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn cvlc");
        let server = VlcServer { child, port, log };
        // VLC listens before its stream is set up, and answers DESCRIBE
        // with 500 until then.
        let ready = if auth.is_some() { 401 } else { 200 };
        let t = Instant::now();
        while describe_status(port) != Some(ready) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "VLC did not serve rtsp://127.0.0.1:{port}/cam within 20 s; its log:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// `rtsp://[CREDS]127.0.0.1:PORT/cam`; `creds` is `user:password@` or empty.
    pub fn url(&self, creds: &str) -> String {
        format!("rtsp://{creds}127.0.0.1:{}/cam", self.port)
    }

    /// What VLC printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for VlcServer {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.child.wait();
    }
}

/// The status code of a `DESCRIBE` of `/cam` on `port`, if any answer came.
fn describe_status(port: u16) -> Option<u16> {
    use std::io::{Read, Write};
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        conn,
        "DESCRIBE rtsp://127.0.0.1:{port}/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).ok()?;
    // "RTSP/1.0 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Makes a video-only test clip: `secs` of 640x360 25 fps `testsrc2`, a
/// keyframe every second. `codec` is `libx265` (x265's default open GOP:
/// one IDR, then CRA pictures with leading RASL pictures, as the issue's
/// reporter made it) or `libx264`.
pub fn make_video_clip(path: &Path, codec: &str, secs: u32) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate=25:duration={secs}"))
        .args(["-c:v", codec, "-preset", "veryfast", "-pix_fmt", "yuv420p"]);
    if codec == "libx265" {
        cmd.args(["-x265-params", "keyint=25:log-level=error"]);
    } else {
        cmd.args(["-g", "25", "-sc_threshold", "0"]);
    }
    let status = cmd.arg(path).status().expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

/// H.265 NAL unit types of the picture (VCL) NALs of one sample (4-byte
/// lengths), in order.
pub fn h265_picture_types(mut sample: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while sample.len() >= 6 {
        let len = u32::from_be_bytes(sample[..4].try_into().unwrap()) as usize;
        let t = (sample[4] >> 1) & 0x3f;
        if t < 32 {
            out.push(t);
        }
        sample = sample.get(4 + len..).unwrap_or(&[]);
    }
    out
}
