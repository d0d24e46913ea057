//! One camera's life: connect, record, reconnect with backoff, and close
//! the open segment cleanly on shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::status::{CameraState, CameraStatus};
use crate::mux::{EndReason, MuxEvent, Muxer, MuxerConfig, TrackSpec};
use crate::sink::{SegmentSink, StoredSegment};
use crate::source::{connect, Backoff, BackoffConfig, SessionGroup, SourceConfig, SourceEvent};

/// Everything one camera needs.
#[derive(Clone, Debug)]
pub struct CameraConfig {
    /// Camera id: names files and metrics.
    pub id: String,
    /// How to reach the camera.
    pub source: SourceConfig,
    /// How to cut segments.
    pub muxer: MuxerConfig,
    /// Reconnect pacing.
    pub backoff: BackoffConfig,
}

/// Tracks that can continue in one muxer: same count, kinds and clocks
/// (codec parameters may differ; the muxer starts a new segment for those).
fn same_layout(a: &[TrackSpec], b: &[TrackSpec]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.timescale == y.timescale && x.codec.is_video() == y.codec.is_video())
}

struct Pipeline<'a, S> {
    id: &'a str,
    sink: &'a mut S,
    status: &'a CameraStatus,
    muxer: Option<Muxer>,
    events: Vec<MuxEvent>,
    /// The current muxer's skipped-frame count already added to `status`
    /// (a new muxer after a track change starts counting from 0 again).
    skipped_counted: u64,
}

impl<S: SegmentSink> Pipeline<'_, S> {
    /// Hands pending muxer events to the sink. Sink errors are reported and
    /// counted; the sink keeps what it could store (see its docs).
    async fn drain(&mut self) {
        // Taken and put back so the buffer keeps its capacity: this runs
        // for every frame.
        let mut events = std::mem::take(&mut self.events);
        for ev in events.drain(..) {
            let result = match &ev {
                MuxEvent::SegmentStarted(s) => {
                    self.status
                        .bytes_recorded
                        .fetch_add(s.init.len() as u64, Ordering::Relaxed);
                    let started = self.sink.start(self.id, s).await;
                    if started.is_ok() {
                        tracing::debug!(camera = self.id, index = s.index, "segment started");
                        self.status
                            .set_segment(Some(format!("segment {}", s.index)));
                    }
                    started.map(|_| None)
                }
                MuxEvent::Fragment(f) => {
                    self.status
                        .bytes_recorded
                        .fetch_add(f.bytes.len() as u64, Ordering::Relaxed);
                    self.sink.fragment(f).await.map(|_| None)
                }
                MuxEvent::SegmentFinished(e) => {
                    self.sink.finish(e).await.map(|s| Some((s, e.reason)))
                }
            };
            match result {
                Ok(Some((stored, reason))) => self.stored(stored, reason),
                Ok(None) => {}
                Err(e) => {
                    self.status.sink_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(camera = self.id, error = %e, "storing video failed");
                    self.status.set_error(Some(e.to_string()));
                }
            }
        }
        self.events = events;
    }

    fn stored(&mut self, stored: StoredSegment, reason: EndReason) {
        self.status
            .segments_recorded
            .fetch_add(1, Ordering::Relaxed);
        self.status.set_segment(None);
        // An S3 sink returns from `finish` before the upload completes: the
        // object exists once the store's `segments_uploaded` counts it.
        let message = if stored.location.starts_with("s3://") {
            "segment sealed for upload"
        } else {
            "segment stored"
        };
        tracing::info!(
            camera = self.id,
            location = %stored.location,
            bytes = stored.bytes,
            fragments = stored.fragments,
            reason = reason.as_str(),
            "{message}"
        );
    }

    async fn finish(&mut self, reason: EndReason) {
        if let Some(m) = &mut self.muxer {
            m.finish(reason, &mut self.events);
            self.sync_skipped();
        }
        self.drain().await;
    }

    /// Adds the muxer's newly skipped frames to the status counter, which
    /// must only grow (it is a Prometheus counter).
    fn sync_skipped(&mut self) {
        if let Some(m) = &self.muxer {
            let n = m.stats().frames_skipped;
            if n > self.skipped_counted {
                self.status
                    .frames_skipped
                    .fetch_add(n - self.skipped_counted, Ordering::Relaxed);
                self.skipped_counted = n;
            }
        }
    }
}

