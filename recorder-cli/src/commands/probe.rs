//! `camrec probe`: what a camera offers, before recording it.

use std::sync::Arc;

use anyhow::Context;
use recorder_core::source::{connect, CameraUrl, SessionGroup, SourceConfig, SourceEvent};

use crate::args::ProbeArgs;

pub async fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let url = CameraUrl::parse(&a.url).context("camera URL")?;
    let mut cfg = SourceConfig::new(url);
    cfg.transport = a
        .transport
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("--transport must be tcp or udp")?;
    let group = Arc::new(SessionGroup::default());
    let mut session = connect(&cfg, &group).await?;
    // A few seconds of stream to see sender reports and measure frame rate.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while let Ok(ev) = tokio::time::timeout_at(deadline, session.next()).await {
        if let Err(e) = ev {
            eprintln!("stream ended while probing: {e}");
            break;
        }
        if let Ok(SourceEvent::Loss { track, packets }) = ev {
            eprintln!("track {track}: {packets} packets lost");
        }
    }
    println!("{}", session.probe_info());
    Ok(())
}
