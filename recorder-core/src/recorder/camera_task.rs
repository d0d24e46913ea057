//! One camera's life: connect, record, reconnect with backoff, and close
//! the open segment cleanly on stop.
//!
//! Two halves run in one task: the reader (RTSP session + muxer, pure CPU
//! work between polls) and the writer (the sink). They meet in a queue
//! bounded in bytes ([`super::queue`]), so polling the camera never waits
//! for storage, and running both in one task costs no cross-thread wake-up
//! per fragment.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::clip::engine::ClipEngine;
use super::clip::ClipShared;

use super::config::CameraConfig;
use super::events::{ErrorKind, RecorderEvent};
use super::queue::{queue, DropEpisode, QueueTx};
use super::silence::{Progress, SilenceWatch, Verdict};
use super::status::{CameraState, Counter};
use super::thumbnails::Thumbnailer;
use super::writer::write_segments;
use super::CameraContext;
use crate::mux::{EndReason, MuxEvent, Muxer, TrackSpec};
use crate::sink::DynSegmentSink;
use crate::source::{connect, Backoff, SessionGroup, SourceEvent};

/// How long the camera task may take to close its segment on shutdown
/// before the host should give up waiting.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Tracks that can continue in one muxer: same count, kinds and clocks
/// (codec parameters may differ; the muxer starts a new segment for those).
fn same_layout(a: &[TrackSpec], b: &[TrackSpec]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.timescale == y.timescale && x.codec.is_video() == y.codec.is_video())
}

/// The reader's muxer and its hand-off to the writer.
struct Reader<'a> {
    ctx: &'a CameraContext,
    queue: QueueTx,
    muxer: Option<Muxer>,
    events: Vec<MuxEvent>,
    /// The current muxer's skipped-frame and limit-cut counts already
    /// added to the status (a new muxer after a track change starts
    /// counting from 0 again).
    skipped_counted: u64,
    cuts_counted: u64,
    /// Limit cuts not yet reported in an event, and when one was last sent.
    cuts_unreported: u64,
    cuts_reported_at: Option<Instant>,
    /// Frames the muxer refused with an error (for the silence watch).
    frames_refused: u64,
    silence: SilenceWatch,
    thumbnails: Option<Thumbnailer>,
    clips: ClipEngine,
    /// Continuous recording is paused: frames feed only the clips.
    paused: bool,
}

impl Reader<'_> {
    /// Hands the muxer's pending events to the writer.
    fn flush(&mut self) {
        for ev in self.events.drain(..) {
            if let Some(ep) = self.queue.push(ev) {
                report_drops(self.ctx, ep);
            }
        }
    }

    fn finish(&mut self, reason: EndReason) {
        if let Some(m) = &mut self.muxer {
            m.finish(reason, &mut self.events);
            self.sync_skipped();
        }
        self.flush();
    }

    /// Adds the muxer's newly skipped frames and limit cuts to the status
    /// counters, which must only grow (they are Prometheus counters).
    fn sync_skipped(&mut self) {
        let Some(m) = &self.muxer else { return };
        // Oversized frames (a hostile camera) are skipped frames too.
        let st = m.stats();
        let n = st.frames_skipped + st.frames_too_large;
        let cuts = st.fragments_cut_by_limit;
        if n > self.skipped_counted {
            self.ctx
                .status
                .add(Counter::FramesSkipped, n - self.skipped_counted);
            self.skipped_counted = n;
        }
        if cuts > self.cuts_counted {
            self.cut_by_limit(cuts - self.cuts_counted);
            self.cuts_counted = cuts;
        }
    }

    /// Counts limit cuts, and says so at most once a minute: a camera with
    /// frozen timestamps cuts every two fragment durations.
    #[cold]
    fn cut_by_limit(&mut self, n: u64) {
        let ctx = self.ctx;
        ctx.status.add(Counter::FragmentsCutByLimit, n);
        ctx.status.set_last_limit_cut(crate::WallTime::now().0);
        self.cuts_unreported += n;
        if self
            .cuts_reported_at
            .is_some_and(|t| t.elapsed() < LIMIT_CUT_REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            camera = %ctx.id,
            fragments = self.cuts_unreported,
            "fragments ended early by a limit: the camera's timestamps stopped advancing or a fragment reached max_fragment_bytes"
        );
        ctx.emit(RecorderEvent::FragmentsCutByLimit {
            camera: ctx.id.clone(),
            fragments: self.cuts_unreported,
        });
        self.cuts_unreported = 0;
        self.cuts_reported_at = Some(Instant::now());
    }

    /// Applies a pause or resume of continuous recording: pausing closes
    /// the open segment; resuming starts the next at a keyframe.
    fn follow_pause(&mut self) {
        let paused = self.ctx.status.paused();
        if paused == self.paused {
            return;
        }
        self.paused = paused;
        if paused {
            tracing::info!(camera = %self.ctx.id, "continuous recording paused");
            self.finish(EndReason::Finished);
        } else {
            tracing::info!(camera = %self.ctx.id, "continuous recording resumed");
            if let Some(m) = &mut self.muxer {
                m.restart_timeline(&mut self.events);
            }
            self.silence.restart();
            self.flush();
        }
    }

    /// Feeds the silence watch after a frame and reports a changed verdict.
    fn watch_storing(&mut self, wall_ns: i64) {
        let Some(m) = &self.muxer else { return };
        let (stored, sink_errors) = self.ctx.status.stored_bytes_and_sink_errors();
        let now = Progress::new(stored, sink_errors, self.frames_refused, m.stats());
        if let Some(v) = self.silence.on_frame(wall_ns, now) {
            report_silence(self.ctx, v);
        }
    }
}

