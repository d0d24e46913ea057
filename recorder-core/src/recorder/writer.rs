//! A camera's writer: takes the muxer's events from the queue, feeds the
//! sink, and reports what was stored.

use std::sync::Arc;
use std::time::Duration;

use super::events::{ErrorKind, SegmentRecord};
use super::queue::QueueRx;
use super::status::Counter;
use super::CameraContext;
use crate::mux::{MuxEvent, SegmentStart, WallTime};
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
    video_frames: u64,
    duration_ns: i64,
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
            video_frames: 0,
            duration_ns: 0,
        }
    }
}

/// Feeds `sink` until the queue closes, then closes whatever is still open.
pub(crate) async fn write_segments(
    sink: &mut dyn DynSegmentSink,
    mut queue: QueueRx,
    ctx: &CameraContext,
) {
    let mut open: Option<OpenSegment> = None;
    while let Some(ev) = queue.recv().await {
        match ev {
            MuxEvent::SegmentStarted(s) => {
                ctx.status.add(Counter::BytesRecorded, s.init.len() as u64);
                match sink.start_boxed(&ctx.id, &s).await {
                    Ok(()) => {
                        tracing::debug!(camera = %ctx.id, index = s.index, "segment started");
                        ctx.status.set_segment(Some(format!("segment {}", s.index)));
                        ctx.emit(RecorderEvent::SegmentStarted {
                            camera: ctx.id.clone(),
                            index: s.index,
                            wall_start: s.wall_start,
                        });
                    }
                    Err(e) => ctx.sink_error(&e),
                }
                open = Some(OpenSegment::new(&s));
            }
            MuxEvent::Fragment(f) => {
                ctx.status.add(Counter::BytesRecorded, f.bytes.len() as u64);
                if let Some(o) = open.as_mut().filter(|o| o.index == f.segment) {
                    o.wall_end = f.wall_end;
                    o.duration_ns = f.start_ns + f.duration_ns;
                    if let Some(n) = o.video_track.and_then(|i| f.samples.get(i)) {
                        o.video_frames += u64::from(*n);
                    }
                }
                if let Err(e) = sink.fragment_boxed(&f).await {
                    ctx.sink_error(&e);
                }
            }
            MuxEvent::SegmentFinished(end) => {
                let seg = open.take().filter(|o| o.index == end.index);
                match sink.finish_boxed(&end).await {
                    Ok(stored) => {
                        if let Some(mut seg) = seg {
                            seg.wall_end = end.wall_end;
                            seg.duration_ns = end.duration_ns;
                            seg.video_frames = seg
                                .video_track
                                .and_then(|i| end.samples.get(i).copied())
                                .unwrap_or(seg.video_frames);
                            stored_segment(ctx, &*sink, stored, seg, Some(end.reason));
                        }
                    }
                    Err(e) => ctx.sink_error(&e),
                }
            }
        }
    }
    // The reader always ends the segment it opened, but a muxer error or a
    // panic upstream can leave one open: keep its fragments.
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
    let record = SegmentRecord {
        camera: ctx.id.clone(),
        index: seg.index,
        name: stored.name,
        location: stored.location,
        upload_pending: !sink.publishes_on_finish_dyn(),
        wall_start: seg.wall_start,
        wall_end: seg.wall_end,
        duration: Duration::from_nanos(seg.duration_ns.max(0) as u64),
        bytes: stored.bytes,
        fragments: stored.fragments,
        video_frames: seg.video_track.map(|_| seg.video_frames),
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
