#!/bin/sh
# Runs every fuzz target for a bounded time (default 60 s each) on the
# committed seed corpora and prints executions and findings per target.
# Targets live in two cargo-fuzz packages: fuzz/ (the library, built without
# its S3 feature) and fuzz/cli/ (the CLI, which pulls in the AWS SDK).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for pkg in fuzz fuzz/cli; do
  cd "$root/$pkg"
  for t in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$t"
    # Run on a scratch copy so the committed seed corpus stays small.
    work=$(mktemp -d)
    cp -r "corpus/$t/." "$work/" 2>/dev/null || true
    log="$work.log"
    if cargo +nightly fuzz run "$t" "$work" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
      result="no findings"
    else
      result="FINDING (see $pkg/artifacts/$t)"
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
    echo "$t: ${execs:-?} executions in ${secs}s, $result"
    rm -rf "$work" "$log"
  done
done