/// How often a camera's limit cuts are logged and sent as an event.
const LIMIT_CUT_REPORT_EVERY: Duration = Duration::from_secs(60);

#[cold]
fn report_silence(ctx: &CameraContext, v: Verdict) {
    match v {
        Verdict::NotStoring { reason, for_ns } => {
            let for_duration = Duration::from_nanos(u64::try_from(for_ns).unwrap_or(0));
            tracing::warn!(
                camera = %ctx.id,
                reason = reason.as_str(),
                for_s = for_duration.as_secs(),
                "frames arrive but nothing is stored: {}",
                reason.explain()
            );
            ctx.status.set_not_storing(Some(reason));
            ctx.emit(RecorderEvent::NotStoring {
                camera: ctx.id.clone(),
                reason,
                for_duration,
            });
        }
        Verdict::Resumed => {
            tracing::info!(camera = %ctx.id, "storing again");
            ctx.status.set_not_storing(None);
            ctx.emit(RecorderEvent::StoringResumed {
                camera: ctx.id.clone(),
            });
        }
    }
}

fn report_drops(ctx: &CameraContext, ep: DropEpisode) {
    tracing::warn!(
        camera = %ctx.id,
        fragments = ep.fragments,
        bytes = ep.bytes,
        "storage caught up; fragments were dropped meanwhile"
    );
    ctx.emit(RecorderEvent::FragmentsDropped {
        camera: ctx.id.clone(),
        fragments: ep.fragments,
        bytes: ep.bytes,
    });
}

/// Runs one camera until `stop` turns true, then closes the open segment
/// at its last fragment and hands the sink back. Never returns early on
/// camera, network or storage errors: those are retried and reported.
pub(crate) async fn run_camera(
    cfg: CameraConfig,
    sink: &mut dyn DynSegmentSink,
    ctx: &CameraContext,
    stop: watch::Receiver<bool>,
    clip_requests: mpsc::UnboundedReceiver<std::sync::Arc<ClipShared>>,
) {
    let (tx, rx) = queue(ctx.status.clone(), cfg.queue_limit_bytes);
    let thumbnails = match (&cfg.thumbnails, sink.small_objects_dyn()) {
        (Some(t), Some(store)) => Some(Thumbnailer::new(t.clone(), store, ctx.clone())),
        (Some(_), None) => {
            tracing::warn!(camera = %cfg.id, "this sink keeps no thumbnails; none are made");
            None
        }
        (None, _) => None,
    };
    let clips = ClipEngine::new(
        cfg.clips.clone(),
        &cfg.muxer,
        clip_requests,
        sink.small_objects_dyn(),
        ctx.status.clone(),
    );
    let reader = read_camera(&cfg, ctx, tx, stop, thumbnails, clips);
    let writer = write_segments(sink, rx, ctx);
    tokio::join!(reader, writer);
    ctx.set_state(CameraState::Stopped);
    tracing::info!(camera = %cfg.id, "stopped");
}

