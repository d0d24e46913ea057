#!/bin/sh
# Regenerates demo.mp4: 10 s, 640x360 H.264 constrained baseline 25 fps with a
# 1 s GOP (no B-frames), plus AAC-LC mono 16 kHz. Deterministic lavfi sources
# so the clip is reproducible; +faststart keeps moov first (non-fragmented).
set -e
cd "$(dirname "$0")"
ffmpeg -y -v error \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=10" \
  -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=10" \
  -c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency \
  -g 25 -keyint_min 25 -sc_threshold 0 -bf 0 -b:v 150k -maxrate 200k -bufsize 200k \
  -pix_fmt yuv420p \
  -c:a aac -b:a 32k -ac 1 -ar 16000 \
  -map_metadata -1 -movflags +faststart \
  demo.mp4
