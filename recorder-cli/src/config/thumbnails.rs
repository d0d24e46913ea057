//! `[thumbnails]`: a JPEG of a keyframe every few minutes per camera,
//! next to the recordings (docs/operations.md#thumbnails).

use std::time::Duration;

use recorder_core::sink::ObjectNameTemplate;
use recorder_core::thumbnail::{
    ThumbnailConfig, DEFAULT_THUMBNAIL_INTERVAL, DEFAULT_THUMBNAIL_TEMPLATE,
};

use super::file::{FileConfig, FileCtx};
use super::limits::Bounds;
use super::origin::{err, ConfigError, Origin, Val};
use super::Flags;

/// `--thumbnail-interval` / `interval_minutes`: 1 s to 24 h.
pub const INTERVAL: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * 3600),
};

/// The effective thumbnail settings.
#[derive(Clone, Debug)]
pub struct Thumbnails {
    /// Whether thumbnails are made (on by default).
    pub enabled: Val<bool>,
    /// Time between two thumbnails of a camera.
    pub interval: Val<Duration>,
    /// Their names (ends in `.jpg`).
    pub key_template: Val<ObjectNameTemplate>,
}

impl Thumbnails {
    /// The library's settings, `None` when disabled.
    pub fn library_config(&self) -> Option<ThumbnailConfig> {
        if !self.enabled.v {
            return None;
        }
        let cfg = ThumbnailConfig::default().with_interval(self.interval.v);
        // The template was checked for `.jpg` when it was read.
        cfg.clone()
            .with_template(self.key_template.v.clone())
            .ok()
            .or(Some(cfg))
    }
}

fn default_template() -> ObjectNameTemplate {
    ObjectNameTemplate::parse(DEFAULT_THUMBNAIL_TEMPLATE).expect("default template parses")
}

/// `[thumbnails]`, then `--thumbnail-interval` and `--no-thumbnails`.
pub(super) fn build(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Thumbnails {
    let mut t = Thumbnails {
        enabled: Val::default(true),
        interval: Val::default(DEFAULT_THUMBNAIL_INTERVAL),
        key_template: Val::default(default_template()),
    };
    if let Some(f) = &file.thumbnails {
        t.enabled.put(cx.map(&f.enabled, |v| v));
        if let Some(m) = cx.map(&f.interval_minutes, |v| v) {
            let d = Duration::try_from_secs_f64(m.v * 60.0).ok();
            match d.filter(|d| INTERVAL.contains(*d)) {
                Some(d) => t.interval.set(d, m.at),
                None => errors.push(err(
                    &m.at,
                    format!("thumbnails interval_minutes = {} is out of range", m.v),
                    format!("use {} (e.g. interval_minutes = 5)", INTERVAL.describe()),
                )),
            }
        }
        if let Some(k) = cx.map(&f.key_template, |v| v) {
            set_template(&mut t, &k.v, k.at, "thumbnails key_template", errors);
        }
    }
    if let Some(k) = &flags.thumbnail_template {
        let at = Origin::Flag("--thumbnail-template".into());
        set_template(&mut t, k, at, "--thumbnail-template", errors);
    }
    if let Some(d) = flags.thumbnail_interval {
        t.interval
            .set(d, Origin::Flag("--thumbnail-interval".into()));
        if !flags.no_thumbnails {
            t.enabled
                .set(true, Origin::Flag("--thumbnail-interval".into()));
        }
    }
    if flags.no_thumbnails {
        t.enabled.set(false, Origin::Flag("--no-thumbnails".into()));
    }
    t
}

/// Sets the thumbnail template from `text` (given at `at` as `what`), or
/// records why it cannot be one.
fn set_template(
    t: &mut Thumbnails,
    text: &str,
    at: Origin,
    what: &str,
    errors: &mut Vec<ConfigError>,
) {
    match ObjectNameTemplate::parse(text).and_then(|tpl| tpl.require_extension(".jpg").map(|_| tpl)) {
        Ok(tpl) => t.key_template.set(tpl, at),
        Err(e) => errors.push(err(
            &at,
            format!("{what}: {e}"),
            format!("use placeholders like {{camera}} {{YYYYMMDD}} {{HHMMSS}} and end in .jpg, e.g. {DEFAULT_THUMBNAIL_TEMPLATE:?}"),
        )),
    }
}
