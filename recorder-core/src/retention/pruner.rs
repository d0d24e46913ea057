//! The async driver: keeps the [`Account`] current from the recorder's
//! events and applies the [`RetentionPolicy`] after every stored segment
//! and on a timer. A failure to delete is logged and counted, never
//! passed to the recording.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::account::{Account, FileKey, FileKind, NameTemplates, Usage};
use super::apply::{delete_planned, free_bytes, path_of, pin_path, DeleteOutcome};
use super::plan::{plan, DeleteReason, Deletion};
use super::policy::RetentionPolicy;
use super::scan::{scan, ScanReport};
use super::RetentionError;
use crate::recorder::{RecorderEvent, SegmentRecord};
use crate::time::WallTime;

/// How often [`Pruner::run`] applies the policy besides after each stored
/// segment, by default: the age limits and the free-space floor move
/// with time and with the open segments' growth, not only with events.
pub const DEFAULT_PRUNE_EVERY: Duration = Duration::from_secs(2);

/// Pin markers are re-read this often (to notice a removed pin); a pin
/// added meanwhile is seen anyway, just before a deletion.
const PIN_RECHECK_EVERY: Duration = Duration::from_secs(60);

/// What one pass did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PassReport {
    /// Files deleted (or found already gone), oldest first.
    pub deleted: Vec<Deletion>,
    /// Files that could not be deleted, with why.
    pub failed: Vec<(Deletion, String)>,
    /// Files kept because a pin marker appeared.
    pub newly_pinned: Vec<String>,
    /// Free bytes on the volume before the pass (when the policy has a
    /// floor).
    pub free_bytes: Option<u64>,
    /// Bytes the floor still lacks with nothing left to delete.
    pub floor_short_bytes: u64,
}

/// One camera's retention figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CameraRetention {
    /// Camera id as in file names (empty: the template has no `{camera}`).
    pub camera: String,
    /// Segments stored, their bytes and the oldest start.
    pub usage: Usage,
    /// Segments retention deleted since start.
    pub segments_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// The free-space floor deleted a segment younger than the age limit
    /// (and no age deletion has happened since): the disk is too small
    /// for the policy.
    pub floor_before_max_age: bool,
}

/// Retention's state for a host (metrics, status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionSnapshot {
    /// Every camera with files in the folder (or deleted since start).
    pub cameras: Vec<CameraRetention>,
    /// Clips stored.
    pub clips: Usage,
    /// Clips deleted since start.
    pub clips_deleted: u64,
    /// Pinned files.
    pub pinned: u64,
    /// Free bytes on the volume at the last pass (when the policy has a
    /// floor, or it was measured).
    pub free_bytes: Option<u64>,
    /// The floor, bytes.
    pub min_free_bytes: Option<u64>,
    /// Bytes the floor lacked at the last pass with nothing left to delete.
    pub floor_short_bytes: u64,
    /// Deletions that failed since start.
    pub delete_errors: u64,
    /// Passes run.
    pub passes: u64,
}

#[derive(Clone, Debug, Default)]
struct CameraCounters {
    deleted: u64,
    bytes_deleted: u64,
    floor_before_max_age: bool,
}

#[derive(Debug)]
struct State {
    account: Account,
    cameras: BTreeMap<String, CameraCounters>,
    clips_deleted: u64,
    free: Option<u64>,
    floor_short: u64,
    delete_errors: u64,
    passes: u64,
    pins_checked: Instant,
}

impl State {
    /// Gives the camera of a newly accounted file its counters (so metrics
    /// show it before retention first deletes anything of it).
    fn note_camera(&mut self, key: Option<FileKey>) {
        let Some(k) = key else { return };
        let camera = self
            .account
            .get(&k)
            .map(|f| f.camera.clone())
            .unwrap_or_default();
        self.cameras.entry(camera).or_default();
    }
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    templates: NameTemplates,
    policy: RetentionPolicy,
    state: Mutex<State>,
    /// Serializes passes (the CLI's and the timer's).
    pass: Mutex<()>,
}

