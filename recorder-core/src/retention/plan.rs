//! Which files a policy deletes now: pure, oldest first, and in time
//! proportional to what it deletes (each rule walks its group from the
//! oldest file and stops at the first one it keeps).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::account::{Account, FileKey, FileKind, Group, StoredFile};
use super::policy::{Limits, RetentionPolicy};
use crate::time::WallTime;

/// Which rule chose a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeleteReason {
    /// Older than the camera's `max_age`.
    CameraMaxAge,
    /// The camera held more than its `max_bytes`.
    CameraMaxBytes,
    /// Older than the total `max_age`.
    TotalMaxAge,
    /// All segments held more than the total `max_bytes`.
    TotalMaxBytes,
    /// A clip older than the clips' `max_age`.
    ClipMaxAge,
    /// Clips held more than their `max_bytes`.
    ClipMaxBytes,
    /// The volume had less free space than `min_free_bytes`.
    MinFree,
}

impl DeleteReason {
    /// Lowercase name for logs, metrics and `camrec prune`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::CameraMaxAge => "camera_max_age",
            DeleteReason::CameraMaxBytes => "camera_max_bytes",
            DeleteReason::TotalMaxAge => "total_max_age",
            DeleteReason::TotalMaxBytes => "total_max_bytes",
            DeleteReason::ClipMaxAge => "clips_max_age",
            DeleteReason::ClipMaxBytes => "clips_max_bytes",
            DeleteReason::MinFree => "min_free",
        }
    }
}

/// One file the plan deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deletion {
    /// Where it is in the account.
    pub key: FileKey,
    /// The file.
    pub file: StoredFile,
    /// The first rule that chose it.
    pub reason: DeleteReason,
    /// Chosen by the free-space floor although younger than the age
    /// limit that applies to it: the disk is too small for the policy.
    pub before_max_age: bool,
}

/// What to delete now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Files to delete, oldest first.
    pub deletions: Vec<Deletion>,
    /// Bytes the free-space floor still lacks after every deletion: the
    /// folder has nothing more retention may delete (everything left is
    /// pinned or open), so something else fills the volume.
    pub floor_short_bytes: u64,
}

impl Plan {
    /// Bytes the plan frees.
    pub fn bytes(&self) -> u64 {
        self.deletions.iter().map(|d| d.file.bytes).sum()
    }
}

/// The files `policy` deletes from `account` at `now`, with `free_bytes`
/// free on the volume (`None`: unknown, the floor is not applied).
///
/// Rules, each oldest first, skipping pinned files: each camera's age
/// then size limit, the total age then size limit over all segments, the
/// clips' age then size limit, then the free-space floor (segments of any
/// camera oldest first, then clips). A file counts once, under the first
/// rule that chose it.
pub fn plan(
    account: &Account,
    policy: &RetentionPolicy,
    now: WallTime,
    free_bytes: Option<u64>,
) -> Plan {
    let mut p = Planner {
        account,
        chosen: HashSet::new(),
        out: Vec::new(),
        camera_bytes: HashMap::new(),
        segment_bytes: account.segments.bytes,
        clip_bytes: account.clips.bytes,
        freed: 0,
    };
    for (camera, group) in &account.cameras {
        let limits = policy.camera_limits(camera);
        p.age(group, limits, now, DeleteReason::CameraMaxAge);
        if let Some(max) = limits.max_bytes {
            p.bytes(group, max, DeleteReason::CameraMaxBytes, |p| {
                p.camera_bytes
                    .get(camera.as_str())
                    .copied()
                    .unwrap_or(group.bytes)
            });
        }
    }
    p.age(
        &account.segments,
        policy.total,
        now,
        DeleteReason::TotalMaxAge,
    );
    if let Some(max) = policy.total.max_bytes {
        p.bytes(&account.segments, max, DeleteReason::TotalMaxBytes, |p| {
            p.segment_bytes
        });
    }
    p.age(&account.clips, policy.clips, now, DeleteReason::ClipMaxAge);
    if let Some(max) = policy.clips.max_bytes {
        p.bytes(&account.clips, max, DeleteReason::ClipMaxBytes, |p| {
            p.clip_bytes
        });
    }
    let mut floor_short_bytes = 0;
    if let (Some(floor), Some(free)) = (policy.min_free_bytes, free_bytes) {
        let mut lacking = floor.saturating_sub(free.saturating_add(p.freed));
        for group in [&account.segments, &account.clips] {
            for key in &group.keys {
                if lacking == 0 {
                    break;
                }
                if let Some(f) = p.candidate(key) {
                    let young = f.kind == FileKind::Segment
                        && policy
                            .age_limit_for(&f.camera)
                            .is_some_and(|age| f.end > before(now, age));
                    lacking = lacking.saturating_sub(p.choose(key, DeleteReason::MinFree, young));
                }
            }
        }
        floor_short_bytes = lacking;
    }
    let mut deletions = p.out;
    deletions.sort_by_key(|d| d.key);
    Plan {
        deletions,
        floor_short_bytes,
    }
}

