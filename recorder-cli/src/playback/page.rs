//! The web page at `/`, embedded in the binary: HTML, its script and
//! hls.js (1.6.19 from the npm registry, vendored as `hls.min.js`; its
//! license is `assets/hls.js.LICENSE`), so it works offline.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const HLS_JS: &str = include_str!("../../assets/hls.min.js");
const HLS_LICENSE: &str = include_str!("../../assets/hls.js.LICENSE");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// `/`, `/app.js`, `/hls.min.js`, `/hls.js.LICENSE`: method, path, handler.
pub fn table<S: Clone + Send + Sync + 'static>(
) -> Vec<(&'static str, &'static str, MethodRouter<S>)> {
    vec![
        (
            "get",
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        ),
        (
            "get",
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        ),
        (
            "get",
            "/hls.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", HLS_JS) }),
        ),
        (
            "get",
            "/hls.js.LICENSE",
            get(|| async { asset("text/plain; charset=utf-8", HLS_LICENSE) }),
        ),
    ]
}
