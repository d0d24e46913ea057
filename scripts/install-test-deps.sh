#!/bin/sh
# Installs what camrec's tests need, when missing: ffmpeg/ffprobe (decode
# checks), GStreamer's RTSP server with python3-gi and VLC (real third-party
# RTSP servers), and cargo-nextest is not needed. Idempotent; safe to rerun.
set -eu
need_apt=""
# OpenH264 (the thumbnails' H.264 decoder) builds from its C++ source.
command -v g++ >/dev/null 2>&1 || need_apt="$need_apt g++"
# openssl makes the https webhook receivers' certificates (api_cli).
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt="$need_apt ffmpeg"
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' >/dev/null 2>&1 \
  || need_apt="$need_apt python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav"
# VLC's RTSP server (UDP only, quirky: recorder-core/tests/source_vlc.rs).
# The stream output modules (rtp, rtsp) are in vlc-plugin-base.
command -v cvlc >/dev/null 2>&1 && [ -n "$(ls /usr/lib/*/vlc/plugins/stream_out/libstream_out_rtp_plugin.so 2>/dev/null)" ] \
  || need_apt="$need_apt vlc-bin vlc-plugin-base"
# The playback page's browser test: Debian's chromium, driven headless by
# playwright (never its downloaded browsers).
command -v chromium >/dev/null 2>&1 || need_apt="$need_apt chromium"
/usr/bin/python3 -m venv --help >/dev/null 2>&1 && /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 \
  || need_apt="$need_apt python3-venv"
if [ -n "$need_apt" ]; then
  echo "installing:$need_apt"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt
fi

# schemathesis (PyPI) for the control API's fuzz test
# (recorder-cli/tests/api_schemathesis.rs), in its own venv.
ST_VENV="${CAMREC_TOOLS:-$HOME/.cache/camrec-tools}/schemathesis"
if [ ! -x "$ST_VENV/bin/st" ]; then
  echo "installing: schemathesis (PyPI) into $ST_VENV"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q 'schemathesis==4.32.5'
fi

# Real S3 servers for the S3 sink's tests: moto 5.1.22 (in a venv) and
# Garage (cargo install, several minutes on 2 cores; cached under
# ~/.cache/camrec-s3 afterwards).
JOBS="${JOBS:-2}" "$(dirname "$0")/s3-test-servers.sh" install

# playwright (PyPI) in a venv for recorder-cli/tests/browser/playback_page.py;
# the test finds it there or at $CAMREC_PLAYWRIGHT_PYTHON. Its own browser
# downloads are never used (the test runs /usr/bin/chromium).
BROWSER_VENV="$HOME/.cache/camrec-browser/venv"
if ! "$BROWSER_VENV/bin/python" -c 'import playwright' >/dev/null 2>&1; then
  /usr/bin/python3 -m venv "$BROWSER_VENV"
  "$BROWSER_VENV/bin/pip" install -q 'playwright==1.65.3'
fi
