//! `camrec demo`: the built-in simulated camera, recorded for ~30 s.

use std::path::{Path, PathBuf};

use anyhow::Context;
use camera_sim::{SimConfig, Simulator};

use super::record::record;
use crate::args::DemoArgs;
use crate::config::{self, Flags};

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let sim = Simulator::start(
        SimConfig::demo(),
        "127.0.0.1:0".parse().expect("literal address"),
    )
    .await
    .context("cannot start the built-in camera simulator")?;
    let url = sim.url("/stream1");
    eprintln!(
        "camrec demo: recording the built-in simulated camera at {url} for {:?} into {}",
        a.rec.duration,
        a.rec.out.display()
    );
    let flags = Flags {
        urls: vec![url],
        camera_ids: vec!["demo".into()],
        out: Some(a.rec.out.clone()),
        segment: Some(a.rec.segment),
        no_metrics: true,
        ..Flags::default()
    };
    let cfg = config::build(None, "", &config::Env::new(), &flags)?;
    let before = list_mp4(&a.rec.out.join("demo"));
    let snaps = record(&cfg, Some(a.rec.duration), None, None).await?;
    sim.shutdown();
    let written: Vec<PathBuf> = list_mp4(&a.rec.out.join("demo"))
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if written.is_empty() {
        anyhow::bail!(
            "the demo recorded nothing (last error: {}); run with -v for details",
            snaps
                .first()
                .and_then(|s| s.last_error.clone())
                .unwrap_or_else(|| "none".into())
        );
    }
    println!("camrec demo wrote {} segments:", written.len());
    for p in &written {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!("  {}  ({} KiB)", p.display(), size / 1024);
    }
    println!(
        "Play one with:  ffplay {}   (or open it in VLC / a browser)",
        written[0].display()
    );
    Ok(())
}

fn list_mp4(dir: &Path) -> Vec<PathBuf> {
    // An unreadable entry only hides what is under it: the listing is a
    // courtesy, the segments were written either way.
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    out.sort();
    out
}
