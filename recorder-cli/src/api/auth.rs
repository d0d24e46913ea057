//! Bearer-token check of the changing routes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use super::{Api, ApiError};

/// Byte comparison whose time does not depend on where the first
/// difference is (a token must not be guessable byte by byte).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

pub(super) async fn require(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    match &api.token {
        Some(token) => {
            let given = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match given {
                Some(g) if same(g.as_bytes(), token.expose_secret().as_bytes()) => next.run(req).await,
                Some(_) => unauthorized("the bearer token is wrong"),
                None => unauthorized(
                    "this request changes the recorder: send `Authorization: Bearer <token>` (the token set in CAMREC_API_TOKEN or `token` under [api])",
                ),
            }
        }
        None => {
            let loopback = req
                .extensions()
                .get::<crate::http::PeerAddr>()
                .is_some_and(|c| c.0.ip().is_loopback());
            if api.allow_localhost_without_token && loopback {
                return next.run(req).await;
            }
            ApiError(
                StatusCode::FORBIDDEN,
                "requests that change the recorder are off: no API token is configured. Set CAMREC_API_TOKEN (or `token` under [api]) and send it as `Authorization: Bearer <token>`, or set `allow_localhost_without_token = true` under [api] to allow them from this host without one".into(),
            )
            .into_response()
        }
    }
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError(StatusCode::UNAUTHORIZED, message.into()).into_response();
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparison() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
        assert!(!super::same(b"", b"a"));
    }
}
