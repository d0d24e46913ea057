//! The one walk of the folder that builds an [`Account`] at start-up.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::account::{classify, Account, NameClass, NameTemplates, StoredFile};
use super::RetentionError;
use crate::sink::fs::{files_under, walk_io_error};
use crate::time::WallTime;

/// The longest a segment can last (the muxer's limit is 24 h): a file's
/// mtime later than this after its named start is not its end.
const MAX_SPAN_NS: i128 = 24 * 3600 * 1_000_000_000;

/// What the start-up walk found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Finished files accounted for (segments and clips).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of them, pinned.
    pub pinned: u64,
    /// Open segments (`.part`): left alone.
    pub open: u64,
    /// `.mp4` files neither template names (never deleted).
    pub unrecognized: u64,
    /// Entries that could not be read (skipped), up to 10 described.
    pub errors: Vec<String>,
    /// How long the walk took.
    pub elapsed: Duration,
}

/// Walks `root` once and accounts for every finished segment, thumbnail
/// and clip, as `templates` name them.
///
/// A file's start is read from its name (the template's date and time
/// placeholders, or `{unix}`), its end is its modification time (when its
/// last fragment was written) kept between the start and 24 h after it (a
/// copied or restored archive has fresh modification times); a name
/// without a time uses the modification time for both. A missing or unreadable `root` is an error;
/// an unreadable entry below it is skipped and reported.
pub fn scan(
    root: &Path,
    templates: &NameTemplates,
) -> Result<(Account, ScanReport), RetentionError> {
    let t0 = Instant::now();
    let mut account = Account::new();
    let mut report = ScanReport::default();
    let mut pins: HashSet<String> = HashSet::new();
    let note = |report: &mut ScanReport, what: String| {
        if report.errors.len() < 10 {
            report.errors.push(what);
        }
    };
    for entry in files_under(root) {
        let path = match entry {
            Ok(p) => p,
            Err(e) if e.depth() == 0 => {
                return Err(RetentionError::Walk {
                    path: root.to_owned(),
                    source: walk_io_error(e),
                })
            }
            Err(e) => {
                note(&mut report, e.to_string());
                continue;
            }
        };
        let Some(name) = relative_name(root, &path) else {
            continue;
        };
        match classify(templates, &name) {
            NameClass::Open => report.open += 1,
            NameClass::Pin(target) => {
                pins.insert(target);
            }
            NameClass::Other => {
                if name.ends_with(".mp4") {
                    report.unrecognized += 1;
                }
            }
            NameClass::File {
                kind,
                camera,
                start,
            } => {
                let meta = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        note(&mut report, format!("{}: {e}", path.display()));
                        continue;
                    }
                };
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| WallTime(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)));
                let (start, end) = match (start, mtime) {
                    // A copied archive has fresh mtimes: never trust one
                    // beyond the longest segment after the named start.
                    (Some(s), Some(m)) => (s, m.clamp(s, s.add_ns(MAX_SPAN_NS))),
                    (Some(s), None) => (s, s),
                    (None, Some(m)) => (m, m),
                    (None, None) => (WallTime::default(), WallTime::default()),
                };
                account.insert(StoredFile {
                    name,
                    camera,
                    kind,
                    start,
                    end,
                    bytes: meta.len(),
                    pinned: false,
                });
            }
        }
    }
    for target in &pins {
        if let Some(k) = account.key_of(target) {
            account.set_pinned(&k, true);
            report.pinned += 1;
        }
    }
    report.files = account.len() as u64;
    report.bytes = account.segment_bytes() + account.clip_bytes();
    report.elapsed = t0.elapsed();
    Ok((account, report))
}

/// `path` below `root` as a `/`-separated name (None for a name that is
/// not valid UTF-8: the sink never writes one).
pub(crate) fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::account::FileKind;
    use crate::sink::ObjectNameTemplate;
    use std::fs;

    #[test]
    fn walk_accounts_for_segments_clips_and_pins_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = NameTemplates::from(ObjectNameTemplate::default());
        let write = |name: &str, len: usize| {
            let p = root.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, vec![0u8; len]).unwrap();
        };
        write("porch/20240101/120000_porch.mp4", 100);
        write("porch/20240101/120005_porch.mp4", 50);
        write("porch/20240101/120010_porch.mp4.part", 999);
        write("garage/20240102/000000_garage-1.mp4", 10);
        write("clips/porch/20240101/115959_porch.mp4", 7);
        write("clips/porch/20240101/115959_porch.mp4.pin", 0);
        write("holiday.mp4", 5);
        write(".camrec.lock", 1);
        let (a, r) = scan(root, &t).unwrap();
        assert_eq!(
            (r.files, r.bytes, r.pinned, r.open, r.unrecognized),
            (4, 167, 1, 1, 1)
        );
        assert_eq!(a.camera_usage("porch").bytes, 150);
        assert_eq!(a.camera_usage("garage").files, 1);
        assert_eq!(a.clip_bytes(), 7);
        let oldest = a.iter().next().unwrap().1;
        assert_eq!(oldest.kind, FileKind::Clip);
        assert!(oldest.pinned);
        assert_eq!(
            a.camera_usage("porch").oldest,
            Some(WallTime(1_704_110_400 * 1_000_000_000))
        );
        // Fresh mtimes (this test wrote the files now) do not make 2024
        // files young: the end stays within 24 h of the named start.
        let porch = a
            .iter()
            .find(|(_, f)| f.name.starts_with("porch/"))
            .unwrap()
            .1;
        assert_eq!(porch.end, porch.start.add_ns(24 * 3600 * 1_000_000_000));
        // A missing folder is an error that names it.
        let e = scan(&root.join("nope"), &t).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
