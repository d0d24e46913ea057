#!/usr/bin/env python3
"""Drives camrec's playback page in Debian's chromium (headless) with
playwright: the page loads, the timeline shows the spans and the gap, the
video plays, seeking to a wall-clock time lands within 1 s of it.

Usage: playback_page.py BASE_URL CAMERA PLAY_AT SEEK_TO SCREENSHOT
Prints one JSON object with what it measured (the Rust test asserts);
exits non-zero only when the browser cannot be driven at all.
"""
import json
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_for(page, expr, timeout_s):
    """Polls a JS expression until truthy; returns its value or None."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        v = page.evaluate(expr)
        if v:
            return v
        time.sleep(0.1)
    return None


def advance(page, target, timeout_s):
    """Waits until the video's currentTime has moved `target` seconds
    forward (or `timeout_s` passed); returns (moved, wall seconds taken)."""
    video = "document.getElementById('video').currentTime"
    a = page.evaluate(video)
    t0 = time.time()
    moved = 0.0
    while time.time() - t0 < timeout_s:
        moved = page.evaluate(video) - a
        if moved >= target:
            break
        time.sleep(0.1)
    return moved, time.time() - t0


def main():
    base, camera, play_at, seek_to, shot = sys.argv[1:6]
    out = {"console_errors": []}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 900},
        )
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: m.type == "error" and out["console_errors"].append(m.text),
        )
        page.goto(base + "/")
        out["ready"] = bool(wait_for(page, "window.camrec && window.camrec.ready", 20))
        out["h264"] = page.evaluate(
            "MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42c01e\"')"
        )
        day = '.timeline:not(.zoom)[data-camera="%s"]' % camera
        zoom = '.timeline.zoom[data-camera="%s"]' % camera
        spans = "els => els.map(e => [e.dataset.start, e.dataset.end])"
        out["spans"] = page.eval_on_selector_all(day + " .span", spans)
        out["gaps"] = page.eval_on_selector_all(day + " .gap", spans)
        # On the magnified timeline, spans and the gap are visibly wide.
        widths = "els => els.map(e => e.getBoundingClientRect().width)"
        out["zoom_span_px"] = page.eval_on_selector_all(zoom + " .span", widths)
        out["zoom_gap_px"] = page.eval_on_selector_all(zoom + " .gap", widths)
        # Play from a wall-clock time, as a click on the timeline does.
        page.evaluate("([c, t]) => window.camrec.play(c, t)", [camera, play_at])
        started = wait_for(
            page, "document.getElementById('video').currentTime > 0 && window.camrec.wallTime()", 20
        )
        out["play_started_at"] = started
        out["advanced"], out["advance_wall_s"] = advance(page, 2.0, 15)
        out["paused"] = page.evaluate("document.getElementById('video').paused")
        # Seek to a wall-clock time after the gap; read where it landed
        # as soon as the seek completes.
        page.evaluate("t => window.camrec.seekWall(t)", seek_to)
        wait_for(page, "!document.getElementById('video').seeking", 10)
        landed = wait_for(
            page,
            "document.getElementById('video').readyState >= 2 && !document.getElementById('video').seeking && window.camrec.wallTime()",
            10,
        )
        out["seek_landed"] = landed
        out["advanced_after_seek"], out["advance_after_seek_wall_s"] = advance(page, 1.0, 10)
        out["error_text"] = page.evaluate("document.getElementById('error').textContent")
        out["status_text"] = page.evaluate("document.getElementById('status').textContent")
        page.screenshot(path=shot, full_page=True)
        ctx.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
