//! Record one camera into a folder for a while, using the library directly.
//!
//! ```sh
//! cargo run -p recorder-core --example record_to_folder -- rtsp://user:pass@cam/stream1 ./recordings 60
//! ```

use std::time::Duration;

use recorder_core::mux::MuxerConfig;
use recorder_core::recorder::{CameraConfig, Recorder, SHUTDOWN_GRACE};
use recorder_core::sink::{LocalSink, ObjectNameTemplate};
use recorder_core::source::{BackoffConfig, CameraUrl, SourceConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: record_to_folder RTSP_URL [OUT_DIR] [SECONDS]")?;
    let out = args.next().unwrap_or_else(|| "./recordings".into());
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);

    let camera = CameraConfig {
        id: "camera1".into(),
        source: SourceConfig::new(CameraUrl::parse(&url)?),
        muxer: MuxerConfig {
            segment_duration: Duration::from_secs(60),
            ..MuxerConfig::default()
        },
        backoff: BackoffConfig::default(),
    };
    let sink = LocalSink::new(&out, ObjectNameTemplate::default())?;
    let mut recorder = Recorder::new();
    let status = recorder.add_camera(camera, sink);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    println!("{:?}", status.snapshot());
    recorder.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}
