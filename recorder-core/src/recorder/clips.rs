//! The recorder's side of clips and pauses: requests, extensions, the
//! registry of clips, deletion.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::clip::{
    sanitize_label, writer, ClipCtl, ClipError, ClipHandle, ClipInfo, ClipRequest, ClipShared,
    ClipStatus,
};
use super::{Recorder, RecorderError, RecorderEvent};
use crate::mux::WallTime;
use crate::ObjectNameTemplate;

/// Clips kept for listing; beyond it the oldest finished ones are forgotten
/// (their objects stay).
const KEPT_CLIPS: usize = 10_000;

#[derive(Default)]
pub(crate) struct Registry {
    by_id: BTreeMap<String, Arc<ClipShared>>,
    order: VecDeque<String>,
    /// Each camera's newest clip: the one a new trigger may extend.
    latest: HashMap<String, Arc<ClipShared>>,
    next: u64,
}

impl Registry {
    fn insert(&mut self, camera: &str, c: Arc<ClipShared>) {
        let id = c.info.borrow().id.clone();
        self.by_id.insert(id.clone(), c.clone());
        self.order.push_back(id);
        self.latest.insert(camera.to_owned(), c);
        while self.by_id.len() > KEPT_CLIPS {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            match self.by_id.get(&old) {
                Some(c) if !c.info.borrow().status.is_final() => {
                    self.order.push_back(old);
                    break;
                }
                _ => {
                    self.by_id.remove(&old);
                }
            }
        }
    }
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX / 4)
}

impl Recorder {
    fn find_clip(&self, id: &str) -> Result<Arc<ClipShared>, ClipError> {
        self.registry()
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| ClipError::UnknownClip(id.to_owned()))
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.shared.clips.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pauses continuous recording of a camera: its open segment is closed
    /// at the next frame and no new one starts until
    /// [`Recorder::resume_recording`]. The camera stays connected, its
    /// pre-roll ring filled, and clips still record. Other cameras are not
    /// touched. Survives [`Recorder::reconfigure_camera`].
    ///
    /// # Errors
    /// [`RecorderError::UnknownCamera`].
    pub fn pause_recording(&self, camera: &str) -> Result<(), RecorderError> {
        self.set_paused(camera, true)
    }

    /// Resumes continuous recording of a camera paused with
    /// [`Recorder::pause_recording`]: the next segment starts at the next
    /// keyframe.
    ///
    /// # Errors
    /// [`RecorderError::UnknownCamera`].
    pub fn resume_recording(&self, camera: &str) -> Result<(), RecorderError> {
        self.set_paused(camera, false)
    }

    fn set_paused(&self, camera: &str, on: bool) -> Result<(), RecorderError> {
        let status = self
            .status(camera)
            .ok_or_else(|| RecorderError::UnknownCamera(camera.to_owned()))?;
        if status.set_paused(on) != on {
            let _ = self.shared.events.send(RecorderEvent::RecordingPaused {
                camera: camera.to_owned(),
                paused: on,
            });
        }
        Ok(())
    }

    /// Records an event clip of `camera` around now: from `req.pre` before
    /// (out of the camera's pre-roll ring) to `req.post` after, or until
    /// [`Recorder::end_clip`] when `req.post` is `None`.
    ///
    /// If a clip of this camera is still recording, it is extended to
    /// cover this request too and its handle is returned
    /// ([`ClipHandle::extended`]). Status changes arrive on the handle and
    /// as [`RecorderEvent::Clip`].
    ///
    /// # Errors
    /// Unknown camera, `pre` beyond the camera's pre-roll, `pre + post`
    /// beyond its maximum clip length, or a label that makes no valid
    /// object name.
    pub fn clip(&self, camera: &str, req: ClipRequest) -> Result<ClipHandle, ClipError> {
        let (settings, tx) = {
            let cams = self.cameras();
            let e = cams
                .get(camera)
                .ok_or_else(|| ClipError::UnknownCamera(camera.to_owned()))?;
            (e.cfg.clips.clone(), e.clip_tx.clone())
        };
        if req.pre > settings.pre_roll {
            return Err(ClipError::PreTooLong {
                camera: camera.to_owned(),
                requested: req.pre,
                kept: settings.pre_roll,
            });
        }
        if req.pre.is_zero() && req.post.is_some_and(|p| p.is_zero()) {
            return Err(ClipError::Empty);
        }
        let total = req.pre.saturating_add(req.post.unwrap_or(Duration::ZERO));
        if total > settings.max_length {
            return Err(ClipError::TooLong {
                camera: camera.to_owned(),
                requested: total,
                max: settings.max_length,
            });
        }
        let now = WallTime::now();
        let mut reg = self.registry();
        if let Some(cur) = reg.latest.get(camera).cloned() {
            let mut ctl = cur.ctl();
            if !ctl.closed && !ctl.cancelled {
                let end = req.post.map_or(i64::MAX, |p| now.0.saturating_add(ns(p)));
                ctl.end_ns = ctl.end_ns.max(end);
                let open = ctl.end_ns == i64::MAX;
                drop(ctl);
                cur.update(|i| {
                    i.extensions += 1;
                    if open {
                        i.post = None;
                    } else if let Some(p) = req.post {
                        // The post-roll from the first trigger that covers
                        // the new end.
                        let from_first =
                            Duration::from_nanos((now.0 + ns(p) - i.trigger.0).max(0) as u64);
                        i.post = Some(i.post.map_or(from_first, |old| old.max(from_first)));
                    }
                });
                tracing::info!(clip = %cur.info.borrow().id, camera, "clip extended by a new trigger");
                return Ok(ClipHandle::new(&cur, true));
            }
        }
        let label = sanitize_label(&req.label);
        let template = settings.template.replace("{label}", &label);
        let template = ObjectNameTemplate::parse(&template).map_err(|e| ClipError::BadName {
            template: settings.template.clone(),
            label: label.clone(),
            reason: e.to_string(),
        })?;
        reg.next += 1;
        let id = format!("{}-{}", now.0.div_euclid(1_000_000), reg.next);
        let info = ClipInfo {
            id,
            camera: camera.to_owned(),
            label,
            source: req.source.clone(),
            trigger: now,
            pre: req.pre,
            post: req.post,
            extensions: 0,
            ended_by_request: false,
            status: ClipStatus::Pending,
            name: None,
            start: None,
            duration: None,
            bytes: 0,
            thumbnail: None,
        };
        let start_ns = now.0.saturating_sub(ns(req.pre));
        let shared = Arc::new(ClipShared {
            ctl: Mutex::new(ClipCtl {
                end_ns: req.post.map_or(i64::MAX, |p| now.0.saturating_add(ns(p))),
                max_end_ns: start_ns.saturating_add(ns(settings.max_length)),
                closed: false,
                cancelled: false,
            }),
            info: watch::channel(info).0,
            events: self.shared.events.clone(),
            template,
            ended: Mutex::new(None),
            stored: Mutex::new(None),
        });
        reg.insert(camera, shared.clone());
        drop(reg);
        shared.update(|_| {});
        tracing::info!(clip = %shared.info.borrow().id, camera, pre = ?req.pre, post = ?req.post, "clip requested");
        if tx.send(shared.clone()).is_err() {
            shared.ctl().closed = true;
            shared.fail("the camera is stopping".to_owned());
        }
        Ok(ClipHandle::new(&shared, false))
    }

