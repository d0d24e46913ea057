//! Exports from an archive: the two passes of [`crate::export`] with the
//! archive's reads, and the file streamed piece by piece.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Archive, ArchiveError, Recording};
use crate::export::{select, ExportPlan};
use crate::index::SegmentIndex;
use crate::time::WallTime;

/// Reads in flight at once while planning (each a few kilobytes: on S3 the
/// round trips dominate).
const PLAN_READS_IN_FLIGHT: usize = 16;
/// Largest chunk read and yielded while streaming the media.
const CHUNK: u64 = 1 << 20;

/// A planned export of an archive's recordings.
#[derive(Debug)]
pub struct Export {
    /// The plan: header, pieces, length, actual range.
    pub plan: ExportPlan,
    recordings: Vec<Recording>,
}

impl Archive {
    /// Plans the export of `camera`'s `[start, end)`: lists and indexes the
    /// segments, reads every init and fragment header in range (never the
    /// media), and builds the `moov`.
    pub async fn export(
        &self,
        camera: &str,
        start: WallTime,
        end: WallTime,
    ) -> Result<Export, ArchiveError> {
        let recordings = self.recordings(camera, start, end).await?;
        let indexes: Vec<&SegmentIndex> = recordings.iter().map(|r| &*r.index).collect();
        let sel = select(&indexes, start, end)?;
        // Owned (entry, range) pairs: a closure over `&Read` makes this
        // future's `Send` unprovable (higher-ranked lifetimes), and HTTP
        // handlers need it `Send`.
        let wanted: Vec<_> = sel
            .reads()
            .iter()
            .map(|r| (recordings[r.segment].entry.clone(), r.range.clone()))
            .collect();
        let reads: Vec<Bytes> = futures::stream::iter(wanted)
            .map(|(entry, range)| async move { self.read(&entry, range).await })
            .buffered(PLAN_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let plan = ExportPlan::new(&indexes, &sel, &reads)?;
        Ok(Export { plan, recordings })
    }
}

impl Export {
    /// The file as a stream of chunks (header first, then media in reads
    /// of at most 1 MiB): memory stays bounded whatever the length. For an
    /// HTTP body.
    pub fn stream(
        self,
        archive: Arc<Archive>,
    ) -> impl Stream<Item = Result<Bytes, ArchiveError>> + Send + 'static {
        let header = self.plan.header_bytes().clone();
        let mut ranges = Vec::new();
        for p in self.plan.pieces() {
            let mut at = p.range.start;
            while at < p.range.end {
                let to = (at + CHUNK).min(p.range.end);
                ranges.push((p.segment, at..to));
                at = to;
            }
        }
        let recordings = self.recordings;
        let media = futures::stream::iter(ranges).then(move |(seg, range)| {
            let archive = archive.clone();
            let entry = recordings[seg].entry.clone();
            async move { archive.read(&entry, range).await }
        });
        futures::stream::once(async move { Ok(header) }).chain(media)
    }

    /// Writes the file to `w`; returns the bytes written.
    pub async fn write_to<W: AsyncWrite + Unpin>(
        self,
        archive: Arc<Archive>,
        w: &mut W,
    ) -> Result<u64, ArchiveError> {
        let path = std::path::PathBuf::from("export output");
        let mut n = 0u64;
        let stream = self.stream(archive);
        futures::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            w.write_all(&chunk)
                .await
                .map_err(|source| ArchiveError::Io {
                    action: "writing",
                    path: path.clone(),
                    source,
                })?;
            n += chunk.len() as u64;
        }
        w.flush().await.map_err(|source| ArchiveError::Io {
            action: "writing",
            path,
            source,
        })?;
        Ok(n)
    }
}
