//! `camrec serve --from DIR_OR_S3_URL [--listen ADDR]`: the playback
//! routes and the web page over an archive, read-only (docs/playback.md).

use std::sync::Arc;

use anyhow::Context;
use recorder_cli::playback::{self, Limits, Playback};
use recorder_core::archive::Archive;

use crate::args::ServeArgs;
use crate::config::{self, StorageKind};
use crate::metrics;
use crate::UsageError;

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let flags = config::Flags {
        out: a.from.clone(),
        template: a.template.clone(),
        no_metrics: true,
        ..config::Flags::default()
    };
    let cfg = config::load_without_cameras(a.config.as_deref(), &config::process_env(), &flags)?;
    let archive = match cfg.storage.kind.v {
        StorageKind::Local => {
            let dir = cfg.storage.dir.v.clone();
            if !dir.is_dir() {
                return Err(UsageError(format!(
                    "{} is not a folder; give the recordings with --from DIR or --from s3://bucket/prefix",
                    dir.display()
                ))
                .into());
            }
            Archive::local(dir, cfg.key_template.v.clone())
        }
        StorageKind::S3 => Archive::s3(cfg.s3_config()).await,
    };
    let where_ = archive.describe();
    let pb = Playback::new(
        Arc::new(archive),
        Limits {
            max_export: a.max_export,
        },
    );
    let observed = metrics::observed_for_serving();
    let server = crate::http::serve(a.listen, observed, playback::router(pb))
        .await
        .with_context(|| format!("serving {where_}"))?;
    tracing::info!(listen = %server.addr, archive = %where_, "serving recordings: open http://{}/", server.addr);
    let mut stop = crate::signals::install();
    let _ = stop.wait_for(|s| *s).await;
    server.shutdown().await;
    Ok(())
}
