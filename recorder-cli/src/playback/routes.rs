//! The JSON and playlist routes, and the router that serves them.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use recorder_core::archive::{gaps, ArchiveError, Recording};
use recorder_core::export::ExportError;
use recorder_core::time::{Rfc3339, WallTime};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::files::{self, archive_error};
use super::window::{Window, WindowQuery};
use super::{hls, page, Playback, CAMERAS_TTL, GAP_TOLERANCE, MAX_HLS_WINDOW, MAX_LIST_WINDOW};

fn time(t: WallTime) -> String {
    Rfc3339(t).to_string()
}

fn secs(from: WallTime, to: WallTime) -> f64 {
    to.0.saturating_sub(from.0) as f64 / 1e9
}

/// A camera in `GET /api/cameras`.
#[derive(Debug, Clone, Serialize)]
pub struct CameraJson {
    /// The camera id.
    pub id: String,
    /// Start of its first recording (RFC 3339).
    pub first_recording: String,
    /// End of its last recording (RFC 3339).
    pub last_recording: String,
    /// Segments stored.
    pub segments: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Every camera of the archive with its first and last recorded time.
pub async fn camera_list(p: &Playback) -> Result<Vec<CameraJson>, ApiError> {
    let cams = p.archive.cameras().await.map_err(archive_error)?;
    let ids = cams.iter().map(|c| c.id.clone()).collect();
    *p.known.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), ids));
    Ok(cams
        .into_iter()
        .map(|c| CameraJson {
            id: c.id,
            first_recording: time(c.first),
            last_recording: time(c.last),
            segments: c.segments,
            bytes: c.bytes,
        })
        .collect())
}

async fn cameras(State(p): State<Arc<Playback>>) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({ "cameras": camera_list(&p).await? })).into_response())
}

/// The path of the camera list.
const CAMERAS: &str = "/api/cameras";

/// `GET /api/cameras` alone, for a host that serves its own camera list.
pub fn cameras_route(p: Arc<Playback>) -> Router {
    Router::new().route(CAMERAS, get(cameras)).with_state(p)
}

/// A route: method, path (axum syntax), handler.
type Route = (&'static str, &'static str, MethodRouter<Arc<Playback>>);

/// Every playback route but `GET /api/cameras`: recordings, playlist,
/// files, export, and the page. [`routes`] is built from it, and the
/// OpenAPI document is checked against it ([`paths`]).
fn table() -> Vec<Route> {
    let mut t: Vec<Route> = vec![
        ("get", "/api/cameras/{id}/recordings", get(recordings)),
        ("get", "/api/cameras/{id}/hls.m3u8", get(playlist)),
        ("get", "/api/cameras/{id}/files/{*name}", get(files::file)),
        ("get", "/api/cameras/{id}/export.mp4", get(export)),
    ];
    t.extend(page::table());
    t
}

/// Every playback route but `GET /api/cameras`: recordings, playlist,
/// files, export, and the page.
pub fn routes(p: Arc<Playback>) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        })
        .with_state(p)
}

/// Method (lower case) and path of every route [`router`] serves, in
/// axum's syntax (`{*name}`: the rest of the path, `/` included), so a
/// document of them can be checked (docs/api-openapi.json).
pub fn paths() -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .chain([("get", CAMERAS)])
        .collect()
}

/// All playback routes (what `camrec serve` serves).
pub fn router(p: Arc<Playback>) -> Router {
    routes(p.clone()).merge(cameras_route(p))
}

/// `camera`'s recordings in `w`; a 404 when the archive has no such
/// camera at all (an empty list when it has, but nothing in `w`).
async fn recordings_of(p: &Playback, camera: &str, w: Window) -> Result<Vec<Recording>, ApiError> {
    let recs = p
        .archive
        .recordings(camera, w.start, w.end)
        .await
        .map_err(archive_error)?;
    if recs.is_empty() && !camera_exists(p, camera).await? {
        return Err(ApiError::not_found(format!(
            "no camera {camera:?} in {}",
            p.archive.describe()
        )));
    }
    Ok(recs)
}

async fn camera_exists(p: &Playback, camera: &str) -> Result<bool, ApiError> {
    let fresh = {
        let known = p.known.lock().unwrap_or_else(|e| e.into_inner());
        match &*known {
            Some((_, ids)) if ids.iter().any(|i| i == camera) => return Ok(true),
            Some((at, _)) => at.elapsed() < CAMERAS_TTL,
            None => false,
        }
    };
    if fresh {
        return Ok(false);
    }
    Ok(camera_list(p).await?.iter().any(|c| c.id == camera))
}

#[derive(Serialize)]
struct SegmentJson {
    name: String,
    start: String,
    end: String,
    duration: f64,
    bytes: u64,
    codecs: Vec<String>,
    resolution: Option<String>,
    fragments: usize,
    video_frames: u64,
    url: String,
}

#[derive(Serialize)]
struct GapJson {
    start: String,
    end: String,
    duration: f64,
}

