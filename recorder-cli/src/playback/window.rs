//! The `start` and `end` query parameters: a wall-clock window, checked
//! and bounded before any store is read.

use std::time::Duration;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use recorder_core::time::WallTime;
use serde::Deserialize;

use super::error::ApiError;

/// `?start=RFC3339&end=RFC3339` as received (an extractor: a query
/// string it cannot read is a JSON 400 like every other error).
#[derive(Debug, Default, Deserialize)]
pub struct WindowQuery {
    /// Start (RFC 3339, any offset).
    pub start: Option<String>,
    /// End (RFC 3339, any offset).
    pub end: Option<String>,
}

/// A checked window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start.
    pub start: WallTime,
    /// End (after start).
    pub end: WallTime,
}

fn parse(name: &str, v: &str) -> Result<WallTime, ApiError> {
    WallTime::parse_rfc3339(v).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name}={v:?} is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)"
        ))
    })
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl<S: Send + Sync> FromRequestParts<S> for WindowQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<WindowQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| q)
            .map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))
    }
}

impl WindowQuery {
    /// The window, with both ends required, `start` before `end` and at
    /// most `max` long.
    pub fn window(&self, max: Duration) -> Result<Window, ApiError> {
        let start = self
            .start
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("start is missing (start=RFC3339)"))?;
        let end = self
            .end
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("end is missing (end=RFC3339)"))?;
        let (s, e) = (parse("start", start)?, parse("end", end)?);
        if s >= e {
            return Err(ApiError::bad_request(format!(
                "start ({start}) is not before end ({end})"
            )));
        }
        let len = Duration::from_nanos(e.0.abs_diff(s.0));
        if len > max {
            return Err(ApiError::bad_request(format!(
                "the window from {start} to {end} is {}, longer than the {} allowed here: ask for a shorter one",
                human(len),
                human(max)
            )));
        }
        Ok(Window { start: s, end: e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn q(start: Option<&str>, end: Option<&str>) -> WindowQuery {
        WindowQuery {
            start: start.map(Into::into),
            end: end.map(Into::into),
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_valid_window_in_any_offset() {
        let w = q(
            Some("2024-05-01T12:00:00Z"),
            Some("2024-05-01T14:00:00+02:00"),
        )
        .window(DAY);
        // 14:00+02:00 is 12:00Z: empty, so refused.
        assert!(w.is_err());
        let w = q(Some("2024-05-01T12:00:00Z"), Some("2024-05-01T12:00:01.5Z"))
            .window(DAY)
            .unwrap();
        assert_eq!(w.end.0 - w.start.0, 1_500_000_000);
    }

    #[test]
    fn every_bad_window_is_a_400_naming_the_problem() {
        let cases = [
            (q(None, Some("2024-05-01T12:00:00Z")), "start is missing"),
            (q(Some("2024-05-01T12:00:00Z"), None), "end is missing"),
            (
                q(Some("yesterday"), Some("2024-05-01T12:00:00Z")),
                "\"yesterday\" is not an RFC 3339",
            ),
            (
                q(Some("2024-05-01T13:00:00Z"), Some("2024-05-01T12:00:00Z")),
                "is not before end",
            ),
            (
                q(Some("2024-05-01T00:00:00Z"), Some("2024-05-03T00:00:00Z")),
                "2days, longer than the 1day allowed",
            ),
        ];
        for (query, message) in cases {
            let e = query.window(DAY).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(message), "{} lacks {message}", e.message);
        }
    }
}
