//! Storing a small whole object (a thumbnail) where a sink keeps its
//! segments: a file in the sink's folder, or one `PutObject` to its bucket.

use std::io::Write;
use std::path::{Path, PathBuf};
#[cfg(feature = "s3")]
use std::sync::Arc;

use super::ThumbnailError;
use crate::sink::SinkError;

/// Where small whole objects go: the folder or bucket of a sink
/// ([`SegmentSink::small_objects`](crate::SegmentSink::small_objects)).
/// Cheap to clone.
#[derive(Clone)]
pub struct SmallObjectStore(Kind);

#[derive(Clone)]
enum Kind {
    Folder(PathBuf),
    #[cfg(feature = "s3")]
    S3 {
        inner: Arc<crate::sink::s3::store::Inner>,
        uploads: Arc<crate::sink::s3::store::CameraUploads>,
    },
}

impl std::fmt::Debug for SmallObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Folder(root) => f.debug_tuple("Folder").field(root).finish(),
            #[cfg(feature = "s3")]
            Kind::S3 { inner, .. } => f.debug_tuple("S3").field(&inner.cfg.bucket).finish(),
        }
    }
}

/// An object [`SmallObjectStore::put`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Object name relative to the store's root, `/`-separated.
    pub name: String,
    /// Where it is: a file path, or `s3://bucket/key`.
    pub location: String,
}

impl SmallObjectStore {
    /// Files under `root`.
    pub fn folder(root: impl Into<PathBuf>) -> Self {
        SmallObjectStore(Kind::Folder(root.into()))
    }

    #[cfg(feature = "s3")]
    pub(crate) fn s3(
        inner: Arc<crate::sink::s3::store::Inner>,
        uploads: Arc<crate::sink::s3::store::CameraUploads>,
    ) -> Self {
        SmallObjectStore(Kind::S3 { inner, uploads })
    }

    /// Stores `bytes` under `name` (relative, `/`-separated, from an
    /// [`ObjectNameTemplate`](crate::ObjectNameTemplate)), replacing an
    /// object of that name. A file is written as `NAME.tmp` and renamed,
    /// so readers never see half a picture; an S3 object gets
    /// `content_type` and `metadata` (`x-amz-meta-*`).
    pub async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
        metadata: &[(&'static str, String)],
    ) -> Result<StoredObject, ThumbnailError> {
        #[cfg(not(feature = "s3"))]
        let _ = (content_type, metadata);
        match &self.0 {
            Kind::Folder(root) => {
                let path = root.join(name);
                let p = path.clone();
                tokio::task::spawn_blocking(move || write_file(&p, &bytes))
                    .await
                    .map_err(|e| ThumbnailError::Store {
                        name: name.to_owned(),
                        source: Box::new(e),
                    })?
                    .map_err(|e| ThumbnailError::Store {
                        name: name.to_owned(),
                        source: Box::new(e),
                    })?;
                Ok(StoredObject {
                    name: name.to_owned(),
                    location: path.display().to_string(),
                })
            }
            #[cfg(feature = "s3")]
            Kind::S3 { inner, uploads } => {
                let key = format!("{}{name}", inner.prefix);
                crate::sink::s3::put_small_object(
                    inner,
                    uploads,
                    &key,
                    bytes::Bytes::from(bytes),
                    content_type,
                    metadata,
                )
                .await
                .map_err(|e| ThumbnailError::Store {
                    name: name.to_owned(),
                    source: Box::new(e),
                })?;
                Ok(StoredObject {
                    name: name.to_owned(),
                    location: inner.key_display(&key),
                })
            }
        }
    }
}

/// Writes `path` through `path.tmp` and a rename.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| SinkError::from_io("creating directory", dir, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| SinkError::from_io("creating", &tmp, e))?;
    if let Err(e) = f.write_all(bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(SinkError::from_io("writing", &tmp, e));
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SinkError::from_io("renaming into place", path, e)
    })
}

/// Why a whole file could not be stored or an object deleted.
pub(crate) type StoreFailure = Box<dyn std::error::Error + Send + Sync>;

impl SmallObjectStore {
    /// True for a folder (no object metadata: clips get a JSON sidecar).
    pub(crate) fn is_folder(&self) -> bool {
        matches!(self.0, Kind::Folder(_))
    }

    /// Where a file bound for `name` is written before [`Self::put_file`]:
    /// next to its final place in a folder (the rename is then atomic), in
    /// the spool folder for a bucket.
    pub(crate) fn spool_path(&self, name: &str) -> PathBuf {
        match &self.0 {
            Kind::Folder(root) => {
                let mut p = root.join(name).into_os_string();
                p.push(".part");
                PathBuf::from(p)
            }
            #[cfg(feature = "s3")]
            Kind::S3 { inner, .. } => {
                let flat: String = name
                    .chars()
                    .map(|c| if c == '/' { '_' } else { c })
                    .collect();
                inner
                    .cfg
                    .spool_dir
                    .join("clips")
                    .join(format!("{flat}.part"))
            }
        }
    }

    /// Publishes the finished file at `path` (from [`Self::spool_path`])
    /// under `name`: a rename in a folder; to a bucket (with `metadata` as
    /// `x-amz-meta-*`) one `PutObject`, or a multipart upload streamed from
    /// the file when it is bigger than the store's part size, after which
    /// the file is removed.
    pub(crate) async fn put_file(
        &self,
        name: &str,
        path: &Path,
        content_type: &'static str,
        metadata: &[(&'static str, String)],
    ) -> Result<StoredObject, StoreFailure> {
        #[cfg(not(feature = "s3"))]
        let _ = (content_type, metadata);
        match &self.0 {
            Kind::Folder(root) => {
                let dest = root.join(name);
                tokio::fs::rename(path, &dest)
                    .await
                    .map_err(|e| SinkError::from_io("renaming into place", &dest, e))?;
                Ok(StoredObject {
                    name: name.to_owned(),
                    location: dest.display().to_string(),
                })
            }
            #[cfg(feature = "s3")]
            Kind::S3 { inner, uploads } => {
                let key = format!("{}{name}", inner.prefix);
                crate::sink::s3::put_file_object(
                    inner,
                    uploads,
                    &key,
                    path,
                    content_type,
                    metadata,
                )
                .await?;
                let _ = tokio::fs::remove_file(path).await;
                Ok(StoredObject {
                    name: name.to_owned(),
                    location: inner.key_display(&key),
                })
            }
        }
    }

    /// Deletes the object `name`; one that is already gone is no error.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), StoreFailure> {
        match &self.0 {
            Kind::Folder(root) => {
                let path = root.join(name);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(SinkError::from_io("deleting", &path, e).into()),
                }
            }
            #[cfg(feature = "s3")]
            Kind::S3 { inner, .. } => {
                let key = format!("{}{name}", inner.prefix);
                inner
                    .client
                    .delete_object()
                    .bucket(&inner.cfg.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "deleting {}: {}",
                            inner.key_display(&key),
                            aws_sdk_s3::error::DisplayErrorContext(e)
                        )
                    })?;
                Ok(())
            }
        }
    }
}
