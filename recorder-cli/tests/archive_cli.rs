//! `camrec list` and `camrec export` end to end: the real binary records
//! the camera simulator (3+ segments with a gap in the middle: two
//! recording runs), to a folder and to Garage, then lists and exports
//! ranges; ffmpeg decodes every export and ffprobe measures it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use recorder_core::time::WallTime;

/// One segment as `camrec list --camera` prints it.
#[derive(Debug, Clone)]
struct Seg {
    start: WallTime,
    end: WallTime,
    name: String,
}

/// Records `cam` from the simulator twice with a pause in between: at
/// least three segments, a gap between the runs. `cmd` builds a camrec
/// command (with S3 settings, or none); `out` is the folder or bucket URL.
fn record_with_gap(sim_url: &str, cmd: &dyn Fn() -> Command, out: &str) {
    for (i, d) in ["6s", "4s"].iter().enumerate() {
        if i == 1 {
            std::thread::sleep(Duration::from_secs(3));
        }
        let mut c = cmd();
        c.args([
            "record",
            sim_url,
            "--camera-id",
            "cam",
            "--segment",
            "2s",
            "--fragment",
            "500ms",
        ])
        .args([
            "--duration",
            d,
            "--no-metrics",
            "--no-thumbnails",
            "--out",
            out,
        ]);
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
    }
}

fn list(cmd: &dyn Fn() -> Command, from: &str) -> (Vec<Seg>, Vec<(WallTime, WallTime)>) {
    let mut c = cmd();
    c.args(["list", "--from", from, "--camera", "cam"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let mut segs = Vec::new();
    let mut gaps = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let t = |s: &str| WallTime::parse_rfc3339(s).unwrap();
        if f[0] == "gap" {
            gaps.push((t(f[1]), t(f[2])));
        } else {
            assert_eq!(f.len(), 7, "{line}");
            assert_eq!(f[4], "h264,aac", "{line}");
            assert!(f[5].contains('x'), "{line}");
            segs.push(Seg {
                start: t(f[0]),
                end: t(f[1]),
                name: f[6].to_owned(),
            });
        }
    }
    (segs, gaps)
}

fn probe(file: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Decoded video frames as (pts in seconds, md5), via ffmpeg's framemd5.
fn frames(file: &Path) -> Vec<(f64, String)> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tb = 1.0;
    let mut v = Vec::new();
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("#tb 0: ") {
            let (n, d) = r.split_once('/').unwrap();
            tb = n.trim().parse::<f64>().unwrap() / d.trim().parse::<f64>().unwrap();
        } else if !line.starts_with('#') {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            v.push((f[2].parse::<f64>().unwrap() * tb, f[5].to_owned()));
        }
    }
    v
}

/// A recording to export from: how to run camrec on it, `--from`, its
/// segments, and where each segment's bytes are on disk.
#[derive(Clone, Copy)]
struct Archive<'a> {
    cmd: &'a dyn Fn() -> Command,
    from: &'a str,
    segs: &'a [Seg],
    local_source: &'a dyn Fn(&Seg) -> std::path::PathBuf,
}

