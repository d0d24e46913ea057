#!/bin/sh
# Runs every fuzz target on the committed seed corpora until it has made
# RUNS executions or spent SECONDS, whichever comes first, and prints
# executions, time and findings per target (one line each, also appended to
# target/fuzz-results.txt). Targets live in two cargo-fuzz packages: fuzz/
# (the library, built without its S3 feature) and fuzz/cli/ (the CLI, which
# pulls in the AWS SDK). Needs the nightly toolchain and cargo-fuzz
# (installed here when missing).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [RUNS_PER_TARGET] [TARGET...]
#   the issue's bar: scripts/fuzz.sh 3600 10000000
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
runs="${2:--1}"
[ $# -gt 2 ] && shift 2 || set --
only="$*"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p "$root/target"
results="$root/target/fuzz-results.txt"
for pkg in fuzz fuzz/cli; do
  cd "$root/$pkg"
  # --fuzz-dir: from fuzz/cli, cargo-fuzz would otherwise find fuzz/ (the
  # enclosing package) and list its targets instead.
  for t in $(cargo +nightly fuzz list --fuzz-dir .); do
    if [ -n "$only" ] && ! echo " $only " | grep -q " $t "; then continue; fi
    mkdir -p "corpus/$t"
    # Run on a scratch copy so the committed seed corpus stays small.
    work=$(mktemp -d)
    cp -r "corpus/$t/." "$work/" 2>/dev/null || true
    log="$work.log"
    start=$(date +%s)
    if cargo +nightly fuzz run --fuzz-dir . "$t" "$work" -- -max_total_time="$secs" -runs="$runs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
      result="no findings"
    else
      result="FINDING (see $pkg/artifacts/$t; log kept in $log)"
    fi
    took=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
    line="$t: ${execs:-?} executions in ${took}s (cap ${secs}s / ${runs} runs), $result"
    echo "$line"
    echo "$(date -u +%FT%TZ) $line" >>"$results"
    rm -rf "$work"
    case "$result" in no*) rm -f "$log" ;; esac
  done
done
