#!/bin/sh
# Instructions per camera-minute of `camrec record`, counted by
# `valgrind --tool=callgrind`: a figure that, unlike CPU seconds, does not
# move with the machine's load.
#
# Usage: scripts/callgrind_per_camera.sh [CAMERAS] [SECONDS]
#   CAMERAS  cameras recorded at once (default 4)
#   SECONDS  measured span (default 30)
# Environment:
#   CAMREC   binary to measure (default: $CARGO_TARGET_DIR or ./target, release/camrec)
#   STREAM   720p1m (default: 1280x720 25 fps H.264 ~1 Mbit/s + AAC) or 1080p4m
#   KEEP     a folder to keep the callgrind files and logs in (default: a temp dir, removed)
#
# The camera is `camrec sim` serving the clip, running natively (outside
# valgrind) on loopback. camrec runs under callgrind twice, for SECONDS and
# for 2 x SECONDS; the difference of the two totals is what SECONDS of
# recording cost, without start-up, connection and shutdown:
#   instructions per camera-minute = (Ir(2T) - Ir(T)) / CAMERAS / (T / 60)
# Each run prints the video frames stored per camera so a run whose camrec
# fell behind under valgrind's slowdown is visible (expected: 25 per second).
set -eu
CAMERAS="${1:-4}"
SECONDS_="${2:-30}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
CAMREC="${CAMREC:-$TARGET/release/camrec}"
STREAM="${STREAM:-720p1m}"
[ -x "$CAMREC" ] || { echo "$CAMREC missing: cargo build --release -p recorder-cli" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 1; }

CLIP="$(python3 "$ROOT/scripts/bench_vs_ffmpeg.py" --clip-only --stream "$STREAM" --seconds 0 | tail -n 1)"
WORK="${KEEP:-$(mktemp -d /tmp/camrec-callgrind.XXXXXX)}"
mkdir -p "$WORK"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$CAMREC" --log-format json sim --listen "127.0.0.1:$PORT" --file "$CLIP" >/dev/null 2>&1 &
SIM=$!
cleanup() {
  kill -INT "$SIM" 2>/dev/null || true
  wait "$SIM" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
sleep 1.5
URL="rtsp://127.0.0.1:$PORT/stream1"

# run SECONDS -> prints the run's total instruction count
run() {
  secs="$1"
  out="$WORK/rec-$secs"
  rm -rf "$out"
  mkdir -p "$out"
  set -- "$CAMREC" --log-format json record --out "$out" --segment 15m --duration "${secs}s"
  i=0
  while [ "$i" -lt "$CAMERAS" ]; do set -- "$@" "$URL"; i=$((i + 1)); done
  i=0
  while [ "$i" -lt "$CAMERAS" ]; do set -- "$@" --camera-id "cam$i"; i=$((i + 1)); done
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$secs.out" "$@" \
    >/dev/null 2>"$WORK/camrec-$secs.log"
  frames="$(grep '"camera summary"' "$WORK/camrec-$secs.log" \
    | sed -n 's/.*"video_frames":\([0-9]*\).*/\1/p' | sort -n | tr '\n' ' ')"
  echo "run ${secs}s: video frames per camera: ${frames:-none} (sent: $((25 * secs)))" >&2
  sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$WORK/callgrind.$secs.out" | head -n 1
}

T="$SECONDS_"
IR1="$(run "$T")"
IR2="$(run "$((2 * T))")"
echo "camrec=$CAMREC stream=$STREAM cameras=$CAMERAS"
echo "Ir(${T}s)=$IR1 Ir($((2 * T))s)=$IR2"
python3 -c "
d = ($IR2 - $IR1) / $CAMERAS / ($T / 60)
print(f'instructions per camera-minute: {d / 1e6:.1f} M')
"
if [ -n "${KEEP:-}" ]; then
  echo "callgrind files in $WORK (callgrind_annotate $WORK/callgrind.$((2 * T)).out)"
fi
