//! A camera's writer: takes the muxer's events from the queue, feeds the
//! sink, and reports what was stored.

use std::sync::Arc;
use std::time::Duration;

use super::events::{ErrorKind, SegmentRecord};
use super::queue::QueueRx;
use super::status::Counter;
use super::CameraContext;
use crate::mux::{MuxEvent, SegmentEnd, SegmentStart, WallTime};
use crate::recorder::RecorderEvent;
use crate::sink::{DynSegmentSink, StoredSegment};

/// What the writer remembers of the open segment, for its record.
struct OpenSegment {
    index: u64,
    wall_start: WallTime,
    wall_end: WallTime,
    codecs: Vec<&'static str>,
    resolution: Option<(u16, u16)>,
    video_track: Option<usize>,
    /// Per track, samples of the fragments the sink accepted.
    fed_samples: Vec<u64>,
    fed_fragments: u32,
    /// End of the last accepted fragment, from the segment's time zero.
    fed_end_ns: i64,
    /// Set when the sink refused a fragment: the record then counts what
    /// was accepted rather than what the muxer produced.
    partial: bool,
    /// Set when the sink accepted the segment only at a later keyframe
    /// (it refused the start): where the stored part begins, from the
    /// segment's time zero, and the samples skipped before it.
    head: Option<(i64, Vec<u64>)>,
}

impl OpenSegment {
    fn new(s: &SegmentStart) -> Self {
        let video_track = s.tracks.iter().position(|t| t.codec.is_video());
        OpenSegment {
            index: s.index,
            wall_start: s.wall_start,
            wall_end: s.wall_start,
            codecs: s.tracks.iter().map(|t| t.codec.name()).collect(),
            resolution: video_track.and_then(|i| s.tracks[i].codec.dimensions()),
            video_track,
            fed_samples: vec![0; s.tracks.len()],
            fed_fragments: 0,
            fed_end_ns: 0,
            partial: false,
            head: None,
        }
    }

    /// The segment's end as stored: without a skipped head.
    fn stored_end(&self, end: &SegmentEnd) -> SegmentEnd {
        let mut end = end.clone();
        if let Some((t0, skipped)) = &self.head {
            end.duration_ns = (end.duration_ns - t0).max(0);
            end.wall_start = self.wall_start;
            for (n, d) in end.samples.iter_mut().zip(skipped) {
                *n = n.saturating_sub(*d);
            }
        }
        end
    }
}

fn started(ctx: &CameraContext, s: &SegmentStart) {
    tracing::debug!(camera = %ctx.id, index = s.index, "segment started");
    ctx.status.set_segment(Some(format!("segment {}", s.index)));
    ctx.emit(RecorderEvent::SegmentStarted {
        camera: ctx.id.clone(),
        index: s.index,
        wall_start: s.wall_start,
    });
}

/// The sink accepts segments again after refusing them.
fn resumed(ctx: &CameraContext, r: RefusedStart) {
    tracing::warn!(
        camera = %ctx.id,
        fragments = r.fragments,
        bytes = r.bytes,
        "the sink accepts segments again; fragments were skipped meanwhile"
    );
    ctx.emit(RecorderEvent::FragmentsDropped {
        camera: ctx.id.clone(),
        fragments: r.fragments,
        bytes: r.bytes,
    });
}

/// A segment whose `start` the sink refused (disk or spool full, say):
/// kept so the start can be retried at the next keyframe-started fragment.
struct RefusedStart {
    start: SegmentStart,
    /// Fragments skipped since, and their bytes.
    fragments: u64,
    bytes: u64,
    /// Per track, samples of the open segment skipped so far.
    samples: Vec<u64>,
}

