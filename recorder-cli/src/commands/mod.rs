//! The subcommands.

pub mod archive;
mod config;
mod demo;
mod probe;
mod prune;
pub mod record;
mod repair;
mod s3;
mod serve;
mod sim;

use crate::args::Command;
use crate::logging::LogTail;

pub async fn run(cmd: Command, tail: Option<LogTail>) -> anyhow::Result<()> {
    match cmd {
        Command::Record(a) => record::run(a, tail).await,
        Command::Config(c) => config::run(c).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Sim(a) => sim::run(a).await,
        Command::Probe(a) => probe::run(a).await,
        Command::Repair(a) => repair::run(a).await,
        Command::Prune(a) => prune::run(a).await,
        Command::S3(c) => s3::run(c).await,
        Command::Serve(a) => serve::run(a).await,
        Command::List(a) => archive::list(a).await,
        Command::Export(a) => archive::export(a).await,
    }
}
