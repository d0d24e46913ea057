//! File-system helpers both sinks and crash repair share: collision-free
//! names, durable renames, vectored writes, recursive listings.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use super::SinkError;

/// How many `NAME-N.mp4` candidates are tried before giving up.
pub(crate) const MAX_SUFFIX: u32 = 1000;

/// The regular files under `root`, recursively, in no particular order.
///
/// Symbolic links are not followed. An entry that cannot be read (a
/// directory without permission, say) is yielded as an error and the walk
/// goes on; a missing or unreadable `root` is an error at depth 0.
pub(crate) fn files_under(root: &Path) -> impl Iterator<Item = Result<PathBuf, walkdir::Error>> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(e) if e.file_type().is_file() => Some(Ok(e.into_path())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
}

/// The I/O error inside a walk error, for [`SinkError::from_io`].
pub(crate) fn walk_io_error(e: walkdir::Error) -> io::Error {
    let msg = e.to_string();
    e.into_io_error().unwrap_or_else(|| io::Error::other(msg))
}

/// Writes every chunk, in order, with as few `writev` calls as the kernel
/// allows.
pub(crate) fn write_all_vectored(mut file: &File, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `NAME.mp4` for `n == 0`, else `NAME-n.mp4`.
pub(crate) fn suffixed(wanted: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return wanted.to_owned();
    }
    let name = wanted
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let new = match name.strip_suffix(".mp4") {
        Some(stem) => format!("{stem}-{n}.mp4"),
        None => format!("{name}-{n}"),
    };
    wanted.with_file_name(new)
}

/// `NAME.mp4.part` for `NAME.mp4`.
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Anything at `path`, even a dangling link or something we may not stat,
/// counts as taken: better a suffix than an overwrite.
pub(crate) fn exists(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// The first of `wanted`, `wanted-1`, ... that is neither an existing file
/// nor (unless it is `own_part`) another writer's `.part`.
pub(crate) fn free_final_name(
    wanted: &Path,
    own_part: Option<&Path>,
) -> Result<PathBuf, SinkError> {
    for n in 0..MAX_SUFFIX {
        let candidate = suffixed(wanted, n);
        if exists(&candidate) {
            continue;
        }
        let part = part_path(&candidate);
        if Some(part.as_path()) != own_part && exists(&part) {
            continue;
        }
        return Ok(candidate);
    }
    Err(SinkError::NameExhausted {
        path: wanted.to_owned(),
        tried: MAX_SUFFIX,
    })
}

/// `fsync`s a directory so renames and new entries in it survive a power
/// loss. Filesystems that cannot sync directories are tolerated.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    let result = File::open(dir).and_then(|d| d.sync_all());
    match result {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(SinkError::from_io("syncing directory", dir, e)),
    }
}

/// The lock file camrec keeps in an output folder while it records or
/// repairs there.
pub const OUTPUT_LOCK_FILE: &str = ".camrec.lock";

/// Lock files this process holds, by canonical path, with how many
/// [`FolderLock`]s share each. `flock` conflicts between two open files of
/// the same process too, so every sink of one process must share one.
static HELD: Mutex<BTreeMap<PathBuf, Held>> = Mutex::new(BTreeMap::new());

struct Held {
    /// Holds the lock until it is closed.
    _file: File,
    holders: usize,
}

fn held() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// An exclusive advisory lock (`flock`) on a folder, through a lock file
/// in it, so two camrec processes never work in the same folder at once.
///
/// Every `FolderLock` of one process on the same folder shares the lock
/// (clones too); it is released when the last is dropped, or when the
/// process dies, however it dies.
#[derive(Debug)]
pub struct FolderLock {
    folder: PathBuf,
    lock: PathBuf,
}

impl FolderLock {
    /// Locks the output folder `dir` (creating it), through
    /// [`OUTPUT_LOCK_FILE`]. Fails with [`SinkError::FolderInUse`] when
    /// another process holds it.
    pub fn output(dir: &Path) -> Result<FolderLock, SinkError> {
        FolderLock::acquire(dir, OUTPUT_LOCK_FILE)
    }

