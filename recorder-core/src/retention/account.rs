//! The in-memory account of what a folder holds: every finished file with
//! its camera, kind, wall-clock span, size and pin, ordered oldest first.
//!
//! Built once from a walk of the folder ([`scan`](super::scan)) and kept
//! current from the recorder's [`SegmentStored`] events and retention's
//! own deletions, so a retention pass never lists the folder. No I/O here.
//!
//! [`SegmentStored`]: crate::RecorderEvent::SegmentStored

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::recorder::SegmentRecord;
use crate::sink::{sanitize_camera_id, NameFields, ObjectNameTemplate};
use crate::thumbnail::KEYFRAME_MP4_SUFFIX;
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
    /// A continuous-recording segment (named by the segment template), or
    /// a thumbnail beside the segments (named by the thumbnail template;
    /// see [`NameTemplates`]).
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
    /// Whether this is a thumbnail beside the segments (a segment file
    /// named `.jpg` or `.keyframe.mp4`, see [`NameTemplates`]) rather
    /// than a recording.
    pub fn is_thumbnail(&self) -> bool {
        self.kind == FileKind::Segment
            && (self.name.ends_with(".jpg") || self.name.ends_with(KEYFRAME_MP4_SUFFIX))
    }

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

/// The names retention reads in a folder: the segment template, and the
/// thumbnail template the thumbnails beside the segments are named by.
///
/// Made from a segment template alone (`From<ObjectNameTemplate>`), the
/// thumbnails are taken to be named like the segments with `.jpg` (which
/// is [`DEFAULT_THUMBNAIL_TEMPLATE`] for the default segment template); a
/// host that configures another thumbnail template passes it with
/// [`NameTemplates::with_thumbnails`], or its thumbnails are never
/// counted nor deleted.
///
/// ```
/// use recorder_core::retention::NameTemplates;
/// use recorder_core::ObjectNameTemplate;
///
/// let names = NameTemplates::new(ObjectNameTemplate::default())
///     .with_thumbnails(ObjectNameTemplate::parse("thumbs/{camera}/{unix}.jpg")?);
/// assert_eq!(names.thumbnails().unwrap().as_str(), "thumbs/{camera}/{unix}.jpg");
/// # Ok::<(), recorder_core::sink::TemplateError>(())
/// ```
///
/// [`DEFAULT_THUMBNAIL_TEMPLATE`]: crate::thumbnail::DEFAULT_THUMBNAIL_TEMPLATE
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTemplates {
    segments: ObjectNameTemplate,
    /// `None`: the segment template with `.jpg` for `.mp4`.
    thumbnails: Option<ObjectNameTemplate>,
}

impl NameTemplates {
    /// Segments named by `segments`, thumbnails by the same names with
    /// `.jpg` (or `.keyframe.mp4`).
    pub fn new(segments: ObjectNameTemplate) -> Self {
        NameTemplates {
            segments,
            thumbnails: None,
        }
    }

    /// Thumbnails named by `thumbnails` (a `.jpg` template, as
    /// [`ThumbnailConfig::template`](crate::thumbnail::ThumbnailConfig::template));
    /// an H.265 thumbnail is its name with `.keyframe.mp4` for `.jpg`.
    pub fn with_thumbnails(mut self, thumbnails: ObjectNameTemplate) -> Self {
        self.thumbnails = Some(thumbnails);
        self
    }

    /// The segment template.
    pub fn segments(&self) -> &ObjectNameTemplate {
        &self.segments
    }

    /// The thumbnail template, when one was given.
    pub fn thumbnails(&self) -> Option<&ObjectNameTemplate> {
        self.thumbnails.as_ref()
    }

    /// The fields of a thumbnail's name, given as its `.jpg` form.
    fn match_thumbnail(&self, jpg: &str) -> Option<NameFields> {
        match &self.thumbnails {
            Some(t) => t.match_name(jpg),
            None => {
                let stem = jpg.strip_suffix(".jpg")?;
                self.segments.match_name(&format!("{stem}.mp4"))
            }
        }
    }
}

impl From<ObjectNameTemplate> for NameTemplates {
    fn from(segments: ObjectNameTemplate) -> Self {
        NameTemplates::new(segments)
    }
}