/// Exports `[start, end)` and checks the file: no decode error, duration
/// within one frame of the range, first frame the source frame shown at
/// `start`, audio within one AAC frame of the video.
fn export_and_check(a: &Archive<'_>, start: WallTime, end: WallTime, gap_ns: i64, what: &str) {
    let Archive {
        cmd,
        from,
        segs,
        local_source,
    } = *a;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let mut c = cmd();
    c.args(["export", "--from", from, "--camera", "cam"])
        .args([
            "--start",
            &start.to_rfc3339(),
            "--end",
            &end.to_rfc3339(),
            "-o",
        ])
        .arg(&out);
    let (code, stdout, err) = run(&mut c);
    assert_eq!(code, 0, "{what}: {err}");
    assert!(stdout.contains("out.mp4"), "{stdout}");
    // 0 decode errors.
    // The output keeps the file's time base (see playback_cli's
    // probe_mp4: an export across a gap has a low average frame rate).
    let dec = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-enc_time_base:v", "-1", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(dec.status.success());
    assert_eq!(
        String::from_utf8_lossy(&dec.stderr),
        "",
        "{what}: decode errors"
    );
    // Duration within one frame.
    // The camera's frame interval, from a recorded segment (an export with
    // a held frame across a gap has no single frame rate).
    let rate = probe(
        &local_source(&segs[0]),
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=r_frame_rate",
            "-of",
            "csv=p=0",
        ],
    );
    let (n, d) = rate.split_once('/').unwrap();
    let frame = d.parse::<f64>().unwrap() / n.parse::<f64>().unwrap();
    let dur: f64 = probe(
        &out,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .parse()
    .unwrap();
    let asked = (end.0 - start.0) as f64 / 1e9;
    assert!(
        (dur - asked).abs() <= frame + 1e-3,
        "{what}: duration {dur} for {asked} (frame {frame}); camrec said {stdout} {err}; segments {segs:?}"
    );
    // Audio in sync: both streams start together and last as long, within
    // one AAC frame.
    let streams = probe(
        &out,
        &[
            "-show_entries",
            "stream=codec_type,start_time,duration,sample_rate",
            "-of",
            "csv=p=0",
        ],
    );
    let mut v_start = None;
    let mut a = None;
    for l in streams.lines() {
        let f: Vec<&str> = l.split(',').collect();
        match f[0] {
            "video" => v_start = Some((f[1].parse::<f64>().unwrap(), f[2].parse::<f64>().unwrap())),
            "audio" => {
                a = Some((
                    f[1].parse::<f64>().unwrap(),
                    f[2].parse::<f64>().unwrap(),
                    f[3].parse::<f64>().unwrap(),
                ))
            }
            _ => {}
        }
    }
    let (vs, vd) = v_start.expect("a video stream");
    let (rate_a, as_, ad) = a.expect("an audio stream");
    let aac = 1024.0 / rate_a;
    assert!(
        (as_ - vs).abs() <= aac,
        "{what}: audio starts at {as_}, video at {vs}"
    );
    assert!(
        (ad - vd).abs() <= aac + frame,
        "{what}: audio lasts {ad}, video {vd}"
    );
    // The first frame is the source frame shown at `start`.
    let seg = segs
        .iter()
        .find(|s| s.start <= start && start < s.end)
        .expect("start is recorded");
    let src = frames(&local_source(seg));
    let exp = frames(&out);
    let p0 = src[0].0;
    let at = p0 + (start.0 - seg.start.0) as f64 / 1e9;
    let shown = src
        .iter()
        .filter(|(p, _)| *p <= at + 1e-6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(
        exp[0].1,
        shown.1,
        "{what}: first frame is not the one at start ({} s into {})",
        at - p0,
        seg.name
    );
    // As many frames as were recorded in the range (within one at each
    // end): a gap holds the frame before it and adds none.
    let recorded = asked - gap_ns as f64 / 1e9;
    let expected = recorded / frame;
    assert!(
        (exp.len() as f64 - expected).abs() <= 2.0,
        "{what}: {} frames for {recorded} s recorded",
        exp.len()
    );
}

/// The three exports of the issue on a listed recording.
fn three_exports(
    cmd: &dyn Fn() -> Command,
    from: &str,
    local_source: &dyn Fn(&Seg) -> std::path::PathBuf,
) {
    let (segs, gaps) = list(cmd, from);
    assert!(segs.len() >= 3, "{segs:?}");
    assert_eq!(gaps.len(), 1, "one gap between the runs: {gaps:?}");
    let (gap_start, gap_end) = gaps[0];
    assert!(gap_end.0 - gap_start.0 >= 2_000_000_000, "{gaps:?}");
    let ms = |t: WallTime, d: i64| WallTime(t.0 + d * 1_000_000);
    let a = Archive {
        cmd,
        from,
        segs: &segs,
        local_source,
    };
    // Inside one segment, starting mid-frame.
    export_and_check(
        &a,
        ms(segs[0].start, 530),
        ms(segs[0].start, 1_700),
        0,
        "inside one segment",
    );
    // Across two consecutive segments.
    assert!(segs[1].start.0 - segs[0].end.0 < 100_000_000, "{segs:?}");
    export_and_check(
        &a,
        ms(segs[1].start, -900),
        ms(segs[1].start, 700),
        0,
        "across segments",
    );
    // Across the gap.
    export_and_check(
        &a,
        ms(gap_start, -1_100),
        ms(gap_end, 800),
        gap_end.0 - gap_start.0,
        "across the gap",
    );
}

#[test]
fn list_and_export_from_a_folder() {
    let sim = sim(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    record_with_gap(&sim.url("/stream1"), &camrec, &out);
    // Cameras with their first and last time.
    let mut c = camrec();
    c.args(["list", "--from", &out]);
    let (code, stdout, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("cam\t"), "{stdout}");
    let root = dir.path().to_owned();
    // Every segment, index boxes included, decodes without a message: the
    // `cidx` and `cidt` boxes are skipped as unknown top-level boxes.
    for s in list(&camrec, &out).0 {
        let dec = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(root.join(&s.name))
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(dec.status.success());
        assert_eq!(String::from_utf8_lossy(&dec.stderr), "", "{}", s.name);
        assert_eq!(
            top_boxes(&root.join(&s.name)).last().map(String::as_str),
            Some("cidt")
        );
        // The index written at close equals one rebuilt from the media.
        let data = std::fs::read(root.join(&s.name)).unwrap();
        let len = data.len() as u64;
        let written = recorder_core::index::read_tail(&mut std::io::Cursor::new(&data), len)
            .unwrap()
            .unwrap();
        let media = written.media_end();
        let rebuilt = recorder_core::index::rebuild(
            &mut std::io::Cursor::new(&data[..media as usize]),
            media,
            "cam",
        )
        .unwrap();
        assert_eq!(rebuilt, written, "{}", s.name);
    }
    three_exports(&camrec, &out, &|s: &Seg| root.join(&s.name));
    // A segment without an index (written before indexes existed) is
    // listed and exported all the same: its index is rebuilt.
    let (segs, _) = list(&camrec, &out);
    let data = std::fs::read(root.join(&segs[0].name)).unwrap();
    let n = u32::from_be_bytes(data[data.len() - 4..].try_into().unwrap()) as usize;
    let old = root.join(segs[0].name.replace("cam", "old"));
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, &data[..data.len() - n - 16]).unwrap();
    let mut c = camrec();
    c.args(["list", "--from", &out, "--camera", "old"]);
    let (code, stdout, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let fields: Vec<&str> = stdout.trim().split('\t').collect();
    assert_eq!(fields[0], segs[0].start.to_rfc3339(), "{stdout}");
    assert_eq!(fields[4], "h264,aac", "{stdout}");
    let mut c = camrec();
    c.args([
        "export", "--from", &out, "--camera", "old", "--start", fields[0], "--end", fields[1], "-o",
    ])
    .arg(dir.path().join("old.mp4"));
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    // Errors are named.
    let mut c = camrec();
    c.args([
        "export",
        "--from",
        &out,
        "--camera",
        "nope",
        "--start",
        "2020-01-01T00:00:00Z",
        "--end",
        "2020-01-01T00:01:00Z",
        "-o",
    ])
    .arg(dir.path().join("x.mp4"));
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 1);
    assert!(err.contains("nothing was recorded"), "{err}");
    let mut c = camrec();
    c.args([
        "export",
        "--from",
        &out,
        "--camera",
        "cam",
        "--start",
        "yesterday",
        "--end",
        "2020-01-01T00:01:00Z",
        "-o",
        "x.mp4",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn list_and_export_from_garage() {
    let Some(g) = garage() else { return };
    let sim = sim(None);
    let spool = tempfile::tempdir().unwrap();
    let url = format!("s3://{GARAGE_BUCKET}/site");
    let cmd = || g.camrec(spool.path());
    record_with_gap(&sim.url("/stream1"), &cmd, &url);
    // The stored objects, for comparing frames with the exports.
    let dl = tempfile::tempdir().unwrap();
    let (segs, _) = list(&cmd, &url);
    for s in &segs {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let bytes = rt.block_on(async {
            let mut cfg = recorder_core::sink::S3Config::new(GARAGE_BUCKET)
                .with_endpoint(format!("http://127.0.0.1:{}", g.port))
                .with_credentials(GARAGE_KEY_ID, GARAGE_SECRET)
                .with_prefix("site");
            cfg.region = "garage".into();
            let a = recorder_core::archive::Archive::s3(cfg).await;
            let e = a.entry_by_name(&s.name).await.unwrap();
            a.read(&e, 0..e.bytes).await.unwrap()
        });
        // The S3 sink appended the index before completing the upload.
        assert_eq!(
            &bytes[bytes.len() - 12..bytes.len() - 8],
            b"cidt",
            "{}",
            s.name
        );
        let p = dl.path().join(s.name.replace('/', "_"));
        std::fs::write(&p, &bytes).unwrap();
    }
    let root = dl.path().to_owned();
    three_exports(&cmd, &url, &|s: &Seg| root.join(s.name.replace('/', "_")));
}
