//! Retention settings on S3 storage, as bucket lifecycle rules: the
//! mapping from `[retention]` (and each camera's `retention_max_age`) to
//! the library's [`LifecyclePlan`].
//!
//! A lifecycle rule can only expire by age under a key prefix, so byte
//! limits, totals and a free-space floor have no S3 form and are refused
//! with a fix. Recordings get one rule per camera (`PREFIX/CAMERA/`,
//! which needs a key template starting with `{camera}/`) and clips one of
//! their own (`PREFIX/clips/`): a rule over the whole prefix would cover
//! the clips too, and S3 applies the shorter of two matching rules.

use std::time::Duration;

use recorder_core::sink::s3::lifecycle::LifecyclePlan;
use recorder_core::sink::sanitize_camera_id;

use super::origin::{err, ConfigError, Origin, Val};
use super::Config;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Whole days for an S3 rule: rounded up (S3 never deletes earlier than
/// asked), with a note when that keeps more than asked.
fn days(age: Duration, notes: &mut Vec<String>, what: &str) -> u32 {
    let secs = age.as_secs();
    let whole = secs.div_ceil(DAY.as_secs()).max(1);
    if secs % DAY.as_secs() != 0 {
        notes.push(format!(
            "{what}: S3 lifecycle rules count whole days, so {} becomes {whole} day(s)",
            humantime::format_duration(age)
        ));
    }
    u32::try_from(whole).unwrap_or(u32::MAX)
}

/// Days after which an incomplete multipart upload is aborted: one, or
/// two when a segment may take longer than half a day to upload (a
/// 24-hour segment's upload stays open all day).
fn abort_days(cfg: &Config) -> u32 {
    let longest = cfg
        .enabled_cameras()
        .map(|c| c.segment.v)
        .max()
        .unwrap_or_default();
    if longest > DAY / 2 {
        2
    } else {
        1
    }
}

/// The settings that cannot become lifecycle rules, with where they were
/// set (for "retention on S3" errors).
pub fn unsupported_on_s3(cfg: &Config) -> Vec<ConfigError> {
    let r = &cfg.retention;
    let mut out = Vec::new();
    let mut refuse = |set: bool, at: &Origin, what: &str| {
        if set {
            out.push(err(
                at,
                format!("{what} cannot be a bucket lifecycle rule (storage is S3)"),
                "on S3, retention is by age only: use max_age (and retention_max_age per camera, clips_max_age for clips), or record to a folder",
            ));
        }
    };
    refuse(r.max_bytes.v.is_some(), &r.max_bytes.at, "max_bytes");
    refuse(
        r.total_max_bytes.v.is_some(),
        &r.total_max_bytes.at,
        "total_max_bytes",
    );
    refuse(
        r.total_max_age.v.is_some(),
        &r.total_max_age.at,
        "total_max_age",
    );
    refuse(
        r.clips_max_bytes.v.is_some(),
        &r.clips_max_bytes.at,
        "clips_max_bytes",
    );
    refuse(r.min_free.v.is_some(), &r.min_free.at, "min_free");
    for c in &cfg.cameras {
        let own = |v: &Val<Option<u64>>| v.v.is_some() && v.at != r.max_bytes.at;
        refuse(
            own(&c.retention_max_bytes),
            &c.retention_max_bytes.at,
            "retention_max_bytes",
        );
    }
    out
}

/// The rules for `cfg` (S3 storage) and notes on rounding. An error names
/// the setting and the fix.
pub fn plan(cfg: &Config) -> Result<(LifecyclePlan, Vec<String>), ConfigError> {
    let mut notes = Vec::new();
    let prefix = cfg.s3_config().key_prefix();
    let mut plan = LifecyclePlan::new();
    let per_camera = cfg.key_template.v.as_str().starts_with("{camera}/");
    let ages: Vec<(&str, Duration, &Origin)> = cfg
        .enabled_cameras()
        .filter_map(|c| {
            c.retention_max_age
                .v
                .map(|a| (c.id.v.as_str(), a, &c.retention_max_age.at))
        })
        .collect();
    if per_camera {
        for (id, age, _) in &ages {
            let id = sanitize_camera_id(id);
            let d = days(*age, &mut notes, &format!("camera {id}"));
            plan = plan.expire(&format!("recordings-{id}"), &format!("{prefix}{id}/"), d);
        }
    } else if let Some((_, first, at)) = ages.first() {
        if ages.iter().any(|(_, a, _)| a != first) {
            // Point at a camera's own setting, not the inherited default.
            let (id, _, at) = ages
                .iter()
                .find(|(_, _, at)| **at != cfg.retention.max_age.at)
                .unwrap_or(&ages[0]);
            return Err(err(
                at,
                format!("camera {id} has its own retention_max_age, but the key template does not start with {{camera}}/, so S3 cannot tell its objects apart"),
                "use a key_template starting with {camera}/ (the default), or one max_age for every camera",
            ));
        }
        if cfg.retention.clips_max_age.v.is_some() {
            return Err(err(
                at,
                "a recording rule over the whole prefix would expire clips (and pinned clips) too: S3 applies the shorter of two matching rules",
                "use a key_template starting with {camera}/ (the default), so recordings get a rule per camera",
            ));
        }
        let d = days(*first, &mut notes, "max_age");
        plan = plan.expire("recordings", &prefix, d);
    }
    if let Some(age) = cfg.retention.clips_max_age.v {
        let d = days(age, &mut notes, "clips_max_age");
        plan = plan.expire_unpinned("clips", &format!("{prefix}clips/"), d);
    }
    plan = plan.abort_incomplete_uploads(&prefix, abort_days(cfg));
    plan.validate().map_err(|e| {
        err(
            cfg.retention.first_origin().unwrap_or(&Origin::Default),
            e.to_string(),
            "make the per-camera retention_max_age no longer than the limit that covers it",
        )
    })?;
    Ok((plan, notes))
}

/// Whether the plan asks for any expiry (beyond aborting uploads).
pub fn expires_anything(plan: &LifecyclePlan) -> bool {
    plan.rules.iter().any(|r| r.expire_after_days.is_some())
}
