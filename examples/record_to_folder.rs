//! Record one camera into a folder for a while, using the library directly,
//! and print every segment as it is stored (from the recorder's events).
//!
//! ```sh
//! cargo run -p recorder-core --example record_to_folder -- rtsp://user:pass@cam/stream1 ./recordings 60
//! ```

use std::time::Duration;

use recorder_core::recorder::SHUTDOWN_GRACE;
use recorder_core::{
    CameraConfig, CameraUrl, LocalSink, MuxerConfig, ObjectNameTemplate, Recorder, RecorderEvent,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: record_to_folder RTSP_URL [OUT_DIR] [SECONDS]")?;
    let out = args.next().unwrap_or_else(|| "./recordings".into());
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);

    let camera = CameraConfig::new("camera1", CameraUrl::parse(&url)?).with_muxer(MuxerConfig {
        segment_duration: Duration::from_secs(60),
        ..MuxerConfig::default()
    });
    let sink = LocalSink::new(&out, ObjectNameTemplate::default())?;
    let recorder = Recorder::new();
    let mut events = recorder.subscribe();
    let status = recorder.add_camera(camera, sink)?;

    let printer = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            match ev {
                RecorderEvent::SegmentStored(s) => println!(
                    "stored {} ({} bytes, {:.1} s, {} video frames, {:?} {:?})",
                    s.location,
                    s.bytes,
                    s.duration.as_secs_f64(),
                    s.video_frames.unwrap_or(0),
                    s.codecs,
                    s.resolution,
                ),
                RecorderEvent::StateChanged { camera, state } => {
                    println!("{camera}: {}", state.as_str())
                }
                RecorderEvent::Error {
                    camera, message, ..
                } => eprintln!("{camera}: {message}"),
                _ => {}
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    recorder.shutdown(SHUTDOWN_GRACE).await;
    println!("{:?}", status.snapshot());
    // The recorder (the events' sender) is dropped here, which ends the printer.
    drop(recorder);
    printer.await?;
    Ok(())
}
