//! The optional webhook: a JSON POST for every segment and clip stored, so
//! a platform can index recordings in its own database.
//!
//! Recording never waits for it: events go into a bounded queue
//! ([`QUEUE`]); when the receiver is slower than the recorder, new events
//! are dropped and counted. Each POST is retried with backoff
//! ([`RetryPolicy`]) until it gets a 2xx or [`ATTEMPTS`] attempts failed.
//! `https://` receivers are checked against the system's trusted CAs (or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`) with rustls on aws-lc-rs, the S3
//! client's TLS stack.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use axum::http::Uri;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use recorder_core::recorder::{ClipStatus, RecorderEvent, SegmentRecord};
use recorder_core::retry::{Jitter, RetryPolicy, RetryState};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tower_service::Service;

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
/// the tasks end when the recorder's event stream closes. For an `https`
/// URL the trusted CAs are read now (problems are logged). Fails only when
/// TLS cannot be set up at all.
pub fn start(
    url: url::Url,
    mut events: broadcast::Receiver<RecorderEvent>,
) -> Result<Arc<Counters>, rustls::Error> {
    let roots = if url.scheme() == "https" {
        native_roots()
    } else {
        rustls::RootCertStore::empty()
    };
    let connector = connector(roots)?;
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
    tokio::spawn(deliver(url, connector, rx, counters.clone()));
    Ok(counters)
}

/// Opens a POST's connection: TCP, then TLS for `https`.
type Connector = hyper_rustls::HttpsConnector<Tcp>;

/// The system's trusted CAs, or those of `SSL_CERT_FILE` / `SSL_CERT_DIR`
/// when set; problems are logged (https POSTs then fail and say why).
fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the trusted CA certificates for the https webhook");
    }
    let (trusted, _unparsable) = roots.add_parsable_certificates(found.certs);
    if trusted == 0 {
        tracing::warn!(
            "no trusted CA certificates found: https webhook POSTs will fail until the \
             receiver's CA is installed in the system store (Debian: ca-certificates) or \
             SSL_CERT_FILE names a PEM file with it"
        );
    }
    roots
}

/// The connector for `http` and `https` (trusting `roots`), HTTP/1.1 only.
fn connector(roots: rustls::RootCertStore) -> Result<Connector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(Tcp))
}

/// `url` for logs: the password and the query's values masked (a receiver
/// may take its key as `?token=...`).
pub fn shown(url: &url::Url) -> String {
    crate::config::scrub_url_secrets(url)
}

/// Plain TCP to a URI's host and port. Its own error type tells a
/// connection that failed apart from a TLS handshake that failed.
#[derive(Clone, Copy, Debug)]
struct Tcp;

/// A TCP connection that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("connecting to {addr}: {source}")]
struct ConnectError {
    addr: String,
    source: std::io::Error,
}

impl Service<Uri> for Tcp {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let port = uri.port_u16().unwrap_or(80);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            TcpStream::connect((bare, port))
                .await
                .map(TokioIo::new)
                .map_err(|source| ConnectError {
                    addr: format!("{host}:{port}"),
                    source,
                })
        })
    }
}

/// What failed opening a connection to `addr`, and for TLS how to fix it.
fn describe_connect(e: &(dyn StdError + 'static), addr: &str) -> String {
    if let Some(c) = find::<ConnectError>(e) {
        return c.to_string();
    }
    let handshake = |why: &dyn std::fmt::Display| {
        format!(
            "TLS handshake with {addr} failed ({why}): check that the receiver speaks https \
             (TLS 1.2 or 1.3) on this port"
        )
    };
    let Some(tls) = find::<rustls::Error>(e) else {
        return handshake(&e);
    };
    use rustls::CertificateError as C;
    match tls {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
            "certificate of {addr} not trusted ({tls}): install the CA that issued it in \
             the system store or set SSL_CERT_FILE to a PEM file with it"
        ),
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            format!(
                "certificate of {addr} is not valid for that name ({tls}): use a name the \
                 certificate has in the webhook URL, or reissue it with this one"
            )
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => format!(
            "certificate of {addr} expired or not yet valid ({tls}): renew it on the \
             receiver, or correct this host's clock"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "certificate of {addr} rejected ({tls}): give the receiver a certificate from a \
             trusted CA for this name"
        ),
        _ => handshake(tls),
    }
}

/// The first `T` in `e`'s chain of causes.
fn find<'a, T: StdError + 'static>(mut e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    loop {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        // An io::Error's `source()` is its inner error's source, skipping
        // the inner error itself (where tokio-rustls puts rustls' error).
        let next: Option<&(dyn StdError + 'static)> = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|i| i as _),
            None => e.source(),
        };
        e = next?;
    }
}

/// Failures repeat for every event while the receiver is down: the same
/// reason is warned about once a minute, retries in between are debug.
const WARN_EVERY: Duration = Duration::from_secs(60);

