//! The camera task's side of clips: the pre-roll ring and the muxers of
//! the clips being recorded. Runs in the reader, between polls of the
//! camera, so it does no I/O: each clip's muxer events go to its writer
//! task ([`super::writer`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::ring::PreRoll;
use super::writer;
use super::{ClipEnd, ClipSettings, ClipShared, ClipStatus};
use crate::mux::{EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec};
use crate::recorder::status::CameraStatus;
use crate::thumbnail::SmallObjectStore;

struct Active {
    shared: Arc<ClipShared>,
    muxer: Muxer,
    out: mpsc::UnboundedSender<MuxEvent>,
    events: Vec<MuxEvent>,
}

pub(crate) struct ClipEngine {
    ring: PreRoll,
    muxer_cfg: MuxerConfig,
    tracks: Option<Vec<TrackSpec>>,
    requests: mpsc::UnboundedReceiver<Arc<ClipShared>>,
    waiting: Vec<Arc<ClipShared>>,
    active: Vec<Active>,
    store: Option<SmallObjectStore>,
    status: Arc<CameraStatus>,
}

impl ClipEngine {
    pub(crate) fn new(
        settings: ClipSettings,
        camera_muxer: &MuxerConfig,
        requests: mpsc::UnboundedReceiver<Arc<ClipShared>>,
        store: Option<SmallObjectStore>,
        status: Arc<CameraStatus>,
    ) -> Self {
        let muxer_cfg = MuxerConfig {
            // One segment per clip: only the stream's changes cut it.
            segment_duration: settings.max_length.saturating_mul(4) + Duration::from_secs(3600),
            align_to_wall_clock: false,
            ..camera_muxer.clone()
        };
        ClipEngine {
            ring: PreRoll::new(settings.pre_roll, settings.pre_roll_max_bytes),

            muxer_cfg,
            tracks: None,
            requests,
            waiting: Vec::new(),
            active: Vec::new(),
            store,
            status,
        }
    }

    /// A new session with `tracks` began. Its timestamps start afresh: the
    /// ring is forgotten; clips being recorded continue on the new timeline
    /// when the tracks are alike, and end otherwise.
    pub(crate) fn session(&mut self, tracks: &[TrackSpec], same_layout: bool) {
        let primary = tracks.iter().position(|t| t.codec.is_video()).unwrap_or(0);
        self.ring.reset(primary);
        self.tracks = Some(tracks.to_vec());
        if same_layout {
            for a in &mut self.active {
                a.muxer.restart_timeline(&mut a.events);
                flush(a);
            }
        } else {
            self.end_all(ClipEnd::StreamChanged);
        }
        self.status.set_pre_roll_bytes(0);
    }

    /// New codec parameters: the ring's frames no longer decode with the
    /// tracks to come, and clips being recorded end.
    pub(crate) fn parameters_changed(&mut self, track: usize, codec: crate::mux::CodecConfig) {
        if let Some(t) = self.tracks.as_mut().and_then(|t| t.get_mut(track)) {
            t.codec = codec;
        }
        let primary = self.ring.primary();
        self.ring.reset(primary);
        self.end_all(ClipEnd::StreamChanged);
    }

    /// Takes one frame from the camera.
    pub(crate) fn on_frame(&mut self, f: &Frame) {
        self.ring.push(f);
        let mut i = 0;
        while i < self.active.len() {
            if feed(&mut self.active[i], f) {
                i += 1;
            } else {
                self.active.swap_remove(i);
            }
        }
        while let Ok(req) = self.requests.try_recv() {
            self.waiting.push(req);
        }
        if !self.waiting.is_empty() {
            self.start_waiting(f.wall.0);
        }
        self.status.set_pre_roll_bytes(self.ring.bytes() as u64);
    }