/// Applies a [`RetentionPolicy`] to one local folder, from an account kept
/// current by the recorder's events. Cheap to clone: clones share it.
#[derive(Clone, Debug)]
pub struct Pruner {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pruner {
    /// Walks `root` once ([`scan`]) and returns a pruner for it. Blocking:
    /// call it before the cameras start (or in `spawn_blocking`).
    ///
    /// `templates`: the segment template, or [`NameTemplates`] with the
    /// thumbnail template too when the thumbnails are not named like the
    /// segments with `.jpg`.
    pub fn open(
        root: impl Into<PathBuf>,
        templates: impl Into<NameTemplates>,
        policy: RetentionPolicy,
    ) -> Result<(Pruner, ScanReport), RetentionError> {
        let root = root.into();
        let templates = templates.into();
        let (account, report) = scan(&root, &templates)?;
        Ok((
            Pruner::with_account(root, templates, policy, account),
            report,
        ))
    }

    /// A pruner over an account built elsewhere.
    pub fn with_account(
        root: impl Into<PathBuf>,
        templates: impl Into<NameTemplates>,
        policy: RetentionPolicy,
        account: Account,
    ) -> Pruner {
        let mut cameras = BTreeMap::new();
        for (c, _) in account.cameras() {
            cameras.insert(c.to_owned(), CameraCounters::default());
        }
        Pruner {
            shared: Arc::new(Shared {
                root: root.into(),
                templates: templates.into(),
                policy,
                state: Mutex::new(State {
                    account,
                    cameras,
                    clips_deleted: 0,
                    free: None,
                    floor_short: 0,
                    delete_errors: 0,
                    passes: 0,
                    pins_checked: Instant::now(),
                }),
                pass: Mutex::new(()),
            }),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// The policy.
    pub fn policy(&self) -> &RetentionPolicy {
        &self.shared.policy
    }

    /// Accounts for a stored segment (ignored unless it is a finished file
    /// of this folder).
    pub fn record(&self, rec: &SegmentRecord) {
        let mut st = lock(&self.shared.state);
        let key = st.account.record_stored(&self.shared.templates, rec);
        st.note_camera(key);
    }

    /// Accounts for a stored thumbnail (ignored when it is not a local
    /// file retention reads: an S3 object, another thumbnail template).
    pub fn record_thumbnail(&self, location: &str, name: &str, wall: WallTime, bytes: u64) {
        if location.starts_with("s3://") {
            return;
        }
        let mut st = lock(&self.shared.state);
        let key = st
            .account
            .record_thumbnail(&self.shared.templates, name, wall, bytes);
        st.note_camera(key);
    }

    /// Replaces the account by a fresh walk of the folder (after the event
    /// stream lost events). Blocking.
    pub fn rescan(&self) -> Result<ScanReport, RetentionError> {
        let (account, report) = scan(&self.shared.root, &self.shared.templates)?;
        let mut st = lock(&self.shared.state);
        for (c, _) in account.cameras() {
            st.cameras.entry(c.to_owned()).or_default();
        }
        st.account = account;
        Ok(report)
    }

    /// Runs one pass now: measures the free space (when the policy has a
    /// floor), plans, deletes. Blocking (file-system calls).
    pub fn prune_now(&self, now: WallTime) -> PassReport {
        let _pass = lock(&self.shared.pass);
        let policy = &self.shared.policy;
        let root = &self.shared.root;
        self.recheck_pins();
        let free = if policy.needs_free_space() {
            match free_bytes(root) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cannot read the free space; the floor is not applied this pass");
                    None
                }
            }
        } else {
            None
        };
        let (planned, keep) = {
            let st = lock(&self.shared.state);
            let planned = plan(&st.account, policy, now, free);
            let keep: HashSet<PathBuf> = if planned.deletions.is_empty() {
                HashSet::new()
            } else {
                st.account
                    .newest_per_camera()
                    .filter_map(|f| path_of(root, &f.name).parent().map(Path::to_path_buf))
                    .collect()
            };
            (planned, keep)
        };
        let outcomes = if planned.deletions.is_empty() {
            Vec::new()
        } else {
            delete_planned(root, &planned, &keep)
        };
        let mut report = PassReport {
            free_bytes: free,
            floor_short_bytes: planned.floor_short_bytes,
            ..PassReport::default()
        };
        let mut st = lock(&self.shared.state);
        st.passes += 1;
        if free.is_some() {
            st.free = free;
        }
        for (d, outcome) in outcomes {
            match outcome {
                DeleteOutcome::Deleted | DeleteOutcome::AlreadyGone => {
                    st.account.remove(&d.key);
                    if d.file.kind == FileKind::Clip {
                        st.clips_deleted += 1;
                    } else {
                        let age_limit = policy.age_limit_for(&d.file.camera);
                        let c = st.cameras.entry(d.file.camera.clone()).or_default();
                        c.deleted += 1;
                        c.bytes_deleted += d.file.bytes;
                        if matches!(
                            d.reason,
                            DeleteReason::CameraMaxAge | DeleteReason::TotalMaxAge
                        ) {
                            c.floor_before_max_age = false;
                        } else if d.before_max_age && !c.floor_before_max_age {
                            c.floor_before_max_age = true;
                            tracing::warn!(
                                camera = %d.file.camera,
                                max_age = ?age_limit,
                                free_bytes = ?free,
                                min_free_bytes = ?policy.min_free_bytes,
                                "retention: the free-space floor deletes recordings younger than the age limit: the disk is too small for the policy"
                            );
                        }
                    }
                    tracing::debug!(file = %d.file.name, bytes = d.file.bytes, reason = d.reason.as_str(), "retention deleted a file");
                    report.deleted.push(d);
                }
                DeleteOutcome::NowPinned => {
                    st.account.set_pinned(&d.key, true);
                    report.newly_pinned.push(d.file.name.clone());
                }
                DeleteOutcome::Failed(e) => {
                    st.delete_errors += 1;
                    tracing::warn!(file = %d.file.name, error = %e, "retention: cannot delete; kept and retried next pass");
                    report.failed.push((d, e.to_string()));
                }
            }
        }
        if planned.floor_short_bytes > 0 && st.floor_short == 0 {
            tracing::warn!(
                short_bytes = planned.floor_short_bytes,
                free_bytes = ?free,
                min_free_bytes = ?policy.min_free_bytes,
                "retention: below the free-space floor with nothing left to delete (the rest is pinned, open, or not recordings): something else fills the volume"
            );
        }
        st.floor_short = planned.floor_short_bytes;
        report
    }

