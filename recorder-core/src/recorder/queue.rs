//! The hand-off between a camera's reader (RTSP + muxer) and its writer
//! (the sink): bounded in bytes, and never blocking the reader.
//!
//! retina sends keepalives only while the session is polled, so the reader
//! must never wait for storage. Instead, when more than the limit of
//! fragment bytes waits for the sink, the reader drops fragments until the
//! next one that starts with a keyframe fits (a fragment that does not
//! start on a keyframe would not decode without the dropped ones). Segment
//! starts and ends are never dropped: they are small and a sink needs them
//! to keep its files consistent. Dropped fragments are taken out of the
//! segment's counts and reported once per episode.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::status::{CameraStatus, Counter};
use crate::mux::MuxEvent;

/// What the reader reports about a drop episode when it ends.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DropEpisode {
    pub fragments: u64,
    pub bytes: u64,
}

/// The reader's end.
pub(crate) struct QueueTx {
    tx: mpsc::UnboundedSender<MuxEvent>,
    status: Arc<CameraStatus>,
    limit_bytes: u64,
    queued: Arc<std::sync::atomic::AtomicU64>,
    /// Set while dropping: fragments go until one starts with a keyframe
    /// and fits.
    dropping: Option<DropEpisode>,
    /// Per track, samples of the open segment that were dropped.
    dropped_samples: Vec<u64>,
    dropped_fragments: u32,
    dropped_bytes: u64,
}

/// The writer's end.
pub(crate) struct QueueRx {
    rx: mpsc::UnboundedReceiver<MuxEvent>,
    status: Arc<CameraStatus>,
    queued: Arc<std::sync::atomic::AtomicU64>,
}

pub(crate) fn queue(status: Arc<CameraStatus>, limit_bytes: u64) -> (QueueTx, QueueRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    (
        QueueTx {
            tx,
            status: status.clone(),
            limit_bytes,
            queued: queued.clone(),
            dropping: None,
            dropped_samples: Vec::new(),
            dropped_fragments: 0,
            dropped_bytes: 0,
        },
        QueueRx { rx, status, queued },
    )
}

impl QueueTx {
    /// Queues one muxer event, or drops it (fragments only) when storage is
    /// too far behind. Returns a finished drop episode when this event
    /// ended one.
    pub fn push(&mut self, ev: MuxEvent) -> Option<DropEpisode> {
        use std::sync::atomic::Ordering;
        let mut ended = None;
        let ev = match ev {
            MuxEvent::Fragment(f) => {
                let len = f.bytes.len() as u64;
                let queued = self.queued.load(Ordering::Relaxed);
                let fits = queued + len <= self.limit_bytes || queued == 0;
                let resume = fits && (self.dropping.is_none() || f.starts_with_keyframe);
                if !resume {
                    let ep = self.dropping.get_or_insert_with(|| {
                        tracing::warn!(
                            camera = self.status.id(),
                            queued_bytes = queued,
                            limit_bytes = self.limit_bytes,
                            "storage is falling behind: dropping fragments until it catches up"
                        );
                        DropEpisode::default()
                    });
                    ep.fragments += 1;
                    ep.bytes += len;
                    self.status.add(Counter::FragmentsDropped, 1);
                    self.status.add(Counter::BytesDropped, len);
                    if self.dropped_samples.len() < f.samples.len() {
                        self.dropped_samples.resize(f.samples.len(), 0);
                    }
                    for (d, s) in self.dropped_samples.iter_mut().zip(&f.samples) {
                        *d += u64::from(*s);
                    }
                    self.dropped_fragments += 1;
                    self.dropped_bytes += len;
                    return None;
                }
                ended = self.dropping.take();
                let now = self.queued.fetch_add(len, Ordering::Relaxed) + len;
                self.status.set_queued_bytes(now);
                MuxEvent::Fragment(f)
            }
            MuxEvent::SegmentStarted(s) => {
                self.dropped_samples.clear();
                self.dropped_fragments = 0;
                self.dropped_bytes = 0;
                MuxEvent::SegmentStarted(s)
            }
            MuxEvent::SegmentFinished(mut e) => {
                // What the segment holds, not what the muxer produced.
                for (n, d) in e.samples.iter_mut().zip(&self.dropped_samples) {
                    *n = n.saturating_sub(*d);
                }
                e.fragments = e.fragments.saturating_sub(self.dropped_fragments);
                e.bytes = e.bytes.saturating_sub(self.dropped_bytes);
                self.dropped_samples.clear();
                self.dropped_fragments = 0;
                self.dropped_bytes = 0;
                MuxEvent::SegmentFinished(e)
            }
        };
        // The writer only goes away after the reader (it runs until the
        // queue closes), so a send cannot fail while the reader runs.
        let _ = self.tx.send(ev);
        ended
    }

    /// Ends the reader's side; returns an unfinished drop episode.
    pub fn close(mut self) -> Option<DropEpisode> {
        self.dropping.take()
    }
}

impl QueueRx {
    /// The next event, or `None` once the reader is done and everything
    /// queued was taken.
    pub async fn recv(&mut self) -> Option<MuxEvent> {
        let ev = self.rx.recv().await?;
        if let MuxEvent::Fragment(f) = &ev {
            let len = f.bytes.len() as u64;
            let left = self
                .queued
                .fetch_sub(len, std::sync::atomic::Ordering::Relaxed)
                - len;
            self.status.set_queued_bytes(left);
        }
        Some(ev)
    }
}
