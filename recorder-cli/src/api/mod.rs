//! The control API (docs/api.md, docs/api-openapi.json): cameras, clips,
//! reload, and the routes of the Go recording service camrec replaces.
//!
//! Served on the metrics listener ([`crate::http::serve`]'s `extra`).
//! Reading routes are open like `/metrics`; changing ones need the bearer
//! token ([`auth`]). Every error is JSON, `{"error": "..."}`.

mod auth;
mod cameras;
mod clips;
mod legacy;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use recorder_core::sink::s3::SecretString;
use recorder_core::WallTime;

use crate::control::{Control, ControlError};

pub use clips::clip_json;

/// What the handlers share.
pub struct Api {
    /// The cameras and the recorder.
    pub control: Arc<Control>,
    /// Bearer token for changing routes.
    pub token: Option<SecretString>,
    /// Without a token: changing routes answer requests from loopback.
    pub allow_localhost_without_token: bool,
    /// The recordings, when the playback routes are served beside the
    /// API: `GET /api/cameras` then adds each camera's recorded span.
    pub playback: Option<Arc<recorder_cli::playback::Playback>>,
}

/// One route: method, path, whether it changes the recorder (and so needs
/// the token), handler.
type Route = (&'static str, &'static str, bool, MethodRouter<Arc<Api>>);

/// Every route of the API. [`router`] is built from it and the OpenAPI
/// document (docs/api-openapi.json) is checked against it.
fn table() -> Vec<Route> {
    vec![
        ("get", "/api/cameras", false, get(cameras::list)),
        ("post", "/api/cameras", true, post(cameras::add)),
        ("get", "/api/cameras/{id}", false, get(cameras::one)),
        ("put", "/api/cameras/{id}", true, put(cameras::change)),
        ("delete", "/api/cameras/{id}", true, delete(cameras::remove)),
        (
            "post",
            "/api/cameras/{id}/start",
            true,
            post(cameras::start),
        ),
        ("post", "/api/cameras/{id}/stop", true, post(cameras::stop)),
        ("post", "/api/cameras/{id}/clips", true, post(clips::create)),
        ("get", "/api/clips", false, get(clips::list)),
        ("get", "/api/clips/{id}", false, get(clips::one)),
        ("delete", "/api/clips/{id}", true, delete(clips::delete)),
        ("post", "/api/clips/{id}/end", true, post(clips::end)),
        ("post", "/api/reload", true, post(reload)),
        (
            "post",
            "/api/v1/recording/start/{camera_id}",
            true,
            post(legacy::start),
        ),
        (
            "post",
            "/api/v1/recording/stop/{camera_id}",
            true,
            post(legacy::stop),
        ),
        (
            "get",
            "/api/v1/recording/status/{camera_id}",
            false,
            get(legacy::status_one),
        ),
        (
            "get",
            "/api/v1/recording/status",
            false,
            get(legacy::status_all),
        ),
    ]
}

/// The API's routes.
pub fn router(api: Arc<Api>) -> Router {
    let mut changing = Router::new();
    let mut reading = Router::new();
    for (_, path, changes, handler) in table() {
        if changes {
            changing = changing.route(path, handler);
        } else {
            reading = reading.route(path, handler);
        }
    }
    let changing = changing.route_layer(axum::middleware::from_fn_with_state(
        api.clone(),
        auth::require,
    ));
    changing.merge(reading).with_state(api)
}

/// An error answer: `{"error": "..."}` with a status.
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    fn bad(m: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, m.into())
    }
    fn not_found(m: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, m.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Invalid(errs) => {
                let problems: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
                ApiError(StatusCode::BAD_REQUEST, problems.join("; "))
            }
            ControlError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
            ControlError::Unknown(id) => ApiError::not_found(format!("no camera `{id}`")),
            ControlError::Recorder(recorder_core::RecorderError::UnknownCamera(id)) => {
                ApiError::not_found(format!("no camera `{id}`"))
            }
            ControlError::Recorder(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            ControlError::Sink(m) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

/// A request body as JSON (any content type); empty is `null`.
/// A camera's live snapshot and configured name; `None` when the recorder
/// has no such camera.
async fn live(
    api: &Api,
    id: &str,
) -> Option<(recorder_core::recorder::CameraSnapshot, Option<String>)> {
    let status = api.control.recorder.status(id)?;
    let name = api.control.camera(id).await.and_then(|c| c.name.v);
    Some((status.snapshot(), name))
}

/// Turns a camera's continuous recording on or off; false when the
/// recorder has no such camera.
fn set_recording(api: &Api, id: &str, on: bool) -> bool {
    let r = &api.control.recorder;
    if on {
        r.resume_recording(id).is_ok()
    } else {
        r.pause_recording(id).is_ok()
    }
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the request body is not valid JSON: {e}")))
}

/// RFC 3339 of a Unix-ns time, `null` for 0.
fn time_json(unix_ns: u64) -> serde_json::Value {
    if unix_ns == 0 {
        serde_json::Value::Null
    } else {
        WallTime(unix_ns.min(i64::MAX as u64) as i64)
            .to_rfc3339()
            .into()
    }
}

async fn reload(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
) -> Result<Response, ApiError> {
    let report = api.control.reload().await?;
    Ok(axum::Json(report).into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// An axum path as OpenAPI writes it: the wildcard `{*name}` (the rest
    /// of the path) is the parameter `{name}`.
    fn openapi_path(axum: &str) -> String {
        axum.replace("{*", "{")
    }

    /// docs/api-openapi.json names exactly the routes `camrec record`
    /// serves on its listener: the API's and every playback route (what
    /// `camrec serve` serves is a part of them), path parameters included.
    #[test]
    fn openapi_document_matches_the_routes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api-openapi.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut documented = BTreeSet::new();
        for (p, item) in doc["paths"].as_object().expect("paths") {
            for (m, op) in item.as_object().unwrap() {
                if !["get", "put", "post", "delete", "patch"].contains(&m.as_str()) {
                    continue;
                }
                documented.insert((m.clone(), p.clone()));
                // Every `{param}` of the path is a documented path parameter.
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(item["parameters"].as_array().into_iter().flatten())
                    .filter(|q| q["in"] == "path")
                    .filter_map(|q| q["name"].as_str())
                    .collect();
                let in_path: BTreeSet<&str> = p
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                assert_eq!(declared, in_path, "path parameters of {m} {p}");
            }
        }
        let api = super::table()
            .into_iter()
            .map(|(m, p, _, _)| (m, p))
            .collect::<Vec<_>>();
        let playback = recorder_cli::playback::paths();
        assert!(playback.iter().any(|(_, p)| p.contains("{*name}")));
        let served: BTreeSet<(String, String)> = api
            .into_iter()
            .chain(playback)
            .map(|(m, p)| (m.to_owned(), openapi_path(p)))
            .collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "not documented: {missing:?}; documented but not served: {extra:?}"
        );
        // Changing routes document the bearer token and its 401/403.
        for (m, p, changes, _) in super::table() {
            let op = &doc["paths"][p][m];
            if changes {
                assert!(
                    op["responses"]["401"].is_object() && op["responses"]["403"].is_object(),
                    "{m} {p}"
                );
                assert!(op["security"].is_array(), "{m} {p}");
            }
        }
    }
}
