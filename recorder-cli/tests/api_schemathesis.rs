//! schemathesis (PyPI) against a running `camrec record`: every operation
//! of docs/api-openapi.json, with generated valid and invalid input, gets
//! no 5xx. Skipped with a loud message when schemathesis is not installed
//! (scripts/install-test-deps.sh installs it).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const TOKEN: &str = "schemathesis-token-0123456789";

/// `st`: $CAMREC_SCHEMATHESIS, the venv install-test-deps.sh makes
/// ($CAMREC_TOOLS, default ~/.cache/camrec-tools), or PATH.
fn schemathesis() -> Option<PathBuf> {
    let tools = std::env::var_os("CAMREC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camrec-tools")
        });
    let venv = tools.join("schemathesis/bin/st");
    std::env::var_os("CAMREC_SCHEMATHESIS")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("st")])
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn schemathesis_finds_no_server_error() {
    let Some(st) = schemathesis() else {
        eprintln!(
            "\n*** SKIP schemathesis_finds_no_server_error: schemathesis is not installed \
             (run scripts/install-test-deps.sh, or set CAMREC_SCHEMATHESIS to its `st`) ***\n"
        );
        return;
    };
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "camrec.toml",
        &format!(
            "[[cameras]]\nid = \"cam\"\nurl = \"{}\"\n",
            sim.url("/stream1")
        ),
    );
    let mut c = camrec();
    c.env("CAMREC_API_TOKEN", TOKEN)
        .args([
            "--log-format",
            "json",
            "record",
            "--metrics-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("out"));
    let mut r = Running::spawn(c);
    let addr = r.metrics_addr();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api-openapi.json");
    let out = Command::new(&st)
        .current_dir(dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .args(["run", schema, "--url"])
        .arg(format!("http://{addr}"))
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "not_a_server_error"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "40", "--workers", "2", "--no-color"])
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    // camrec still answers (the fuzzer may well have deleted or changed
    // the camera: it holds the token) and stops cleanly.
    let (code, body) = get(addr, "/api/cameras");
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(addr, "/health").0, 200);
    r.signal("TERM");
    let (code, log) = r.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", log.join("\n"));
}
