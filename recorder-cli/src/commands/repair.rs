//! `camrec repair DIR`: finish files a crash left as `.mp4.part`.

use crate::args::RepairArgs;

pub async fn run(a: RepairArgs) -> anyhow::Result<()> {
    if !a.dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder; give the recordings folder (--out of camrec record)",
            a.dir.display()
        );
    }
    super::record::repair_leftovers(&a.dir).await?;
    println!("repaired what was left in {}", a.dir.display());
    Ok(())
}
