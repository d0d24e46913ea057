#!/usr/bin/env python3
"""Side-by-side: camrec vs `ffmpeg -c copy -f segment` recording the same
cameras, N cameras each, one recorder after the other in one run.

Servers (--server):
  sim  camrec's own simulator (`camrec sim`), default stream 1080p25 H.264
       4 Mbit/s + AAC (`--stream 1080p4m`).
  gst  GStreamer's RTSP server (a third-party server, through python3-gi,
       `recorder-core/tests/support/gst_rtsp_server.py`; install with
       scripts/install-test-deps.sh), default stream 1280x720 25 fps H.264
       about 1 Mbit/s + AAC (`--stream 720p1m`). A fresh server is started
       for every run; each client gets its own pipeline playing the clip
       from its start, like N separate cameras.

Measures, per recorder: CPU seconds per camera-hour (user+sys, from wait4
rusage of the recorder processes only — the server is not counted) and
peak memory per camera (max RSS; for ffmpeg the sum over its N processes).

Usage: scripts/bench_vs_ffmpeg.py [--server sim|gst] [--cameras 1,10,50]
                                  [--seconds 60] [--camrec PATH]
Needs: ffmpeg, a release build (`cargo build --release -p recorder-cli`).
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CAMREC = os.path.join(TARGET, "release", "camrec")
GST_SERVER = os.path.join(ROOT, "recorder-core", "tests", "support", "gst_rtsp_server.py")
# GStreamer's Python bindings live in the system interpreter.
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# name -> (size, video bitrate, x264 rate-control options)
STREAMS = {
    "1080p4m": ("1920x1080", "4M", ["-maxrate", "4M", "-bufsize", "8M"]),
    "720p1m": ("1280x720", "1M", ["-maxrate", "1M", "-bufsize", "2M"]),
}
FPS = 25


def clip(stream, seconds):
    """The stream's clip, at least `seconds` long, made once with ffmpeg."""
    size, rate, rc = STREAMS[stream]
    # The simulator loops its file; the gst server plays it once per
    # client, so the clip must outlast the run.
    length = max(30, int(seconds))
    d = os.path.join(TARGET, "bench")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.startswith(f"cam{stream}_") and name.endswith("s.mp4"):
            try:
                if int(name[len(f"cam{stream}_"):-5]) >= length:
                    return os.path.join(d, name)
            except ValueError:
                pass
    # Kept for the 1080p clip the earlier figures were taken with.
    if stream == "1080p4m" and length <= 30 and os.path.exists(os.path.join(d, "cam1080p_4mbps.mp4")):
        return os.path.join(d, "cam1080p_4mbps.mp4")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"cam{stream}_{length}s.mp4")
    print(f"making {path} with ffmpeg ...", flush=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(length), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
         "-g", str(2 * FPS), "-b:v", rate, *rc, "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-movflags", "+faststart", path + ".tmp.mp4"],
        check=True)
    os.rename(path + ".tmp.mp4", path)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class SimServer:
    """One `camrec sim` for the whole run (it loops its clip)."""

    def __init__(self, camrec, src):
        port = free_port()
        self.proc = subprocess.Popen(
            [camrec, "--log-format", "json", "sim", "--listen", f"127.0.0.1:{port}", "--file", src],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        self.url = f"rtsp://127.0.0.1:{port}/stream1"

    def fresh(self):
        return self.url

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()


class GstServer:
    """GStreamer's RTSP server; restarted per run so every client plays the
    clip from its start."""

    def __init__(self, src):
        self.src = src
        self.proc = None

    def fresh(self):
        self.close()
        self.proc = subprocess.Popen([SYSTEM_PYTHON, GST_SERVER, self.src],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            sys.exit("gst RTSP server did not start (scripts/install-test-deps.sh installs it)")
        return f"rtsp://127.0.0.1:{line[1]}/test"

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()  # the server exits when stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def wait_rusage(procs):
    """CPU seconds, peak RSS bytes and context switches (voluntary +
    involuntary: each is a thread going to sleep or being preempted, a
    measure of wake-ups), summed over the processes."""
    cpu, rss, csw = 0.0, 0, 0
    for p in procs:
        _, _, ru = os.wait4(p.pid, 0)
        cpu += ru.ru_utime + ru.ru_stime
        rss += ru.ru_maxrss * 1024
        csw += ru.ru_nvcsw + ru.ru_nivcsw
    return cpu, rss, csw


def camrec_video_frames(log_path):
    """Video frames per camera from camrec's JSON end-of-run summary."""
    frames = []
    for line in open(log_path):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        f = rec.get("fields", {})
        if f.get("message") == "camera summary":
            frames.append(int(f.get("video_frames", 0)))
    return frames


def run_camrec(camrec, url, n, secs, out, pre_roll=None, thumbnails=True):
    args = [camrec, "--log-format", "json", "record", "--out", out, "--segment", "15m", "--duration", f"{secs}s"]
    if pre_roll is not None:
        # The clip pre-roll ring (default 10 s per camera) through a config file.
        conf = os.path.join(out, "camrec.toml")
        with open(conf, "w") as f:
            f.write(f"[clips]\npre_roll_seconds = {pre_roll}\n")
        args += ["--config", conf]
    if not thumbnails:
        args += ["--no-thumbnails"]
    for i in range(n):
        args += [url]
    for i in range(n):
        args += ["--camera-id", f"cam{i:03d}"]
    log = os.path.join(out, "camrec.log")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    cpu, rss, csw = wait_rusage([p])
    frames = camrec_video_frames(log)
    # Keeping up: every camera received (nearly) the 25 fps it was sent,
    # allowing 2 s for connection set-up.
    expected = FPS * (secs - 2)
    behind = sum(1 for f in frames if f < expected)
    print(f"camrec  cameras={n:4} video frames per camera min={min(frames, default=0)} "
          f"max={max(frames, default=0)} expected>={expected} cameras_behind={behind}", flush=True)
    return cpu, rss, csw


def run_ffmpeg(url, n, secs, out):
    procs = []
    for i in range(n):
        d = os.path.join(out, f"cam{i:03d}")
        os.makedirs(d)
        procs.append(subprocess.Popen(
            ["ffmpeg", "-v", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
             "-f", "segment", "-segment_time", "900", "-reset_timestamps", "1", os.path.join(d, "%03d.mp4")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "ffmpeg.log"), "w")))
    time.sleep(secs)
    for p in procs:
        p.send_signal(signal.SIGINT)
    return wait_rusage(procs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["sim", "gst"], default="sim",
                    help="RTSP server: camrec's simulator or GStreamer's RTSP server")
    ap.add_argument("--stream", choices=sorted(STREAMS),
                    help="clip served (default: 1080p4m with sim, 720p1m with gst)")
    ap.add_argument("--cameras", default="1,10,100")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--only", choices=["camrec", "ffmpeg"], help="run one recorder (capacity runs)")
    ap.add_argument("--pre-roll", type=float, default=None,
                    help="camrec's clip pre-roll ring in seconds (default: camrec's own, 10 s; 0 turns it off)")
    ap.add_argument("--no-thumbnails", action="store_true", help="camrec without thumbnails")
    ap.add_argument("--camrec", default=CAMREC, help="camrec binary to measure (default: %(default)s)")
    ap.add_argument("--clip-only", action="store_true",
                    help="make the stream's clip if missing, print its path and exit")
    a = ap.parse_args()
    if a.clip_only:
        print(clip(a.stream or "720p1m", a.seconds + 30))
        return
    if not os.path.exists(a.camrec):
        sys.exit(f"{a.camrec} missing: run cargo build --release -p recorder-cli")
    stream = a.stream or ("720p1m" if a.server == "gst" else "1080p4m")
    if a.server == "gst":
        server = GstServer(clip(stream, a.seconds + 30))
    else:
        server = SimServer(a.camrec, clip(stream, 30))
    print(f"server={a.server} stream={stream} seconds={a.seconds} camrec={a.camrec}", flush=True)
    rows = []
    try:
        for n in [int(x) for x in a.cameras.split(",")]:
            for name in ["camrec", "ffmpeg"]:
                if a.only and name != a.only:
                    continue
                out = tempfile.mkdtemp(prefix=f"bench-{name}-{n}-")
                url = server.fresh()
                if name == "camrec":
                    cpu, rss, csw = run_camrec(a.camrec, url, n, a.seconds, out, a.pre_roll, not a.no_thumbnails)
                else:
                    cpu, rss, csw = run_ffmpeg(url, n, a.seconds, out)
                per_hour = cpu / n / a.seconds * 3600
                csw_rate = csw / n / a.seconds
                rows.append((name, n, per_hour, rss / n / 2**20, csw_rate))
                print(f"{name:7} cameras={n:4} cpu_s_per_camera_hour={per_hour:8.1f} "
                      f"peak_rss_per_camera_mib={rss / n / 2**20:7.1f} "
                      f"context_switches_per_camera_s={csw_rate:7.1f}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        server.close()
    print()
    print("| cameras | camrec CPU s/camera-hour | ffmpeg CPU s/camera-hour | CPU ratio | camrec MiB/camera | ffmpeg MiB/camera | memory ratio | camrec / ffmpeg context switches per camera-s |")
    print("|---|---|---|---|---|---|---|---|")
    by = {(r[0], r[1]): r for r in rows}
    for n in sorted({r[1] for r in rows}):
        if ("camrec", n) not in by or ("ffmpeg", n) not in by:
            continue
        c, f = by[("camrec", n)], by[("ffmpeg", n)]
        print(f"| {n} | {c[2]:.1f} | {f[2]:.1f} | {f[2] / max(c[2], 1e-9):.1f}x | {c[3]:.1f} | {f[3]:.1f} | {f[3] / max(c[3], 1e-9):.1f}x | {c[4]:.0f} / {f[4]:.0f} |")


if __name__ == "__main__":
    main()
