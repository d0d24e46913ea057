//! `camrec.toml` + environment + flags → one validated configuration.
//!
//! Precedence: flags > environment > file > defaults. Every value remembers
//! where it came from ([`Origin`]) so an error can name the file, line and
//! column (or the variable, or the flag) together with a fix, and
//! `camrec config check` can show where each effective value was set.
//!
//! Secrets (camera passwords, the S3 secret key) are never printed: URLs
//! print through [`CameraUrl`]'s redacting `Display`, and parse errors are
//! built from the TOML parser's message and span, never from its snippet of
//! the offending line (which could hold a password).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use recorder_core::sink::{ObjectNameTemplate, DEFAULT_TEMPLATE};
use recorder_core::source::{CameraUrl, Transport};
use serde::Deserialize;
use toml::Spanned;

/// Default metrics/health listen address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9090";
/// Default local output folder.
pub const DEFAULT_DIR: &str = "./recordings";
/// The smallest S3 multipart part (except the last one).
pub const MIN_PART_SIZE_MIB: u64 = 5;

// ---------------------------------------------------------------------------
// Where a value came from, and errors that point there.

/// Where an effective value was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// The config file, 1-based line and column.
    File {
        /// Path as given.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line, col } => write!(f, "{}:{line}:{col}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A value and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Val<T> {
    /// The value.
    pub v: T,
    /// Where it was set.
    pub at: Origin,
}

impl<T> Val<T> {
    fn default(v: T) -> Self {
        Val {
            v,
            at: Origin::Default,
        }
    }
    fn set(&mut self, v: T, at: Origin) {
        self.v = v;
        self.at = at;
    }
}

/// One problem with the configuration: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the bad value was set.
    pub at: Origin,
    /// What is wrong (never contains a secret).
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}\n    fix: {}", self.at, self.message, self.fix)
    }
}

/// Every problem found (validation does not stop at the first one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn err(at: &Origin, message: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        at: at.clone(),
        message: message.into(),
        fix: fix.into(),
    }
}

/// Masks the password of anything that looks like `scheme://user:pass@host`
/// in `text` (for messages from other libraries that may quote a value).
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '`')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// The file, as written.

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    cameras: Vec<Spanned<FileCamera>>,
    defaults: Option<FileDefaults>,
    output: Option<FileOutput>,
    storage: Option<FileStorage>,
    metrics: Option<FileMetrics>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileCamera {
    id: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    enabled: Option<Spanned<bool>>,
    transport: Option<Spanned<String>>,
    stall_timeout_seconds: Option<Spanned<f64>>,
    segment_duration_minutes: Option<Spanned<f64>>,
    fragment_seconds: Option<Spanned<f64>>,
    align_to_clock: Option<Spanned<bool>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileDefaults {
    transport: Option<Spanned<String>>,
    stall_timeout_seconds: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileOutput {
    segment_duration_minutes: Option<Spanned<f64>>,
    fragment_seconds: Option<Spanned<f64>>,
    align_to_clock: Option<Spanned<bool>>,
    key_template: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    kind: Option<Spanned<String>>,
    dir: Option<Spanned<String>>,
    sync_fragments: Option<Spanned<bool>>,
    bucket: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    access_key_id: Option<Spanned<String>>,
    secret_access_key: Option<Spanned<String>>,
    part_size_mib: Option<Spanned<i64>>,
    spool_dir: Option<Spanned<String>>,
    spool_limit_mib: Option<Spanned<i64>>,
    max_concurrent_uploads: Option<Spanned<i64>>,
    create_bucket: Option<Spanned<bool>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    enabled: Option<Spanned<bool>>,
    listen: Option<Spanned<String>>,
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

struct FileCtx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl FileCtx<'_> {
    fn at(&self, offset: usize) -> Origin {
        let (line, col) = line_col(self.text, offset);
        Origin::File {
            path: self.path.to_path_buf(),
            line,
            col,
        }
    }
    fn val<T: Clone>(&self, s: &Spanned<T>) -> (T, Origin) {
        (s.get_ref().clone(), self.at(s.span().start))
    }
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let at = match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            Origin::File {
                path: path.to_path_buf(),
                line,
                col,
            }
        }
        None => Origin::File {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
        },
    };
    let message = scrub_userinfo(e.message().trim());
    let fix = if message.contains("unknown field") {
        "remove this key or correct its spelling (the accepted keys are listed above; see docs/configuration.md)".to_string()
    } else if message.contains("missing field") {
        "add the missing key (see docs/configuration.md)".to_string()
    } else if message.contains("invalid type") {
        "use the type shown (strings in \"quotes\", numbers and true/false without)".to_string()
    } else if message.contains("duplicate key") {
        "keep one of the two keys".to_string()
    } else {
        "fix the TOML syntax here (see docs/configuration.md for an example file)".to_string()
    };
    ConfigError { at, message, fix }
}

// ---------------------------------------------------------------------------
// The effective configuration.

