//! Playback errors: every one is an HTTP status and a JSON body
//! `{"error": "..."}` that says what was wrong and with what.

use axum::http::header::{CONTENT_RANGE, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A request playback cannot answer as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message (shown to the user as is).
    pub message: String,
    /// For a 416: the resource's length, sent as `Content-Range: bytes */LEN`.
    pub unsatisfied_len: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            unsatisfied_len: None,
        }
    }

    /// 400: a malformed or out-of-bounds query.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such camera or file.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 416: a `Range` header this resource of `len` bytes cannot satisfy.
    pub fn range_not_satisfiable(message: impl Into<String>, len: u64) -> ApiError {
        ApiError {
            unsatisfied_len: Some(len),
            ..ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, message)
        }
    }

    /// 502: the store (folder or bucket) failed.
    pub fn store(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, message)
    }

    /// 500: something on our side failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut r = (self.status, [(CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(len) = self.unsatisfied_len {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
        }
        r
    }
}
