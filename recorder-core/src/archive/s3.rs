//! The S3 side of [`Archive`](super::Archive).

use std::io::Cursor;
use std::ops::Range;

use aws_sdk_s3::Client;
use bytes::Bytes;

use super::{ArchiveError, SegmentEntry};
use crate::index::{self, SegmentIndex, Tail, TAIL_GUESS};
use crate::sink::s3::store::build_client;
use crate::sink::S3Config;

/// A bucket and prefix read with the S3 API.
pub struct S3Archive {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

impl S3Archive {
    pub(super) async fn new(cfg: S3Config) -> Self {
        S3Archive {
            client: build_client(&cfg).await,
            bucket: cfg.bucket.clone(),
            prefix: cfg.key_prefix(),
            endpoint: cfg.endpoint.clone().unwrap_or_else(|| "AWS S3".into()),
        }
    }

    /// The client (for presigned URLs).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of segment `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(super) fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    fn err(&self, operation: &'static str, key: &str, e: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::S3 {
            operation,
            key: format!("s3://{}/{key}", self.bucket),
            detail: e.to_string(),
        }
    }

    /// `(name, bytes)` of every object under `prefix + dir`, a page of up
    /// to 1,000 keys per request.
    pub(super) async fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, ArchiveError> {
        let full = format!("{}{dir}", self.prefix);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let resp = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    self.err(
                        "ListObjectsV2",
                        &full,
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            for o in resp.contents() {
                let (Some(k), Some(size)) = (o.key(), o.size()) else {
                    continue;
                };
                if let Some(name) = k.strip_prefix(&self.prefix) {
                    out.push((name.to_owned(), u64::try_from(size).unwrap_or(0)));
                }
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn get(&self, name: &str, range: String) -> Result<Bytes, ArchiveError> {
        let key = self.key(name);
        let resp = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .range(range)
            .send()
            .await
            .map_err(|e| self.err("GetObject", &key, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let body = resp
            .body
            .collect()
            .await
            .map_err(|e| self.err("GetObject", &key, e))?;
        Ok(body.into_bytes())
    }

    /// Bytes `range` of segment `name` (one ranged GET).
    pub(super) async fn read(&self, name: &str, range: Range<u64>) -> Result<Bytes, ArchiveError> {
        let want = range.end - range.start;
        let b = self
            .get(name, format!("bytes={}-{}", range.start, range.end - 1))
            .await?;
        if b.len() as u64 != want {
            return Err(self.err(
                "GetObject",
                &self.key(name),
                format!("asked for {want} bytes, got {}", b.len()),
            ));
        }
        Ok(b)
    }

    /// The index from the object's tail: one suffix-range GET, a second
    /// for an index larger than [`TAIL_GUESS`]; an object without one is
    /// read whole and indexed.
    pub(super) async fn load_index(
        &self,
        entry: &SegmentEntry,
    ) -> Result<SegmentIndex, ArchiveError> {
        let idx_err = |source| ArchiveError::Index {
            name: entry.name.clone(),
            source,
        };
        let mut want = TAIL_GUESS.min(entry.bytes);
        for _ in 0..2 {
            if want == 0 {
                break;
            }
            let tail = self.get(&entry.name, format!("bytes=-{want}")).await?;
            match index::parse_tail(&tail, entry.bytes) {
                Ok(Tail::Index(i)) => return Ok(i),
                Ok(Tail::NeedMore { from_end }) => want = from_end,
                Ok(Tail::Missing) => break,
                Err(e) => {
                    tracing::warn!(segment = %entry.name, error = %e, "unreadable index; rebuilding it from the object");
                    break;
                }
            }
        }
        let whole = self
            .get(
                &entry.name,
                format!("bytes=0-{}", entry.bytes.saturating_sub(1)),
            )
            .await?;
        index::rebuild(&mut Cursor::new(&whole), whole.len() as u64, &entry.camera).map_err(idx_err)
    }
}
