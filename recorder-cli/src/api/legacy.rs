//! The Go recording service's routes and JSON shapes, so its clients keep
//! working: start, stop, status of one camera, status of all.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use recorder_core::recorder::{CameraSnapshot, CameraState};
use serde_json::{json, Map, Value};

use super::{live, set_recording, time_json, Api, ApiError};

/// `recording`, `stopped` (paused or ended), `connecting`, or `error`
/// (retrying after a failure).
fn status_word(s: &CameraSnapshot) -> &'static str {
    match s.state {
        _ if s.paused => "stopped",
        CameraState::Recording => "recording",
        CameraState::Connecting => "connecting",
        CameraState::Retrying => "error",
        _ => "stopped",
    }
}

fn recording(s: &CameraSnapshot, name: Option<&str>) -> Value {
    json!({
        "camera_id": s.id,
        "camera_name": name.unwrap_or(&s.id),
        "status": status_word(s),
        "started_at": time_json(s.started_unix_ns),
        "last_segment_at": time_json(s.last_segment_unix_ns),
        "segment_count": s.segments_recorded,
        "total_bytes": s.bytes_recorded,
    })
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("camera {id} not found"))
}

async fn one(api: &Api, id: &str) -> Result<Json<Value>, ApiError> {
    let (snap, name) = live(api, id).await.ok_or_else(|| unknown(id))?;
    Ok(Json(recording(&snap, name.as_deref())))
}

pub(super) async fn start(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(&api, &id, true).await
}

pub(super) async fn stop(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(&api, &id, false).await
}

/// Resumes (`on`) or pauses continuous recording, then answers the
/// recording's status.
async fn switch(api: &Api, id: &str, on: bool) -> Result<Json<Value>, ApiError> {
    if !set_recording(api, id, on) {
        return Err(unknown(id));
    }
    one(api, id).await
}

pub(super) async fn status_one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    one(&api, &id).await
}

pub(super) async fn status_all(State(api): State<Arc<Api>>) -> Json<Value> {
    let names = api.control.names().await;
    let snaps = api.control.recorder.snapshot();
    let mut by_camera = Map::new();
    for s in &snaps {
        let name = names.get(&s.id).and_then(|n| n.as_deref());
        by_camera.insert(s.id.clone(), recording(s, name));
    }
    Json(json!({
        "total_recordings": snaps.len(),
        "active_recordings": snaps.iter().filter(|s| status_word(s) == "recording").count(),
        "total_segments": snaps.iter().map(|s| s.segments_recorded).sum::<u64>(),
        "total_bytes": snaps.iter().map(|s| s.bytes_recorded).sum::<u64>(),
        "recordings_by_camera": by_camera,
    }))
}
