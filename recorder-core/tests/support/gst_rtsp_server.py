#!/usr/bin/env python3
"""Serve an MP4 file (H.264 + AAC) as a live RTSP stream with GStreamer's
RTSP server, for camrec's source tests.

Usage: gst_rtsp_server.py FILE.mp4 [--user U --password P] [--loop]

Serves rtsp://127.0.0.1:PORT/test on a free port and prints `PORT <n>` on
stdout once it is listening. Exits when stdin closes, so a test that dies
does not leave a server behind.
"""
import argparse
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")

    factory = GstRtspServer.RTSPMediaFactory()
    # Payloaders must be named pay0, pay1, ...; config-interval=-1 repeats
    # SPS/PPS with every IDR like a camera does.
    factory.set_launch(
        "( filesrc location=%s ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )" % args.file
    )
    factory.set_shared(False)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", "media.factory.access", True)
        perms.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(perms)

    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print("failed to attach the RTSP server", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()

    def watch_stdin():
        sys.stdin.read()
        GLib.idle_add(loop.quit)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("PORT %d" % server.get_bound_port(), flush=True)
    loop.run()


if __name__ == "__main__":
    main()
