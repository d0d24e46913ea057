#!/usr/bin/env python3
"""Side-by-side: camrec vs `ffmpeg -c copy -f segment` recording the same
simulated cameras (1080p H.264 4 Mbit/s + AAC), for N cameras each.

Measures, per recorder: CPU seconds per camera-hour (user+sys, from wait4
rusage of the recorder processes only — the simulator is not counted) and
peak memory per camera (max RSS; for ffmpeg the sum over its N processes).

Usage: scripts/bench_vs_ffmpeg.py [--cameras 1,10,100] [--seconds 60]
Needs: ffmpeg, a release build (`cargo build --release -p recorder-cli`).
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMREC = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "camrec")


def clip(path):
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
         "-g", "50", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-movflags", "+faststart", path],
        check=True)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_rusage(procs):
    cpu, rss = 0.0, 0
    for p in procs:
        _, _, ru = os.wait4(p.pid, 0)
        cpu += ru.ru_utime + ru.ru_stime
        rss += ru.ru_maxrss * 1024
    return cpu, rss


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


def run_camrec(url, n, secs, out):
    args = [CAMREC, "--log-format", "json", "record", "--out", out, "--segment", "15m", "--duration", f"{secs}s"]
    for i in range(n):
        args += [url]
    for i in range(n):
        args += ["--camera-id", f"cam{i:03d}"]
    log = os.path.join(out, "camrec.log")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    cpu, rss = wait_rusage([p])
    frames = camrec_video_frames(log)
    # Keeping up: every camera received (nearly) the 25 fps it was sent,
    # allowing 2 s for connection set-up.
    expected = 25 * (secs - 2)
    behind = sum(1 for f in frames if f < expected)
    print(f"camrec  cameras={n:4} video frames per camera min={min(frames, default=0)} "
          f"max={max(frames, default=0)} expected>={expected} cameras_behind={behind}", flush=True)
    return cpu, rss


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", default="1,10,100")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--only", choices=["camrec", "ffmpeg"], help="run one recorder (capacity runs)")
    a = ap.parse_args()
    if not os.path.exists(CAMREC):
        sys.exit(f"{CAMREC} missing: run cargo build --release -p recorder-cli")
    src = clip(os.path.join(ROOT, "target", "bench", "cam1080p_4mbps.mp4"))
    port = free_port()
    sim = subprocess.Popen([CAMREC, "--log-format", "json", "sim", "--listen", f"127.0.0.1:{port}", "--file", src],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    url = f"rtsp://127.0.0.1:{port}/stream1"
    rows = []
    try:
        for n in [int(x) for x in a.cameras.split(",")]:
            for name, fn in [("camrec", run_camrec), ("ffmpeg", run_ffmpeg)]:
                if a.only and name != a.only:
                    continue
                out = tempfile.mkdtemp(prefix=f"bench-{name}-{n}-")
                cpu, rss = fn(url, n, a.seconds, out)
                per_hour = cpu / n / a.seconds * 3600
                rows.append((name, n, per_hour, rss / n / 2**20))
                print(f"{name:7} cameras={n:4} cpu_s_per_camera_hour={per_hour:8.1f} peak_rss_per_camera_mib={rss / n / 2**20:7.1f}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait()
    print()
    print("| cameras | camrec CPU s/camera-hour | ffmpeg CPU s/camera-hour | CPU ratio | camrec MiB/camera | ffmpeg MiB/camera | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    by = {(r[0], r[1]): r for r in rows}
    for n in sorted({r[1] for r in rows}):
        if ("camrec", n) not in by or ("ffmpeg", n) not in by:
            continue
        c, f = by[("camrec", n)], by[("ffmpeg", n)]
        print(f"| {n} | {c[2]:.1f} | {f[2]:.1f} | {f[2] / max(c[2], 1e-9):.1f}x | {c[3]:.1f} | {f[3]:.1f} | {f[3] / max(c[3], 1e-9):.1f}x |")


if __name__ == "__main__":
    main()
