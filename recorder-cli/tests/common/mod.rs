//! Helpers for running the real `camrec` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camera_sim::{AuthMode, MountConfig, SimConfig, SimHandle, Simulator};

pub const BIN: &str = env!("CARGO_BIN_EXE_camrec");

/// A `camrec` command with a clean environment (no CAMERAn_*, S3_*, ...).
pub fn camrec() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear();
    if let Some(p) = std::env::var_os("PATH") {
        c.env("PATH", p);
    }
    c.stdin(Stdio::null());
    c
}

pub fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run camrec");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The built-in clip on /stream1, optionally behind Digest auth.
pub fn sim(creds: Option<(&str, &str)>) -> SimHandle {
    let mut cfg = SimConfig::new().mount(MountConfig::demo("/stream1"));
    if let Some((u, p)) = creds {
        cfg = cfg.credentials(u, p, AuthMode::Digest);
    }
    Simulator::start_in_thread(cfg, "127.0.0.1:0".parse().unwrap()).expect("start sim")
}

/// A port nothing listens on (bound then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running `camrec record` whose stderr is collected line by line.
pub struct Running {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(mut c: Command) -> Running {
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn camrec");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                l2.lock().unwrap().push(line);
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.log().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "camrec exited ({st}) before logging {needle:?}:\n{}",
                    self.log().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The metrics address from the "serving /metrics" log line (JSON logs).
    pub fn metrics_addr(&mut self) -> SocketAddr {
        let line = self.wait_for_line("serving /metrics", Duration::from_secs(20));
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        v["fields"]["listen"]
            .as_str()
            .expect("listen field")
            .parse()
            .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for exit; returns the exit code and every stderr line.
    pub fn wait(mut self, timeout: Duration) -> (i32, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "camrec did not exit within {timeout:?}:\n{}",
                    self.log().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status.code().unwrap_or(-1), self.log())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP GET: (status, body).
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (code, _, body) = get_with_headers(addr, path, "");
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// A GET with extra header lines (each ending in CRLF): (status, the
/// response head lowercased, body bytes).
pub fn get_with_headers(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n");
    let head = String::from_utf8_lossy(&resp[..split.unwrap_or(resp.len())]).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {head}"));
    let body = split.map_or_else(Vec::new, |i| resp[i + 4..].to_vec());
    (code, head.to_ascii_lowercase(), body)
}

/// Polls `f` until it returns Some, or panics with `what`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of a metric sample line `name{labels} value`.
pub fn metric(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every file under `dir`.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect();
    out.sort();
    out
}

/// Top-level MP4 box types of a file, in order.
pub fn top_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned();
        if size < 8 || pos + size > data.len() {
            out.push(format!("TRUNCATED {kind}"));
            break;
        }
        out.push(kind);
        pos += size;
    }
    out
}

/// moto from $CAMREC_MOTO_SERVER, the tools cache, or `PATH`.
pub fn moto_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CAMREC_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let tools = std::env::var_os("CAMREC_S3_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camrec-s3")
        });
    let p = tools.join("moto/bin/moto_server");
    if p.exists() {
        return Some(p);
    }
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| PathBuf::from("moto_server"))
}

/// A moto server on loopback, killed on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto, or `None` with a printed reason when it is not installed.
pub fn moto() -> Option<Moto> {
    let Some(bin) = moto_bin() else {
        eprintln!("SKIP: moto_server not installed (scripts/s3-test-servers.sh install)");
        return None;
    };
    let port = dead_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let m = Moto { port, child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", m.port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not open its port");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(m)
}

impl Moto {
    /// A `camrec` command pointed at this server (endpoint, moto's test
    /// keys) with its S3 spool in `spool`.
    pub fn camrec(&self, spool: &Path) -> Command {
        let mut c = camrec();
        c.env("S3_ENDPOINT", format!("http://127.0.0.1:{}", self.port))
            .env("S3_ACCESS_KEY_ID", "testing")
            .env("S3_SECRET_ACCESS_KEY", "testing-secret")
            .env("S3_SPOOL_DIR", spool);
        c
    }

    /// Creates `bucket` (moto takes unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
}

/// A Garage server on loopback (single node, one bucket `camrec-test`
/// with a known key), killed on drop; `None` with a printed reason when
/// garage is not installed (scripts/s3-test-servers.sh install).
pub struct Garage {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

#[path = "../../../recorder-core/tests/support/garage.rs"]
mod garage_support;
#[allow(unused_imports)]
pub use garage_support::{GARAGE_BUCKET, GARAGE_KEY_ID, GARAGE_SECRET};

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn garage() -> Option<Garage> {
    let bin = std::env::var_os("CAMREC_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let tools = std::env::var_os("CAMREC_S3_TOOLS")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/camrec-s3")
                });
            tools.join("garage/bin/garage")
        });
    if !bin.exists() {
        eprintln!(
            "SKIP: garage not installed (scripts/s3-test-servers.sh install, or set CAMREC_GARAGE)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let cfg = garage_support::write_config(dir.path(), port, dead_port());
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&cfg)
        .arg("server")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start garage");
    let g = Garage {
        port,
        child,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "garage did not open its port");
        std::thread::sleep(Duration::from_millis(100));
    }
    garage_support::init_cluster(&bin, &cfg);
    Some(g)
}

impl Garage {
    /// A `camrec` command pointed at this server with its spool in `spool`.
    pub fn camrec(&self, spool: &Path) -> Command {
        let mut c = camrec();
        c.env("S3_ENDPOINT", format!("http://127.0.0.1:{}", self.port))
            .env("S3_REGION", "garage")
            .env("S3_ACCESS_KEY_ID", GARAGE_KEY_ID)
            .env("S3_SECRET_ACCESS_KEY", GARAGE_SECRET)
            .env("S3_SPOOL_DIR", spool);
        c
    }
}

/// A minimal HTTP request with an optional bearer token and JSON body:
/// (status, body).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code: u16 = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {resp}"));
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// [`request`] whose body must be JSON.
pub fn request_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (code, text) = request(addr, method, path, token, body);
    let v = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
    };
    (code, v)
}
