//! `/api/cameras`: live state, add, change, remove, start and stop.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use recorder_core::recorder::{CameraSnapshot, CameraState};
use serde_json::{json, Value};

use super::{json_body, live, set_recording, time_json, Api, ApiError};

/// One camera's live state as the API shows it (the playback routes add
/// their recorded span to the same object).
pub fn camera_json(s: &CameraSnapshot, name: Option<&str>) -> Value {
    json!({
        "id": s.id,
        "name": name,
        "state": s.state.as_str(),
        "recording": s.state == CameraState::Recording && !s.paused,
        "paused": s.paused,
        "current_segment": s.current_segment,
        "last_error": s.last_error,
        "last_error_is_config": s.last_error_is_config,
        "last_frame_at": time_json(s.last_frame_unix_ns),
        "last_segment_at": time_json(s.last_segment_unix_ns),
        "started_at": time_json(s.started_unix_ns),
        "video_resolution": s.video_resolution.map(|(w, h)| format!("{w}x{h}")),
        "pre_roll_bytes": s.pre_roll_bytes,
        "counters": {
            "frames": s.frames,
            "video_frames": s.video_frames,
            "frames_skipped": s.frames_skipped,
            "packets_lost": s.packets_lost,
            "bytes_recorded": s.bytes_recorded,
            "segments_recorded": s.segments_recorded,
            "reconnects": s.reconnects,
            "sink_errors": s.sink_errors,
            "fragments_dropped": s.fragments_dropped,
            "bytes_dropped": s.bytes_dropped,
            "thumbnails_stored": s.thumbnails_stored,
        },
    })
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("no camera `{id}`"))
}

pub(super) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    let names = api.control.names().await;
    let mut cams: Vec<Value> = api
        .control
        .recorder
        .snapshot()
        .iter()
        .map(|s| camera_json(s, names.get(&s.id).and_then(|n| n.as_deref())))
        .collect();
    if let Some(p) = &api.playback {
        add_recorded_spans(&mut cams, p).await;
    }
    Json(json!({ "cameras": cams }))
}

/// Adds `first_recording`, `last_recording`, `segments` and `bytes` from
/// the archive to each live camera, and lists cameras that have recordings
/// but are no longer configured (`"configured": false`). An unreadable
/// archive leaves the live list as it is: the live state is what this
/// route cannot do without.
async fn add_recorded_spans(cams: &mut Vec<Value>, p: &recorder_cli::playback::Playback) {
    let recorded = match recorder_cli::playback::camera_list(p).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.message, "GET /api/cameras: recordings not listed");
            return;
        }
    };
    for cam in cams.iter_mut() {
        cam["configured"] = json!(true);
    }
    for r in recorded {
        let span = json!({
            "first_recording": r.first_recording,
            "last_recording": r.last_recording,
            "segments": r.segments,
            "bytes": r.bytes,
        });
        let live = cams.iter_mut().find(|c| c["id"] == r.id.as_str());
        let target = match live {
            Some(c) => c,
            None => {
                cams.push(json!({ "id": r.id, "configured": false }));
                cams.last_mut().expect("just pushed")
            }
        };
        if let (Some(t), Some(s)) = (target.as_object_mut(), span.as_object()) {
            t.extend(s.clone());
        }
    }
}

pub(super) async fn one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (snap, name) = live(&api, &id).await.ok_or_else(|| unknown(&id))?;
    Ok(Json(camera_json(&snap, name.as_deref())))
}

pub(super) async fn add(State(api): State<Arc<Api>>, body: Bytes) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let id = api.control.add(&body).await?;
    let body = live(&api, &id)
        .await
        .map_or(json!({ "id": id }), |(s, name)| {
            camera_json(&s, name.as_deref())
        });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn change(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let restarted = api.control.change(&id, &body).await?;
    Ok(Json(json!({ "id": id, "restarted": restarted })))
}

pub(super) async fn remove(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    api.control.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn start(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(api, id, true).await
}

pub(super) async fn stop(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(api, id, false).await
}

/// Resumes (`on`) or pauses continuous recording, then answers the camera.
async fn switch(api: Arc<Api>, id: String, on: bool) -> Result<Json<Value>, ApiError> {
    if !set_recording(&api, &id, on) {
        return Err(unknown(&id));
    }
    one(State(api), Path(id)).await
}