async fn recordings(
    State(p): State<Arc<Playback>>,
    Path(camera): Path<String>,
    q: WindowQuery,
) -> Result<Response, ApiError> {
    let w = q.window(MAX_LIST_WINDOW)?;
    let recs = recordings_of(&p, &camera, w).await?;
    let mut segments = Vec::with_capacity(recs.len());
    for r in &recs {
        let i = &r.index;
        let url = match files::presigned(&p, &r.entry).await? {
            Some(u) => u,
            None => files::absolute_url(&r.entry),
        };
        segments.push(SegmentJson {
            name: r.entry.name.clone(),
            start: time(i.wall_start),
            end: time(i.wall_end),
            duration: i.duration.as_secs_f64(),
            bytes: r.entry.bytes,
            codecs: i.codecs().into_iter().map(String::from).collect(),
            resolution: i.resolution().map(|(w, h)| format!("{w}x{h}")),
            fragments: i.fragments.len(),
            video_frames: i.video_frames,
            url,
        });
    }
    let tolerance = GAP_TOLERANCE.as_nanos() as i64;
    let gaps: Vec<GapJson> = gaps(&recs, tolerance)
        .into_iter()
        .map(|g| GapJson {
            start: time(g.start),
            end: time(g.end),
            duration: secs(g.start, g.end),
        })
        .collect();
    Ok(Json(serde_json::json!({
        "camera": camera,
        "start": time(w.start),
        "end": time(w.end),
        "segments": segments,
        "gaps": gaps,
    }))
    .into_response())
}

/// `?timeline=` of a playlist.
#[derive(Debug, Default, Deserialize)]
struct TimelineQuery {
    timeline: Option<String>,
}

impl TimelineQuery {
    /// The timeline asked for. By default continuous when camrec serves
    /// the fragments anyway (a folder, a proxied bucket) or when the player
    /// is libavformat (ffmpeg, ffplay: `User-Agent: Lavf/…`), which ignores
    /// `EXT-X-DISCONTINUITY`; as stored when players fetch fragments from
    /// presigned URLs.
    fn timeline(&self, p: &Playback, user_agent: &str) -> Result<hls::Timeline, ApiError> {
        match self.timeline.as_deref() {
            None => Ok(if files::presigns(p) && !user_agent.starts_with("Lavf/") {
                hls::Timeline::Stored
            } else {
                hls::Timeline::Continuous
            }),
            Some("continuous") => Ok(hls::Timeline::Continuous),
            Some("stored") => Ok(hls::Timeline::Stored),
            Some(other) => Err(ApiError::bad_request(format!(
                "timeline={other:?} is not one of: continuous (one increasing decode timeline; \
                 fragments served by camrec), stored (each segment from zero, as stored)"
            ))),
        }
    }
}

async fn playlist(
    State(p): State<Arc<Playback>>,
    Path(camera): Path<String>,
    q: WindowQuery,
    t: Result<Query<TimelineQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let w = q.window(MAX_HLS_WINDOW)?;
    let Query(t) = t.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let timeline = t.timeline(&p, agent)?;
    let recs = recordings_of(&p, &camera, w).await?;
    let mut urls = Vec::with_capacity(recs.len());
    for r in &recs {
        // Moved fragments can only come from camrec: a presigned URL
        // serves the stored bytes.
        urls.push(match timeline {
            hls::Timeline::Continuous => files::relative_url(&r.entry),
            hls::Timeline::Stored => files::playlist_url(&p, &r.entry).await?,
        });
    }
    let entries: Vec<hls::Entry<'_>> = recs
        .iter()
        .zip(&urls)
        .map(|(r, url)| hls::Entry {
            segment: &r.index,
            url,
        })
        .collect();
    let body = hls::playlist(&entries, w.start, w.end, timeline);
    Ok((
        [
            (CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/cameras/{id}/export.mp4?start=&end=`: one MP4 (progressive
/// `moov` first, then the stored media in 1 MiB reads), streamed.
async fn export(
    State(p): State<Arc<Playback>>,
    Path(camera): Path<String>,
    q: WindowQuery,
) -> Result<Response, ApiError> {
    let w = q.window(p.settings.max_export)?;
    let planned = match p.archive.export(&camera, w.start, w.end).await {
        Ok(e) => e,
        Err(ArchiveError::Export(e @ ExportError::NothingRecorded { .. })) => {
            // Tell a missing camera from an empty window.
            recordings_of(&p, &camera, w).await?;
            return Err(ApiError::not_found(e.to_string()));
        }
        Err(e) => return Err(archive_error(e)),
    };
    let plan = &planned.plan;
    let name = format!(
        "{}_{}.mp4",
        camera.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_"
        ),
        time(plan.start()).replace([':', '-'], "").replace('.', "_")
    );
    let len = plan.total_len();
    let mut resp = Response::new(Body::from_stream(planned.stream(p.archive.clone())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