    /// Re-reads the pin markers of pinned files, at most once a
    /// [`PIN_RECHECK_EVERY`], so a removed pin takes effect.
    fn recheck_pins(&self) {
        let pinned: Vec<(super::account::FileKey, String)> = {
            let mut st = lock(&self.shared.state);
            if st.pins_checked.elapsed() < PIN_RECHECK_EVERY {
                return;
            }
            st.pins_checked = Instant::now();
            st.account
                .pinned()
                .map(|(k, f)| (*k, f.name.clone()))
                .collect()
        };
        let unpinned: Vec<_> = pinned
            .into_iter()
            .filter(|(_, name)| {
                let pin = pin_path(&path_of(&self.shared.root, name));
                matches!(std::fs::symlink_metadata(pin), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            })
            .collect();
        let mut st = lock(&self.shared.state);
        for (k, _) in unpinned {
            st.account.set_pinned(&k, false);
        }
    }

    /// What retention knows now.
    pub fn snapshot(&self) -> RetentionSnapshot {
        let st = lock(&self.shared.state);
        RetentionSnapshot {
            cameras: st
                .cameras
                .iter()
                .map(|(c, k)| CameraRetention {
                    camera: c.clone(),
                    usage: st.account.camera_usage(c),
                    segments_deleted: k.deleted,
                    bytes_deleted: k.bytes_deleted,
                    floor_before_max_age: k.floor_before_max_age,
                })
                .collect(),
            clips: st.account.clip_usage(),
            clips_deleted: st.clips_deleted,
            pinned: st.account.pinned().count() as u64,
            free_bytes: st.free,
            min_free_bytes: self.shared.policy.min_free_bytes,
            floor_short_bytes: st.floor_short,
            delete_errors: st.delete_errors,
            passes: st.passes,
        }
    }

    /// Applies the policy after each stored segment of `events` and every
    /// `every`, until `stop` turns true or the recorder is gone; then
    /// accounts for the events still queued and runs a last pass.
    ///
    /// Subscribe `events` before the cameras start so no segment is missed;
    /// if the stream lags anyway, the folder is walked again.
    pub async fn run(
        self,
        mut events: broadcast::Receiver<RecorderEvent>,
        mut stop: watch::Receiver<bool>,
        every: Duration,
    ) {
        use broadcast::error::{RecvError, TryRecvError};
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                // Also when the sender is gone: nobody can stop us later.
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => break,
                ev = events.recv() => match ev {
                    Ok(RecorderEvent::ThumbnailStored { location, name, wall, bytes, .. }) => {
                        self.record_thumbnail(&location, &name, wall, bytes);
                    }
                    Ok(RecorderEvent::SegmentStored(rec)) => {
                        self.record(&rec);
                        self.pass().await;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "retention missed recorder events; walking the folder again");
                        self.rescan_async().await;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => self.pass().await,
            }
        }
        loop {
            match events.try_recv() {
                Ok(RecorderEvent::SegmentStored(rec)) => self.record(&rec),
                Ok(RecorderEvent::ThumbnailStored {
                    location,
                    name,
                    wall,
                    bytes,
                    ..
                }) => self.record_thumbnail(&location, &name, wall, bytes),
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => {
                    self.rescan_async().await;
                }
                Err(_) => break,
            }
        }
        self.pass().await;
    }

