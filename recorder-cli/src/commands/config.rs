//! `camrec config check`: validate and print the effective configuration.

use crate::args::{ConfigAction, ConfigCommand};

pub async fn run(c: ConfigCommand) -> anyhow::Result<()> {
    match c.action {
        ConfigAction::Check(a) => {
            let cfg = super::record::load(&a)?;
            print!("{}", cfg.render());
            let enabled = cfg.enabled_cameras().count();
            eprintln!(
                "configuration OK: {enabled} camera{} enabled, {} disabled",
                if enabled == 1 { "" } else { "s" },
                cfg.cameras.len() - enabled
            );
            Ok(())
        }
    }
}