/// Where segments go.
#[derive(Clone, Debug, PartialEq, Eq, Copy)]
pub enum StorageKind {
    /// A local folder.
    Local,
    /// An S3-compatible bucket.
    S3,
}

impl StorageKind {
    fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "local",
            StorageKind::S3 => "s3",
        }
    }
}

/// S3 settings (validated when `kind = "s3"`).
#[derive(Clone, Debug, PartialEq)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: Val<Option<String>>,
    /// Key prefix, prepended to the key template.
    pub prefix: Val<String>,
    /// Endpoint URL for non-AWS stores (MinIO, Garage, R2, ...).
    pub endpoint: Val<Option<String>>,
    /// Region.
    pub region: Val<String>,
    /// Access key id (None: the default AWS credential chain).
    pub access_key_id: Val<Option<String>>,
    /// Secret access key. Never printed.
    pub secret_access_key: Val<Option<String>>,
    /// Multipart part size in MiB (≥ 5).
    pub part_size_mib: Val<i64>,
    /// Local spool folder.
    pub spool_dir: Val<PathBuf>,
    /// Largest spool size in MiB before recording refuses new fragments.
    pub spool_limit_mib: Val<i64>,
    /// Parallel part uploads.
    pub max_concurrent_uploads: Val<i64>,
    /// Create the bucket at start-up when it does not exist.
    pub create_bucket: Val<bool>,
}

/// Storage settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    /// local or s3.
    pub kind: Val<StorageKind>,
    /// Local folder.
    pub dir: Val<PathBuf>,
    /// fsync every fragment (local).
    pub sync_fragments: Val<bool>,
    /// S3 settings.
    pub s3: S3Settings,
}

/// One camera, after defaults and overrides.
#[derive(Clone, Debug)]
pub struct Camera {
    /// Id: names folders, files and metric labels.
    pub id: Val<String>,
    /// Display name.
    pub name: Val<Option<String>>,
    /// URL (credentials kept apart; prints redacted).
    pub url: Val<CameraUrl>,
    /// Whether it is recorded.
    pub enabled: Val<bool>,
    /// RTP transport.
    pub transport: Val<Transport>,
    /// Silence before reconnecting.
    pub stall_timeout: Val<Duration>,
    /// Target segment length.
    pub segment: Val<Duration>,
    /// Longest fragment.
    pub fragment: Val<Duration>,
    /// Align segments to wall-clock multiples of `segment`.
    pub align: Val<bool>,
}

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
}

/// The environment, as a map (tests pass their own).
pub type Env = BTreeMap<String, String>;

/// The process environment.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !id.starts_with('.')
}

/// A file-safe id from free text (a camera name) or a URL's host and path.
pub fn slug(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::new();
    for c in s.chars() {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').chars().take(64).collect()
}

/// A camera id from its URL: host and path (as earlier versions derived
/// it, so folders of existing setups keep their names).
pub fn camera_id_from_url(url: &CameraUrl) -> String {
    let u = url.url();
    let raw = format!("{}{}", u.host_str().unwrap_or("camera"), u.path());
    let id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.trim_matches('-').chars().take(64).collect()
}

fn minutes(m: f64) -> Option<Duration> {
    (m.is_finite() && (0.0..1e9).contains(&m)).then(|| Duration::from_secs_f64(m * 60.0))
}

fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && (0.0..1e12).contains(&s)).then(|| Duration::from_secs_f64(s))
}

/// Raw camera entry during merging (URL still text).
struct RawCamera {
    id: Option<Val<String>>,
    name: Val<Option<String>>,
    url: Option<Val<String>>,
    enabled: Val<bool>,
    transport: Option<Val<String>>,
    stall_timeout: Option<Val<Option<Duration>>>,
    segment: Option<Val<Option<Duration>>>,
    fragment: Option<Val<Option<Duration>>>,
    align: Option<Val<bool>>,
    /// Where the entry starts (for "missing url" and similar).
    at: Origin,
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
    let display_path = path.unwrap_or(Path::new("<config>"));
    let file: FileConfig = if text.trim().is_empty() {
        FileConfig::default()
    } else {
        toml::from_str(text).map_err(|e| ConfigErrors(vec![parse_error(display_path, text, &e)]))?
    };
    let cx = FileCtx {
        path: display_path,
        text,
    };
    let mut errors = Vec::new();

