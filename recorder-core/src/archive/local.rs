//! The local-folder side of [`Archive`](super::Archive).

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{ArchiveError, SegmentEntry};
use crate::index::{self, SegmentIndex};
use crate::sink::fs::files_under;

fn path_of(root: &Path, name: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    // Names come from our own listing, but callers may pass user input:
    // keep them inside the root.
    p.extend(
        name.split('/')
            .filter(|c| !c.is_empty() && *c != ".." && *c != "."),
    );
    p
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArchiveError::Io {
            action: "running",
            path: PathBuf::new(),
            source: io::Error::other(e.to_string()),
        })?
}

/// `(name, bytes)` of every finished `.mp4` under `root/dir`.
pub(super) async fn list(root: &Path, dir: &str) -> Result<Vec<(String, u64)>, ArchiveError> {
    let root = root.to_path_buf();
    let base = path_of(&root, dir);
    blocking(move || {
        let mut out = Vec::new();
        if !base.is_dir() {
            return Ok(out);
        }
        for entry in files_under(&base) {
            let path = match entry {
                Ok(p) => p,
                Err(e) if e.depth() == 0 => {
                    return Err(ArchiveError::Io {
                        action: "listing",
                        path: base.clone(),
                        source: crate::sink::fs::walk_io_error(e),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable entry");
                    continue;
                }
            };
            if path.extension().is_none_or(|e| e != "mp4") {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let rel = path.strip_prefix(&root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, meta.len()));
        }
        Ok(out)
    })
    .await
}

pub(super) async fn load_index(
    root: &Path,
    entry: &SegmentEntry,
) -> Result<SegmentIndex, ArchiveError> {
    let path = path_of(root, &entry.name);
    let e = entry.clone();
    blocking(move || {
        let io_err = |source| ArchiveError::Io {
            action: "reading",
            path: path.clone(),
            source,
        };
        let idx_err = |source| ArchiveError::Index {
            name: e.name.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        match index::read_tail(&mut file, len) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => index::rebuild(&mut file, len, &e.camera).map_err(idx_err),
            Err(err) => {
                tracing::warn!(segment = %e.name, error = %err, "unreadable index; rebuilding it from the file");
                index::rebuild(&mut file, len, &e.camera).map_err(idx_err)
            }
        }
    })
    .await
}

pub(super) async fn read(
    root: &Path,
    name: &str,
    range: Range<u64>,
) -> Result<Bytes, ArchiveError> {
    let path = path_of(root, name);
    blocking(move || {
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        File::open(&path)
            .and_then(|f| f.read_exact_at(&mut buf, range.start))
            .map_err(|source| ArchiveError::Io {
                action: "reading",
                path,
                source,
            })?;
        Ok(Bytes::from(buf))
    })
    .await
}
