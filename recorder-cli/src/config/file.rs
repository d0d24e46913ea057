//! The TOML file as written, and positions in it.
//!
//! The file accepts camrec's own keys and, so that the ffmpeg-based
//! recorder's `config.toml` works unchanged, that recorder's keys: per
//! camera `resolution` and `fps`, and `[storage]` `s3_endpoint`,
//! `s3_bucket`, `s3_region` and `segment_duration_minutes` (mapped in
//! [`super::storage`] and [`super::settings`]; docs/migrating.md).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::origin::{scrub_userinfo, ConfigError, Origin, Val};

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub cameras: Vec<Spanned<FileCamera>>,
    pub defaults: Option<FileDefaults>,
    pub output: Option<FileOutput>,
    pub storage: Option<FileStorage>,
    pub metrics: Option<FileMetrics>,
    pub retention: Option<FileRetention>,
    pub thumbnails: Option<FileThumbnails>,
    pub api: Option<FileApi>,
    pub clips: Option<FileClips>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileApi {
    pub token: Option<Spanned<String>>,
    pub allow_localhost_without_token: Option<Spanned<bool>>,
    pub webhook_url: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileClips {
    pub pre_roll_seconds: Option<Spanned<f64>>,
    pub max_length_minutes: Option<Spanned<f64>>,
    pub key_template: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCamera {
    pub id: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub enabled: Option<Spanned<bool>>,
    pub transport: Option<Spanned<String>>,
    pub stall_timeout_seconds: Option<Spanned<f64>>,
    pub segment_duration_minutes: Option<Spanned<f64>>,
    pub fragment_seconds: Option<Spanned<f64>>,
    pub align_to_clock: Option<Spanned<bool>>,
    /// What the camera should deliver, `"2560x1440"` (ffmpeg recorder).
    pub resolution: Option<Spanned<String>>,
    /// What the camera should deliver, frames per second (ffmpeg recorder).
    pub fps: Option<Spanned<f64>>,
    /// This camera's `[retention] max_age`.
    pub retention_max_age: Option<Spanned<String>>,
    /// This camera's `[retention] max_bytes`.
    pub retention_max_bytes: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDefaults {
    pub transport: Option<Spanned<String>>,
    pub stall_timeout_seconds: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileOutput {
    pub segment_duration_minutes: Option<Spanned<f64>>,
    pub fragment_seconds: Option<Spanned<f64>>,
    pub align_to_clock: Option<Spanned<bool>>,
    pub key_template: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStorage {
    pub kind: Option<Spanned<String>>,
    pub dir: Option<Spanned<String>>,
    pub sync_fragments: Option<Spanned<bool>>,
    pub bucket: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub access_key_id: Option<Spanned<String>>,
    pub secret_access_key: Option<Spanned<String>>,
    pub part_size_mib: Option<Spanned<i64>>,
    pub spool_dir: Option<Spanned<String>>,
    pub spool_limit_mib: Option<Spanned<i64>>,
    pub max_concurrent_uploads: Option<Spanned<i64>>,
    pub create_bucket: Option<Spanned<bool>>,
    /// ffmpeg recorder: `endpoint`.
    pub s3_endpoint: Option<Spanned<String>>,
    /// ffmpeg recorder: `bucket`.
    pub s3_bucket: Option<Spanned<String>>,
    /// ffmpeg recorder: `region`.
    pub s3_region: Option<Spanned<String>>,
    /// ffmpeg recorder: `[output] segment_duration_minutes`.
    pub segment_duration_minutes: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRetention {
    pub max_age: Option<Spanned<String>>,
    pub max_bytes: Option<Spanned<String>>,
    pub total_max_age: Option<Spanned<String>>,
    pub total_max_bytes: Option<Spanned<String>>,
    pub clips_max_age: Option<Spanned<String>>,
    pub clips_max_bytes: Option<Spanned<String>>,
    pub min_free: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileThumbnails {
    pub enabled: Option<Spanned<bool>>,
    pub interval_minutes: Option<Spanned<f64>>,
    pub key_template: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMetrics {
    pub enabled: Option<Spanned<bool>>,
    pub listen: Option<Spanned<String>>,
    /// Also export the old dashboards' metric names.
    pub legacy_names: Option<Spanned<bool>>,
}

/// Line and column (1-based) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

/// The file being merged: turns spans into [`Origin`]s.
pub(super) struct FileCtx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl FileCtx<'_> {
    pub fn at(&self, offset: usize) -> Origin {
        let (line, col) = line_col(self.text, offset);
        Origin::File {
            path: self.path.to_path_buf(),
            line,
            col,
        }
    }

    /// The value and where it was written.
    pub fn val<T: Clone>(&self, s: &Spanned<T>) -> Val<T> {
        Val {
            v: s.get_ref().clone(),
            at: self.at(s.span().start),
        }
    }

    /// `s` mapped by `f`, with its position (for optional keys).
    pub fn map<T: Clone, U>(
        &self,
        s: &Option<Spanned<T>>,
        f: impl FnOnce(T) -> U,
    ) -> Option<Val<U>> {
        s.as_ref().map(|s| {
            let v = self.val(s);
            Val {
                v: f(v.v),
                at: v.at,
            }
        })
    }
}

/// Parses the file (an empty file is an empty configuration).
pub(super) fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    toml::from_str(text).map_err(|e| parse_error(path, text, &e))
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, col) = e.span().map_or((1, 1), |span| line_col(text, span.start));
    let at = Origin::File {
        path: path.to_path_buf(),
        line,
        col,
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