    async fn pass(&self) {
        let p = self.clone();
        let _ = tokio::task::spawn_blocking(move || p.prune_now(WallTime::now())).await;
    }

    async fn rescan_async(&self) {
        let p = self.clone();
        match tokio::task::spawn_blocking(move || p.rescan()).await {
            Ok(Ok(r)) => {
                tracing::info!(files = r.files, elapsed = ?r.elapsed, "retention walked the folder again")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "retention could not walk the folder again"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::account::StoredFile;
    use crate::retention::policy::Limits;
    use crate::sink::ObjectNameTemplate;

    const S: i64 = 1_000_000_000;

    fn record(name: &str, start_s: i64, bytes: u64) -> SegmentRecord {
        SegmentRecord {
            segment_index: None,
            camera: "cam".into(),
            index: 0,
            name: name.into(),
            location: name.into(),
            upload_pending: false,
            wall_start: WallTime(start_s * S),
            wall_end: WallTime((start_s + 5) * S),
            duration: Duration::from_secs(5),
            bytes,
            fragments: 5,
            video_frames: Some(125),
            codecs: vec!["h264"],
            resolution: Some((640, 360)),
            reason: None,
        }
    }

    #[test]
    fn events_feed_the_account_and_counters_follow_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = ObjectNameTemplate::default();
        let policy = RetentionPolicy::new().with_per_camera(Limits::none().with_max_bytes(250));
        let (p, scanned) = Pruner::open(root, t.clone(), policy).unwrap();
        assert_eq!(scanned.files, 0);
        let mut names = Vec::new();
        for i in 0..4 {
            let name = t.render("cam", WallTime((1_700_000_000 + 5 * i) * S), 0);
            let path = path_of(root, &name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, [0u8; 100]).unwrap();
            p.record(&record(&name, 1_700_000_000 + 5 * i, 100));
            names.push(name);
        }
        // An S3 record is not this folder's.
        let mut s3 = record("cam/x.mp4", 1_800_000_000, 1_000_000);
        s3.upload_pending = true;
        p.record(&s3);
        let r = p.prune_now(WallTime(1_700_000_100 * S));
        let deleted: Vec<&str> = r.deleted.iter().map(|d| d.file.name.as_str()).collect();
        assert_eq!(deleted, [names[0].as_str(), names[1].as_str()]);
        let snap = p.snapshot();
        let cam = &snap.cameras[0];
        assert_eq!((cam.usage.files, cam.usage.bytes), (2, 200));
        assert_eq!((cam.segments_deleted, cam.bytes_deleted), (2, 200));
        assert_eq!(cam.usage.oldest, Some(WallTime(1_700_000_010 * S)));
        assert!(!path_of(root, &names[0]).exists());
        assert!(path_of(root, &names[3]).exists());
        assert_eq!(snap.passes, 1);
    }

    #[test]
    fn thumbnails_under_a_custom_template_are_walked_and_deleted_with_their_segments() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let templates = NameTemplates::new(ObjectNameTemplate::default()).with_thumbnails(
            ObjectNameTemplate::parse("thumbs/{camera}/{YYYYMMDD}-{HHMMSS}.jpg").unwrap(),
        );
        let put = |name: &str, len: usize| {
            let p = path_of(root, name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![0u8; len]).unwrap();
        };
        // Two cameras, segments every 10 s from 2024-01-01 00:00:00 with a
        // thumbnail 1 s into each; the default thumbnail name and an
        // unrelated picture are not retention's.
        for cam in ["a", "b"] {
            for i in 0..3 {
                put(&format!("{cam}/20240101/0000{i}0_{cam}.mp4"), 1000);
                put(&format!("thumbs/{cam}/20240101-0000{i}1.jpg"), 100);
            }
        }
        put("thumbs/a/20240101-000021.keyframe.mp4", 100);
        put("a/20240101/000000_a.jpg", 100);
        put("thumbs/a/cover.jpg", 100);
        let policy = RetentionPolicy::new().with_per_camera(Limits::none().with_max_bytes(1200));
        let (p, scanned) = Pruner::open(root, templates.clone(), policy.clone()).unwrap();
        assert_eq!((scanned.files, scanned.bytes), (13, 6700));
        let a = p.snapshot().cameras[0].clone();
        assert_eq!(
            (a.camera.as_str(), a.usage.files, a.usage.bytes),
            ("a", 7, 3400)
        );
        let r = p.prune_now(WallTime::now());
        let mut deleted: Vec<&str> = r.deleted.iter().map(|d| d.file.name.as_str()).collect();
        deleted.sort_unstable();
        assert_eq!(
            deleted,
            [
                "a/20240101/000000_a.mp4",
                "a/20240101/000010_a.mp4",
                "b/20240101/000000_b.mp4",
                "b/20240101/000010_b.mp4",
                "thumbs/a/20240101-000001.jpg",
                "thumbs/a/20240101-000011.jpg",
                "thumbs/b/20240101-000001.jpg",
                "thumbs/b/20240101-000011.jpg",
            ]
        );
        for name in deleted {
            assert!(!path_of(root, name).exists(), "{name}");
        }
        for kept in [
            "a/20240101/000020_a.mp4",
            "thumbs/a/20240101-000021.jpg",
            "thumbs/a/20240101-000021.keyframe.mp4",
            "a/20240101/000000_a.jpg",
            "thumbs/a/cover.jpg",
        ] {
            assert!(path_of(root, kept).exists(), "{kept}");
        }
        assert_eq!(p.snapshot().cameras[0].usage.bytes, 1200);
        // With the segment template alone (the thumbnails are taken to be
        // the segment names with `.jpg`), the custom-named ones are left
        // alone and the default-named one is accounted instead.
        let (_, scanned) = Pruner::open(root, ObjectNameTemplate::default(), policy).unwrap();
        assert_eq!((scanned.files, scanned.bytes), (3, 2100));
    }

    #[test]
    fn a_failed_deletion_is_counted_and_retried_and_the_floor_warns() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = ObjectNameTemplate::default();
        // A "file" that cannot be unlinked: a folder by that name.
        let stuck = "cam/20200101/000000_cam.mp4";
        std::fs::create_dir_all(path_of(root, stuck)).unwrap();
        let mut account = Account::new();
        account.insert(StoredFile::new(
            stuck,
            "cam",
            FileKind::Segment,
            WallTime(1_577_836_800 * S),
            WallTime(1_577_836_805 * S),
            100,
        ));
        // Everything below an impossible floor, with a 100-year age limit:
        // the floor deletes "young" files and cannot reach its goal.
        let policy = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(Duration::from_secs(100 * 366 * 86_400)))
            .with_min_free_bytes(u64::MAX);
        let p = Pruner::with_account(root, t, policy, account);
        let r = p.prune_now(WallTime::now());
        assert_eq!(r.failed.len(), 1, "{r:?}");
        assert!(r.floor_short_bytes > 0);
        let snap = p.snapshot();
        assert_eq!(snap.delete_errors, 1);
        assert!(snap.free_bytes.is_some());
        assert_eq!(snap.cameras[0].usage.files, 1, "kept in the account");
        // Retried at the next pass, and counted again.
        let r = p.prune_now(WallTime::now());
        assert_eq!(r.failed.len(), 1);
        assert_eq!(p.snapshot().delete_errors, 2);
        // Once deletable, it goes; the floor deleted a file younger than
        // the age limit: the warning is set.
        std::fs::remove_dir(path_of(root, stuck)).unwrap();
        std::fs::write(path_of(root, stuck), [0u8; 100]).unwrap();
        let r = p.prune_now(WallTime::now());
        assert_eq!(r.deleted.len(), 1);
        let cam = &p.snapshot().cameras[0];
        assert!(cam.floor_before_max_age);
        assert_eq!(cam.segments_deleted, 1);
    }
}