    // ---- global settings: defaults, then file, env, flags.
    let mut segment = Val::default(Some(Duration::from_secs(15 * 60)));
    let mut fragment = Val::default(Some(Duration::from_secs(1)));
    let mut align = Val::default(false);
    let mut template = Val::default(DEFAULT_TEMPLATE.to_string());
    let mut transport = Val::default("tcp".to_string());
    let mut stall = Val::default(Some(Duration::from_secs(10)));
    if let Some(o) = &file.output {
        if let Some(s) = &o.segment_duration_minutes {
            let (v, at) = cx.val(s);
            segment.set(minutes(v), at);
        }
        if let Some(s) = &o.fragment_seconds {
            let (v, at) = cx.val(s);
            fragment.set(seconds(v), at);
        }
        if let Some(s) = &o.align_to_clock {
            let (v, at) = cx.val(s);
            align.set(v, at);
        }
        if let Some(s) = &o.key_template {
            let (v, at) = cx.val(s);
            template.set(v, at);
        }
    }
    if let Some(d) = &file.defaults {
        if let Some(s) = &d.transport {
            let (v, at) = cx.val(s);
            transport.set(v, at);
        }
        if let Some(s) = &d.stall_timeout_seconds {
            let (v, at) = cx.val(s);
            stall.set(seconds(v), at);
        }
    }
    if let Some(d) = flags.segment {
        segment.set(Some(d), Origin::Flag("--segment".into()));
    }
    if let Some(d) = flags.fragment {
        fragment.set(Some(d), Origin::Flag("--fragment".into()));
    }
    if flags.align {
        align.set(true, Origin::Flag("--align".into()));
    }
    if let Some(t) = &flags.template {
        template.set(t.clone(), Origin::Flag("--template".into()));
    }
    if let Some(t) = &flags.transport {
        transport.set(t.clone(), Origin::Flag("--transport".into()));
    }
    if let Some(d) = flags.stall_timeout {
        stall.set(Some(d), Origin::Flag("--stall-timeout".into()));
    }

    // ---- storage.
    let storage = build_storage(&file, &cx, env, flags, &mut errors);

    // ---- metrics.
    let mut metrics_enabled = Val::default(true);
    let mut listen = Val::default(DEFAULT_METRICS_LISTEN.to_string());
    if let Some(m) = &file.metrics {
        if let Some(s) = &m.enabled {
            let (v, at) = cx.val(s);
            metrics_enabled.set(v, at);
        }
        if let Some(s) = &m.listen {
            let (v, at) = cx.val(s);
            listen.set(v, at);
        }
    }
    if let Some(port) = env.get("METRICS_PORT").filter(|v| !v.trim().is_empty()) {
        let at = Origin::Env("METRICS_PORT".into());
        match port.trim().parse::<u16>() {
            Ok(p) => {
                let host = listen
                    .v
                    .parse::<SocketAddr>()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|_| "127.0.0.1".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                listen.set(format!("{host}:{p}"), at);
            }
            Err(_) => errors.push(err(
                &at,
                format!("{port:?} is not a port number"),
                "set METRICS_PORT to a number between 1 and 65535 (0 picks a free port)",
            )),
        }
    }
    if let Some(l) = &flags.metrics_listen {
        listen.set(l.clone(), Origin::Flag("--metrics-listen".into()));
        metrics_enabled.set(true, Origin::Flag("--metrics-listen".into()));
    }
    if flags.no_metrics {
        metrics_enabled.set(false, Origin::Flag("--no-metrics".into()));
    }
    let metrics_listen = if metrics_enabled.v {
        match listen.v.trim().parse::<SocketAddr>() {
            Ok(a) => Val {
                v: Some(a),
                at: listen.at.clone(),
            },
            Err(_) => {
                errors.push(err(
                    &listen.at,
                    format!("{:?} is not an address to listen on", listen.v),
                    "write IP:PORT, e.g. \"127.0.0.1:9090\" or \"0.0.0.0:9090\" (for containers)",
                ));
                Val {
                    v: None,
                    at: listen.at.clone(),
                }
            }
        }
    } else {
        Val {
            v: None,
            at: metrics_enabled.at.clone(),
        }
    };

    // ---- global validation.
    let key_template = match ObjectNameTemplate::parse(&template.v)
        .and_then(|t| t.require_extension(".mp4").map(|_| t))
    {
        Ok(t) => Val {
            v: t,
            at: template.at.clone(),
        },
        Err(e) => {
            errors.push(err(
                &template.at,
                format!("key template: {e}"),
                format!("use placeholders like {{camera}} {{YYYYMMDD}} {{HHMMSS}}, e.g. {DEFAULT_TEMPLATE:?}"),
            ));
            Val::default(ObjectNameTemplate::default())
        }
    };

