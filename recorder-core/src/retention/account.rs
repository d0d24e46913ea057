//! The in-memory account of what a folder holds: every finished file with
//! its camera, kind, wall-clock span, size and pin, ordered oldest first.
//!
//! Built once from a walk of the folder ([`scan`](super::scan)) and kept
//! current from the recorder's [`SegmentStored`] events and retention's
//! own deletions, so a retention pass never lists the folder. No I/O here.
//!
//! [`SegmentStored`]: crate::RecorderEvent::SegmentStored

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::recorder::SegmentRecord;
use crate::sink::{sanitize_camera_id, ObjectNameTemplate};
use crate::time::WallTime;

/// The folder (first path component) clips are stored under.
pub const CLIPS_DIR: &str = "clips";
/// A file `NAME.pin` beside `NAME` pins it: retention never deletes it.
pub const PIN_SUFFIX: &str = ".pin";
/// Open segments: never in the account, never deleted by retention.
pub const PART_SUFFIX: &str = ".part";

/// Which rules apply to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// A continuous-recording segment (named by the object-name template),
    /// or a thumbnail of one (the same name with `.jpg` or `.keyframe.mp4`).
    Segment,
    /// A clip: a `.mp4` under [`CLIPS_DIR`].
    Clip,
}

/// One finished file in the account.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredFile {
    /// Path relative to the folder, `/`-separated.
    pub name: String,
    /// Camera id as in the name; empty when the name does not say.
    pub camera: String,
    /// Segment or clip.
    pub kind: FileKind,
    /// Wall clock of the first frame (from the name, or the recorder's event).
    pub start: WallTime,
    /// Wall clock of the end (the recorder's event, or the file's mtime).
    pub end: WallTime,
    /// Size in bytes.
    pub bytes: u64,
    /// A `NAME.pin` marker exists: never deleted.
    pub pinned: bool,
}

impl StoredFile {
    /// A file, not pinned (hosts building an [`Account`] themselves).
    pub fn new(
        name: impl Into<String>,
        camera: impl Into<String>,
        kind: FileKind,
        start: WallTime,
        end: WallTime,
        bytes: u64,
    ) -> Self {
        StoredFile {
            name: name.into(),
            camera: camera.into(),
            kind,
            start,
            end,
            bytes,
            pinned: false,
        }
    }
}

/// What a name is, read without touching the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameClass {
    /// A finished file retention accounts for.
    File {
        /// Segment or clip.
        kind: FileKind,
        /// Camera id (empty when the name does not say).
        camera: String,
        /// Start time when the name records it.
        start: Option<WallTime>,
    },
    /// An open segment (`.part`).
    Open,
    /// A pin marker for the file named.
    Pin(String),
    /// Anything else (not ours; never touched).
    Other,
}

/// Classifies a relative, `/`-separated name under the folder.
///
/// Clips are `.mp4` files under `clips/`: their camera and start come from
/// the template applied to the rest of the name, else the camera is the
/// first folder below `clips/`. Segments are names the template matches
/// ([`ObjectNameTemplate::match_name`]); a `.mp4` it does not match (an
/// older template, another program's file) is not retention's to delete.
pub fn classify(template: &ObjectNameTemplate, name: &str) -> NameClass {
    if name.ends_with(PART_SUFFIX) {
        return NameClass::Open;
    }
    if let Some(target) = name.strip_suffix(PIN_SUFFIX) {
        return NameClass::Pin(target.to_owned());
    }
    // Thumbnails of a camera's recordings (the default thumbnail template
    // is the segment template with `.jpg`, or `.keyframe.mp4` for H.265)
    // age and count with that camera's segments: oldest go first either
    // way, and a size limit covers everything the camera stored.
    let thumbnail_stem = name
        .strip_suffix(".keyframe.mp4")
        .or_else(|| name.strip_suffix(".jpg"));
    if let Some(stem) = thumbnail_stem {
        if name
            .strip_prefix(CLIPS_DIR)
            .is_some_and(|r| r.starts_with('/'))
        {
            return NameClass::Other;
        }
        return match template.match_name(&format!("{stem}.mp4")) {
            Some(f) => NameClass::File {
                kind: FileKind::Segment,
                camera: f.camera.unwrap_or_default(),
                start: f.start,
            },
            None => NameClass::Other,
        };
    }
    if !name.ends_with(".mp4") {
        return NameClass::Other;
    }
    if let Some(rest) = name
        .strip_prefix(CLIPS_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        let fields = template.match_name(rest);
        let camera = match fields.as_ref().and_then(|f| f.camera.clone()) {
            Some(c) => c,
            None => match rest.split_once('/') {
                Some((dir, _)) => dir.to_owned(),
                None => String::new(),
            },
        };
        return NameClass::File {
            kind: FileKind::Clip,
            camera,
            start: fields.and_then(|f| f.start),
        };
    }
    match template.match_name(name) {
        Some(f) => NameClass::File {
            kind: FileKind::Segment,
            camera: f.camera.unwrap_or_default(),
            start: f.start,
        },
        None => NameClass::Other,
    }
}

