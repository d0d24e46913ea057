#!/bin/sh
# The test command: installs missing test dependencies, then runs every
# test of the workspace (unit, property, end-to-end against the camera
# simulator and GStreamer's RTSP server, ffmpeg decode checks).
set -eu
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo test --workspace -j2 "$@"
