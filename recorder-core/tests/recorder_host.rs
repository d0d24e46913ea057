//! The library embedded as a host app would: subscribe to the recorder's
//! events, add a camera to a running recorder, reconfigure one, remove
//! another, and check what the events said against the files on disk
//! (names, sizes, frame counts, resolution, codecs, wall clock).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use camera_sim::{MountConfig, SimConfig};
use recorder_core::{
    CameraSnapshot, CameraState, CameraStatus, LocalSink, MuxerConfig, NotStoringReason,
    ObjectNameTemplate, Recorder, RecorderError, RecorderEvent, SegmentRecord,
};
use support::{media::*, recording::*};

/// Every event received so far, in order.
fn drain(rx: &mut tokio::sync::broadcast::Receiver<RecorderEvent>, into: &mut Vec<RecorderEvent>) {
    while let Ok(ev) = rx.try_recv() {
        into.push(ev);
    }
}

/// The stored-segment records among `events`, in order.
fn stored(events: &[RecorderEvent]) -> Vec<Arc<SegmentRecord>> {
    events
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::SegmentStored(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Polls `status` until `done` holds (or fails the test after `limit`).
async fn wait_for(
    status: &CameraStatus,
    limit: Duration,
    done: impl Fn(&CameraSnapshot) -> bool,
) -> CameraSnapshot {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = status.snapshot();
        if done(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in {limit:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn position(events: &[RecorderEvent], f: impl Fn(&RecorderEvent) -> bool) -> Option<usize> {
    events.iter().position(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_adds_reconfigures_and_removes_cameras_and_events_match_files() {
    let sim = start_sim(
        SimConfig::new()
            .mount(MountConfig::demo("/a"))
            .mount(MountConfig::demo("/b"))
            .mount(MountConfig::demo("/c")),
    );
    let dir = tempfile::tempdir().unwrap();
    let sink = || LocalSink::new(dir.path(), ObjectNameTemplate::default()).unwrap();
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    let day0 = now_seconds_of_day();

    let seg = Duration::from_secs(3);
    recorder
        .add_camera(camera("a", &sim.url("/a"), seg), sink())
        .unwrap();
    recorder
        .add_camera(camera("b", &sim.url("/b"), seg), sink())
        .unwrap();
    assert!(matches!(
        recorder.add_camera(camera("a", &sim.url("/a"), seg), sink()),
        Err(RecorderError::DuplicateCamera(id)) if id == "a"
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A camera added while the others record.
    let c_status = recorder
        .add_camera(camera("c", &sim.url("/c"), seg), sink())
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Remove b: its open segment is stored before the removal is reported.
    recorder.remove_camera("b").await.unwrap();
    assert!(matches!(
        recorder.remove_camera("b").await,
        Err(RecorderError::UnknownCamera(_))
    ));
    // Reconfigure a: shorter segments, same sink, counters continue.
    let a_before = recorder.status("a").unwrap().snapshot();
    let mut a_cfg = recorder.camera_config("a").unwrap();
    a_cfg.muxer.segment_duration = Duration::from_secs(2);
    let a_status = recorder.reconfigure_camera(a_cfg).await.unwrap();
    assert_eq!(recorder.camera_ids(), ["a", "c"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        a_status.snapshot().frames > a_before.frames,
        "a records again"
    );

    let logs = drain_and_stop(&sim, &["/a", "/c"], recorder).await;
    let day1 = now_seconds_of_day();
    let mut events = Vec::new();
    drain(&mut rx, &mut events);
    for e in &events {
        println!("{e:?}");
    }

    // Order: b's last segment, then its removal; c added after a and b.
    let removed_b = position(
        &events,
        |e| matches!(e, RecorderEvent::CameraRemoved { camera } if camera == "b"),
    )
    .expect("b's removal reported");
    let stored_b: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, RecorderEvent::SegmentStored(s) if s.camera == "b"))
        .map(|(i, _)| i)
        .collect();
    assert!(!stored_b.is_empty(), "b stored segments");
    assert!(
        stored_b.iter().all(|&i| i < removed_b),
        "nothing from b after its removal"
    );
    let added = |id: &str| {
        position(
            &events,
            |e| matches!(e, RecorderEvent::CameraAdded { camera } if camera == id),
        )
        .unwrap_or_else(|| panic!("{id} added"))
    };
    assert!(added("c") > added("a") && added("c") > added("b"));
    for id in ["a", "b", "c"] {
        assert!(
            events.iter().any(|e| matches!(e,
                RecorderEvent::StateChanged { camera, state: CameraState::Recording } if camera == id)),
            "{id} reported recording"
        );
    }

    // Every stored-segment event names a file with exactly what it says,
    // and every file was announced.
    let records = stored(&events);
    let announced: BTreeSet<PathBuf> = records.iter().map(|r| PathBuf::from(&r.location)).collect();
    let on_disk: BTreeSet<PathBuf> = segments(dir.path()).into_iter().collect();
    assert_eq!(announced, on_disk, "events and files agree");
    assert_no_parts(dir.path());
    let mut video_by_camera: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        let path = PathBuf::from(&r.location);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            r.bytes,
            "{}",
            r.location
        );
        assert!(r.location.ends_with(&r.name), "{} / {}", r.location, r.name);
        assert!(r.name.starts_with(&format!("{}/", r.camera)), "{}", r.name);
        assert_eq!(r.codecs, ["h264", "aac"]);
        assert_eq!(r.resolution, Some((640, 360)));
        assert!(r.reason.is_some(), "closed by the muxer: {r:?}");
        assert!(!r.upload_pending);
        assert!(r.wall_end > r.wall_start);
        assert_named_in(&path, day0, day1);
        // The name's second is the segment's first frame's wall clock.
        assert_eq!(
            name_seconds_of_day(&path),
            (r.wall_start.unix_secs() as u64) % 86_400,
            "{}",
            r.location
        );
        let report = inspect(&path);
        report.assert_clean();
        assert_eq!(Some(report.video.packets), r.video_frames, "{}", r.location);
        assert_eq!(
            (report.video.width, report.video.height),
            (640, 360),
            "{}",
            r.location
        );
        assert!(
            (report.duration - r.duration.as_secs_f64()).abs() < 0.1,
            "{}: ffprobe {} s, event {:?}",
            r.location,
            report.duration,
            r.duration
        );
        *video_by_camera.entry(r.camera.clone()).or_default() += r.video_frames.unwrap();
    }
    // c was never touched by the changes to a and b: every frame it was
    // sent is in its files.
    let c_sent = logs[1].video_frames;
    assert_eq!(video_by_camera["c"], c_sent, "c lost no frame");
    assert_eq!(
        c_status.snapshot().segments_recorded as usize,
        records.iter().filter(|r| r.camera == "c").count()
    );
    assert!(video_by_camera["a"] > 0 && video_by_camera["b"] > 0);
}

/// What a [`FaultySink`] does while its switch is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Every fragment write waits (a hung disk or store).
    StallFragments,
    /// `start` fails as a full disk does.
    RefuseStarts,
}

/// A [`LocalSink`] with a fault switched on and off by the test.
struct FaultySink {
    inner: LocalSink,
    fault: Fault,
    on: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultySink {
    fn new(dir: &std::path::Path, fault: Fault) -> (Self, Arc<std::sync::atomic::AtomicBool>) {
        let on = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = FaultySink {
            inner: LocalSink::new(dir, ObjectNameTemplate::default()).unwrap(),
            fault,
            on: on.clone(),
        };
        (sink, on)
    }

    fn on(&self, fault: Fault) -> bool {
        self.fault == fault && self.on.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl recorder_core::SegmentSink for FaultySink {
    async fn start(
        &mut self,
        camera: &str,
        start: &recorder_core::mux::SegmentStart,
    ) -> Result<(), recorder_core::SinkError> {
        if self.on(Fault::RefuseStarts) {
            return Err(recorder_core::SinkError::from_io(
                "creating",
                "/full/disk.mp4.part",
                std::io::Error::from_raw_os_error(28),
            ));
        }
        self.inner.start(camera, start).await
    }
    async fn fragment(
        &mut self,
        fragment: &recorder_core::mux::Fragment,
    ) -> Result<(), recorder_core::SinkError> {
        while self.on(Fault::StallFragments) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.inner.fragment(fragment).await
    }
    async fn finish(
        &mut self,
        end: &recorder_core::mux::SegmentEnd,
    ) -> Result<recorder_core::StoredSegment, recorder_core::SinkError> {
        self.inner.finish(end).await
    }
    async fn abort(
        &mut self,
    ) -> Result<Option<recorder_core::StoredSegment>, recorder_core::SinkError> {
        self.inner.abort().await
    }
}

/// Storage that stalls for 4 s never stalls the camera session: the reader
/// drops whole fragments up to the next keyframe-started one, counts them,
/// reports the episode, and what is stored still decodes cleanly with the
/// frame counts its event states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_storage_drops_fragments_up_to_a_keyframe_and_says_so() {
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo("/s")));
    let dir = tempfile::tempdir().unwrap();
    let (sink, stalled) = FaultySink::new(dir.path(), Fault::StallFragments);
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    // One fragment may wait; everything beyond is dropped while stalled.
    let cfg = camera("s", &sim.url("/s"), Duration::from_secs(30)).with_queue_limit_bytes(1);
    let status = recorder.add_camera(cfg, sink).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stalled.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = status.snapshot();
    stalled.store(false, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before_stop = status.snapshot();
    drain_and_stop(&sim, &["/s"], recorder).await;
    let snap = status.snapshot();
    let mut events = Vec::new();
    drain(&mut rx, &mut events);

    assert_eq!(snap.state, CameraState::Stopped);
    assert_eq!(
        before_stop.reconnects, 0,
        "the session never stalled: {before_stop:?}"
    );
    assert!(during.fragments_dropped >= 2, "{during:?}");
    let (fragments, bytes) = events
        .iter()
        .find_map(|e| match e {
            RecorderEvent::FragmentsDropped {
                fragments, bytes, ..
            } => Some((*fragments, *bytes)),
            _ => None,
        })
        .expect("the episode is reported");
    assert_eq!(
        (fragments, bytes),
        (snap.fragments_dropped, snap.bytes_dropped)
    );
    let records = stored(&events);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    let report = inspect(std::path::Path::new(&r.location));
    report.assert_clean();
    assert_eq!(Some(report.video.packets), r.video_frames);
    assert!(
        report.video.packets + 25 < snap.video_frames,
        "dropped frames are not in the file: {} stored of {}",
        report.video.packets,
        snap.video_frames
    );
}

/// A sink that cannot start a segment (disk full) does not lose the whole
/// segment: the start is retried at each keyframe-started fragment, one
/// error is reported for the episode, and once space returns the segment is
/// stored from that keyframe on, named after its first stored frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_segment_start_is_retried_at_the_next_keyframe() {
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo("/f")));
    let dir = tempfile::tempdir().unwrap();
    let (sink, full) = FaultySink::new(dir.path(), Fault::RefuseStarts);
    full.store(true, std::sync::atomic::Ordering::Relaxed);
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    let status = recorder
        .add_camera(camera("f", &sim.url("/f"), Duration::from_secs(60)), sink)
        .unwrap();
    // Frames arrive and nothing is stored: within a fragment plus a GOP
    // the camera says why.
    let during = wait_for(&status, Duration::from_secs(15), |s| {
        s.not_storing.is_some() && s.fragments_dropped >= 2
    })
    .await;
    assert_eq!(
        during.not_storing,
        Some(NotStoringReason::StorageFailing),
        "{during:?}"
    );
    assert_eq!(during.state, CameraState::Recording);
    full.store(false, std::sync::atomic::Ordering::Relaxed);
    let freed = now_seconds_of_day();
    tokio::time::sleep(Duration::from_secs(5)).await;
    drain_and_stop(&sim, &["/f"], recorder).await;
    let snap = status.snapshot();
    let mut events = Vec::new();
    drain(&mut rx, &mut events);

    assert!(during.fragments_dropped >= 2, "{during:?}");
    let errors = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RecorderEvent::Error {
                    kind: recorder_core::ErrorKind::Sink,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 1, "one error for the episode: {events:?}");
    let not_storing = position(&events, |e| {
        matches!(
            e,
            RecorderEvent::NotStoring {
                reason: NotStoringReason::StorageFailing,
                ..
            }
        )
    })
    .expect("the silence is reported");
    let resumed = position(&events, |e| {
        matches!(e, RecorderEvent::StoringResumed { .. })
    })
    .expect("and its end");
    assert!(not_storing < resumed, "{events:?}");
    assert_eq!(snap.not_storing, None, "cleared once storing resumed");
    assert_eq!(snap.sink_errors, 1);
    assert!(events.iter().any(|e| matches!(e,
        RecorderEvent::FragmentsDropped { fragments, .. } if *fragments >= 2)));
    let records = stored(&events);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    let path = PathBuf::from(&r.location);
    // Named after the first stored frame, which came after space returned.
    assert_named_in(&path, freed, now_seconds_of_day());
    let report = inspect(&path);
    report.assert_clean();
    assert_eq!(Some(report.video.packets), r.video_frames);
    assert!(
        report.video.packets >= 75,
        "5 s of 25 fps stored: {}",
        report.video.packets
    );
}

/// A camera whose every frame is over the frame cap streams on, stores
/// nothing, and is never silent about it: the status, an event and the
/// skipped-frame counter all name the cause while the session stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_arriving_but_nothing_stored_is_reported_with_its_cause() {
    let sim = start_sim(SimConfig::new().mount(MountConfig::demo("/big")));
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new();
    let mut rx = recorder.subscribe();
    let cfg = camera("big", &sim.url("/big"), Duration::from_secs(60)).with_muxer(MuxerConfig {
        max_frame_bytes: 64,
        ..MuxerConfig::default()
    });
    let sink = LocalSink::new(dir.path(), ObjectNameTemplate::default()).unwrap();
    let status = recorder.add_camera(cfg, sink).unwrap();
    // Reported after a fragment (1 s) plus the GOP the reader observed.
    let snap = wait_for(&status, Duration::from_secs(25), |s| {
        s.not_storing.is_some()
    })
    .await;
    drain_and_stop(&sim, &["/big"], recorder).await;
    let mut events = Vec::new();
    drain(&mut rx, &mut events);

    assert_eq!(snap.not_storing, Some(NotStoringReason::FramesTooLarge));
    assert_eq!(snap.state, CameraState::Recording, "the session stays up");
    assert_eq!(snap.bytes_recorded, 0);
    assert!(
        snap.frames_skipped >= 50,
        "over two seconds of frames: {snap:?}"
    );
    let reported: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::NotStoring {
                reason,
                for_duration,
                ..
            } => Some((*reason, *for_duration)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported.len(),
        1,
        "reported once, not per frame: {events:?}"
    );
    assert_eq!(reported[0].0, NotStoringReason::FramesTooLarge);
    assert!(
        reported[0].1 > Duration::from_secs(2) && reported[0].1 < Duration::from_secs(13),
        "after a fragment plus a GOP: {:?}",
        reported[0].1
    );
    assert!(stored(&events).is_empty());
}