/// Runs one camera until `stop` turns true, then closes the open segment
/// at its last fragment. Never returns early on camera or network errors:
/// those are retried with backoff and reported through `status`.
pub async fn run_camera<S: SegmentSink>(
    cfg: CameraConfig,
    mut sink: S,
    status: Arc<CameraStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let group = Arc::new(SessionGroup::default());
    let mut backoff = Backoff::new(cfg.backoff.clone());
    let mut pipe = Pipeline {
        id: &cfg.id,
        sink: &mut sink,
        status: &status,
        muxer: None,
        events: Vec::new(),
        skipped_counted: 0,
    };
    let url = cfg.source.url.redacted();
    let mut disconnected_at: Option<Instant> = None;
    let mut sessions = 0u64;
    'outer: while !*stop.borrow() {
        status.set_state(CameraState::Connecting);
        let attempt = tokio::select! {
            r = connect(&cfg.source, &group) => r,
            _ = stop.changed() => break 'outer,
        };
        let mut session = match attempt {
            Ok(s) => s,
            Err(e) => {
                let config_error = e.is_config_error();
                let delay = backoff.next_delay(config_error);
                tracing::warn!(camera = %cfg.id, url = %url, error = %e, retry_in = ?delay, "cannot open the camera");
                status.set_error_kind(Some(e.to_string()), config_error);
                status.set_state(CameraState::Retrying);
                // A long outage ends the open segment rather than leaving
                // it open (and its file unfinished) until the camera returns.
                if disconnected_at.is_some_and(|t| t.elapsed() > cfg.muxer.max_gap_in_segment) {
                    pipe.finish(EndReason::SourceGap).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => break 'outer,
                }
                continue;
            }
        };
        sessions += 1;
        if sessions > 1 {
            status.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        for s in session.skipped_streams() {
            tracing::warn!(camera = %cfg.id, stream = ?s, "camera stream not recorded");
        }
        let tracks = session.tracks().to_vec();
        let video_tracks: Vec<bool> = tracks.iter().map(|t| t.codec.is_video()).collect();
        match &mut pipe.muxer {
            Some(m) if same_layout(&m.tracks(), &tracks) => {
                m.restart_timeline(&mut pipe.events);
                for (i, t) in tracks.iter().enumerate() {
                    if let Err(e) = m.update_track(i, t.codec.clone()) {
                        tracing::warn!(camera = %cfg.id, error = %e, "camera sent a track the muxer refused");
                    }
                }
            }
            _ => {
                pipe.finish(EndReason::SourceGap).await;
                match Muxer::new(tracks, cfg.muxer.clone()) {
                    Ok(m) => {
                        pipe.muxer = Some(m);
                        pipe.skipped_counted = 0;
                    }
                    Err(e) => {
                        tracing::error!(camera = %cfg.id, error = %e, "cannot record this camera's tracks");
                        status.set_error_kind(Some(e.to_string()), true);
                        status.set_state(CameraState::Retrying);
                        let delay = backoff.next_delay(true);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => break 'outer,
                        }
                        continue;
                    }
                }
            }
        }
        pipe.drain().await;
        status.set_state(CameraState::Recording);
        status.set_error(None);
        let started = Instant::now();
        tracing::info!(camera = %cfg.id, url = %url, tracks = session.tracks().len(), "recording");
        loop {
            let event = tokio::select! {
                ev = session.next() => ev,
                _ = stop.changed() => break 'outer,
            };
            let Some(m) = pipe.muxer.as_mut() else { break };
            match event {
                Ok(SourceEvent::Frame(f)) => {
                    status.frames.fetch_add(1, Ordering::Relaxed);
                    if video_tracks.get(f.track).copied().unwrap_or(false) {
                        status.video_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    status
                        .last_frame_unix_ns
                        .store(f.wall.0.max(0) as u64, Ordering::Relaxed);
                    if let Err(e) = m.push(f, &mut pipe.events) {
                        tracing::warn!(camera = %cfg.id, error = %e, "frame refused");
                    }
                    pipe.sync_skipped();
                    pipe.drain().await;
                }
                Ok(SourceEvent::ParametersChanged { track, codec }) => {
                    tracing::info!(camera = %cfg.id, track, codec = codec.name(), dims = ?codec.dimensions(), "codec parameters changed");
                    if let Err(e) = m.update_track(track, codec) {
                        tracing::warn!(camera = %cfg.id, error = %e, "new codec parameters refused");
                    }
                }
                Ok(SourceEvent::Loss { packets, .. }) => {
                    status
                        .packets_lost
                        .fetch_add(u64::from(packets), Ordering::Relaxed);
                }
                Ok(SourceEvent::SenderReport { .. }) => {}
                Err(e) => {
                    tracing::warn!(camera = %cfg.id, error = %e, "session ended");
                    status.set_error(Some(e.to_string()));
                    break;
                }
            }
        }
        drop(session);
        disconnected_at = Some(Instant::now());
        backoff.session_ended(started.elapsed());
        status.set_state(CameraState::Retrying);
        let delay = backoff.next_delay(false);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break 'outer,
        }
    }
    pipe.finish(EndReason::Finished).await;
    status.set_state(CameraState::Stopped);
    tracing::info!(camera = %cfg.id, "stopped");
}

/// How long the camera task may take to close its segment on shutdown
/// before the host should give up waiting.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