    /// Ends a recording clip after `post` more (the camera's default
    /// post-roll when `None`). For a clip with a fixed end, moves the end
    /// earlier or later to now + `post`.
    ///
    /// # Errors
    /// [`ClipError::UnknownClip`], or [`ClipError::NotRecording`] once the
    /// clip stopped taking frames.
    pub fn end_clip(&self, id: &str, post: Option<Duration>) -> Result<ClipHandle, ClipError> {
        let c = self.find_clip(id)?;
        let camera = c.info.borrow().camera.clone();
        let post = post.unwrap_or_else(|| {
            self.camera_config(&camera)
                .map_or(super::ClipSettings::default().default_post, |c| {
                    c.clips.default_post
                })
        });
        let now = WallTime::now();
        {
            let mut ctl = c.ctl();
            if ctl.closed || ctl.cancelled {
                return Err(ClipError::NotRecording {
                    id: id.to_owned(),
                    status: c.info.borrow().status.as_str(),
                });
            }
            ctl.end_ns = now.0.saturating_add(ns(post));
        }
        c.update(|i| {
            i.ended_by_request = true;
            i.post = Some(Duration::from_nanos(
                (now.0 + ns(post) - i.trigger.0).max(0) as u64,
            ));
        });
        Ok(ClipHandle::new(&c, false))
    }

    /// A clip by id (clips of this process, the newest 10 000).
    pub fn clip_info(&self, id: &str) -> Option<ClipInfo> {
        self.registry()
            .by_id
            .get(id)
            .map(|c| c.info.borrow().clone())
    }

    /// A handle to a clip by id.
    pub fn clip_handle(&self, id: &str) -> Option<ClipHandle> {
        self.registry()
            .by_id
            .get(id)
            .map(|c| ClipHandle::new(c, false))
    }

    /// Every clip known, oldest first.
    pub fn clips(&self) -> Vec<ClipInfo> {
        let reg = self.registry();
        reg.order
            .iter()
            .filter_map(|id| reg.by_id.get(id))
            .map(|c| c.info.borrow().clone())
            .collect()
    }

    /// Deletes a clip: one still recording is dropped, a stored one is
    /// deleted from its folder or bucket (with its sidecar). Waits up to
    /// a minute for a clip being stored to finish first.
    ///
    /// # Errors
    /// [`ClipError::UnknownClip`], [`ClipError::DeleteFailed`].
    pub async fn delete_clip(&self, id: &str) -> Result<(), ClipError> {
        let c = self.find_clip(id)?;
        {
            let mut ctl = c.ctl();
            if !ctl.closed {
                ctl.cancelled = true;
            }
        }
        let mut rx = c.info.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            rx.wait_for(|i| i.status.is_final() || c.ctl().cancelled),
        )
        .await;
        let stored = c.stored.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((store, name)) = stored {
            let fail = |e: Box<dyn std::error::Error + Send + Sync>| ClipError::DeleteFailed {
                id: id.to_owned(),
                name: name.clone(),
                reason: e.to_string(),
            };
            store.delete(&name).await.map_err(fail)?;
            for other in writer::companions(&name) {
                store.delete(&other).await.map_err(fail)?;
            }
        }
        let mut reg = self.registry();
        reg.by_id.remove(id);
        reg.order.retain(|x| x != id);
        let camera = c.info.borrow().camera.clone();
        if reg.latest.get(&camera).is_some_and(|l| Arc::ptr_eq(l, &c)) {
            reg.latest.remove(&camera);
        }
        Ok(())
    }
}
