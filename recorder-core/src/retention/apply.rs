//! Carrying out a [`Plan`]: free space of the volume, deletions, emptied
//! folders. The only module of retention that touches the disk after the
//! start-up walk.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::account::{FileKind, PIN_SUFFIX};
use super::plan::{Deletion, Plan};
use super::RetentionError;

/// Bytes an unprivileged writer can still use on the volume of `path`
/// (`statvfs`: available blocks × fragment size).
pub fn free_bytes(path: &Path) -> Result<u64, RetentionError> {
    let st = rustix::fs::statvfs(path).map_err(|e| RetentionError::FreeSpace {
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// What became of one planned deletion.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// Deleted.
    Deleted,
    /// Already gone (deleted by someone else): out of the account too.
    AlreadyGone,
    /// Pinned since the account was built: kept, and marked pinned.
    NowPinned,
    /// Could not be deleted: kept in the account, retried next pass.
    Failed(io::Error),
}

/// Deletes the planned files under `root`, oldest first, and removes the
/// folders they leave empty (never `root`, nor a folder in `keep_dirs`:
/// the folders the sink writes its next segment in).
///
/// Just before each deletion it checks for a pin marker, so a file pinned
/// while recording survives even though the account did not know.
pub fn delete_planned(
    root: &Path,
    plan: &Plan,
    keep_dirs: &HashSet<PathBuf>,
) -> Vec<(Deletion, DeleteOutcome)> {
    let mut out = Vec::with_capacity(plan.deletions.len());
    for d in &plan.deletions {
        let path = path_of(root, &d.file.name);
        let outcome = if exists(&pin_path(&path)) {
            DeleteOutcome::NowPinned
        } else {
            match std::fs::remove_file(&path) {
                Ok(()) => DeleteOutcome::Deleted,
                Err(e) if e.kind() == io::ErrorKind::NotFound => DeleteOutcome::AlreadyGone,
                Err(e) => DeleteOutcome::Failed(e),
            }
        };
        if matches!(outcome, DeleteOutcome::Deleted | DeleteOutcome::AlreadyGone) {
            if d.file.kind == FileKind::Clip {
                remove_clip_companions(&path);
            }
            remove_empty_parents(root, &path, keep_dirs);
        }
        out.push((d.clone(), outcome));
    }
    out
}

/// A clip's metadata sidecar and thumbnail (`NAME.json`, `NAME.jpg`,
/// `NAME.keyframe.mp4`) go with it; they are not in the account.
fn remove_clip_companions(clip: &Path) {
    let stem = clip.with_extension("");
    for ext in ["json", "jpg", "keyframe.mp4"] {
        let _ = std::fs::remove_file(stem.with_extension(ext));
    }
}

/// The file a `/`-separated name maps to under `root`.
pub fn path_of(root: &Path, name: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(name.split('/'));
    p
}

/// `NAME.pin` for `NAME`.
pub fn pin_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(PIN_SUFFIX);
    PathBuf::from(s)
}

fn exists(p: &Path) -> bool {
    match std::fs::symlink_metadata(p) {
        Ok(_) => true,
        // Unknown (no permission to look): assume pinned, keep the file.
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// Removes `file`'s folder and its parents while they are empty, up to
/// (not including) `root`. `remove_dir` refuses a folder that is not
/// empty, so a file created meanwhile is never lost.
fn remove_empty_parents(root: &Path, file: &Path, keep: &HashSet<PathBuf>) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || keep.contains(d) {
            return;
        }
        if std::fs::remove_dir(d).is_err() {
            return;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::account::tests::file;
    use crate::retention::account::{Account, FileKind};
    use crate::retention::plan::plan;
    use crate::retention::policy::{Limits, RetentionPolicy};
    use crate::time::WallTime;
    use std::fs;

    /// A deleted clip takes its sidecar and thumbnail along, and the
    /// folder they leave empty.
    #[test]
    fn clip_companions_go_with_the_clip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let name = "clips/c/20240101/120000_door.mp4";
        let mut a = Account::new();
        let p = path_of(root, name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        for f in ["120000_door.mp4", "120000_door.json", "120000_door.jpg"] {
            fs::write(p.parent().unwrap().join(f), [0u8; 10]).unwrap();
        }
        let other = p.parent().unwrap().join("120500_other.jpg");
        fs::write(&other, [0u8; 10]).unwrap();
        a.insert(file(name, "c", FileKind::Clip, 0, 10));
        let policy = RetentionPolicy::new().with_clips(Limits::none().with_max_bytes(0));
        let plan = plan(&a, &policy, WallTime(0), None);
        assert_eq!(plan.deletions.len(), 1);
        delete_planned(root, &plan, &HashSet::new());
        let left: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["120500_other.jpg"]);
    }

    #[test]
    fn deletes_files_and_emptied_folders_but_not_pins_or_kept_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut a = Account::new();
        for (i, name) in [
            "c/d1/a.mp4",
            "c/d1/b.mp4",
            "c/d2/c.mp4",
            "c/d3/d.mp4",
            "c/d4/e.mp4",
        ]
        .iter()
        .enumerate()
        {
            let p = path_of(root, name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, [0u8; 10]).unwrap();
            a.insert(file(name, "c", FileKind::Segment, i as i64, 10));
        }
        // Pinned after the account was built.
        fs::write(pin_path(&path_of(root, "c/d2/c.mp4")), b"").unwrap();
        // Gone already.
        fs::remove_file(path_of(root, "c/d3/d.mp4")).unwrap();
        let policy = RetentionPolicy::new().with_per_camera(Limits::none().with_max_bytes(0));
        let p = plan(&a, &policy, WallTime(0), None);
        assert_eq!(p.deletions.len(), 5);
        let keep: HashSet<PathBuf> = [root.join("c/d4")].into();
        let outcomes = delete_planned(root, &p, &keep);
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|(_, o)| match o {
                DeleteOutcome::Deleted => "deleted",
                DeleteOutcome::AlreadyGone => "gone",
                DeleteOutcome::NowPinned => "pinned",
                DeleteOutcome::Failed(_) => "failed",
            })
            .collect();
        assert_eq!(kinds, ["deleted", "deleted", "pinned", "gone", "deleted"]);
        assert!(!root.join("c/d1").exists(), "emptied folder removed");
        assert!(!root.join("c/d3").exists());
        assert!(root.join("c/d2/c.mp4").exists());
        assert!(root.join("c/d4").is_dir(), "the sink's folder is kept");
        assert!(root.join("c").is_dir());
    }

    #[test]
    fn free_space_of_a_real_volume() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let e = free_bytes(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
