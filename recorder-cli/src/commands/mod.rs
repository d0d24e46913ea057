//! The subcommands.

mod demo;
mod probe;
mod record;
mod repair;
mod sim;

use crate::args::Command;

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Record(a) => record::run(a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Sim(a) => sim::run(a).await,
        Command::Probe(a) => probe::run(a).await,
        Command::Repair(a) => repair::run(a).await,
    }
}
