//! The optional webhook: a JSON POST for every segment and clip stored, so
//! a platform can index recordings in its own database.
//!
//! Recording never waits for it: events go into a bounded queue
//! ([`QUEUE`]); when the receiver is slower than the recorder, new events
//! are dropped and counted. Each POST is retried with backoff
//! ([`RetryPolicy`]) until it gets a 2xx or [`ATTEMPTS`] attempts failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use recorder_core::recorder::{ClipStatus, RecorderEvent, SegmentRecord};
use recorder_core::retry::{Jitter, RetryPolicy, RetryState};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

/// Events waiting for delivery at most.
pub const QUEUE: usize = 1024;
/// Attempts per event.
pub const ATTEMPTS: u32 = 8;
/// Time allowed for one POST (connect, send, response head).
const TIMEOUT: Duration = Duration::from_secs(15);

/// Delivery counters.
#[derive(Default, Debug)]
pub struct Counters {
    /// POSTs answered with a 2xx.
    pub delivered: AtomicU64,
    /// Events given up on after [`ATTEMPTS`].
    pub failed: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// The JSON of a stored segment.
pub fn segment_json(s: &SegmentRecord) -> Value {
    json!({
        "type": "segment",
        "camera": s.camera,
        "name": s.name,
        "location": s.location,
        "upload_pending": s.upload_pending,
        "start": s.wall_start.to_rfc3339(),
        "end": s.wall_end.to_rfc3339(),
        "duration_s": s.duration.as_secs_f64(),
        "bytes": s.bytes,
        "video_frames": s.video_frames,
        "codecs": s.codecs,
        "reason": s.reason.map(|r| r.as_str()),
    })
}

/// Starts delivering to `url` what `events` reports. Returns the counters;
/// the tasks end when the recorder's event stream closes.
pub fn start(url: url::Url, mut events: broadcast::Receiver<RecorderEvent>) -> Arc<Counters> {
    let counters = Arc::new(Counters::default());
    let (tx, rx) = mpsc::channel::<Value>(QUEUE);
    let c = counters.clone();
    tokio::spawn(async move {
        let mut warned: Option<Instant> = None;
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    c.dropped.fetch_add(n, Ordering::Relaxed);
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let body = match &ev {
                RecorderEvent::SegmentStored(s) => segment_json(s),
                RecorderEvent::Clip(clip)
                    if matches!(clip.status, ClipStatus::Completed { .. }) =>
                {
                    let mut v = crate::api::clip_json(clip);
                    v["type"] = "clip".into();
                    v
                }
                _ => continue,
            };
            if tx.try_send(body).is_err() {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(
                        dropped = c.dropped.load(Ordering::Relaxed),
                        "the webhook receiver is behind: events are dropped"
                    );
                    warned = Some(Instant::now());
                }
            }
        }
    });
    tokio::spawn(deliver(url, rx, counters.clone()));
    counters
}

async fn deliver(url: url::Url, mut rx: mpsc::Receiver<Value>, c: Arc<Counters>) {
    let policy = RetryPolicy::new(Duration::from_millis(500), Duration::from_secs(60))
        .with_max_attempts(Some(ATTEMPTS))
        .with_jitter(Jitter::Equal);
    let shown = crate::config::scrub_userinfo(url.as_str());
    while let Some(body) = rx.recv().await {
        let bytes = Bytes::from(body.to_string());
        let mut retry = RetryState::new(policy.clone());
        loop {
            match post(&url, bytes.clone()).await {
                Ok(code) if (200..300).contains(&code) => {
                    c.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                r => {
                    retry.note_failure();
                    let why = match r {
                        Ok(code) => format!("answered {code}"),
                        Err(e) => e,
                    };
                    match retry.next_delay() {
                        Some(d) if policy.allows_another(retry.failures()) => {
                            tracing::debug!(url = %shown, error = %why, retry_in = ?d, "webhook POST failed");
                            tokio::time::sleep(d).await;
                        }
                        _ => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(url = %shown, error = %why, attempts = retry.failures(), "webhook POST failed; giving up on this event");
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// One POST; the response status.
async fn post(url: &url::Url, body: Bytes) -> Result<u16, String> {
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let attempt = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::post(path)
            .header(HOST, format!("{host}:{port}"))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("camrec/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        Ok(resp.status().as_u16())
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
}
