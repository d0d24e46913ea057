//! `camrec sim`: a simulated camera for trying camrec without hardware.

use anyhow::Context;
use camera_sim::{AuthMode, Faults, MountConfig, SimConfig, Simulator};

use crate::args::SimArgs;

pub async fn run(a: SimArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&a.drop_packets) {
        anyhow::bail!("--drop-packets {} must be between 0 and 1", a.drop_packets);
    }
    let mount = match &a.file {
        Some(f) => MountConfig::new(a.path.clone(), f.clone()),
        None => MountConfig::demo(a.path.clone()),
    }
    .faults(Faults {
        close_after: a.close_after,
        stall_after: a.stall_after,
        stale_cseq_keepalive: a.stale_cseq,
        drop_packets: a.drop_packets,
        ..Faults::none()
    });
    let mut cfg = SimConfig::new().mount(mount);
    if let (Some(u), Some(p)) = (&a.user, &a.password) {
        cfg = cfg.credentials(u.clone(), p.clone(), AuthMode::Digest);
    }
    let sim = Simulator::start(cfg, a.listen)
        .await
        .with_context(|| format!("cannot serve on {}", a.listen))?;
    println!("simulated camera at {}  (Ctrl-C to stop)", sim.url(&a.path));
    let mut stop = crate::signals::install();
    let _ = stop.wait_for(|s| *s).await;
    sim.shutdown();
    Ok(())
}