    /// Starts the clips whose first frame has arrived; `now_ns` is the
    /// newest frame's wall clock.
    fn start_waiting(&mut self, now_ns: i64) {
        let Some(tracks) = self.tracks.clone() else {
            return;
        };
        let waiting = std::mem::take(&mut self.waiting);
        for shared in waiting {
            if shared.ctl().cancelled {
                shared.fail("deleted before it started".to_owned());
                continue;
            }
            let (trigger, pre) = {
                let i = shared.info.borrow();
                (i.trigger.0, i.pre)
            };
            let from_ns = trigger.saturating_sub(i64::try_from(pre.as_nanos()).unwrap_or(0));
            let Some((frames, key, exact)) = self.ring.start_for(from_ns) else {
                let expired = {
                    let mut ctl = shared.ctl();
                    let expired = now_ns >= ctl.max_end_ns;
                    ctl.closed |= expired;
                    expired
                };
                if expired {
                    shared.fail("no frame arrived within the clip's maximum length".to_owned());
                } else {
                    self.waiting.push(shared);
                }
                continue;
            };
            let Some(store) = self.store.clone() else {
                shared.fail(
                    "this camera's sink keeps no clips (it has no folder or bucket for them)"
                        .to_owned(),
                );
                continue;
            };
            let mut muxer = match Muxer::new(tracks.clone(), self.muxer_cfg.clone()) {
                Ok(m) => m,
                Err(e) => {
                    shared.fail(format!("cannot record this camera's tracks: {e}"));
                    continue;
                }
            };
            let primary = &tracks[self.ring.primary()];
            let skip_ticks = (exact.pts - key.pts).max(0);
            let skip_ns = crate::time::ticks_to_ns(i128::from(skip_ticks), primary.timescale);
            muxer.set_edit_start(Duration::from_nanos(u64::try_from(skip_ns).unwrap_or(0)));
            let start = exact.wall;
            let (tx, rx) = mpsc::unbounded_channel();
            let thumb = writer::Thumb {
                track: primary.clone(),
                key: key.clone(),
            };
            tokio::spawn(writer::write_clip(
                shared.clone(),
                store.clone(),
                rx,
                start,
                thumb,
            ));
            shared.update(|i| {
                i.status = ClipStatus::Recording;
                i.start = Some(start);
            });
            let mut a = Active {
                shared,
                muxer,
                out: tx,
                events: Vec::new(),
            };
            let mut alive = true;
            for f in frames {
                if !feed(&mut a, f) {
                    alive = false;
                    break;
                }
            }
            if alive {
                self.active.push(a);
            }
        }
    }

    fn end_all(&mut self, why: ClipEnd) {
        for mut a in self.active.drain(..) {
            finish(&mut a, why);
        }
    }

    /// The camera stops: clips being recorded are stored as they are,
    /// clips still waiting fail.
    pub(crate) fn stop(&mut self) {
        self.end_all(ClipEnd::CameraStopped);
        self.requests.close();
        while let Ok(req) = self.requests.try_recv() {
            self.waiting.push(req);
        }
        for w in self.waiting.drain(..) {
            w.ctl().closed = true;
            w.fail("the camera stopped before the clip's first frame arrived".to_owned());
        }
    }
}

/// Feeds `f` to a clip; false once the clip has ended.
fn feed(a: &mut Active, f: &Frame) -> bool {
    let end = {
        let mut ctl = a.shared.ctl();
        if ctl.cancelled {
            ctl.closed = true;
            drop(ctl);
            // Dropping the sender without an end makes the writer discard it.
            a.shared.fail("deleted while recording".to_owned());
            return false;
        }
        let end = if f.wall.0 >= ctl.max_end_ns {
            Some(ClipEnd::MaxLength)
        } else if f.wall.0 >= ctl.end_ns {
            Some(ClipEnd::PostRoll)
        } else {
            None
        };
        if end.is_some() {
            ctl.closed = true;
        }
        end
    };
    if let Some(why) = end {
        finish(a, why);
        return false;
    }
    if let Err(e) = a.muxer.push(f.clone(), &mut a.events) {
        tracing::debug!(error = %e, "clip muxer refused a frame");
    }
    // The stream changed under the clip: end it at the change.
    let cut = a
        .events
        .iter()
        .position(|e| matches!(e, MuxEvent::SegmentFinished(_)));
    if let Some(at) = cut {
        a.events.truncate(at + 1);
        a.shared.ctl().closed = true;
        flush(a);
        end_reason(a, ClipEnd::StreamChanged);
        return false;
    }
    flush(a);
    true
}

fn finish(a: &mut Active, why: ClipEnd) {
    a.shared.ctl().closed = true;
    end_reason(a, why);
    a.muxer.finish(EndReason::Finished, &mut a.events);
    flush(a);
}

fn end_reason(a: &Active, why: ClipEnd) {
    a.shared.update(|i| {
        if !i.status.is_final() {
            i.status = ClipStatus::Processing;
        }
    });
    writer::set_end(&a.shared, why);
}

fn flush(a: &mut Active) {
    for ev in a.events.drain(..) {
        // A writer that is gone has already failed the clip.
        let _ = a.out.send(ev);
    }
}