/// Where a file sits in the account's order: by start, then by arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    /// The file's start.
    pub start: WallTime,
    seq: u64,
}

/// Files of one group (a camera's segments, all segments, clips), oldest
/// first, with their bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub keys: BTreeSet<FileKey>,
    pub bytes: u64,
}

impl Group {
    fn add(&mut self, k: FileKey, bytes: u64) {
        if self.keys.insert(k) {
            self.bytes += bytes;
        }
    }
    fn remove(&mut self, k: &FileKey, bytes: u64) {
        if self.keys.remove(k) {
            self.bytes = self.bytes.saturating_sub(bytes);
        }
    }
}

/// What one camera has stored, as the account knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Start of the oldest.
    pub oldest: Option<WallTime>,
}

/// Every finished file of a folder, oldest first: per camera, all segments,
/// and clips. Updates cost O(log n); nothing here grows with a pass.
#[derive(Clone, Debug, Default)]
pub struct Account {
    files: BTreeMap<FileKey, StoredFile>,
    by_name: HashMap<String, FileKey>,
    pub(crate) cameras: BTreeMap<String, Group>,
    pub(crate) segments: Group,
    pub(crate) clips: Group,
    pub(crate) pinned: BTreeSet<FileKey>,
    next_seq: u64,
}

impl Account {
    /// An empty account.
    pub fn new() -> Self {
        Account::default()
    }

