//! The HTTP endpoints under abuse, against the real binary recording the
//! simulator: a flood of idle connections neither starves the process of
//! descriptors nor disturbs the recording, and hundreds of parallel
//! `/ready` probes all get the same, correct answer.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// recorder-cli/src/http.rs: MAX_CONNECTIONS, HEADER_READ_TIMEOUT (the
/// cap's ADMIT_GRACE is 1 s).
const MAX_CONNECTIONS: usize = 128;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const FLOOD: usize = 600;

fn record(out: &std::path::Path, sim: &camera_sim::SimHandle) -> Running {
    let mut c = camrec();
    c.args([
        "--log-format",
        "json",
        "record",
        "--metrics-listen",
        "127.0.0.1:0",
        "--segment",
        "2s",
        "--camera-id",
        "cam1",
        "--out",
    ])
    .arg(out)
    .arg(sim.url("/stream1"));
    Running::spawn(c)
}

/// `get` that reports a refused or closed connection instead of panicking.
fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    fetch(addr, path).ok()
}

/// `get` that says what failed.
fn fetch(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let t = Instant::now();
    let err = |what: &str, e: std::io::Error| format!("{what} after {:?}: {e}", t.elapsed());
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| err("connect", e))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| err("set timeout", e))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| err("write", e))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| err("read", e))?;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response after {:?}: {resp:?}", t.elapsed()))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((code, body))
}