async fn read_camera(
    cfg: &CameraConfig,
    ctx: &CameraContext,
    queue: QueueTx,
    mut stop: watch::Receiver<bool>,
    thumbnails: Option<Thumbnailer>,
    clips: ClipEngine,
) {
    // One stop future for the whole run: polling it again costs nothing
    // until the stop is signalled (no new waiter per frame).
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let mut r = Reader {
        ctx,
        queue,
        muxer: None,
        events: Vec::new(),
        skipped_counted: 0,
        cuts_counted: 0,
        cuts_unreported: 0,
        cuts_reported_at: None,
        frames_refused: 0,
        silence: SilenceWatch::new(cfg.muxer.fragment_duration),
        thumbnails,
        clips,
        paused: ctx.status.paused(),
    };
    read_sessions(cfg, &mut r, &mut stopped).await;
    r.clips.stop();
    r.finish(EndReason::Finished);
    if let Some(t) = &mut r.thumbnails {
        t.finish().await;
    }
    if let Some(ep) = r.queue.close() {
        report_drops(ctx, ep);
    }
}

/// Connects and records until `stopped` completes.
async fn read_sessions(
    cfg: &CameraConfig,
    r: &mut Reader<'_>,
    stopped: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) {
    let ctx = r.ctx;
    // Sessions of ours the camera may still be playing (retina keeps
    // tearing them down in the background); `connect` waits for them.
    let mut group = std::sync::Arc::new(SessionGroup::default());
    let mut backoff = Backoff::new(cfg.backoff.clone());
    let url = cfg.source.url.redacted();
    let mut disconnected_at: Option<Instant> = None;
    let mut sessions = 0u64;
    loop {
        ctx.set_state(CameraState::Connecting);
        let attempt = tokio::select! {
            r = connect(&cfg.source, &group) => r,
            _ = stopped.as_mut() => return,
        };
        let mut session = match attempt {
            Ok(s) => s,
            Err(e) => {
                let config_error = e.is_config_error();
                let delay = backoff.next_delay(config_error);
                tracing::warn!(camera = %cfg.id, url = %url, error = %e, retry_in = ?delay, "cannot open the camera");
                ctx.source_error(e.to_string(), config_error);
                ctx.set_state(CameraState::Retrying);
                // A long outage ends the open segment rather than leaving
                // it open (and its file unfinished) until the camera returns.
                if disconnected_at.is_some_and(|t| t.elapsed() > cfg.muxer.max_gap_in_segment) {
                    r.finish(EndReason::SourceGap);
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped.as_mut() => return,
                }
                continue;
            }
        };
        sessions += 1;
        if sessions > 1 {
            ctx.status.add(Counter::Reconnects, 1);
        }
        for s in session.skipped_streams() {
            tracing::warn!(camera = %cfg.id, stream = ?s, "camera stream not recorded");
        }
        let tracks = session.tracks().to_vec();
        let video_tracks: Vec<bool> = tracks.iter().map(|t| t.codec.is_video()).collect();
        // The muxer's primary track (the first video) and its current
        // parameters, for thumbnails.
        let primary = tracks.iter().position(|t| t.codec.is_video());
        let mut primary_spec = primary.map(|i| tracks[i].clone());
        ctx.status
            .set_video_resolution(tracks.iter().find_map(|t| t.codec.dimensions()));
        let same = r
            .muxer
            .as_ref()
            .is_some_and(|m| same_layout(&m.tracks(), &tracks));
        r.clips.session(&tracks, same);
        match &mut r.muxer {
            Some(m) if same_layout(&m.tracks(), &tracks) => {
                m.restart_timeline(&mut r.events);
                for (i, t) in tracks.iter().enumerate() {
                    if let Err(e) = m.update_track(i, t.codec.clone()) {
                        tracing::warn!(camera = %cfg.id, error = %e, "camera sent a track the muxer refused");
                        ctx.error(ErrorKind::Mux, e.to_string());
                    }
                }
            }
            _ => {
                r.finish(EndReason::SourceGap);
                match Muxer::new(tracks, cfg.muxer.clone()) {
                    Ok(m) => {
                        r.muxer = Some(m);
                        r.skipped_counted = 0;
                        r.cuts_counted = 0;
                    }
                    Err(e) => {
                        tracing::error!(camera = %cfg.id, error = %e, "cannot record this camera's tracks");
                        ctx.source_error(e.to_string(), true);
                        ctx.set_state(CameraState::Retrying);
                        let delay = backoff.next_delay(true);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stopped.as_mut() => return,
                        }
                        continue;
                    }
                }
            }
        }
        r.flush();
        r.silence.restart();
        ctx.set_state(CameraState::Recording);
        ctx.status.set_error(None);
        let started = Instant::now();
        tracing::info!(camera = %cfg.id, url = %url, tracks = session.tracks().len(), "recording");
        loop {
            // Stop first: a reader behind on a loaded host always has a
            // frame ready, and polling the pinned stop future is cheap.
            let event = tokio::select! {
                biased;
                _ = stopped.as_mut() => return,
                ev = session.next() => ev,
            };
            if let Ok(SourceEvent::Frame(f)) = &event {
                r.clips.on_frame(f);
                r.follow_pause();
            }
            let Some(m) = r.muxer.as_mut() else { break };
            match event {
                Ok(SourceEvent::Frame(f)) if r.paused => {
                    ctx.status.add(Counter::Frames, 1);
                    if video_tracks.get(f.track).copied().unwrap_or(false) {
                        ctx.status.add(Counter::VideoFrames, 1);
                    }
                    ctx.status.set_last_frame(f.wall.0);
                }
                Ok(SourceEvent::Frame(f)) => {
                    ctx.status.add(Counter::Frames, 1);
                    let wall_ns = f.wall.0;
                    if video_tracks.get(f.track).copied().unwrap_or(false) {
                        ctx.status.add(Counter::VideoFrames, 1);
                        if f.keyframe {
                            r.silence.on_keyframe(wall_ns);
                            if let (Some(t), Some(spec)) = (&mut r.thumbnails, &primary_spec) {
                                if primary == Some(f.track) {
                                    t.on_keyframe(spec, &f);
                                }
                            }
                        }
                    }
                    ctx.status.set_last_frame(wall_ns);
                    if let Err(e) = m.push(f, &mut r.events) {
                        r.frames_refused += 1;
                        tracing::warn!(camera = %cfg.id, error = %e, "frame refused");
                    }
                    r.sync_skipped();
                    if !r.events.is_empty() {
                        r.flush();
                    }
                    r.watch_storing(wall_ns);
                }
                Ok(SourceEvent::ParametersChanged { track, codec }) => {
                    tracing::info!(camera = %cfg.id, track, codec = codec.name(), dims = ?codec.dimensions(), "codec parameters changed");
                    if let Some(dims) = codec.dimensions() {
                        ctx.status.set_video_resolution(Some(dims));
                    }
                    if primary == Some(track) {
                        if let Some(spec) = &mut primary_spec {
                            spec.codec = codec.clone();
                        }
                    }
                    r.clips.parameters_changed(track, codec.clone());
                    if let Err(e) = m.update_track(track, codec) {
                        tracing::warn!(camera = %cfg.id, error = %e, "new codec parameters refused");
                        ctx.error(ErrorKind::Mux, e.to_string());
                    }
                }
                Ok(SourceEvent::Loss { packets, .. }) => {
                    ctx.status.add(Counter::PacketsLost, u64::from(packets));
                }
                Ok(SourceEvent::SenderReport { .. }) => {}
                Err(e) => {
                    tracing::warn!(camera = %cfg.id, error = %e, "session ended");
                    ctx.source_error(e.to_string(), false);
                    if e.camera_ended_session() {
                        // Nothing of this session is left at the camera to
                        // wait for: forget it, so the reconnect is as
                        // prompt over UDP as over TCP. Sessions we drop
                        // ourselves (stall, bad data) stay tracked.
                        group = std::sync::Arc::new(SessionGroup::default());
                    }
                    break;
                }
            }
        }
        drop(session);
        disconnected_at = Some(Instant::now());
        backoff.session_ended(started.elapsed());
        ctx.set_state(CameraState::Retrying);
        let delay = backoff.next_delay(false);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.as_mut() => return,
        }
    }
}