    /// Adds `file`, replacing an entry of the same name.
    pub fn insert(&mut self, file: StoredFile) -> FileKey {
        self.remove_name(&file.name);
        let key = FileKey {
            start: file.start,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        match file.kind {
            FileKind::Segment => {
                self.segments.add(key, file.bytes);
                self.cameras
                    .entry(file.camera.clone())
                    .or_default()
                    .add(key, file.bytes);
            }
            FileKind::Clip => self.clips.add(key, file.bytes),
        }
        if file.pinned {
            self.pinned.insert(key);
        }
        self.by_name.insert(file.name.clone(), key);
        self.files.insert(key, file);
        key
    }

    /// Accounts for a segment the recorder stored under the folder
    /// `template` names files in. Returns its key, or `None` when the
    /// record is not a finished local file (an S3 upload).
    pub fn record_stored(
        &mut self,
        template: &ObjectNameTemplate,
        rec: &SegmentRecord,
    ) -> Option<FileKey> {
        if rec.upload_pending || rec.location.starts_with("s3://") {
            return None;
        }
        let (kind, camera) = match classify(template, &rec.name) {
            NameClass::File { kind, camera, .. } => (kind, camera),
            // A name the template does not read back (cannot happen for
            // the sink's own names): keep it under the event's camera so
            // its bytes still count.
            _ => (
                FileKind::Segment,
                sanitize_camera_id(&rec.camera).into_owned(),
            ),
        };
        Some(self.insert(StoredFile {
            name: rec.name.clone(),
            camera,
            kind,
            start: rec.wall_start,
            end: rec.wall_end.max(rec.wall_start),
            bytes: rec.bytes,
            pinned: false,
        }))
    }

    /// Accounts for a thumbnail the recorder stored under the folder, as
    /// one of its camera's files (see [`classify`]). `None` when `name` is
    /// not one retention reads (another thumbnail template).
    pub fn record_thumbnail(
        &mut self,
        template: &ObjectNameTemplate,
        name: &str,
        wall: WallTime,
        bytes: u64,
    ) -> Option<FileKey> {
        let NameClass::File { kind, camera, .. } = classify(template, name) else {
            return None;
        };
        Some(self.insert(StoredFile {
            name: name.to_owned(),
            camera,
            kind,
            start: wall,
            end: wall,
            bytes,
            pinned: false,
        }))
    }

    /// Removes a file; returns it.
    pub fn remove(&mut self, key: &FileKey) -> Option<StoredFile> {
        let file = self.files.remove(key)?;
        self.by_name.remove(&file.name);
        self.pinned.remove(key);
        match file.kind {
            FileKind::Segment => {
                self.segments.remove(key, file.bytes);
                if let Some(g) = self.cameras.get_mut(&file.camera) {
                    g.remove(key, file.bytes);
                    // Cameras stay listed (with zero bytes) so their
                    // metrics do not vanish; see `cameras`.
                }
            }
            FileKind::Clip => self.clips.remove(key, file.bytes),
        }
        Some(file)
    }

    /// Removes the file named `name`, if known.
    pub fn remove_name(&mut self, name: &str) -> Option<StoredFile> {
        let key = *self.by_name.get(name)?;
        self.remove(&key)
    }

    /// Marks a file pinned or not.
    pub fn set_pinned(&mut self, key: &FileKey, pinned: bool) {
        if let Some(f) = self.files.get_mut(key) {
            f.pinned = pinned;
            if pinned {
                self.pinned.insert(*key);
            } else {
                self.pinned.remove(key);
            }
        }
    }

    /// The file at `key`.
    pub fn get(&self, key: &FileKey) -> Option<&StoredFile> {
        self.files.get(key)
    }

    /// The key of the file named `name`.
    pub fn key_of(&self, name: &str) -> Option<FileKey> {
        self.by_name.get(name).copied()
    }

    /// Every file, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&FileKey, &StoredFile)> {
        self.files.iter()
    }

    /// The pinned files.
    pub fn pinned(&self) -> impl Iterator<Item = (&FileKey, &StoredFile)> {
        self.pinned
            .iter()
            .filter_map(|k| Some((k, self.files.get(k)?)))
    }

    /// Files in the account.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether it holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes of all segments.
    pub fn segment_bytes(&self) -> u64 {
        self.segments.bytes
    }

    /// Bytes of all clips.
    pub fn clip_bytes(&self) -> u64 {
        self.clips.bytes
    }

    /// Clips: count, bytes, oldest.
    pub fn clip_usage(&self) -> Usage {
        self.usage(&self.clips)
    }

    /// What `camera`'s segments use.
    pub fn camera_usage(&self, camera: &str) -> Usage {
        self.cameras
            .get(camera)
            .map(|g| self.usage(g))
            .unwrap_or_default()
    }

    /// Every camera ever seen, with what its segments use now.
    pub fn cameras(&self) -> impl Iterator<Item = (&str, Usage)> {
        self.cameras
            .iter()
            .map(|(c, g)| (c.as_str(), self.usage(g)))
    }

    /// The newest segment of each camera (for the folders retention must
    /// not remove while the sink may be creating a file in them).
    pub(crate) fn newest_per_camera(&self) -> impl Iterator<Item = &StoredFile> {
        self.cameras
            .values()
            .filter_map(|g| g.keys.last().and_then(|k| self.files.get(k)))
    }

