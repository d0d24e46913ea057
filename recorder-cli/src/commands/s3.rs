//! `camrec s3 lifecycle [--apply]`: retention on S3 as the bucket's own
//! lifecycle rules (docs/s3.md#retention), and the start-up check that
//! warns when the bucket and the configuration disagree.

use std::time::Duration;

use anyhow::Context;
use recorder_core::sink::s3::lifecycle::{
    apply_rules, compare, read_rules, read_rules_with, LifecyclePlan,
};
use recorder_core::sink::s3::{S3Error, S3Store};

use crate::args::{LifecycleArgs, S3Action, S3Command};
use crate::commands::record;
use crate::config::{lifecycle, Config, StorageKind};
use crate::UsageError;

/// Exit code of `camrec s3 lifecycle` when the bucket differs and
/// `--apply` was not given (for scripts and CI checks).
pub const DIFFERS_EXIT: i32 = 3;

pub async fn run(c: S3Command) -> anyhow::Result<()> {
    match c.action {
        S3Action::Lifecycle(a) => lifecycle_command(a).await,
    }
}

fn plan_for(cfg: &Config) -> anyhow::Result<(LifecyclePlan, Vec<String>)> {
    if cfg.storage.kind.v != StorageKind::S3 {
        return Err(UsageError(
            "camrec s3 lifecycle needs S3 storage: give --out s3://bucket/prefix or [storage] kind = \"s3\" (a folder's retention is applied by camrec record and camrec prune)".into(),
        )
        .into());
    }
    // The configuration was validated with the same plan: this cannot
    // fail, but say so if it does rather than panic.
    lifecycle::plan(cfg).map_err(|e| UsageError(e.to_string()).into())
}

async fn lifecycle_command(a: LifecycleArgs) -> anyhow::Result<()> {
    let cfg = record::load(&a.cfg)?;
    let (plan, notes) = plan_for(&cfg)?;
    let s3 = record::s3_config(&cfg);
    let location = format!("s3://{}/{}", s3.bucket, s3.key_prefix());
    for n in &notes {
        println!("note: {n}");
    }
    println!("camrec's lifecycle rules for {location}:");
    for r in &plan.rules {
        println!("  {r}");
    }
    let have = read_rules(&s3)
        .await
        .with_context(|| format!("reading the lifecycle rules of {location}"))?;
    if !have.others.is_empty() {
        println!(
            "other rules in the bucket (kept as they are): {}",
            have.others.join(", ")
        );
    }
    let differences = compare(&plan, &have);
    if differences.is_empty() {
        println!("the bucket has them: nothing to do");
        return Ok(());
    }
    for d in &differences {
        println!("  {d}");
    }
    if !a.apply {
        println!("run again with --apply to write them");
        std::process::exit(DIFFERS_EXIT);
    }
    match apply_rules(&s3, &plan).await {
        Ok(_) => {
            println!("applied: the bucket's rules now match the configuration");
            Ok(())
        }
        Err(e @ S3Error::LifecycleNotKept { .. }) => Err(anyhow::Error::new(e)),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("writing the lifecycle rules of {location}")))
        }
    }
}

/// How long the start-up check may take before it is skipped.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// At `camrec record` start-up on S3: warns for every way the bucket's
/// camrec rules differ from the configured retention. Never fails the
/// recording (a store without lifecycle support, a key without the
/// permission: a warning says so).
pub async fn check_lifecycle_at_start(cfg: &Config, store: &S3Store) {
    let Ok((plan, _)) = lifecycle::plan(cfg) else {
        return;
    };
    let read = read_rules_with(store.client(), store.config());
    let have = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            if lifecycle::expires_anything(&plan) {
                tracing::warn!(error = %e, "cannot read the bucket's lifecycle rules, so the retention settings are not checked");
            }
            return;
        }
        Err(_) => {
            tracing::warn!(
                "reading the bucket's lifecycle rules took over 10 s; retention not checked"
            );
            return;
        }
    };
    // Without retention settings, only camrec rules left from an earlier
    // configuration are worth a word.
    if !lifecycle::expires_anything(&plan) && have.managed.is_empty() {
        return;
    }
    for d in compare(&plan, &have) {
        tracing::warn!(difference = %d, "the bucket's lifecycle rules differ from the retention settings: run `camrec s3 lifecycle --apply`");
    }
}