/// Feeds `sink` until the queue closes, then closes whatever is still open.
pub(crate) async fn write_segments(
    sink: &mut dyn DynSegmentSink,
    mut queue: QueueRx,
    ctx: &CameraContext,
) {
    let mut open: Option<OpenSegment> = None;
    // Set while the sink refuses to start segments: one warning per
    // episode, then a retry at each keyframe-started fragment.
    let mut refused: Option<RefusedStart> = None;
    while let Some(ev) = queue.recv().await {
        match ev {
            MuxEvent::SegmentStarted(s) => {
                open = None;
                match sink.start_boxed(&ctx.id, &s).await {
                    Ok(()) => {
                        ctx.status.add(Counter::BytesRecorded, s.init.len() as u64);
                        started(ctx, &s);
                        open = Some(OpenSegment::new(&s));
                        if let Some(r) = refused.take() {
                            resumed(ctx, r);
                        }
                    }
                    Err(e) => match refused.as_mut() {
                        Some(r) => {
                            r.start = s;
                            r.samples.clear();
                        }
                        None => {
                            ctx.sink_error(&e);
                            tracing::warn!(camera = %ctx.id, "the sink refused a new segment; retrying at every keyframe until it accepts one");
                            refused = Some(RefusedStart {
                                start: s,
                                fragments: 0,
                                bytes: 0,
                                samples: Vec::new(),
                            });
                        }
                    },
                }
            }
            MuxEvent::Fragment(f) => {
                if let Some(r) = refused.as_mut().filter(|r| r.start.index == f.segment) {
                    // Retry where the stored segment can begin: a keyframe.
                    // The segment then starts at this fragment's wall clock.
                    let mut retry = None;
                    if f.starts_with_keyframe {
                        let mut s = r.start.clone();
                        s.wall_start = f.wall_start;
                        if sink.start_boxed(&ctx.id, &s).await.is_ok() {
                            retry = Some(s);
                        }
                    }
                    match retry {
                        Some(s) => {
                            ctx.status.add(Counter::BytesRecorded, s.init.len() as u64);
                            started(ctx, &s);
                            let mut o = OpenSegment::new(&s);
                            if let Some(r) = refused.take() {
                                o.head = Some((f.start_ns, r.samples.clone()));
                                resumed(ctx, r);
                            }
                            open = Some(o);
                        }
                        None => {
                            r.fragments += 1;
                            r.bytes += f.bytes.len() as u64;
                            if r.samples.len() < f.samples.len() {
                                r.samples.resize(f.samples.len(), 0);
                            }
                            for (d, n) in r.samples.iter_mut().zip(&f.samples) {
                                *d += u64::from(*n);
                            }
                            ctx.status.add(Counter::FragmentsDropped, 1);
                            ctx.status.add(Counter::BytesDropped, f.bytes.len() as u64);
                            continue;
                        }
                    }
                }
                let Some(o) = open.as_mut().filter(|o| o.index == f.segment) else {
                    continue;
                };
                match sink.fragment_boxed(&f).await {
                    Ok(()) => {
                        ctx.status.add(Counter::BytesRecorded, f.bytes.len() as u64);
                        o.wall_end = f.wall_end;
                        o.fed_end_ns = f.start_ns + f.duration_ns;
                        o.fed_fragments += 1;
                        for (t, n) in o.fed_samples.iter_mut().zip(&f.samples) {
                            *t += u64::from(*n);
                        }
                    }
                    Err(e) => {
                        o.partial = true;
                        ctx.sink_error(&e);
                    }
                }
            }
            MuxEvent::SegmentFinished(end) => {
                let Some(mut seg) = open.take().filter(|o| o.index == end.index) else {
                    // Never started in the sink: nothing to finish.
                    continue;
                };
                if seg.fed_fragments == 0 {
                    // Every fragment was dropped or refused: publish no
                    // header-only file.
                    if let Err(e) = sink.abort_boxed().await {
                        ctx.sink_error(&e);
                    }
                    ctx.status.set_segment(None);
                    continue;
                }
                let end = seg.stored_end(&end);
                match sink.finish_boxed(&end).await {
                    Ok(stored) => {
                        if !seg.partial {
                            seg.wall_end = end.wall_end;
                            seg.fed_end_ns =
                                end.duration_ns + seg.head.as_ref().map_or(0, |(t0, _)| *t0);
                            seg.fed_samples = end.samples.clone();
                        }
                        stored_segment(ctx, &*sink, stored, seg, Some(end.reason));
                    }
                    Err(e) => ctx.sink_error(&e),
                }
            }
        }
    }
    if let Some(r) = refused.take() {
        resumed(ctx, r);
    }
    // The reader ends every segment it opens; this only runs if it stopped
    // without (a muxer that refused the end). Keep what was stored.
    if let Some(seg) = open {
        match sink.abort_boxed().await {
            Ok(Some(stored)) => stored_segment(ctx, &*sink, stored, seg, None),
            Ok(None) => {}
            Err(e) => ctx.sink_error(&e),
        }
    }
}

fn stored_segment(
    ctx: &CameraContext,
    sink: &dyn DynSegmentSink,
    stored: StoredSegment,
    seg: OpenSegment,
    reason: Option<crate::mux::EndReason>,
) {
    ctx.status.add(Counter::SegmentsRecorded, 1);
    ctx.status.set_segment(None);
    ctx.status.set_last_segment(crate::WallTime::now().0);
    let record = SegmentRecord {
        camera: ctx.id.clone(),
        index: seg.index,
        name: stored.name,
        location: stored.location,
        upload_pending: !sink.publishes_on_finish_dyn(),
        wall_start: seg.wall_start,
        wall_end: seg.wall_end,
        duration: Duration::from_nanos(
            (seg.fed_end_ns - seg.head.as_ref().map_or(0, |(t0, _)| *t0)).max(0) as u64,
        ),
        bytes: stored.bytes,
        fragments: stored.fragments,
        segment_index: stored.index,
        video_frames: seg
            .video_track
            .map(|i| seg.fed_samples.get(i).copied().unwrap_or(0)),
        codecs: seg.codecs,
        resolution: seg.resolution,
        reason,
    };
    ctx.emit(RecorderEvent::SegmentStored(Arc::new(record)));
}

impl CameraContext {
    fn sink_error(&self, e: &crate::sink::SinkError) {
        self.status.add(Counter::SinkErrors, 1);
        tracing::error!(camera = %self.id, error = %e, "storing video failed");
        self.error(ErrorKind::Sink, e.to_string());
    }
}
