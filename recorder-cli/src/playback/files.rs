//! A segment's bytes: `GET /api/cameras/{id}/files/{*name}` with `Range`
//! for folders; for buckets, presigned GET URLs (the playlist carries them,
//! and this route redirects to one), so video bytes do not pass through
//! camrec when the store can serve them; with `--proxy-bucket`, the route
//! reads the bucket itself (ranged GETs), `Range` included.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use recorder_core::archive::{Archive, ArchiveError, SegmentEntry};
use recorder_core::export::ExportError;

use super::error::ApiError;
use super::range;
use super::{Playback, PRESIGN_VALIDITY};

/// Bytes read per chunk of a streamed body: what one response holds in
/// memory at a time.
pub(super) const CHUNK: u64 = 1 << 20;

/// An archive failure as the HTTP answer it deserves.
pub(super) fn archive_error(e: ArchiveError) -> ApiError {
    match &e {
        ArchiveError::NoSuchSegment { .. } => ApiError::not_found(e.to_string()),
        ArchiveError::BadRange { len, .. } => ApiError::range_not_satisfiable(e.to_string(), *len),
        ArchiveError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            ApiError::not_found(e.to_string())
        }
        ArchiveError::Export(ExportError::NothingRecorded { .. }) => {
            ApiError::not_found(e.to_string())
        }
        ArchiveError::Export(ExportError::EmptyRange { .. }) => {
            ApiError::bad_request(e.to_string())
        }
        _ => ApiError::store(e.to_string()),
    }
}

/// Percent-encodes a segment name for a URL path (its `/` kept).
pub(super) fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path of the bytes route for `entry`, relative to
/// `/api/cameras/{id}/` (where the playlist is).
pub(super) fn relative_url(entry: &SegmentEntry) -> String {
    format!("files/{}", encode_path(&entry.name))
}

/// The absolute path of the bytes route for `entry`.
pub(super) fn absolute_url(entry: &SegmentEntry) -> String {
    format!(
        "/api/cameras/{}/{}",
        encode_path(&entry.camera),
        relative_url(entry)
    )
}

/// A presigned GET URL of `entry` when the archive is a bucket (and its
/// bytes are not proxied).
pub(super) async fn presigned(
    p: &Playback,
    entry: &SegmentEntry,
) -> Result<Option<String>, ApiError> {
    let Some(s3) = p.archive.s3_archive().filter(|_| !p.settings.proxy_bucket) else {
        return Ok(None);
    };
    let cfg = aws_sdk_s3::presigning::PresigningConfig::expires_in(PRESIGN_VALIDITY)
        .map_err(|e| ApiError::internal(format!("presigning settings: {e}")))?;
    let req = s3
        .client()
        .get_object()
        .bucket(s3.bucket())
        .key(s3.key(&entry.name))
        .presigned(cfg)
        .await
        .map_err(|e| {
            ApiError::store(format!(
                "presigning a GET of {}: {}",
                entry.name,
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        })?;
    Ok(Some(req.uri().to_string()))
}

/// The URL a player fetches `entry` from: presigned for a bucket, the
/// bytes route (relative to the playlist) for a folder or a proxied bucket.
pub(super) async fn playlist_url(p: &Playback, entry: &SegmentEntry) -> Result<String, ApiError> {
    Ok(match presigned(p, entry).await? {
        Some(u) => u,
        None => relative_url(entry),
    })
}

/// Streams `range` of `entry` in [`CHUNK`]s: memory bounded whatever its
/// length. A read failing midway ends the body early (the client sees a
/// short response against its `Content-Length`).
pub(super) fn stream_range(archive: Arc<Archive>, entry: SegmentEntry, range: Range<u64>) -> Body {
    let stream = futures::stream::unfold(range.start, move |at| {
        let (archive, entry) = (archive.clone(), entry.clone());
        let end = range.end;
        async move {
            if at >= end {
                return None;
            }
            let next = end.min(at + CHUNK);
            match archive.read(&entry, at..next).await {
                Ok(b) => Some((Ok::<_, ArchiveError>(b), next)),
                Err(e) => {
                    tracing::warn!(segment = %entry.name, error = %e, "reading a segment for a response failed");
                    Some((Err(e), end))
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// `GET /api/cameras/{id}/files/{*name}`.
pub(super) async fn file(
    State(p): State<Arc<Playback>>,
    Path((camera, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Only a name the archive lists (for this camera) is served: the
    // path never reaches the file system as given.
    let entry = p
        .archive
        .entry_by_name(&name)
        .await
        .map_err(archive_error)?;
    if entry.camera != camera {
        return Err(ApiError::not_found(format!(
            "no segment named {name} for camera {camera:?}"
        )));
    }
    if let Some(url) = presigned(&p, &entry).await? {
        let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
        let v = HeaderValue::from_str(&url)
            .map_err(|e| ApiError::internal(format!("presigned URL: {e}")))?;
        r.headers_mut().insert(LOCATION, v);
        return Ok(r);
    }
    let total = entry.bytes;
    let header = headers
        .get(axum::http::header::RANGE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let wanted = range::resolve(header, total)?;
    let (status, span) = match wanted {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start..r.start + r.len),
        None => (StatusCode::OK, 0..total),
    };
    let len = span.end - span.start;
    let mut resp = Response::new(stream_range(p.archive.clone(), entry, span.clone()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(r) = wanted {
        let v = format!("bytes {}-{}/{total}", r.start, r.last());
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_for_a_path_with_slashes_kept() {
        assert_eq!(
            encode_path("cam 1/20240501/120000_cam 1.mp4"),
            "cam%201/20240501/120000_cam%201.mp4"
        );
        assert_eq!(encode_path("a?b#c%"), "a%3Fb%23c%25");
    }
}