/// `now - age`, saturating.
fn before(now: WallTime, age: Duration) -> WallTime {
    now.add_ns(-i128::try_from(age.as_nanos()).unwrap_or(i128::MAX))
}

struct Planner<'a> {
    account: &'a Account,
    chosen: HashSet<FileKey>,
    out: Vec<Deletion>,
    /// Bytes each camera keeps after the deletions so far (absent: all).
    camera_bytes: HashMap<&'a str, u64>,
    segment_bytes: u64,
    clip_bytes: u64,
    freed: u64,
}

impl<'a> Planner<'a> {
    /// The file at `key` if it may still be chosen.
    fn candidate(&self, key: &FileKey) -> Option<&'a StoredFile> {
        let f = self.account.get(key)?;
        (!f.pinned && !self.chosen.contains(key)).then_some(f)
    }

    /// Chooses the file at `key`, and a segment's thumbnails with it;
    /// returns the bytes they free.
    fn choose(&mut self, key: &FileKey, reason: DeleteReason, before_max_age: bool) -> u64 {
        let Some(f) = self.account.get(key) else {
            return 0;
        };
        self.chosen.insert(*key);
        self.freed += f.bytes;
        match f.kind {
            FileKind::Segment => {
                let group = self.account.cameras.get(&f.camera).map_or(0, |g| g.bytes);
                let kept = self.camera_bytes.entry(f.camera.as_str()).or_insert(group);
                *kept = kept.saturating_sub(f.bytes);
                self.segment_bytes = self.segment_bytes.saturating_sub(f.bytes);
            }
            FileKind::Clip => self.clip_bytes = self.clip_bytes.saturating_sub(f.bytes),
        }
        self.out.push(Deletion {
            key: *key,
            file: f.clone(),
            reason,
            before_max_age,
        });
        let mut freed = f.bytes;
        if f.kind == FileKind::Segment && !f.is_thumbnail() {
            for t in self.thumbnails_of(key, f) {
                freed += self.choose(&t, reason, before_max_age);
            }
        }
        freed
    }

    /// The thumbnails still to choose that were taken during the segment
    /// at `key`: its camera's, from its start to its end or to the next
    /// segment (a scanned segment's end may be 24 h late, see
    /// [`scan`](super::scan())). Without the segment they show a recording
    /// that is gone, and a size limit met just after the segment would
    /// otherwise keep them until the camera's next deletion.
    fn thumbnails_of(&self, key: &FileKey, seg: &StoredFile) -> Vec<FileKey> {
        let Some(group) = self.account.cameras.get(&seg.camera) else {
            return Vec::new();
        };
        let from = FileKey {
            start: seg.start,
            seq: 0,
        };
        let mut out = Vec::new();
        for k in group.keys.range(from..) {
            let Some(f) = self.account.get(k) else {
                continue;
            };
            if k == key {
                continue;
            }
            if f.start >= seg.end || (!f.is_thumbnail() && f.start > seg.start) {
                break;
            }
            if f.is_thumbnail() && self.candidate(k).is_some() {
                out.push(*k);
            }
        }
        out
    }

    /// Chooses the group's files that ended before `now - max_age`, from
    /// the oldest, stopping at the first kept one.
    fn age(&mut self, group: &'a Group, limits: Limits, now: WallTime, reason: DeleteReason) {
        let Some(age) = limits.max_age else {
            return;
        };
        let cutoff = before(now, age);
        for key in &group.keys {
            let Some(f) = self.account.get(key) else {
                continue;
            };
            if f.end >= cutoff {
                break;
            }
            if self.candidate(key).is_some() {
                self.choose(key, reason, false);
            }
        }
    }

    /// Chooses the group's oldest files while `kept(self)` exceeds `max`.
    fn bytes(
        &mut self,
        group: &'a Group,
        max: u64,
        reason: DeleteReason,
        kept: impl Fn(&Self) -> u64,
    ) {
        for key in &group.keys {
            if kept(self) <= max {
                break;
            }
            if self.candidate(key).is_some() {
                self.choose(key, reason, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::account::tests::file;

    const DAY: u64 = 86_400;

    fn secs(s: i64) -> WallTime {
        WallTime(s * 1_000_000_000)
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.deletions.iter().map(|d| d.file.name.as_str()).collect()
    }

    /// Two cameras, a segment every 10 s from t = 0, 100 bytes each.
    fn two_cameras(n: i64) -> Account {
        let mut a = Account::new();
        for i in 0..n {
            for cam in ["a", "b"] {
                a.insert(file(
                    &format!("{cam}/{i:03}.mp4"),
                    cam,
                    FileKind::Segment,
                    i * 10,
                    100,
                ));
            }
        }
        a
    }

    #[test]
    fn nothing_to_do_without_limits() {
        let a = two_cameras(10);
        let p = plan(&a, &RetentionPolicy::new(), secs(1_000_000), Some(0));
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn per_camera_bytes_delete_that_cameras_oldest_first() {
        let a = two_cameras(10);
        let policy = RetentionPolicy::new().with_camera("a", Limits::none().with_max_bytes(750));
        let p = plan(&a, &policy, secs(100), None);
        assert_eq!(names(&p), ["a/000.mp4", "a/001.mp4", "a/002.mp4"]);
        assert!(p
            .deletions
            .iter()
            .all(|d| d.reason == DeleteReason::CameraMaxBytes));
        assert_eq!(p.bytes(), 300);
    }

    #[test]
    fn a_segments_thumbnails_go_with_it() {
        // Segments of 100 bytes at 0, 10 and 20 s (5 s long), thumbnails
        // of 10 bytes taken during them; the one at 10 s arrived before
        // its segment (a thumbnail is stored while the segment records).
        let mut a = Account::new();
        let seg = |a: &mut Account, name: &str, start: i64| {
            a.insert(file(name, "a", FileKind::Segment, start, 100));
        };
        let thumb = |a: &mut Account, name: &str, start: i64| {
            let mut f = file(name, "a", FileKind::Segment, start, 10);
            f.end = f.start;
            a.insert(f)
        };
        seg(&mut a, "a/000.mp4", 0);
        thumb(&mut a, "t/a/001.jpg", 1);
        let pinned = thumb(&mut a, "t/a/003.jpg", 3);
        a.set_pinned(&pinned, true);
        thumb(&mut a, "t/a/010.jpg", 10);
        seg(&mut a, "a/010.mp4", 10);
        thumb(&mut a, "t/a/011.keyframe.mp4", 11);
        seg(&mut a, "a/020.mp4", 20);
        thumb(&mut a, "t/a/021.jpg", 21);
        assert_eq!(a.camera_usage("a").bytes, 350);
        // The limit is met by the first segment alone: its thumbnail
        // goes anyway (not the pinned one, nor the next segment's).
        let per_camera =
            |max| RetentionPolicy::new().with_per_camera(Limits::none().with_max_bytes(max));
        let p = plan(&a, &per_camera(250), secs(100), None);
        assert_eq!(names(&p), ["a/000.mp4", "t/a/001.jpg"]);
        assert!(p
            .deletions
            .iter()
            .all(|d| d.reason == DeleteReason::CameraMaxBytes));
        let p = plan(&a, &per_camera(130), secs(100), None);
        assert_eq!(
            names(&p),
            [
                "a/000.mp4",
                "t/a/001.jpg",
                "t/a/010.jpg",
                "a/010.mp4",
                "t/a/011.keyframe.mp4"
            ]
        );
        // The floor counts what the thumbnails free.
        let floor = RetentionPolicy::new().with_min_free_bytes(1000);
        let p = plan(&a, &floor, secs(100), Some(895));
        assert_eq!(names(&p), ["a/000.mp4", "t/a/001.jpg"]);
        assert_eq!(p.floor_short_bytes, 0);
    }

    #[test]
    fn total_bytes_take_the_oldest_of_any_camera() {
        let mut a = two_cameras(5);
        // Camera c has only new files: the total limit must not touch it
        // before older files of a and b.
        a.insert(file("c/x.mp4", "c", FileKind::Segment, 1000, 100));
        let policy = RetentionPolicy::new().with_total(Limits::none().with_max_bytes(700));
        let p = plan(&a, &policy, secs(2000), None);
        // 1100 bytes: four files go, the two of t=0 then the two of t=10.
        assert_eq!(
            names(&p),
            ["a/000.mp4", "b/000.mp4", "a/001.mp4", "b/001.mp4"]
        );
        // Per-camera and total together: a file counts once.
        let policy = policy.with_per_camera(Limits::none().with_max_bytes(400));
        let p = plan(&a, &policy, secs(2000), None);
        assert_eq!(
            names(&p),
            ["a/000.mp4", "b/000.mp4", "a/001.mp4", "b/001.mp4"]
        );
        assert_eq!(p.deletions[0].reason, DeleteReason::CameraMaxBytes);
        assert_eq!(p.deletions[2].reason, DeleteReason::TotalMaxBytes);
    }

    #[test]
    fn age_uses_the_end_and_stops_at_the_first_kept_file() {
        let a = two_cameras(10);
        // Files end 5 s after they start; at t = 100 with max_age 60 s,
        // files ending before 40 go: starts 0, 10, 20, 30 (end 35).
        let policy = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(Duration::from_secs(60)));
        let p = plan(&a, &policy, secs(100), None);
        assert_eq!(p.deletions.len(), 8);
        assert!(p.deletions.iter().all(|d| d.file.start <= secs(30)));
        let policy = RetentionPolicy::new()
            .with_camera("b", Limits::none().with_max_age(Duration::from_secs(60)));
        assert_eq!(plan(&a, &policy, secs(100), None).deletions.len(), 4);
        let policy =
            RetentionPolicy::new().with_total(Limits::none().with_max_age(Duration::from_secs(60)));
        let p = plan(&a, &policy, secs(100), None);
        assert_eq!(p.deletions.len(), 8);
        assert!(p
            .deletions
            .iter()
            .all(|d| d.reason == DeleteReason::TotalMaxAge));
    }

    #[test]
    fn pinned_files_are_never_chosen_and_clips_have_their_own_rule() {
        let mut a = two_cameras(3);
        let pinned_seg = a.key_of("a/000.mp4").unwrap();
        a.set_pinned(&pinned_seg, true);
        let mut pinned_clip = file("clips/a/old.mp4", "a", FileKind::Clip, -100, 1000);
        pinned_clip.pinned = true;
        a.insert(pinned_clip);
        a.insert(file("clips/a/older.mp4", "a", FileKind::Clip, -200, 1000));
        a.insert(file("clips/b/new.mp4", "b", FileKind::Clip, 50, 1000));
        // Every limit at zero: everything unpinned goes, pins stay.
        let zero = Limits::none()
            .with_max_bytes(0)
            .with_max_age(Duration::ZERO);
        let policy = RetentionPolicy::new()
            .with_per_camera(zero)
            .with_total(zero)
            .with_clips(zero)
            .with_min_free_bytes(u64::MAX);
        let p = plan(&a, &policy, secs(10 * DAY as i64), Some(0));
        let got = names(&p);
        assert!(!got.contains(&"a/000.mp4") && !got.contains(&"clips/a/old.mp4"));
        assert_eq!(got.len(), 5 + 2);
        assert!(
            p.floor_short_bytes > 0,
            "only pins left: the floor is unreachable"
        );
        // Segment limits never delete clips.
        let policy = RetentionPolicy::new()
            .with_per_camera(zero)
            .with_total(zero);
        assert!(plan(&a, &policy, secs(1000), None)
            .deletions
            .iter()
            .all(|d| d.file.kind == FileKind::Segment));
        // The clips' size limit takes the oldest unpinned clip.
        let policy = RetentionPolicy::new().with_clips(Limits::none().with_max_bytes(2000));
        assert_eq!(
            names(&plan(&a, &policy, secs(1000), None)),
            ["clips/a/older.mp4"]
        );
    }

    #[test]
    fn free_space_floor_deletes_oldest_segments_first_then_clips() {
        let mut a = two_cameras(5);
        a.insert(file("clips/a/c.mp4", "a", FileKind::Clip, -50, 100));
        let policy = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(Duration::from_secs(30 * DAY)))
            .with_min_free_bytes(1000);
        // 750 free: 250 lacking = three files of 100.
        let p = plan(&a, &policy, secs(100), Some(750));
        assert_eq!(names(&p), ["a/000.mp4", "b/000.mp4", "a/001.mp4"]);
        assert!(p
            .deletions
            .iter()
            .all(|d| d.reason == DeleteReason::MinFree));
        // They were younger than 30 days: the disk is too small.
        assert!(p.deletions.iter().all(|d| d.before_max_age));
        assert_eq!(p.floor_short_bytes, 0);
        // Enough free: nothing.
        assert!(plan(&a, &policy, secs(100), Some(1000))
            .deletions
            .is_empty());
        // Unknown free space: the floor is not applied.
        assert!(plan(&a, &policy, secs(100), None).deletions.is_empty());
        // Segments exhausted: clips next, then short.
        let policy2 = policy.clone().with_min_free_bytes(1050);
        let p = plan(&a, &policy2, secs(100), Some(0));
        assert_eq!(p.deletions.len(), 11);
        assert_eq!(p.deletions[0].file.name, "clips/a/c.mp4");
        assert_eq!(p.floor_short_bytes, 0);
        let policy2 = policy.clone().with_min_free_bytes(2000);
        assert_eq!(
            plan(&a, &policy2, secs(100), Some(0)).floor_short_bytes,
            900
        );
        // What other rules free counts toward the floor.
        let policy = policy.with_total(Limits::none().with_max_bytes(800));
        let p = plan(&a, &policy, secs(100), Some(900));
        assert_eq!(names(&p), ["a/000.mp4", "b/000.mp4"]);
        assert!(p
            .deletions
            .iter()
            .all(|d| d.reason == DeleteReason::TotalMaxBytes));
        // No age limit: floor deletions are the policy, not a warning.
        let policy = RetentionPolicy::new().with_min_free_bytes(1000);
        assert!(plan(&a, &policy, secs(100), Some(750))
            .deletions
            .iter()
            .all(|d| !d.before_max_age));
    }

    #[test]
    fn floor_short_when_nothing_is_left() {
        let mut a = Account::new();
        a.insert(file("a/1.mp4", "a", FileKind::Segment, 0, 100));
        let policy = RetentionPolicy::new().with_min_free_bytes(1000);
        let p = plan(&a, &policy, secs(10), Some(500));
        assert_eq!(names(&p), ["a/1.mp4"]);
        assert_eq!(p.floor_short_bytes, 400);
    }
}
