//! `/api/clips` and `/api/cameras/{id}/clips`: event clips.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use recorder_core::recorder::{ClipError, ClipInfo, ClipRequest, ClipStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_body, Api, ApiError};

/// The longest `pre_s` / `post_s` a request may name at all (a camera's
/// own limits are usually lower).
const MAX_SECONDS: f64 = 24.0 * 3600.0;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClipBody {
    pre_s: Option<f64>,
    post_s: Option<f64>,
    label: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EndBody {
    post_s: Option<f64>,
}

fn seconds(name: &str, v: f64) -> Result<Duration, ApiError> {
    if !v.is_finite() || !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(ApiError::bad(format!(
            "{name} must be a number of seconds from 0 to {MAX_SECONDS}, not {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse<T: Default + for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    match json_body(body)? {
        Value::Null => Ok(T::default()),
        v => serde_json::from_value(v).map_err(|e| ApiError::bad(format!("bad request body: {e}"))),
    }
}

fn secs(d: Duration) -> Value {
    json!((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// A clip as the API shows it.
pub fn clip_json(c: &ClipInfo) -> Value {
    let (location, ended, reason) = match &c.status {
        ClipStatus::Completed { location, ended } => {
            (Some(location.clone()), Some(ended.as_str()), None)
        }
        ClipStatus::Failed { reason } => (None, None, Some(reason.clone())),
        _ => (None, None, None),
    };
    json!({
        "id": c.id,
        "camera": c.camera,
        "label": c.label,
        "source": c.source,
        "status": c.status.as_str(),
        "trigger": c.trigger.to_rfc3339(),
        "pre_s": secs(c.pre),
        "post_s": c.post.map(secs),
        "extensions": c.extensions,
        "ended_by_request": c.ended_by_request,
        "ended": ended,
        "max_length_reached": ended == Some("max_length"),
        "reason": reason,
        "name": c.name,
        "location": location,
        "start": c.start.map(|w| w.to_rfc3339()),
        "duration_s": c.duration.map(secs),
        "bytes": c.bytes,
        "thumbnail": c.thumbnail,
    })
}

fn clip_error(e: ClipError) -> ApiError {
    match e {
        ClipError::UnknownCamera(_) | ClipError::UnknownClip(_) => {
            ApiError::not_found(e.to_string())
        }
        ClipError::NotRecording { .. } => ApiError(StatusCode::CONFLICT, e.to_string()),
        ClipError::DeleteFailed { .. } => ApiError(StatusCode::BAD_GATEWAY, e.to_string()),
        _ => ApiError::bad(e.to_string()),
    }
}

pub(super) async fn create(
    State(api): State<Arc<Api>>,
    Path(camera): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ClipBody = parse(&body)?;
    let rec = &api.control.recorder;
    let cfg = rec
        .camera_config(&camera)
        .ok_or_else(|| ApiError::not_found(format!("no camera `{camera}` in this recorder")))?;
    let pre = match b.pre_s {
        Some(v) => seconds("pre_s", v)?,
        None => cfg.clips.pre_roll,
    };
    let post = b.post_s.map(|v| seconds("post_s", v)).transpose()?;
    let req = ClipRequest::new(pre, post, b.label.unwrap_or_else(|| "clip".into()))
        .with_source(b.source.unwrap_or_else(|| "api".into()));
    let h = rec.clip(&camera, req).map_err(clip_error)?;
    let mut body = clip_json(&h.info());
    body["extended"] = json!(h.extended());
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub(super) async fn one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = api
        .control
        .recorder
        .clip_info(&id)
        .ok_or_else(|| ApiError::not_found(format!("no clip `{id}`")))?;
    Ok(Json(clip_json(&c)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    camera: Option<String>,
    status: Option<String>,
    since: Option<String>,
}

/// `since`: RFC 3339, or seconds since the Unix epoch.
fn since_ns(s: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = s.trim().parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e11 {
            return Ok((secs * 1e9) as i64);
        }
    }
    s.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_nanosecond().clamp(i64::MIN.into(), i64::MAX.into()) as i64)
        .map_err(|_| {
            ApiError::bad(format!(
                "since={s:?} is neither an RFC 3339 time (2026-01-31T12:00:00Z) nor Unix seconds"
            ))
        })
}

pub(super) async fn list(
    State(api): State<Arc<Api>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let since = q.since.as_deref().map(since_ns).transpose()?;
    let status = q.status.map(|s| s.to_ascii_uppercase());
    if let Some(s) = &status {
        if !["PENDING", "RECORDING", "PROCESSING", "COMPLETED", "FAILED"].contains(&s.as_str()) {
            return Err(ApiError::bad(format!(
                "status={s:?}: use PENDING, RECORDING, PROCESSING, COMPLETED or FAILED"
            )));
        }
    }
    let clips: Vec<Value> = api
        .control
        .recorder
        .clips()
        .iter()
        .filter(|c| q.camera.as_ref().is_none_or(|cam| &c.camera == cam))
        .filter(|c| status.as_ref().is_none_or(|s| c.status.as_str() == s))
        .filter(|c| since.is_none_or(|t| c.trigger.0 >= t))
        .map(clip_json)
        .collect();
    Ok(Json(json!({ "clips": clips })))
}

pub(super) async fn delete(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    api.control
        .recorder
        .delete_clip(&id)
        .await
        .map_err(clip_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn end(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: EndBody = parse(&body)?;
    let post = b.post_s.map(|v| seconds("post_s", v)).transpose()?;
    let h = api
        .control
        .recorder
        .end_clip(&id, post)
        .map_err(clip_error)?;
    Ok((StatusCode::ACCEPTED, Json(clip_json(&h.info()))).into_response())
}
