//! `camrec.toml` + environment + flags → one validated configuration.
//!
//! Precedence: flags > environment > file > defaults. Every value remembers
//! where it came from ([`Origin`]) so an error can name the file, line and
//! column (or the variable, or the flag) together with a fix, and
//! `camrec config check` can show where each effective value was set.
//!
//! The file and the environment also accept what the deployments camrec
//! replaces used (the ffmpeg recorder's `config.toml` and variable names,
//! the other deployment's variable names); docs/migrating.md.
//!
//! Secrets (camera passwords, the S3 secret key) are never printed: URLs
//! print through [`CameraUrl`]'s redacting `Display`, S3 secrets are
//! `SecretString`s, and parse errors are built from the TOML parser's
//! message and span, never from its snippet of the offending line (which
//! could hold a password).
//!
//! One job per module: `origin` (where values come from, errors), `file`
//! (the TOML as written), `env` (variable names), `settings` (global and
//! metrics settings), `storage` (`[storage]`, S3), `cameras` (the camera
//! list), `render` (`config check`'s output).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use recorder_core::sink::ObjectNameTemplate;
#[cfg(doc)]
use recorder_core::source::CameraUrl;

mod cameras;
pub mod control;
mod env;
mod file;
pub mod lifecycle;
pub mod limits;
mod origin;
mod render;
pub mod retention;
mod settings;
mod storage;
pub mod thumbnails;

pub use cameras::{camera_id_from_url, slug, Camera, Resolution};
pub use env::{process_env, Env};
pub use origin::{scrub_url_secrets, scrub_userinfo, ConfigError, ConfigErrors, Origin, Val};
pub use retention::{Retention, RetentionFlags};
pub use storage::{is_s3_url, S3Settings, Storage, StorageKind};
pub use thumbnails::Thumbnails;

use origin::err;

/// Default metrics/health listen address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9090";
/// Default local output folder.
pub const DEFAULT_DIR: &str = "./recordings";

/// The validated, effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Every camera, enabled or not, in order.
    pub cameras: Vec<Camera>,
    /// Object/file name template.
    pub key_template: Val<ObjectNameTemplate>,
    /// Storage.
    pub storage: Storage,
    /// Metrics listen address; None when disabled.
    pub metrics_listen: Val<Option<SocketAddr>>,
    /// Also export the metric names of the dashboards camrec replaces
    /// (`camera_*{camera_id=...}`).
    pub metrics_legacy_names: Val<bool>,
    /// Retention of the local folder (`[retention]`; per-camera limits are
    /// in each [`Camera`]).
    pub retention: Retention,
    /// Thumbnails (`[thumbnails]`).
    pub thumbnails: Thumbnails,
    /// The control API and event clips (`[api]`, `[clips]`).
    pub control: control::Control,
}

impl Config {
    /// The cameras to record.
    pub fn enabled_cameras(&self) -> impl Iterator<Item = &Camera> {
        self.cameras.iter().filter(|c| c.enabled.v)
    }
}

/// Values from the command line (None/empty: not given).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// Positional camera URLs: when given, they replace the file's and the
    /// environment's camera list.
    pub urls: Vec<String>,
    /// `--camera-id`, one per URL.
    pub camera_ids: Vec<String>,
    /// `--out`: a local folder (selects local storage), or
    /// `s3://bucket/prefix` (selects S3 storage with that bucket and prefix).
    pub out: Option<PathBuf>,
    /// `--segment`.
    pub segment: Option<Duration>,
    /// `--fragment`.
    pub fragment: Option<Duration>,
    /// `--align`.
    pub align: bool,
    /// `--template`.
    pub template: Option<String>,
    /// `--transport`.
    pub transport: Option<String>,
    /// `--stall-timeout`.
    pub stall_timeout: Option<Duration>,
    /// `--sync-fragments`.
    pub sync_fragments: bool,
    /// `--metrics-listen`.
    pub metrics_listen: Option<String>,
    /// `--no-metrics`.
    pub no_metrics: bool,
    /// `--legacy-metrics`.
    pub legacy_metrics: bool,
    /// `--max-age`, `--max-bytes`, ... (retention).
    pub retention: RetentionFlags,
    /// `--thumbnail-interval`.
    pub thumbnail_interval: Option<Duration>,
    /// `--no-thumbnails`.
    pub no_thumbnails: bool,
    /// `--thumbnail-template` (`camrec prune`: the names the folder's
    /// thumbnails were written under).
    pub thumbnail_template: Option<String>,
}