    /// Locks `dir` (creating it) through its file `name`.
    pub(crate) fn acquire(dir: &Path, name: &str) -> Result<FolderLock, SinkError> {
        fs::create_dir_all(dir).map_err(|e| SinkError::from_io("creating", dir, e))?;
        let canonical = dir
            .canonicalize()
            .map_err(|e| SinkError::from_io("resolving", dir, e))?;
        let lock = canonical.join(name);
        let mut map = held();
        if let Some(h) = map.get_mut(&lock) {
            h.holders += 1;
        } else {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock)
                .map_err(|e| SinkError::from_io("opening", &lock, e))?;
            match try_lock(&file) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(SinkError::FolderInUse {
                        path: dir.to_path_buf(),
                        lock,
                    })
                }
                Err(e) => return Err(SinkError::from_io("locking", &lock, e)),
            }
            // For the operator who wonders which process holds it.
            let _ = file
                .set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()));
            map.insert(
                lock.clone(),
                Held {
                    _file: file,
                    holders: 1,
                },
            );
        }
        Ok(FolderLock {
            folder: dir.to_path_buf(),
            lock,
        })
    }

    /// The folder locked, as given.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The lock file.
    pub fn lock_file(&self) -> &Path {
        &self.lock
    }
}

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when
/// another open file (another process) holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

impl Clone for FolderLock {
    fn clone(&self) -> FolderLock {
        if let Some(h) = held().get_mut(&self.lock) {
            h.holders += 1;
        }
        FolderLock {
            folder: self.folder.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let mut map = held();
        if let Some(h) = map.get_mut(&self.lock) {
            h.holders -= 1;
            if h.holders == 0 {
                // Closing the file releases the lock; under the registry's
                // mutex, so a new holder never finds it still taken by us.
                map.remove(&self.lock);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn suffixes() {
        let p = Path::new("/r/cam/20240101/000000_cam.mp4");
        assert_eq!(suffixed(p, 0), p);
        assert_eq!(
            suffixed(p, 1),
            Path::new("/r/cam/20240101/000000_cam-1.mp4")
        );
        assert_eq!(
            suffixed(p, 12),
            Path::new("/r/cam/20240101/000000_cam-12.mp4")
        );
        assert_eq!(
            part_path(p),
            Path::new("/r/cam/20240101/000000_cam.mp4.part")
        );
    }

    #[test]
    fn free_names_skip_files_and_other_parts() {
        let dir = tempfile::tempdir().unwrap();
        let wanted = dir.path().join("a.mp4");
        assert_eq!(free_final_name(&wanted, None).unwrap(), wanted);
        fs::write(&wanted, b"x").unwrap();
        fs::write(dir.path().join("a-1.mp4.part"), b"x").unwrap();
        assert_eq!(
            free_final_name(&wanted, None).unwrap(),
            dir.path().join("a-2.mp4")
        );
        let own = dir.path().join("a-1.mp4.part");
        assert_eq!(
            free_final_name(&wanted, Some(&own)).unwrap(),
            dir.path().join("a-1.mp4")
        );
    }

    #[test]
    fn vectored_write_of_many_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        // More chunks than IOV_MAX (1024) forces several writev calls.
        let chunks: Vec<Bytes> = (0..3000u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i % 7) as usize]))
            .collect();
        write_all_vectored(&file, &chunks).unwrap();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn writes_to_a_full_device_map_to_storage_full() {
        // /dev/full fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let err = write_all_vectored(&file, &[Bytes::from_static(b"abc")]).unwrap_err();
        let e = SinkError::from_io("writing", "/dev/full", err);
        assert!(e.is_storage_full(), "{e:?}");
    }

    #[test]
    fn files_under_lists_nested_files_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/x.mp4"), b"").unwrap();
        fs::write(dir.path().join("y"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
        let mut found: Vec<_> = files_under(dir.path()).map(Result::unwrap).collect();
        found.sort();
        assert_eq!(found, [dir.path().join("a/b/x.mp4"), dir.path().join("y")]);
        let missing = files_under(&dir.path().join("nope"))
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(missing.depth(), 0);
        assert_eq!(walk_io_error(missing).kind(), io::ErrorKind::NotFound);
    }
}