/// Classifies a relative, `/`-separated name under the folder.
///
/// Clips are `.mp4` files under `clips/`: their camera and start come from
/// the segment template applied to the rest of the name, else the camera
/// is the first folder below `clips/`. Segments are names the segment
/// template matches ([`ObjectNameTemplate::match_name`]); a `.mp4` it does
/// not match (an older template, another program's file) is not
/// retention's to delete. Thumbnails are `.jpg` (or `.keyframe.mp4`)
/// names outside `clips/` the thumbnail template matches; they are their
/// camera's segment files (a clip's own thumbnail goes with the clip).
pub fn classify(templates: &NameTemplates, name: &str) -> NameClass {
    if name.ends_with(PART_SUFFIX) {
        return NameClass::Open;
    }
    if let Some(target) = name.strip_suffix(PIN_SUFFIX) {
        return NameClass::Pin(target.to_owned());
    }
    let template = &templates.segments;
    // Thumbnails of a camera's recordings age and count with that
    // camera's segments: oldest go first either way, and a size limit
    // covers everything the camera stored.
    let thumbnail_jpg = match name.strip_suffix(KEYFRAME_MP4_SUFFIX) {
        Some(stem) => Some(Cow::Owned(format!("{stem}.jpg"))),
        None => name.ends_with(".jpg").then_some(Cow::Borrowed(name)),
    };
    if let Some(jpg) = thumbnail_jpg {
        if name
            .strip_prefix(CLIPS_DIR)
            .is_some_and(|r| r.starts_with('/'))
        {
            return NameClass::Other;
        }
        return match templates.match_thumbnail(&jpg) {
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
    pub(crate) seq: u64,
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
    /// `templates` name files in. Returns its key, or `None` when the
    /// record is not a finished local file (an S3 upload).
    pub fn record_stored(
        &mut self,
        templates: &NameTemplates,
        rec: &SegmentRecord,
    ) -> Option<FileKey> {
        if rec.upload_pending || rec.location.starts_with("s3://") {
            return None;
        }
        let (kind, camera) = match classify(templates, &rec.name) {
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
    /// not one retention reads (not named by the thumbnail template).
    pub fn record_thumbnail(
        &mut self,
        templates: &NameTemplates,
        name: &str,
        wall: WallTime,
        bytes: u64,
    ) -> Option<FileKey> {
        let NameClass::File { kind, camera, .. } = classify(templates, name) else {
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

    /// The newest segment of each camera and its newest thumbnail when
    /// that is newer (for the folders retention must not remove while the sink or the
    /// thumbnail writer may be creating a file in them: under another
    /// thumbnail template they are not the segments' folders).
    pub(crate) fn newest_per_camera(&self) -> impl Iterator<Item = &StoredFile> {
        self.cameras.values().flat_map(|g| {
            let mut newest = Vec::new();
            // Bounded: a group of thumbnails only (a thumbnail template
            // without `{camera}`) must not cost a walk per pass.
            for f in g
                .keys
                .iter()
                .rev()
                .take(64)
                .filter_map(|k| self.files.get(k))
            {
                if !f.is_thumbnail() {
                    newest.push(f);
                    break;
                }
                if newest.is_empty() {
                    newest.push(f);
                }
            }
            newest
        })
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
        let t = NameTemplates::from(ObjectNameTemplate::default());
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
        let t = NameTemplates::from(ObjectNameTemplate::default());
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

    /// What `classify` says of a segment file (or thumbnail) of `camera`
    /// named with `start` seconds.
    fn segment_of(camera: &str, start: i64) -> NameClass {
        NameClass::File {
            kind: FileKind::Segment,
            camera: camera.into(),
            start: Some(WallTime(start * 1_000_000_000)),
        }
    }

    fn custom_thumbnails() -> NameTemplates {
        NameTemplates::new(ObjectNameTemplate::default()).with_thumbnails(
            ObjectNameTemplate::parse("thumbs/{camera}/{YYYYMMDD}-{HHMMSS}.jpg").unwrap(),
        )
    }

    #[test]
    fn a_custom_thumbnail_template_names_the_thumbnails() {
        let t = custom_thumbnails();
        let porch = segment_of("porch", 1_704_110_401);
        for thumb in [
            "thumbs/porch/20240101-120001.jpg",
            "thumbs/porch/20240101-120001.keyframe.mp4",
            // The collision suffix, as for segments.
            "thumbs/porch/20240101-120001-1.jpg",
        ] {
            assert_eq!(classify(&t, thumb), porch, "{thumb}");
        }
        // Segments are still read by the segment template.
        assert_eq!(
            classify(&t, "porch/20240101/120000_porch.mp4"),
            segment_of("porch", 1_704_110_400)
        );
        // Names neither template reads are not retention's: the default
        // thumbnail names too, once another thumbnail template is given.
        for other in [
            "porch/20240101/120000_porch.jpg",
            "porch/20240101/120000_porch.keyframe.mp4",
            "thumbs/porch/latest.jpg",
            "thumbs/porch/20240101-120001.png",
            "thumbs/porch/20241301-120001.jpg",
            "clips/thumbs/porch/20240101-120001.jpg",
        ] {
            assert_eq!(classify(&t, other), NameClass::Other, "{other}");
        }
        // A thumbnail template without the camera: the thumbnails are
        // nobody's camera's (a group of their own).
        let no_camera = NameTemplates::new(ObjectNameTemplate::default())
            .with_thumbnails(ObjectNameTemplate::parse("thumbs/{unix}.jpg").unwrap());
        assert_eq!(
            classify(&no_camera, "thumbs/1704110401.jpg"),
            segment_of("", 1_704_110_401)
        );
    }

    #[test]
    fn custom_thumbnails_are_accounted_and_planned_with_their_segments() {
        use crate::retention::{plan, Limits, RetentionPolicy};
        let t = custom_thumbnails();
        let s = |x: i64| WallTime(x * 1_000_000_000);
        let base = 1_704_110_400;
        let mut a = Account::new();
        // Three 60 s segments of 1000 bytes, a 100-byte thumbnail 1 s into
        // each (a JPEG, then H.265 one-frame MP4s).
        let mut thumbs = Vec::new();
        for i in 0..3 {
            let start = base + 60 * i;
            let seg = t.segments().render("porch", s(start), 0);
            assert!(a
                .record_stored(
                    &t,
                    &crate::recorder::SegmentRecord {
                        segment_index: None,
                        camera: "porch".into(),
                        index: i as u64,
                        name: seg.clone(),
                        location: seg,
                        upload_pending: false,
                        wall_start: s(start),
                        wall_end: s(start + 60),
                        duration: std::time::Duration::from_secs(60),
                        bytes: 1000,
                        fragments: 60,
                        video_frames: None,
                        codecs: vec!["h264"],
                        resolution: None,
                        reason: None,
                    },
                )
                .is_some());
            let jpg = t.thumbnails().unwrap().render("porch", s(start + 1), 0);
            let name = if i == 0 {
                jpg
            } else {
                jpg.replace(".jpg", KEYFRAME_MP4_SUFFIX)
            };
            let k = a.record_thumbnail(&t, &name, s(start + 1), 100).unwrap();
            assert_eq!(a.get(&k).unwrap().camera, "porch");
            thumbs.push(name);
        }
        assert!(a
            .record_thumbnail(&t, "porch/20240101/120001_porch.jpg", s(base + 1), 100)
            .is_none());
        assert_eq!(a.camera_usage("porch").files, 6);
        assert_eq!(a.camera_usage("porch").bytes, 3300);
        // Keeping 1100 bytes keeps the newest segment and its thumbnail;
        // each older segment goes with its thumbnail.
        let policy = RetentionPolicy::new().with_per_camera(Limits::none().with_max_bytes(1100));
        let p = plan(&a, &policy, s(base + 1000), None);
        let names: Vec<&str> = p.deletions.iter().map(|d| d.file.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "porch/20240101/120000_porch.mp4",
                thumbs[0].as_str(),
                "porch/20240101/120100_porch.mp4",
                thumbs[1].as_str(),
            ]
        );
        // An age limit takes the thumbnails of the expired segments too.
        let policy = RetentionPolicy::new()
            .with_per_camera(Limits::none().with_max_age(std::time::Duration::from_secs(100)));
        let p = plan(&a, &policy, s(base + 230), None);
        assert_eq!(p.deletions.len(), 4, "{p:?}");
        assert!(p.deletions.iter().all(|d| d.file.start < s(base + 120)));
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