/// Whether the server has closed `s` (EOF or reset), without waiting.
fn closed(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn wait_recording(addr: SocketAddr) -> f64 {
    eventually(Duration::from_secs(20), "/ready 200", || {
        let (code, _) = get(addr, "/ready");
        (code == 200).then_some(())
    });
    let (_, m) = get(addr, "/metrics");
    metric(&m, "camrec_camera_frames_total{camera=\"cam1\"}").expect("frames metric")
}

fn assert_no_error_logged(log: &[String]) {
    for l in log {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert_ne!(v["level"], "ERROR", "{l}");
    }
}

#[test]
fn idle_connection_flood_is_capped_and_timed_out_while_recording_goes_on() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let mut rec = record(dir.path(), &sim);
    let addr = rec.metrics_addr();
    let pid = rec.child.id();
    let frames_before = wait_recording(addr);
    let (_, m) = get(addr, "/metrics");
    let segments_before =
        metric(&m, "camrec_camera_segments_recorded_total{camera=\"cam1\"}").unwrap();
    let fds_before = open_fds(pid);

    // The flood: connections that never send a byte.
    let flood_start = Instant::now();
    let idle: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"))
        .collect();
    // Those over the cap are closed as soon as the cap has stayed full for
    // ADMIT_GRACE; the rest are held until the header-read timeout.
    let closed_early = eventually(
        Duration::from_secs(3),
        "connections over the cap closed",
        || {
            let n = idle.iter().filter(|s| closed(s)).count();
            (n >= FLOOD - MAX_CONNECTIONS).then_some(n)
        },
    );
    let early = flood_start.elapsed();
    assert!(early < HEADER_READ_TIMEOUT, "{early:?}");
    assert!(closed_early < FLOOD, "no connection was admitted");
    let fds_flood = open_fds(pid);
    assert!(
        fds_flood <= fds_before + MAX_CONNECTIONS + 8,
        "descriptors grew from {fds_before} to {fds_flood} under a flood of {FLOOD}"
    );

    // /health answers once the idle connections time out.
    let health = eventually(
        HEADER_READ_TIMEOUT + Duration::from_secs(5),
        "/health under flood",
        || try_get(addr, "/health"),
    );
    let health_after = flood_start.elapsed();
    assert_eq!(health, (200, "ok\n".to_string()));
    eprintln!(
        "flood of {FLOOD}: {closed_early} closed within {early:?}, fds {fds_before} -> {fds_flood}, /health answered after {health_after:?}"
    );
    let still_open = eventually(Duration::from_secs(5), "idle connections closed", || {
        let open = idle.iter().filter(|s| !closed(s)).count();
        (open == 0).then_some(open)
    });
    assert_eq!(still_open, 0);
    eprintln!(
        "all idle connections closed {:?} after the flood began",
        flood_start.elapsed()
    );
    drop(idle);

    // A client that trickles its request head is closed after the same
    // timeout.
    let mut slow = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let slow_closed = loop {
        std::thread::sleep(Duration::from_millis(500));
        if slow.write_all(b"X-Slow: 1\r\n").is_err() || closed(&slow) {
            break t.elapsed();
        }
        slow.set_nonblocking(false).unwrap();
        assert!(
            t.elapsed() < HEADER_READ_TIMEOUT + Duration::from_secs(5),
            "a trickling client was not closed"
        );
    };
    assert!(slow_closed >= HEADER_READ_TIMEOUT - Duration::from_millis(600));
    eprintln!("trickling client closed after {slow_closed:?}");

    // The recording did not notice.
    let m = eventually(Duration::from_secs(20), "a segment after the flood", || {
        let (_, m) = get(addr, "/metrics");
        (metric(&m, "camrec_camera_segments_recorded_total{camera=\"cam1\"}")? > segments_before)
            .then_some(m)
    });
    let frames_after = metric(&m, "camrec_camera_frames_total{camera=\"cam1\"}").unwrap();
    assert!(
        frames_after > frames_before,
        "{frames_before} -> {frames_after}"
    );
    assert_eq!(
        metric(&m, "camrec_camera_reconnects_total{camera=\"cam1\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "camrec_camera_sink_errors_total{camera=\"cam1\"}"),
        Some(0.0),
        "{m}"
    );
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert_no_error_logged(&log);
    assert!(
        log.iter().any(|l| l.contains("too many open connections")),
        "the cap was not reported"
    );
    assert!(!files(&dir.path().join("cam1")).is_empty());
}

#[test]
fn three_hundred_parallel_ready_probes_all_answer_200() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let mut rec = record(dir.path(), &sim);
    let addr = rec.metrics_addr();
    wait_recording(addr);
    for round in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(300));
        let t = Instant::now();
        let probes: Vec<_> = (0..300)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    fetch(addr, "/ready")
                })
            })
            .collect();
        let answers: Vec<_> = probes.into_iter().map(|h| h.join().unwrap()).collect();
        let took = t.elapsed();
        let ok = answers.iter().filter(|a| matches!(a, Ok((200, _)))).count();
        let bad: Vec<_> = answers
            .iter()
            .filter(|a| !matches!(a, Ok((200, _))))
            .take(3)
            .collect();
        if ok != 300 {
            for l in rec.log() {
                if l.contains("WARN") {
                    eprintln!("{l}");
                }
            }
        }
        assert_eq!(ok, 300, "round {round}: {bad:?}");
        for (_, body) in answers.iter().flatten() {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["storage"]["ready"], true, "{body}");
            assert_eq!(v["cameras"][0]["state"], "recording", "{body}");
        }
        eprintln!("round {round}: 300 parallel /ready, all 200, in {took:?}");
        std::thread::sleep(Duration::from_millis(1100));
    }
    // Each probe file was removed.
    let left: Vec<_> = files(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".camrec-ready"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert_no_error_logged(&log);
}

#[test]
fn a_busy_keep_alive_connection_is_closed_at_its_lifetime() {
    const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let mut rec = record(dir.path(), &sim);
    let addr = rec.metrics_addr();
    // Requests every 2 s (inside the header timeout) on one connection.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut answered = 0;
    let lived = loop {
        let sent = s
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .is_ok();
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(n) if sent && n > 0 => {
                assert!(buf.starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
                answered += 1;
            }
            _ => break t.elapsed(),
        }
        assert!(
            t.elapsed() < CONNECTION_LIFETIME + Duration::from_secs(10),
            "a keep-alive connection outlived its limit"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    eprintln!("keep-alive connection closed after {lived:?} and {answered} requests");
    assert!(
        lived >= CONNECTION_LIFETIME - Duration::from_secs(1),
        "{lived:?}"
    );
    assert!(answered >= 10, "{answered}");
    rec.signal("TERM");
    let (code, log) = rec.wait(Duration::from_secs(40));
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert_no_error_logged(&log);
}
