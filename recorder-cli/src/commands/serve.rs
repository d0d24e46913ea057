//! `camrec serve --from DIR_OR_S3_URL [--listen ADDR]`: the playback
//! routes and the web page over an archive, read-only (docs/playback.md).

use std::sync::Arc;

use anyhow::Context;
use recorder_cli::playback::{self, Playback, Settings};

use crate::args::ServeArgs;
use crate::metrics;

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let archive = super::archive::open(&a.archive).await?;
    let where_ = archive.describe();
    let pb = Playback::new(
        Arc::new(archive),
        Settings {
            max_export: a.max_export,
            proxy_bucket: a.proxy_bucket,
        },
    );
    let server = crate::http::serve(
        a.listen,
        metrics::observed_for_serving(),
        playback::router(pb),
    )
    .await
    .with_context(|| format!("serving {where_} (set another address with --listen)"))?;
    tracing::info!(listen = %server.addr, archive = %where_, "serving recordings: open http://{}/", server.addr);
    let mut stop = crate::signals::install();
    let _ = stop.wait_for(|s| *s).await;
    server.shutdown().await;
    Ok(())
}
