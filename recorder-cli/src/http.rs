//! The HTTP listener: `/metrics`, `/health` and `/ready`, plus any routes
//! a command adds (an [`axum::Router`] merged in [`serve`]), over plain
//! HTTP/1.1 (hyper).
//!
//! The endpoints share the process with the recording, so whoever can
//! reach them must not be able to starve it: connections are capped
//! ([`MAX_CONNECTIONS`]; when the cap stays full for [`ADMIT_GRACE`],
//! new ones are closed at once rather than queued),
//! a connection that does not send a complete request head within
//! [`HEADER_READ_TIMEOUT`] (first request or between keep-alive requests)
//! is closed, and after [`CONNECTION_LIFETIME`] a connection takes no
//! further request: the response in flight (a long export, say) may finish
//! within [`RESPONSE_GRACE`], then the connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State as Extract;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};

use crate::metrics::{encode, Observed};

/// Connections served at once; more are closed as soon as accepted, so a
/// flood costs the process at most this many descriptors (plus the one
/// being closed).
pub const MAX_CONNECTIONS: usize = 128;
/// Time allowed for a request head, counted from the connection's start
/// or the end of the previous response: an idle or trickling connection
/// is closed after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// After this, a connection takes no further request (a client that keeps
/// sending requests is made to reconnect).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// How long the response in flight at [`CONNECTION_LIFETIME`] may still
/// take (an export streamed to a slow client) before the connection is
/// closed whatever it does.
pub const RESPONSE_GRACE: Duration = Duration::from_secs(3600);
/// Buffer limit per connection (hyper's minimum is 8 KiB; requests here
/// are a GET line and a few headers).
const MAX_BUF_SIZE: usize = 16 * 1024;
/// How long a new connection may wait for a free slot at the cap before
/// arrivals are closed at once.
pub const ADMIT_GRACE: Duration = Duration::from_secs(1);
/// The kernel's accept queue (capped by `net.core.somaxconn`).
const ACCEPT_BACKLOG: u32 = 1024;
/// Over the cap, warn at most this often.
const REFUSED_WARN_EVERY: Duration = Duration::from_secs(60);

/// The address a request came from (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

struct State {
    observed: Arc<Observed>,
    registry: Registry,
}

/// A running server.
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops accepting and ends open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A listener whose accept queue holds a burst of hundreds of probes
/// while the cap is full (queued connections cost the kernel memory, not
/// this process's descriptors).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Binds `addr` and serves `/metrics`, `/health`, `/ready` and the routes
/// of `extra` until [`Server::shutdown`].
pub async fn serve(
    addr: SocketAddr,
    observed: Arc<Observed>,
    extra: Router,
) -> anyhow::Result<Server> {
    let listener = listen(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let registry = observed.registry();
    let state = Arc::new(State { observed, registry });
    // After the merge: the 405 answer applies to the routes registered so far.
    let app = router(state)
        .merge(extra)
        .method_not_allowed_fallback(method_not_allowed);
    let (stop_tx, mut stop) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        let mut refused: u64 = 0;
        let mut last_warn: Option<Instant> = None;
        // At the cap for longer than ADMIT_GRACE: close arrivals at once
        // until a connection ends.
        let mut shedding = false;
        loop {
            // A burst of short requests (hundreds of parallel probes) waits
            // briefly in the kernel's accept queue, which costs no
            // descriptor; a cap held by idle clients does not make
            // everyone wait.
            let early = if shedding {
                permits.clone().try_acquire_owned().ok()
            } else {
                tokio::select! {
                    p = tokio::time::timeout(ADMIT_GRACE, permits.clone().acquire_owned()) => {
                        p.ok().and_then(Result::ok)
                    }
                    _ = stop.changed() => break,
                }
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(permit) = early.or_else(|| permits.clone().try_acquire_owned().ok()) else {
                // Queueing would hold the descriptor; closing frees it now.
                drop(stream);
                shedding = true;
                refused += 1;
                if last_warn.is_none_or(|t| t.elapsed() >= REFUSED_WARN_EVERY) {
                    tracing::warn!(
                        limit = MAX_CONNECTIONS,
                        refused,
                        "metrics server: too many open connections, closing new ones"
                    );
                    last_warn = Some(Instant::now());
                    refused = 0;
                }
                continue;
            };
            shedding = false;
            // The peer address, for the API's loopback rule.
            let svc = TowerToHyperService::new(app.clone().layer(axum::Extension(PeerAddr(peer))));
            let mut conn_stop = stop.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .max_buf_size(MAX_BUF_SIZE)
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "metrics connection ended");
                        }
                    }
                    _ = tokio::time::sleep(CONNECTION_LIFETIME) => {
                        tracing::debug!("HTTP connection at its lifetime limit: finishing the response in flight");
                        conn.as_mut().graceful_shutdown();
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = tokio::time::sleep(RESPONSE_GRACE) => {}
                            _ = conn_stop.changed() => {}
                        }
                    }
                    _ = conn_stop.changed() => {}
                }
            });
        }
    });
    Ok(Server {
        addr: bound,
        stop: stop_tx,
        task,
    })
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .route("/ready", get(ready))
        .route("/readyz", get(ready))
        .with_state(state)
        .fallback(not_found)
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(CONTENT_TYPE, content_type)], body).into_response()
}

async fn metrics(Extract(state): Extract<Arc<State>>) -> Response {
    text(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        encode(&state.registry),
    )
}

async fn health() -> Response {
    text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
}

async fn ready(Extract(state): Extract<Arc<State>>) -> Response {
    let r = state.observed.readiness().await;
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::to_string_pretty(&r).unwrap_or_default();
    body.push('\n');
    text(code, "application/json", body)
}

/// Every error of the listener is JSON with a message, like the API's.
fn json_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {method} {}; try /metrics, /health, /ready, /api/cameras or /",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}
