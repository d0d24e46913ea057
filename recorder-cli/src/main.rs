//! `camrec`: record IP cameras to a folder (or S3), with no ffmpeg.
//!
//! Exit codes: 0 success; 1 a runtime failure (see the message); 2 a usage
//! or configuration error; 130 stopped by a second signal.

mod api;
mod args;
mod commands;
mod control;
use recorder_cli::config;
mod duration_arg;
mod http;
mod logging;
mod metrics;
mod signals;
mod status_view;
mod webhook;

use std::io::IsTerminal;

use clap::Parser;

/// A usage or configuration problem: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit code for an error: 2 for usage/configuration errors, else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    let usage = e.chain().any(|c| {
        c.downcast_ref::<config::ConfigErrors>().is_some()
            || c.downcast_ref::<UsageError>().is_some()
    });
    if usage {
        2
    } else {
        1
    }
}

/// How long the recording runtime's thread sleeps before it waits for I/O.
/// Cameras pace their frames, so without it the process wakes once per
/// frame per camera (~75 times a second per camera for 25 fps video with
/// AAC), and the kernel's cost of each wake-up is most of camrec's CPU time.
/// Sleeping first lets the frames that arrive meanwhile, from every camera,
/// be read in one wake-up. The cost: frames, timers and HTTP replies are up
/// to this much later (timeouts are seconds; fragments 1 s), and each
/// socket buffers this much more (25 KiB at 4 Mbit/s). A busy thread never
/// parks, so it does not slow a loaded process. Chosen by measurement:
/// docs/performance.md, "Fewer wake-ups".
const RECORD_PARK_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// The runtime for a command. Recording runs on one thread that lingers
/// before parking (see [`RECORD_PARK_LINGER`]): measured against a worker
/// per core with the same linger, it used 40 % less CPU at one camera and
/// 20–30 % less at ten: one thread wakes where two workers each woke. Other commands (the simulator, the demo that runs camera and
/// recorder together) keep a worker per core.
fn runtime_for(command: &args::Command) -> tokio::runtime::Builder {
    let mut builder = if let args::Command::Record(_) = command {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.on_thread_park(|| std::thread::sleep(RECORD_PARK_LINGER));
        b
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all();
    builder
}

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let cli_json = cli.log_format.is_json();
    let (view, log_file) = match &cli.command {
        args::Command::Record(r) => {
            let on = match r.status {
                args::StatusMode::Never => false,
                args::StatusMode::Always => !cli.log_format.is_json(),
                args::StatusMode::Auto => {
                    std::io::stderr().is_terminal() && !cli.log_format.is_json()
                }
            };
            (on, r.log_file.clone())
        }
        _ => (false, None),
    };
    let tail = match logging::init(cli.log_format, cli.verbose, view, log_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("camrec: cannot open the log file: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match runtime_for(&cli.command).build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("camrec: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli.command, tail)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let code = exit_code(&e);
            if cli_json {
                tracing::error!(exit_code = code, "{e:#}");
            } else {
                eprintln!("camrec: error: {e:#}");
            }
            std::process::ExitCode::from(code)
        }
    }
}
