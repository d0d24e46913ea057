//! `camrec`: record IP cameras to a folder (or S3), with no ffmpeg.
//!
//! Exit codes: 0 success; 1 a runtime failure (see the message); 2 a usage
//! or configuration error; 130 stopped by a second signal.

mod args;
mod commands;
use recorder_cli::config;
mod duration_arg;
mod http;
mod logging;
mod metrics;
mod signals;
mod status_view;

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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
