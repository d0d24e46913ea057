//! `[api]` (the control API's token, the webhook) and `[clips]` (event
//! clips: pre-roll, maximum length, names); docs/api.md.

use std::time::Duration;

use recorder_core::recorder::{ClipSettings, DEFAULT_CLIP_TEMPLATE, MAX_PRE_ROLL};
use recorder_core::sink::s3::SecretString;
use recorder_core::sink::ObjectNameTemplate;

use super::env::{Env, Vars};
use super::file::{FileConfig, FileCtx};
use super::limits::Bounds;
use super::origin::{err, ConfigError, Val};

/// The bearer token of the control API.
pub const API_TOKEN: &[&str] = &["CAMREC_API_TOKEN"];
/// The webhook URL.
pub const WEBHOOK_URL: &[&str] = &["CAMREC_WEBHOOK_URL"];

/// `pre_roll_seconds`: 0 to 60 s.
pub const PRE_ROLL: Bounds = Bounds {
    min: Duration::ZERO,
    max: MAX_PRE_ROLL,
};
/// `max_length_minutes`: 1 s to 24 h.
pub const CLIP_LENGTH: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * 3600),
};

/// The effective control settings.
#[derive(Clone, Debug)]
pub struct Control {
    /// Bearer token for mutating API requests; none: they are off.
    pub token: Val<Option<SecretString>>,
    /// With no token: let requests from 127.0.0.1/::1 change things.
    pub allow_localhost_without_token: Val<bool>,
    /// Receives a JSON POST per stored segment and clip.
    pub webhook_url: Val<Option<String>>,
    /// Per-camera pre-roll ring.
    pub pre_roll: Val<Duration>,
    /// Longest clip.
    pub clip_max_length: Val<Duration>,
    /// Clip names (`{label}` allowed).
    pub clip_template: Val<String>,
}

impl Control {
    /// The library's clip settings.
    pub fn clip_settings(&self) -> ClipSettings {
        let mut c = ClipSettings::default();
        c.pre_roll = self.pre_roll.v;
        c.max_length = self.clip_max_length.v;
        c.template = self.clip_template.v.clone();
        c
    }
}

fn seconds(v: f64, scale: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(v * scale).ok()
}

/// `[api]`, `[clips]`, then `CAMREC_API_TOKEN` and `CAMREC_WEBHOOK_URL`.
pub(super) fn build(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    env: &Env,
    errors: &mut Vec<ConfigError>,
) -> Control {
    let mut c = Control {
        token: Val::default(None),
        allow_localhost_without_token: Val::default(false),
        webhook_url: Val::default(None),
        pre_roll: Val::default(ClipSettings::default().pre_roll),
        clip_max_length: Val::default(ClipSettings::default().max_length),
        clip_template: Val::default(DEFAULT_CLIP_TEMPLATE.to_owned()),
    };
    if let Some(a) = &file.api {
        if let Some(t) = cx.map(&a.token, |v| v) {
            if t.v.trim().is_empty() {
                errors.push(err(
                    &t.at,
                    "api token is empty",
                    "set a long random token, e.g. `openssl rand -hex 32`, or remove the key",
                ));
            } else {
                c.token.set(Some(SecretString::from(t.v)), t.at);
            }
        }
        c.allow_localhost_without_token
            .put(cx.map(&a.allow_localhost_without_token, |v| v));
        if let Some(u) = cx.map(&a.webhook_url, |v| v) {
            check_url(&u, errors);
            c.webhook_url.set(Some(u.v), u.at);
        }
    }
    if let Some(f) = &file.clips {
        if let Some(s) = cx.map(&f.pre_roll_seconds, |v| v) {
            match seconds(s.v, 1.0).filter(|d| PRE_ROLL.contains(*d)) {
                Some(d) => c.pre_roll.set(d, s.at),
                None => errors.push(err(
                    &s.at,
                    format!("clips pre_roll_seconds = {} is out of range", s.v),
                    format!("use {} (e.g. pre_roll_seconds = 10)", PRE_ROLL.describe()),
                )),
            }
        }
        if let Some(m) = cx.map(&f.max_length_minutes, |v| v) {
            match seconds(m.v, 60.0).filter(|d| CLIP_LENGTH.contains(*d)) {
                Some(d) => c.clip_max_length.set(d, m.at),
                None => errors.push(err(
                    &m.at,
                    format!("clips max_length_minutes = {} is out of range", m.v),
                    format!(
                        "use {} (e.g. max_length_minutes = 10)",
                        CLIP_LENGTH.describe()
                    ),
                )),
            }
        }
        if let Some(k) = cx.map(&f.key_template, |v| v) {
            let probe = k.v.replace("{label}", "label");
            match ObjectNameTemplate::parse(&probe).and_then(|t| t.require_extension(".mp4").map(|_| t)) {
                Ok(_) => c.clip_template.set(k.v, k.at),
                Err(e) => errors.push(err(
                    &k.at,
                    format!("clips key_template: {e}"),
                    format!("use placeholders like {{camera}} {{YYYYMMDD}} {{HHMMSS}} {{label}} and end in .mp4, e.g. {DEFAULT_CLIP_TEMPLATE:?}"),
                )),
            }
        }
    }
    let vars = Vars(env);
    if let Some(t) = vars.first(API_TOKEN) {
        c.token.set(Some(SecretString::from(t.v)), t.at);
    }
    if let Some(u) = vars.first(WEBHOOK_URL) {
        check_url(&u, errors);
        c.webhook_url.set(Some(u.v), u.at);
    }
    c
}

fn check_url(u: &Val<String>, errors: &mut Vec<ConfigError>) {
    let ok = url::Url::parse(&u.v)
        .ok()
        .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
    if !ok {
        errors.push(err(
            &u.at,
            format!(
                "webhook url {:?} is not an http:// or https:// URL",
                super::origin::scrub_userinfo(&u.v)
            ),
            "use http://host:port/path or https://host/path",
        ));
    }
}
