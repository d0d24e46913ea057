//! SIGINT/SIGTERM: the first asks for a graceful stop, a second exits at
//! once (crash recovery handles the rest on the next start). SIGHUP reads
//! the configuration file again ([`on_hangup`]).

use tokio::sync::watch;

/// Returns a receiver that turns true on the first signal. A second signal
/// exits the process with status 130.
pub fn install() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_one().await;
        tracing::info!("stopping: closing open segments (press Ctrl-C again to exit at once)");
        let _ = tx.send(true);
        wait_one().await;
        eprintln!(
            "camrec: second signal, exiting now; unfinished files are repaired on the next start"
        );
        std::process::exit(130);
    });
    rx
}

async fn wait_one() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reloads the configuration on every SIGHUP (Unix; `None` elsewhere or if
/// the handler cannot be installed).
pub fn on_hangup(
    control: std::sync::Arc<crate::control::Control>,
) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /api/reload");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reading the configuration again");
                control.reload_and_log().await;
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = control;
        None
    }
}
