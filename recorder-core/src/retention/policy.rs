//! What retention keeps: limits per camera, in total, for clips, and a
//! floor of free space on the volume.

use std::collections::BTreeMap;
use std::time::Duration;

/// An age and a size limit; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Files that ended longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// The oldest files are deleted while the group holds more bytes.
    pub max_bytes: Option<u64>,
}

impl Limits {
    /// No limit.
    pub fn none() -> Self {
        Limits::default()
    }

    /// With a maximum age.
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// With a maximum size in bytes.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Whether neither limit is set.
    pub fn is_none(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }

    /// `self`'s limits where set, else `fallback`'s.
    pub fn or(self, fallback: Limits) -> Limits {
        Limits {
            max_age: self.max_age.or(fallback.max_age),
            max_bytes: self.max_bytes.or(fallback.max_bytes),
        }
    }
}

/// The retention rules of one folder.
///
/// Continuous segments are limited per camera ([`per_camera`], with
/// overrides in [`cameras`]) and all together ([`total`]); clips (files
/// under `clips/`) by [`clips`]; [`min_free_bytes`] keeps that much space
/// free on the volume by deleting the oldest segments, then the oldest
/// clips. A pinned file is never deleted, and an open segment (`.part`) is
/// never even a candidate ([`Account`](super::Account)).
///
/// [`per_camera`]: RetentionPolicy::per_camera
/// [`cameras`]: RetentionPolicy::cameras
/// [`total`]: RetentionPolicy::total
/// [`clips`]: RetentionPolicy::clips
/// [`min_free_bytes`]: RetentionPolicy::min_free_bytes
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Every camera's segments, unless [`RetentionPolicy::cameras`] says
    /// otherwise.
    pub per_camera: Limits,
    /// Overrides by camera id (as in file names): a limit set here
    /// replaces the [`RetentionPolicy::per_camera`] one; one left `None`
    /// inherits it.
    pub cameras: BTreeMap<String, Limits>,
    /// All cameras' segments together.
    pub total: Limits,
    /// Unpinned clips, all together.
    pub clips: Limits,
    /// Free space to keep on the folder's volume, bytes.
    pub min_free_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// A policy that deletes nothing.
    pub fn new() -> Self {
        RetentionPolicy::default()
    }

    /// With limits for each camera's segments.
    pub fn with_per_camera(mut self, limits: Limits) -> Self {
        self.per_camera = limits;
        self
    }

    /// With an override for one camera.
    pub fn with_camera(mut self, camera: impl Into<String>, limits: Limits) -> Self {
        self.cameras.insert(camera.into(), limits);
        self
    }

    /// With limits on all segments together.
    pub fn with_total(mut self, limits: Limits) -> Self {
        self.total = limits;
        self
    }

    /// With limits on unpinned clips.
    pub fn with_clips(mut self, limits: Limits) -> Self {
        self.clips = limits;
        self
    }

    /// With a free-space floor, bytes.
    pub fn with_min_free_bytes(mut self, bytes: u64) -> Self {
        self.min_free_bytes = Some(bytes);
        self
    }

    /// The limits that apply to `camera`'s segments.
    pub fn camera_limits(&self, camera: &str) -> Limits {
        self.cameras
            .get(camera)
            .copied()
            .unwrap_or_default()
            .or(self.per_camera)
    }

    /// Whether the policy can delete anything at all.
    pub fn is_active(&self) -> bool {
        !(self.per_camera.is_none()
            && self.cameras.values().all(Limits::is_none)
            && self.total.is_none()
            && self.clips.is_none()
            && self.min_free_bytes.is_none())
    }

    /// Whether it needs the volume's free space.
    pub fn needs_free_space(&self) -> bool {
        self.min_free_bytes.is_some()
    }

    /// The longest age limit that applies to `camera`'s segments, if any
    /// (its own or the total one): a file younger than this that the
    /// free-space floor deletes means the disk is too small for the policy.
    pub fn age_limit_for(&self, camera: &str) -> Option<Duration> {
        match (self.camera_limits(camera).max_age, self.total.max_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let day = Duration::from_secs(86_400);
        let p = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(30 * day).with_max_bytes(100))
            .with_camera("porch", Limits::none().with_max_bytes(5));
        assert_eq!(
            p.camera_limits("porch"),
            Limits::none().with_max_age(30 * day).with_max_bytes(5)
        );
        assert_eq!(p.camera_limits("other"), p.per_camera);
        assert!(p.is_active());
        assert!(!RetentionPolicy::new().is_active());
        assert!(RetentionPolicy::new()
            .with_camera("x", Limits::none().with_max_bytes(1))
            .is_active());
        assert_eq!(
            RetentionPolicy::new()
                .with_total(Limits::none().with_max_age(day))
                .with_per_camera(Limits::none().with_max_age(2 * day))
                .age_limit_for("x"),
            Some(day)
        );
    }
}
