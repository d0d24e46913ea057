//! Record one camera into an S3 bucket (AWS S3, MinIO, Garage, R2, ...)
//! and print each segment as it is sealed for upload, from the recorder's
//! events.
//!
//! ```sh
//! S3_ENDPOINT=http://127.0.0.1:3900 S3_ACCESS_KEY_ID=... S3_SECRET_ACCESS_KEY=... \
//!   cargo run -p recorder-core --example record_camera_to_s3 -- \
//!   rtsp://user:pass@cam/stream1 s3://bucket/cams 60
//! ```
//!
//! The library reads no environment: this example does, to build its
//! [`S3Config`].

use std::time::Duration;

use recorder_core::recorder::SHUTDOWN_GRACE;
use recorder_core::{CameraConfig, CameraUrl, Recorder, RecorderEvent, S3Config, S3Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: record_camera_to_s3 RTSP_URL s3://BUCKET/PREFIX [SECONDS]";
    let url = args.next().ok_or(usage)?;
    let dest = args.next().ok_or(usage)?;
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);

    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut s3 = S3Config::new("").with_url(&dest)?;
    if let Some(ep) = env("S3_ENDPOINT") {
        s3 = s3.with_endpoint(ep);
    }
    if let Some(region) = env("S3_REGION") {
        s3 = s3.with_region(region);
    }
    if let (Some(id), Some(secret)) = (env("S3_ACCESS_KEY_ID"), env("S3_SECRET_ACCESS_KEY")) {
        s3 = s3.with_credentials(id, secret);
    }
    // Checks endpoint, credentials and bucket before any camera starts, and
    // completes what an earlier run left in the spool or the bucket.
    let store = S3Store::connect(s3).await?;
    store.recover().await?;

    let recorder = Recorder::new();
    let mut events = recorder.subscribe();
    recorder.add_camera(
        CameraConfig::new("camera1", CameraUrl::parse(&url)?),
        store.sink("camera1"),
    )?;
    let printer = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            match ev {
                RecorderEvent::SegmentStored(s) => println!(
                    "sealed {} ({} bytes, {:.1} s){}",
                    s.location,
                    s.bytes,
                    s.duration.as_secs_f64(),
                    if s.upload_pending { ", uploading" } else { "" }
                ),
                RecorderEvent::Error {
                    camera, message, ..
                } => eprintln!("{camera}: {message}"),
                _ => {}
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    recorder.shutdown(SHUTDOWN_GRACE).await;
    // The last segments upload from the spool in the background.
    let idle = store.wait_idle(Duration::from_secs(60)).await;
    println!("uploads complete: {idle}; {:?}", store.status());
    drop(recorder);
    printer.await?;
    Ok(())
}
