//! A single-node Garage for tests: its configuration and the cluster set-up
//! (layout, key, bucket). Std only: also included by `recorder-cli/tests`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const GARAGE_KEY_ID: &str = "GK0123456789abcdef01234567";
pub const GARAGE_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const GARAGE_BUCKET: &str = "camrec-test";

/// Writes `garage.toml` into `dir` (data there too), S3 API on `port`.
pub fn write_config(dir: &Path, port: u16, rpc: u16) -> PathBuf {
    let cfg = dir.join("garage.toml");
    std::fs::write(
        &cfg,
        format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
             replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{port}\"\n\
             root_domain = \".s3.garage.localhost\"\n",
            d = dir.display(),
            secret = "a".repeat(64),
        ),
    )
    .unwrap();
    cfg
}

/// Once the server runs: one node layout, the test key, the test bucket.
pub fn init_cluster(bin: &Path, cfg: &Path) {
    let g = |args: &[&str]| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(bin)
                .arg("-c")
                .arg(cfg)
                .args(args)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let node = g(&["node", "id", "-q"]);
    let node = node.trim().split('@').next().unwrap().to_owned();
    g(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
    g(&["layout", "apply", "--version", "1"]);
    g(&[
        "key",
        "import",
        "--yes",
        "-n",
        "camrec",
        GARAGE_KEY_ID,
        GARAGE_SECRET,
    ]);
    g(&["bucket", "create", GARAGE_BUCKET]);
    g(&[
        "bucket",
        "allow",
        "--read",
        "--write",
        "--owner",
        GARAGE_BUCKET,
        "--key",
        "camrec",
    ]);
}
