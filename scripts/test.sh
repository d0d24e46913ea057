#!/bin/sh
# The test command: installs missing test dependencies, checks formatting,
# lints (clippy, warnings are errors) and the API docs, then runs every test
# of the workspace (unit, doc, property, end-to-end against the camera
# simulator and GStreamer's RTSP server, ffmpeg decode checks, S3 against
# real servers), and builds the library without its S3 feature.
set -eu
cd "$(dirname "$0")/.."
# A one-shot run gains nothing from incremental caches (7 GB of them on a
# full workspace build); the dev profile keeps the rest small (Cargo.toml).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | tail -1 | awk '{print "disk free for the build: " $4}'
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -j2 -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -j2
cargo check -p recorder-core --no-default-features -j2
cargo test --workspace -j2 "$@"