/// Reads `path` (if given) and merges it with `env` and `flags`.
pub fn load(path: Option<&Path>, env: &Env, flags: &Flags) -> Result<Config, ConfigErrors> {
    let (text, path_buf) = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (t, Some(p.to_path_buf())),
            Err(e) => {
                return Err(ConfigErrors(vec![err(
                    &Origin::Flag("--config".into()),
                    format!("cannot read {}: {e}", p.display()),
                    "check the path (or leave out --config to use environment variables and flags only)",
                )]))
            }
        },
        None => (String::new(), None),
    };
    build(path_buf.as_deref(), &text, env, flags)
}

/// Parses `text` (the contents of `path`) and merges env and flags.
pub fn build(
    path: Option<&Path>,
    text: &str,
    env: &Env,
    flags: &Flags,
) -> Result<Config, ConfigErrors> {
    build_inner(path, text, env, flags, true)
}

/// [`load`] for commands that need no camera (`camrec prune`): the same
/// checks, except that a configuration without cameras is fine.
pub fn load_without_cameras(
    path: Option<&Path>,
    env: &Env,
    flags: &Flags,
) -> Result<Config, ConfigErrors> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            ConfigErrors(vec![err(
                &Origin::Flag("--config".into()),
                format!("cannot read {}: {e}", p.display()),
                "check the path (or leave out --config to use flags only)",
            )])
        })?,
        None => String::new(),
    };
    build_inner(path, &text, env, flags, false)
}

fn build_inner(
    path: Option<&Path>,
    text: &str,
    env: &Env,
    flags: &Flags,
    require_cameras: bool,
) -> Result<Config, ConfigErrors> {
    let display_path = path.unwrap_or(Path::new("<config>"));
    let file = file::parse(display_path, text).map_err(|e| ConfigErrors(vec![e]))?;
    let cx = file::FileCtx {
        path: display_path,
        text,
    };
    let mut errors = Vec::new();
    let globals = settings::globals(&file, &cx, flags, &mut errors);
    let storage = storage::build(&file, &cx, env, flags, &mut errors);
    let metrics = settings::metrics(&file, &cx, env, flags, &mut errors);
    let key_template = settings::key_template(&globals.template, &mut errors);
    let retention = retention::build(&file, &cx, flags, &mut errors);
    let thumbnails = thumbnails::build(&file, &cx, flags, &mut errors);
    let control = control::build(&file, &cx, env, &mut errors);
    let cameras = cameras::build(&file, &cx, env, flags, &globals, &retention, &mut errors);
    if require_cameras && cameras.iter().all(|c| !c.enabled.v) && errors.is_empty() {
        let at = match path {
            Some(p) => Origin::File {
                path: p.to_path_buf(),
                line: 1,
                col: 1,
            },
            None => Origin::Default,
        };
        errors.push(err(
            &at,
            if cameras.is_empty() {
                "no cameras configured"
            } else {
                "every camera is disabled"
            },
            "add a [[cameras]] entry with a url (or set CAMERA1_RTSP_URL / CAMERA_1_URL, or pass URLs to camrec record)",
        ));
    }
    if errors.is_empty() {
        let cfg = Config {
            file: path.map(Path::to_path_buf),
            cameras,
            key_template,
            storage,
            metrics_listen: metrics.listen,
            metrics_legacy_names: metrics.legacy_names,
            retention,
            thumbnails,
            control,
        };
        // On S3, retention becomes the bucket's lifecycle rules: what has
        // no rule form, or a plan S3 would not follow, is an error here.
        if cfg.storage.kind.v == StorageKind::S3 {
            errors.extend(lifecycle::unsupported_on_s3(&cfg));
            if errors.is_empty() {
                if let Err(e) = lifecycle::plan(&cfg) {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            return Ok(cfg);
        }
    }
    // File problems in file order first, then environment and flags.
    errors.sort_by_key(|e| match &e.at {
        Origin::File { line, col, .. } => (0, *line, *col),
        Origin::Env(_) => (1, 0, 0),
        Origin::Flag(_) => (2, 0, 0),
        Origin::Default => (3, 0, 0),
    });
    Err(ConfigErrors(errors))
}

#[cfg(test)]
mod tests;
