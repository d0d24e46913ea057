//! `/metrics`, `/health` and `/ready` over plain HTTP/1.1 (hyper).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{encode, Observed};

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

/// Binds `addr` and serves until [`Server::shutdown`].
pub async fn serve(addr: SocketAddr, observed: Arc<Observed>) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for /metrics (set another address with --metrics-listen or METRICS_PORT, or --no-metrics)")
    })?;
    let bound = listener.local_addr()?;
    let registry = observed.registry();
    let state = Arc::new(State { observed, registry });
    let (stop_tx, mut stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => break,
            };
            let (stream, _) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics server: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = state.clone();
            let mut conn_stop = stop.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "metrics connection ended");
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

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

async fn handle(state: &Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            encode(&state.registry),
        ),
        "/health" | "/healthz" => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        "/ready" | "/readyz" => {
            let observed = state.observed.clone();
            let r = tokio::task::spawn_blocking(move || observed.readiness()).await;
            match r {
                Ok(r) => {
                    let code = if r.ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let mut body = serde_json::to_string_pretty(&r).unwrap_or_default();
                    body.push('\n');
                    text(code, "application/json", body)
                }
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    "readiness check failed\n".into(),
                ),
            }
        }
        "/" => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "camrec: /metrics /health /ready\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; try /metrics, /health or /ready\n".into(),
        ),
    }
}
