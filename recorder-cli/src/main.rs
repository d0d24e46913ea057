//! `camrec`: record IP cameras to a folder (or S3), with no ffmpeg.
//!
//! Exit codes: 0 success; 1 a runtime failure (see the message); 2 a usage
//! or configuration error; 130 stopped by a second signal.

mod args;
mod commands;
mod duration_arg;
mod logging;
mod signals;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    logging::init(cli.log_format, cli.verbose);
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
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("camrec: error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
