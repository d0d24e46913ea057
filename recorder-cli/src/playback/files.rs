//! A segment's bytes: `GET /api/cameras/{id}/files/{*name}` with `Range`
//! for folders; for buckets, presigned GET URLs (the playlist carries them,
//! and this route redirects to one), so video bytes do not pass through
//! camrec when the store can serve them; with `--proxy-bucket`, the route
//! reads the bucket itself (ranged GETs), `Range` included.
//!
//! `?shift_us=N` (what a continuous playlist asks for) serves whole
//! fragments with their decode times moved `N` µs later (`0`: as stored),
//! read by camrec even from a bucket: see [`super::hls::Timeline`].

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use recorder_core::archive::{Archive, ArchiveError, SegmentEntry};
use recorder_core::export::ExportError;
use recorder_core::mp4::Mp4Error;
use serde::Deserialize;

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

/// True when players fetch segment bytes from presigned URLs (a bucket
/// whose bytes are not proxied).
pub(super) fn presigns(p: &Playback) -> bool {
    p.archive.s3_archive().is_some() && !p.settings.proxy_bucket
}

/// A presigned GET URL of `entry` when the archive is a bucket (and its
/// bytes are not proxied).
pub(super) async fn presigned(
    p: &Playback,
    entry: &SegmentEntry,
) -> Result<Option<String>, ApiError> {
    let Some(s3) = p.archive.s3_archive().filter(|_| presigns(p)) else {
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

/// Most bytes a `?shift_us=` response holds (it is moved in memory): a
/// fragment is at most 32 MiB (the recorder's cap); this bounds what a
/// damaged index could claim.
pub(super) const MAX_SHIFTED: u64 = 64 << 20;

/// `?shift_us=` of the bytes route.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FileQuery {
    shift_us: Option<u64>,
}

/// `ticks` µs in a track of `timescale` ticks per second, rounded.
fn ticks(shift_us: u64, timescale: u32) -> u64 {
    let t = (u128::from(shift_us) * u128::from(timescale) + 500_000) / 1_000_000;
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// `range` of `entry` (exactly one fragment, as a playlist lists it) with
/// its decode times moved `shift_us` later. One fragment at a time keeps
/// what a response holds in memory to a fragment.
async fn shifted(
    p: &Playback,
    entry: &SegmentEntry,
    range: Range<u64>,
    shift_us: u64,
) -> Result<Vec<u8>, ApiError> {
    let index = p.archive.index(entry).await.map_err(archive_error)?;
    let one_fragment = index
        .fragments
        .binary_search_by_key(&range.start, |f| f.offset)
        .is_ok_and(|i| index.fragments[i].range() == range);
    if !one_fragment {
        return Err(ApiError::bad_request(format!(
            "shift_us moves one whole fragment at a time: bytes {}-{} of {} are not one \
             fragment (ask for the byte ranges a playlist lists)",
            range.start,
            range.end.saturating_sub(1),
            entry.name
        )));
    }
    if range.end - range.start > MAX_SHIFTED {
        return Err(ApiError::bad_request(format!(
            "shift_us serves at most {} MiB at a time; ask for the playlist's byte ranges \
             (one fragment each)",
            MAX_SHIFTED >> 20
        )));
    }
    let mut bytes = p
        .archive
        .read(entry, range)
        .await
        .map_err(archive_error)?
        .to_vec();
    let timescales: Vec<u32> = index.tracks.iter().map(|t| t.timescale).collect();
    recorder_core::mp4::shift_decode_times(&mut bytes, |track_id| {
        let timescale = (track_id as usize)
            .checked_sub(1)
            .and_then(|i| timescales.get(i))
            .copied()
            .unwrap_or(0);
        ticks(shift_us, timescale)
    })
    .map_err(|e| shift_error(e, &entry.name, shift_us))?;
    Ok(bytes)
}

/// A failed move of `name`'s decode times by `shift_us`: a shift too large
/// for a decode time's field is the client's (400); anything else means
/// the stored fragment is damaged (502).
fn shift_error(e: Mp4Error, name: &str, shift_us: u64) -> ApiError {
    match e {
        Mp4Error::DecodeTimeOverflow { .. } => ApiError::bad_request(format!(
            "shift_us={shift_us} moves the decode times of {name} past what its fragments \
             can hold ({e}): ask for a smaller shift"
        )),
        e => ApiError::store(format!(
            "moving the decode times of {name} failed, the stored fragment is damaged: {e}"
        )),
    }
}

/// `GET /api/cameras/{id}/files/{*name}`.
pub(super) async fn file(
    State(p): State<Arc<Playback>>,
    Path((camera, name)): Path<(String, String)>,
    query: Result<Query<FileQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
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
    // Any `shift_us` (0 included) is served here: a continuous playlist's
    // player stays on camrec's host instead of being redirected.
    let shift = query.shift_us;
    if let (None, Some(url)) = (shift, presigned(&p, &entry).await?) {
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
    let body = match shift {
        Some(us) if us > 0 => Body::from(shifted(&p, &entry, span.clone(), us).await?),
        _ => stream_range(p.archive.clone(), entry, span.clone()),
    };
    let mut resp = Response::new(body);
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
    fn a_shift_in_microseconds_becomes_each_tracks_ticks_rounded() {
        assert_eq!(ticks(10_000_000, 90_000), 900_000);
        assert_eq!(ticks(1, 90_000), 0);
        assert_eq!(ticks(6, 90_000), 1);
        assert_eq!(ticks(3_040_000, 48_000), 145_920);
        assert_eq!(ticks(u64::MAX, u32::MAX), u64::MAX);
        assert_eq!(ticks(5, 0), 0);
    }

    #[test]
    fn a_shift_too_large_for_a_decode_time_is_the_clients_error() {
        let overflow = Mp4Error::DecodeTimeOverflow {
            track_id: 1,
            value: 90_000,
            add: u64::MAX,
            width: 8,
        };
        let e = shift_error(overflow, "cam/x.mp4", u64::MAX);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("smaller shift"), "{}", e.message);
        let damaged = Mp4Error::Truncated {
            offset: 8,
            needed: 8,
            available: 2,
        };
        let e = shift_error(damaged, "cam/x.mp4", 1);
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.contains("damaged"), "{}", e.message);
    }

    #[test]
    fn names_are_encoded_for_a_path_with_slashes_kept() {
        assert_eq!(
            encode_path("cam 1/20240501/120000_cam 1.mp4"),
            "cam%201/20240501/120000_cam%201.mp4"
        );
        assert_eq!(encode_path("a?b#c%"), "a%3Fb%23c%25");
    }
}