    fn usage(&self, g: &Group) -> Usage {
        Usage {
            files: g.keys.len() as u64,
            bytes: g.bytes,
            oldest: g.keys.first().map(|k| k.start),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn file(
        name: &str,
        camera: &str,
        kind: FileKind,
        start: i64,
        bytes: u64,
    ) -> StoredFile {
        StoredFile {
            name: name.into(),
            camera: camera.into(),
            kind,
            start: WallTime(start * 1_000_000_000),
            end: WallTime((start + 5) * 1_000_000_000),
            bytes,
            pinned: false,
        }
    }

    #[test]
    fn names_are_classified() {
        let t = ObjectNameTemplate::default();
        assert_eq!(
            classify(&t, "porch/20240101/120000_porch.mp4"),
            NameClass::File {
                kind: FileKind::Segment,
                camera: "porch".into(),
                start: Some(WallTime(1_704_110_400 * 1_000_000_000)),
            }
        );
        assert_eq!(
            classify(&t, "porch/20240101/120000_porch.mp4.part"),
            NameClass::Open
        );
        assert_eq!(
            classify(&t, "clips/porch/20240101/120000_porch.mp4.pin"),
            NameClass::Pin("clips/porch/20240101/120000_porch.mp4".into())
        );
        assert_eq!(
            classify(&t, "clips/porch/20240101/120000_porch.mp4"),
            NameClass::File {
                kind: FileKind::Clip,
                camera: "porch".into(),
                start: Some(WallTime(1_704_110_400 * 1_000_000_000)),
            }
        );
        assert_eq!(
            classify(&t, "clips/garage/doorbell.mp4"),
            NameClass::File {
                kind: FileKind::Clip,
                camera: "garage".into(),
                start: None,
            }
        );
        assert_eq!(classify(&t, ".camrec.lock"), NameClass::Other);
        assert_eq!(classify(&t, "holiday/video.mp4"), NameClass::Other);
        // Thumbnails (JPEG, or H.265's one-frame MP4) are their camera's.
        for thumb in [
            "porch/20240101/120000_porch.jpg",
            "porch/20240101/120000_porch.keyframe.mp4",
        ] {
            assert_eq!(
                classify(&t, thumb),
                NameClass::File {
                    kind: FileKind::Segment,
                    camera: "porch".into(),
                    start: Some(WallTime(1_704_110_400 * 1_000_000_000)),
                },
                "{thumb}"
            );
        }
        assert_eq!(classify(&t, "holiday/beach.jpg"), NameClass::Other);
        assert_eq!(
            classify(&t, "clips/porch/20240101/120000_porch.jpg"),
            NameClass::Other
        );
    }

    #[test]
    fn thumbnails_count_with_their_camera_and_go_oldest_first() {
        let t = ObjectNameTemplate::default();
        let mut a = Account::new();
        let s = |x: i64| WallTime(x * 1_000_000_000);
        a.insert(file(
            "porch/20240101/120000_porch.mp4",
            "porch",
            FileKind::Segment,
            1_704_110_400,
            1000,
        ));
        let k = a
            .record_thumbnail(&t, "porch/20240101/120000_porch.jpg", s(1_704_110_400), 80)
            .unwrap();
        assert_eq!(a.get(&k).unwrap().camera, "porch");
        assert_eq!(a.camera_usage("porch").bytes, 1080);
        assert!(a
            .record_thumbnail(&t, "elsewhere/pic.jpg", s(1), 80)
            .is_none());
    }

    #[test]
    fn totals_follow_inserts_and_removals() {
        let mut a = Account::new();
        let k1 = a.insert(file("a/1.mp4", "a", FileKind::Segment, 10, 100));
        a.insert(file("b/1.mp4", "b", FileKind::Segment, 5, 50));
        a.insert(file("clips/a/1.mp4", "a", FileKind::Clip, 1, 7));
        assert_eq!(a.segment_bytes(), 150);
        assert_eq!(a.clip_bytes(), 7);
        assert_eq!(a.camera_usage("a").bytes, 100);
        assert_eq!(a.camera_usage("b").oldest, Some(WallTime(5_000_000_000)));
        // Same name again replaces, not doubles.
        a.insert(file("a/1.mp4", "a", FileKind::Segment, 10, 120));
        assert_eq!(a.camera_usage("a").bytes, 120);
        assert_eq!(a.len(), 3);
        assert!(a.get(&k1).is_none());
        a.remove_name("a/1.mp4").unwrap();
        assert_eq!(a.camera_usage("a"), Usage::default());
        assert_eq!(a.segment_bytes(), 50);
        // The camera stays listed with nothing stored.
        assert_eq!(a.cameras().count(), 2);
    }
}