    // ---- cameras: file entries, then env CAMERAn_*, then flags.
    let mut raw: Vec<RawCamera> = file
        .cameras
        .iter()
        .map(|c| {
            let entry = c.get_ref();
            let at = cx.at(c.span().start);
            RawCamera {
                id: entry.id.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v, at }
                }),
                name: entry.name.as_ref().map_or(Val::default(None), |s| {
                    let (v, at) = cx.val(s);
                    Val { v: Some(v), at }
                }),
                url: entry.url.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v, at }
                }),
                enabled: entry.enabled.as_ref().map_or(Val::default(true), |s| {
                    let (v, at) = cx.val(s);
                    Val { v, at }
                }),
                transport: entry.transport.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v, at }
                }),
                stall_timeout: entry.stall_timeout_seconds.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v: seconds(v), at }
                }),
                segment: entry.segment_duration_minutes.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v: minutes(v), at }
                }),
                fragment: entry.fragment_seconds.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v: seconds(v), at }
                }),
                align: entry.align_to_clock.as_ref().map(|s| {
                    let (v, at) = cx.val(s);
                    Val { v, at }
                }),
                at,
            }
        })
        .collect();
    apply_env_cameras(&mut raw, env);
    // A flag sets the value for every camera, per-camera keys included.
    for r in &mut raw {
        if flags.segment.is_some() {
            r.segment = None;
        }
        if flags.fragment.is_some() {
            r.fragment = None;
        }
        if flags.align {
            r.align = None;
        }
        if flags.transport.is_some() {
            r.transport = None;
        }
        if flags.stall_timeout.is_some() {
            r.stall_timeout = None;
        }
    }
    if !flags.urls.is_empty() {
        if !flags.camera_ids.is_empty() && flags.camera_ids.len() != flags.urls.len() {
            errors.push(err(
                &Origin::Flag("--camera-id".into()),
                format!(
                    "{} --camera-id values for {} URLs",
                    flags.camera_ids.len(),
                    flags.urls.len()
                ),
                "give one --camera-id per URL, in the same order (or none)",
            ));
        }
        raw = flags
            .urls
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let at = Origin::Flag(format!("URL #{}", i + 1));
                RawCamera {
                    id: flags.camera_ids.get(i).map(|id| Val {
                        v: id.clone(),
                        at: Origin::Flag("--camera-id".into()),
                    }),
                    name: Val::default(None),
                    url: Some(Val {
                        v: u.clone(),
                        at: at.clone(),
                    }),
                    enabled: Val::default(true),
                    transport: None,
                    stall_timeout: None,
                    segment: None,
                    fragment: None,
                    align: None,
                    at,
                }
            })
            .collect();
    }

    let global_transport = match transport.v.parse::<Transport>() {
        Ok(t) => Val {
            v: t,
            at: transport.at.clone(),
        },
        Err(e) => {
            errors.push(err(
                &transport.at,
                e.to_string(),
                "write \"tcp\" (default) or \"udp\"",
            ));
            Val::default(Transport::Tcp)
        }
    };

    let mut cameras: Vec<Camera> = Vec::new();
    for r in raw {
        let url = match &r.url {
            None => {
                errors.push(err(
                    &r.at,
                    "this camera has no url",
                    "add url = \"rtsp://user:password@host:554/path\" (or set CAMERAn_RTSP_URL)",
                ));
                continue;
            }
            Some(u) => match CameraUrl::parse(&u.v) {
                Ok(p) => Val {
                    v: p,
                    at: u.at.clone(),
                },
                Err(e) => {
                    errors.push(err(
                        &u.at,
                        e.to_string(),
                        "write the camera's RTSP URL as rtsp://user:password@host:554/path; percent-encode special characters in the password (@ as %40, : as %3A)",
                    ));
                    continue;
                }
            },
        };
        let id = match r.id {
            Some(id) => id,
            None => Val {
                v: match &r.name.v {
                    Some(n) if !slug(n).is_empty() => slug(n),
                    _ => camera_id_from_url(&url.v),
                },
                at: Origin::Default,
            },
        };
        if !valid_id(&id.v) {
            errors.push(err(
                &id.at,
                format!("camera id {:?} cannot name a folder", id.v),
                "use 1-64 letters, digits, '-', '_' or '.', e.g. id = \"front-door\"",
            ));
        }
        let transport = match r.transport {
            Some(t) => match t.v.parse::<Transport>() {
                Ok(p) => Val { v: p, at: t.at },
                Err(e) => {
                    errors.push(err(
                        &t.at,
                        e.to_string(),
                        "write \"tcp\" (default) or \"udp\"",
                    ));
                    global_transport.clone()
                }
            },
            None => global_transport.clone(),
        };
        let pick = |o: Option<Val<Option<Duration>>>, g: &Val<Option<Duration>>| {
            o.unwrap_or_else(|| g.clone())
        };
        let seg = pick(r.segment, &segment);
        let frag = pick(r.fragment, &fragment);
        let st = pick(r.stall_timeout, &stall);
        let seg_v = check_duration(
            &seg,
            "segment duration",
            Duration::from_secs(1),
            "set segment_duration_minutes to a positive number of minutes, e.g. 15 (0.5 = 30 s); at least 1 s",
            &mut errors,
        );
        let frag_v = check_duration(
            &frag,
            "fragment duration",
            Duration::from_millis(100),
            "set fragment_seconds to a positive number, e.g. 1 (at least 0.1)",
            &mut errors,
        );
        let st_v = check_duration(
            &st,
            "stall timeout",
            Duration::from_secs(1),
            "set stall_timeout_seconds to at least 1, e.g. 10",
            &mut errors,
        );
        if let (Some(s), Some(f)) = (seg_v, frag_v) {
            if f > s {
                errors.push(err(
                    &frag.at,
                    format!(
                        "camera {:?}: fragment ({} s) is longer than the segment ({} s)",
                        id.v,
                        secs(f),
                        secs(s)
                    ),
                    "make fragment_seconds at most the segment duration (1 s is a good fragment length)",
                ));
            }
        }
        cameras.push(Camera {
            id,
            name: r.name,
            url,
            enabled: r.enabled,
            transport,
            stall_timeout: Val {
                v: st_v.unwrap_or_default(),
                at: st.at,
            },
            segment: Val {
                v: seg_v.unwrap_or_default(),
                at: seg.at,
            },
            fragment: Val {
                v: frag_v.unwrap_or_default(),
                at: frag.at,
            },
            align: r.align.unwrap_or_else(|| align.clone()),
        });
    }
    let mut seen: BTreeMap<&str, &Origin> = BTreeMap::new();
    for c in &cameras {
        if let Some(first) = seen.insert(c.id.v.as_str(), &c.id.at) {
            errors.push(err(
                &c.id.at,
                format!("camera id {:?} is used twice (first at {first})", c.id.v),
                "give every camera a distinct id = \"...\" (ids name folders and metrics)",
            ));
        }
    }
    if cameras.iter().all(|c| !c.enabled.v) && errors.is_empty() {
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
            "add a [[cameras]] entry with a url (or set CAMERA1_RTSP_URL, or pass URLs to camrec record)",
        ));
    }
    if !errors.is_empty() {
        // File problems in file order first, then environment and flags.
        errors.sort_by_key(|e| match &e.at {
            Origin::File { line, col, .. } => (0, *line, *col),
            Origin::Env(_) => (1, 0, 0),
            Origin::Flag(_) => (2, 0, 0),
            Origin::Default => (3, 0, 0),
        });
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        file: path.map(Path::to_path_buf),
        cameras,
        key_template,
        storage,
        metrics_listen,
    })
}