async fn deliver(
    url: url::Url,
    mut connector: Connector,
    mut rx: mpsc::Receiver<Value>,
    c: Arc<Counters>,
) {
    let policy = RetryPolicy::new(Duration::from_millis(500), Duration::from_secs(60))
        .with_max_attempts(Some(ATTEMPTS))
        .with_jitter(Jitter::Equal);
    let shown = shown(&url);
    let mut warned: Option<(String, Instant)> = None;
    while let Some(body) = rx.recv().await {
        let bytes = Bytes::from(body.to_string());
        let mut retry = RetryState::new(policy.clone());
        loop {
            match post(&mut connector, &url, bytes.clone()).await {
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
                            let repeat = warned
                                .as_ref()
                                .is_some_and(|(w, t)| *w == why && t.elapsed() < WARN_EVERY);
                            if repeat {
                                tracing::debug!(url = %shown, error = %why, retry_in = ?d, "webhook POST failed; retrying");
                            } else {
                                tracing::warn!(url = %shown, error = %why, retry_in = ?d, "webhook POST failed; retrying");
                                warned = Some((why, Instant::now()));
                            }
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

/// One POST on a new connection; the response status.
async fn post(connector: &mut Connector, url: &url::Url, body: Bytes) -> Result<u16, String> {
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = format!("{host}:{port}");
    // Without the URL's user info or path: only the connector sees this.
    let uri: Uri = format!("{}://{addr}/", url.scheme())
        .parse()
        .map_err(|e| format!("{addr}: {e}"))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let attempt = async {
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| describe_connect(&*e, &addr))?;
        let stream = connector
            .call(uri)
            .await
            .map_err(|e| describe_connect(&*e, &addr))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream)
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::post(path)
            .header(HOST, &addr)
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

#[cfg(test)]
#[path = "../tests/common/tls.rs"]
mod test_tls;

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn trusting(ca: &std::path::Path) -> Connector {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        connector(roots).unwrap()
    }

    fn ok(_: Vec<u8>) -> &'static str {
        "200 OK"
    }

    /// Real TLS servers (openssl-made certificates): a trusted one is
    /// posted to; an untrusted CA, a name the certificate lacks, a plain
    /// HTTP server and a closed port each get a message naming the fix.
    #[tokio::test]
    async fn tls_failures_say_what_failed_and_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = test_tls::make_ca(dir.path());
        let good = test_tls::serve(
            Some(test_tls::server_config(dir.path(), "good", "IP:127.0.0.1")),
            ok,
        );
        let elsewhere = test_tls::serve(
            Some(test_tls::server_config(
                dir.path(),
                "other",
                "DNS:elsewhere.invalid",
            )),
            ok,
        );
        let plain = test_tls::serve(None, ok);
        let body = || Bytes::from_static(b"{}");
        let mut trusted = trusting(&ca);

        let to = |a: std::net::SocketAddr, scheme: &str| url(&format!("{scheme}://{a}/hook?k=1"));
        assert_eq!(
            post(&mut trusted, &to(good, "https"), body()).await,
            Ok(200)
        );
        // http keeps working through the same connector.
        assert_eq!(
            post(&mut trusted, &to(plain, "http"), body()).await,
            Ok(200)
        );

        let mut untrusting = connector(rustls::RootCertStore::empty()).unwrap();
        let e = post(&mut untrusting, &to(good, "https"), body())
            .await
            .unwrap_err();
        assert!(
            e.contains(&format!("certificate of {good} not trusted"))
                && e.contains("SSL_CERT_FILE"),
            "{e}"
        );

        let e = post(&mut trusted, &to(elsewhere, "https"), body())
            .await
            .unwrap_err();
        assert!(
            e.contains(&format!(
                "certificate of {elsewhere} is not valid for that name"
            )),
            "{e}"
        );

        let e = post(&mut trusted, &to(plain, "https"), body())
            .await
            .unwrap_err();
        assert!(
            e.contains(&format!("TLS handshake with {plain} failed")) && e.contains("speaks https"),
            "{e}"
        );

        // A server answering in plain HTTP at once: rustls' own error.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let talker = l.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_secs(2));
        });
        let e = post(&mut trusted, &to(talker, "https"), body())
            .await
            .unwrap_err();
        assert!(
            e.contains(&format!(
                "TLS handshake with {talker} failed (received corrupt message"
            )) && e.contains("speaks https"),
            "{e}"
        );

        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = post(&mut trusted, &to(closed, "https"), body())
            .await
            .unwrap_err();
        assert!(e.starts_with(&format!("connecting to {closed}: ")), "{e}");
    }

    #[test]
    fn shown_masks_password_and_query_values() {
        let s = shown(&url("https://hook:pw123@example.com/x?token=s3cret&site=1"));
        assert_eq!(s, "https://hook:***@example.com/x?token=***&site=***");
        assert_eq!(shown(&url("http://h:8080/camrec")), "http://h:8080/camrec");
    }
}