fn check_duration(
    v: &Val<Option<Duration>>,
    what: &str,
    min: Duration,
    fix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Duration> {
    match v.v {
        Some(d) if d >= min => Some(d),
        Some(d) => {
            errors.push(err(
                &v.at,
                format!(
                    "{what} {} s is too short (minimum {} s)",
                    secs(d),
                    secs(min)
                ),
                fix,
            ));
            None
        }
        None => {
            errors.push(err(&v.at, format!("{what} must be a positive number"), fix));
            None
        }
    }
}

/// `CAMERAn_RTSP_URL` / `CAMERAn_NAME`: camera n (1-based) overrides the
/// n-th `[[cameras]]` entry of the file, or adds a camera after them.
fn apply_env_cameras(raw: &mut Vec<RawCamera>, env: &Env) {
    let mut numbers: Vec<usize> = env
        .keys()
        .filter_map(|k| {
            let n = k.strip_prefix("CAMERA")?;
            let n = n
                .strip_suffix("_RTSP_URL")
                .or_else(|| n.strip_suffix("_NAME"))?;
            n.parse::<usize>().ok().filter(|n| *n >= 1)
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    for n in numbers {
        let url_key = format!("CAMERA{n}_RTSP_URL");
        let name_key = format!("CAMERA{n}_NAME");
        let url = env
            .get(&url_key)
            .filter(|v| !v.trim().is_empty())
            .map(|u| Val {
                v: u.clone(),
                at: Origin::Env(url_key.clone()),
            });
        let name = env
            .get(&name_key)
            .filter(|v| !v.trim().is_empty())
            .map(|u| Val {
                v: Some(u.clone()),
                at: Origin::Env(name_key.clone()),
            });
        if let Some(existing) = raw.get_mut(n - 1) {
            if let Some(u) = url {
                existing.url = Some(u);
            }
            if let Some(name) = name {
                existing.name = name;
            }
        } else if let Some(u) = url {
            let at = u.at.clone();
            raw.push(RawCamera {
                id: if name.is_none() {
                    Some(Val {
                        v: format!("camera{n}"),
                        at: Origin::Env(url_key.clone()),
                    })
                } else {
                    None
                },
                name: name.unwrap_or(Val::default(None)),
                url: Some(u),
                enabled: Val::default(true),
                transport: None,
                stall_timeout: None,
                segment: None,
                fragment: None,
                align: None,
                at,
            });
        }
    }
}

fn build_storage(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    env: &Env,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Storage {
    let mut kind_text: Val<Option<String>> = Val::default(None);
    let mut dir = Val::default(PathBuf::from(DEFAULT_DIR));
    let mut sync = Val::default(false);
    let mut s3 = S3Settings {
        bucket: Val::default(None),
        prefix: Val::default(String::new()),
        endpoint: Val::default(None),
        region: Val::default("us-east-1".into()),
        access_key_id: Val::default(None),
        secret_access_key: Val::default(None),
        part_size_mib: Val::default(8),
        // `TEMP_DIR` overrides this below, with its origin recorded.
        spool_dir: Val::default(std::env::temp_dir().join("camrec-spool")),
        spool_limit_mib: Val::default(1024),
        max_concurrent_uploads: Val::default(4),
        create_bucket: Val::default(false),
    };
    if let Some(st) = &file.storage {
        macro_rules! file_opt {
            ($field:ident, $target:expr, $map:expr) => {
                if let Some(s) = &st.$field {
                    let (v, at) = cx.val(s);
                    #[allow(clippy::redundant_closure_call)]
                    $target.set(($map)(v), at);
                }
            };
        }
        file_opt!(kind, kind_text, Some);
        file_opt!(dir, dir, PathBuf::from);
        file_opt!(sync_fragments, sync, |v| v);
        file_opt!(bucket, s3.bucket, Some);
        file_opt!(prefix, s3.prefix, |v| v);
        file_opt!(endpoint, s3.endpoint, Some);
        file_opt!(region, s3.region, |v| v);
        file_opt!(access_key_id, s3.access_key_id, Some);
        file_opt!(secret_access_key, s3.secret_access_key, Some);
        file_opt!(part_size_mib, s3.part_size_mib, |v| v);
        file_opt!(spool_dir, s3.spool_dir, PathBuf::from);
        file_opt!(spool_limit_mib, s3.spool_limit_mib, |v| v);
        file_opt!(max_concurrent_uploads, s3.max_concurrent_uploads, |v| v);
        file_opt!(create_bucket, s3.create_bucket, |v| v);
    }
    let env_str = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    // The first variable set wins: camrec's S3_* names, then the AWS SDK's.
    let env_first = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env_str(n).map(|v| (v, Origin::Env((*n).to_string()))))
    };
    if let Some((v, at)) = env_first(&["S3_BUCKET"]) {
        s3.bucket.set(Some(v), at);
    }
    if let Some((v, at)) = env_first(&["S3_PREFIX"]) {
        s3.prefix.set(v, at);
    }
    if let Some((v, at)) = env_first(&["S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
        s3.endpoint.set(Some(v), at);
    }
    if let Some((v, at)) = env_first(&["S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]) {
        s3.region.set(v, at);
    }
    if let Some((v, at)) = env_first(&["S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]) {
        s3.access_key_id.set(Some(v), at);
    }
    if let Some((v, at)) = env_first(&["S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"]) {
        s3.secret_access_key.set(Some(v), at);
    }
    if let Some((v, at)) = env_first(&["S3_CREATE_BUCKET"]) {
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => s3.create_bucket.set(true, at),
            "0" | "false" | "no" | "off" => s3.create_bucket.set(false, at),
            _ => errors.push(err(
                &at,
                format!("{v:?} is not a boolean"),
                "set S3_CREATE_BUCKET to true or false",
            )),
        }
    }
    // S3_BUCKET may be a bare name or s3://bucket/prefix.
    if s3.bucket.at != Origin::Default {
        if let Some(b) = s3.bucket.v.clone().filter(|b| b.contains("://")) {
            let at = s3.bucket.at.clone();
            split_s3_url(&b, &at, &mut s3, errors);
        }
    }
    if let Some(v) = env_str("TEMP_DIR") {
        s3.spool_dir.set(
            PathBuf::from(v).join("camrec-spool"),
            Origin::Env("TEMP_DIR".into()),
        );
    }
    if let Some(v) = env_str("MAX_CONCURRENT_UPLOADS") {
        let at = Origin::Env("MAX_CONCURRENT_UPLOADS".into());
        match v.trim().parse::<i64>() {
            Ok(n) => s3.max_concurrent_uploads.set(n, at),
            Err(_) => errors.push(err(
                &at,
                format!("{v:?} is not a number"),
                "set MAX_CONCURRENT_UPLOADS to a whole number such as 4",
            )),
        }
    }
    // The kind: the file's choice; else S3 when S3_BUCKET is set; --out
    // selects a local folder.
    let kind = match &kind_text.v {
        Some(k) => match k.trim().to_ascii_lowercase().as_str() {
            "local" => Val {
                v: StorageKind::Local,
                at: kind_text.at.clone(),
            },
            "s3" => Val {
                v: StorageKind::S3,
                at: kind_text.at.clone(),
            },
            other => {
                errors.push(err(
                    &kind_text.at,
                    format!("unknown storage kind {other:?}"),
                    "write kind = \"local\" (a folder) or kind = \"s3\"",
                ));
                Val::default(StorageKind::Local)
            }
        },
        None if s3.bucket.at != Origin::Default => Val {
            v: StorageKind::S3,
            at: s3.bucket.at.clone(),
        },
        None => Val::default(StorageKind::Local),
    };
    let mut kind = kind;
    if let Some(out) = &flags.out {
        let at = Origin::Flag("--out".into());
        match out.to_str().filter(|o| is_s3_url(o)) {
            Some(url) => {
                split_s3_url(url, &at, &mut s3, errors);
                kind.set(StorageKind::S3, at);
            }
            None => {
                dir.set(out.clone(), at.clone());
                kind.set(StorageKind::Local, at);
            }
        }
    }
    if flags.sync_fragments {
        sync.set(true, Origin::Flag("--sync-fragments".into()));
    }
    if kind.v == StorageKind::S3 {
        validate_s3(&s3, &kind.at, errors);
    } else if dir.v.as_os_str().is_empty() {
        errors.push(err(
            &dir.at,
            "the output folder is empty",
            "set dir = \"/path/to/recordings\"",
        ));
    }
    Storage {
        kind,
        dir,
        sync_fragments: sync,
        s3,
    }
}

/// `s3://...` (any case): an `--out` that names a bucket, not a folder.
pub fn is_s3_url(s: &str) -> bool {
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("s3://"))
}

/// Sets bucket and prefix from `s3://bucket/prefix`.
fn split_s3_url(url: &str, at: &Origin, s3: &mut S3Settings, errors: &mut Vec<ConfigError>) {
    match recorder_core::sink::s3::parse_s3_url(url) {
        Ok((bucket, prefix)) => {
            s3.bucket.set(Some(bucket), at.clone());
            s3.prefix.set(prefix, at.clone());
        }
        Err(e) => errors.push(err(
            at,
            format!("{:?} is not a usable S3 location: {e}", scrub_userinfo(url)),
            "write s3://bucket or s3://bucket/prefix (the endpoint goes in S3_ENDPOINT or [storage] endpoint)",
        )),
    }
}

fn validate_s3(s3: &S3Settings, kind_at: &Origin, errors: &mut Vec<ConfigError>) {
    match &s3.bucket.v {
        None => errors.push(err(
            kind_at,
            "S3 storage needs a bucket",
            "set bucket = \"...\" under [storage] (or S3_BUCKET)",
        )),
        Some(b) => {
            let ok = (3..=63).contains(&b.len())
                && b.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !b.starts_with(['-', '.'])
                && !b.ends_with(['-', '.']);
            if !ok {
                errors.push(err(
                    &s3.bucket.at,
                    format!("{b:?} is not a valid bucket name"),
                    "use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
                ));
            }
        }
    }
    if let Some(e) = &s3.endpoint.v {
        match url::Url::parse(e) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
                if u.password().is_some() || !u.username().is_empty() {
                    errors.push(err(
                        &s3.endpoint.at,
                        "the S3 endpoint contains credentials",
                        "remove user:password@ from the endpoint; set access_key_id / secret_access_key (or S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY)",
                    ));
                }
            }
            _ => errors.push(err(
                &s3.endpoint.at,
                format!("{:?} is not an http(s) URL", scrub_userinfo(e)),
                "write the endpoint as https://host[:port], e.g. \"http://127.0.0.1:3900\" for Garage",
            )),
        }
    }
    if s3.region.v.trim().is_empty() {
        errors.push(err(
            &s3.region.at,
            "the S3 region is empty",
            "set region = \"us-east-1\" (or your store's region; many ignore it)",
        ));
    }
    match (&s3.access_key_id.v, &s3.secret_access_key.v) {
        (Some(_), None) => errors.push(err(
            &s3.access_key_id.at,
            "an access key id without a secret access key",
            "set secret_access_key (or S3_SECRET_ACCESS_KEY) too, or neither to use the AWS default credential chain",
        )),
        (None, Some(_)) => errors.push(err(
            &s3.secret_access_key.at,
            "a secret access key without an access key id",
            "set access_key_id (or S3_ACCESS_KEY_ID) too, or neither to use the AWS default credential chain",
        )),
        _ => {}
    }
    if !(MIN_PART_SIZE_MIB as i64..=5120).contains(&s3.part_size_mib.v) {
        errors.push(err(
            &s3.part_size_mib.at,
            format!(
                "part size {} MiB is outside what S3 allows",
                s3.part_size_mib.v
            ),
            "set part_size_mib between 5 (S3's minimum for all but the last part) and 5120",
        ));
    }
    if s3.spool_limit_mib.v < s3.part_size_mib.v * 2 {
        errors.push(err(
            &s3.spool_limit_mib.at,
            format!(
                "spool limit {} MiB cannot hold two parts of {} MiB",
                s3.spool_limit_mib.v, s3.part_size_mib.v
            ),
            "set spool_limit_mib to at least twice part_size_mib (the spool is what survives an S3 outage: make it large)",
        ));
    }
    if !(1..=64).contains(&s3.max_concurrent_uploads.v) {
        errors.push(err(
            &s3.max_concurrent_uploads.at,
            format!(
                "{} concurrent uploads is out of range",
                s3.max_concurrent_uploads.v
            ),
            "set max_concurrent_uploads between 1 and 64 (4 is plenty for most sites)",
        ));
    }
}

// ---------------------------------------------------------------------------
// Printing, with secrets redacted.

fn q(s: &str) -> String {
    // TOML basic strings escape like JSON for what we print.
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".into())
}

fn secret(v: &Option<String>) -> String {
    match v {
        Some(_) => q("***"),
        None => "(not set)".into(),
    }
}

fn key_id(v: &Option<String>) -> String {
    match v {
        Some(k) if k.len() >= 12 => q(&format!("***{}", &k[k.len() - 4..])),
        Some(_) => q("***"),
        None => "(not set)".into(),
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

impl Config {
    /// The effective configuration as annotated TOML, secrets redacted.
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let kv = |lines: &mut Vec<String>, k: &str, v: String, at: &Origin| {
            lines.push(format!("{k:<24} = {v:<40} # {at}"));
        };
        lines.push(format!(
            "# effective camrec configuration (secrets redacted); file: {}",
            self.file
                .as_ref()
                .map_or("(none)".to_string(), |p| p.display().to_string())
        ));
        lines.push(String::new());
        lines.push("[output]".into());
        kv(
            &mut lines,
            "key_template",
            q(self.key_template.v.as_str()),
            &self.key_template.at,
        );
        lines.push(String::new());
        lines.push("[storage]".into());
        let st = &self.storage;
        kv(&mut lines, "kind", q(st.kind.v.as_str()), &st.kind.at);
        match st.kind.v {
            StorageKind::Local => {
                kv(
                    &mut lines,
                    "dir",
                    q(&st.dir.v.display().to_string()),
                    &st.dir.at,
                );
                kv(
                    &mut lines,
                    "sync_fragments",
                    st.sync_fragments.v.to_string(),
                    &st.sync_fragments.at,
                );
            }
            StorageKind::S3 => {
                let s3 = &st.s3;
                kv(
                    &mut lines,
                    "bucket",
                    s3.bucket.v.as_deref().map_or("(not set)".into(), q),
                    &s3.bucket.at,
                );
                kv(&mut lines, "prefix", q(&s3.prefix.v), &s3.prefix.at);
                kv(
                    &mut lines,
                    "endpoint",
                    s3.endpoint
                        .v
                        .as_deref()
                        .map_or("(AWS)".into(), |e| q(&scrub_userinfo(e))),
                    &s3.endpoint.at,
                );
                kv(&mut lines, "region", q(&s3.region.v), &s3.region.at);
                kv(
                    &mut lines,
                    "access_key_id",
                    key_id(&s3.access_key_id.v),
                    &s3.access_key_id.at,
                );
                kv(
                    &mut lines,
                    "secret_access_key",
                    secret(&s3.secret_access_key.v),
                    &s3.secret_access_key.at,
                );
                kv(
                    &mut lines,
                    "part_size_mib",
                    s3.part_size_mib.v.to_string(),
                    &s3.part_size_mib.at,
                );
                kv(
                    &mut lines,
                    "spool_dir",
                    q(&s3.spool_dir.v.display().to_string()),
                    &s3.spool_dir.at,
                );
                kv(
                    &mut lines,
                    "spool_limit_mib",
                    s3.spool_limit_mib.v.to_string(),
                    &s3.spool_limit_mib.at,
                );
                kv(
                    &mut lines,
                    "max_concurrent_uploads",
                    s3.max_concurrent_uploads.v.to_string(),
                    &s3.max_concurrent_uploads.at,
                );
                kv(
                    &mut lines,
                    "create_bucket",
                    s3.create_bucket.v.to_string(),
                    &s3.create_bucket.at,
                );
            }
        }
        lines.push(String::new());
        lines.push("[metrics]".into());
        match self.metrics_listen.v {
            Some(a) => kv(
                &mut lines,
                "listen",
                q(&a.to_string()),
                &self.metrics_listen.at,
            ),
            None => kv(
                &mut lines,
                "enabled",
                "false".into(),
                &self.metrics_listen.at,
            ),
        }
        for c in &self.cameras {
            lines.push(String::new());
            lines.push("[[cameras]]".into());
            kv(&mut lines, "id", q(&c.id.v), &c.id.at);
            if let Some(n) = &c.name.v {
                kv(&mut lines, "name", q(n), &c.name.at);
            }
            kv(&mut lines, "url", q(&c.url.v.redacted()), &c.url.at);
            kv(
                &mut lines,
                "enabled",
                c.enabled.v.to_string(),
                &c.enabled.at,
            );
            kv(
                &mut lines,
                "transport",
                q(&c.transport.v.to_string()),
                &c.transport.at,
            );
            kv(
                &mut lines,
                "segment_duration_minutes",
                format!("{}", c.segment.v.as_secs_f64() / 60.0),
                &c.segment.at,
            );
            kv(
                &mut lines,
                "fragment_seconds",
                secs(c.fragment.v),
                &c.fragment.at,
            );
            kv(
                &mut lines,
                "align_to_clock",
                c.align.v.to_string(),
                &c.align.at,
            );
            kv(
                &mut lines,
                "stall_timeout_seconds",
                secs(c.stall_timeout.v),
                &c.stall_timeout.at,
            );
        }
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests;
