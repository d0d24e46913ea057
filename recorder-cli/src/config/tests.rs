use super::file::line_col;
use super::*;
use recorder_core::source::{CameraUrl, Transport};

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(text: &str, e: &Env, f: &Flags) -> Result<Config, ConfigErrors> {
    build(Some(Path::new("camrec.toml")), text, e, f)
}

fn errors(text: &str) -> Vec<ConfigError> {
    parse(text, &Env::new(), &Flags::default()).unwrap_err().0
}

fn file_at(line: usize, col: usize) -> Origin {
    Origin::File {
        path: "camrec.toml".into(),
        line,
        col,
    }
}

#[test]
fn line_col_counts_from_one() {
    assert_eq!(line_col("ab\ncd", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
    assert_eq!(line_col("ab\n", 99), (2, 1));
}

#[test]
fn scrub_userinfo_masks_passwords_only() {
    assert_eq!(
        scrub_userinfo("bad `rtsp://admin:s3cret@cam/x` here"),
        "bad `rtsp://admin:***@cam/x` here"
    );
    assert_eq!(scrub_userinfo("rtsp://cam/x"), "rtsp://cam/x");
    assert_eq!(scrub_userinfo("rtsp://user@cam"), "rtsp://user@cam");
    assert_eq!(scrub_userinfo("no url"), "no url");
}

#[test]
fn full_example_parses_with_per_camera_overrides() {
    let cfg = parse(
        r#"
[defaults]
transport = "udp"
stall_timeout_seconds = 5

[output]
segment_duration_minutes = 15
fragment_seconds = 2
align_to_clock = true
key_template = "{camera}/{YYYYMMDD}/{HHMMSS}.mp4"

[storage]
kind = "local"
dir = "/srv/rec"

[metrics]
listen = "0.0.0.0:9191"

[[cameras]]
id = "door"
name = "Front door"
url = "rtsp://admin:pw@10.0.0.2/s1"
segment_duration_minutes = 5
transport = "tcp"

[[cameras]]
name = "Back Yard"
url = "rtsp://10.0.0.3/s1"
enabled = false
"#,
        &Env::new(),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(cfg.cameras.len(), 2);
    let door = &cfg.cameras[0];
    assert_eq!(door.segment.v, Duration::from_secs(300));
    assert_eq!(door.segment.at, file_at(23, 28));
    assert_eq!(door.transport.v, Transport::Tcp);
    assert_eq!(door.fragment.v, Duration::from_secs(2));
    assert!(door.align.v);
    assert_eq!(door.stall_timeout.v, Duration::from_secs(5));
    let back = &cfg.cameras[1];
    assert_eq!(back.id.v, "back-yard");
    assert_eq!(back.transport.v, Transport::Udp);
    assert_eq!(back.segment.v, Duration::from_secs(900));
    assert!(!back.enabled.v);
    assert_eq!(cfg.enabled_cameras().count(), 1);
    assert_eq!(cfg.storage.dir.v, PathBuf::from("/srv/rec"));
    assert_eq!(cfg.metrics_listen.v, Some("0.0.0.0:9191".parse().unwrap()));
    assert_eq!(
        cfg.key_template.v.as_str(),
        "{camera}/{YYYYMMDD}/{HHMMSS}.mp4"
    );
}

#[test]
fn env_cameras_override_by_position_and_append() {
    let e = env(&[
        ("CAMERA1_RTSP_URL", "rtsp://env1/s"),
        ("CAMERA3_RTSP_URL", "rtsp://env3/s"),
        ("CAMERA3_NAME", "Gate"),
        ("CAMERA7_NAME", "name without url is ignored"),
    ]);
    let cfg = parse(
        "[[cameras]]\nid = \"x\"\nurl = \"rtsp://file/s\"\n",
        &e,
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(cfg.cameras.len(), 2);
    assert_eq!(cfg.cameras[0].id.v, "x");
    assert_eq!(cfg.cameras[0].url.v.url().host_str(), Some("env1"));
    assert_eq!(
        cfg.cameras[0].url.at,
        Origin::Env("CAMERA1_RTSP_URL".into())
    );
    assert_eq!(cfg.cameras[1].id.v, "gate");
}

#[test]
fn flags_win_over_env_over_file() {
    let text = "[metrics]\nlisten = \"127.0.0.1:1000\"\n[[cameras]]\nurl = \"rtsp://file/s\"\n";
    let e = env(&[("METRICS_PORT", "2000")]);
    let cfg = parse(text, &Env::new(), &Flags::default()).unwrap();
    assert_eq!(cfg.metrics_listen.v.unwrap().port(), 1000);
    let cfg = parse(text, &e, &Flags::default()).unwrap();
    assert_eq!(cfg.metrics_listen.v.unwrap().port(), 2000);
    let f = Flags {
        metrics_listen: Some("127.0.0.1:3000".into()),
        ..Flags::default()
    };
    let cfg = parse(text, &e, &f).unwrap();
    assert_eq!(cfg.metrics_listen.v.unwrap().port(), 3000);
    assert_eq!(
        cfg.metrics_listen.at,
        Origin::Flag("--metrics-listen".into())
    );
    let f = Flags {
        no_metrics: true,
        ..Flags::default()
    };
    assert_eq!(parse(text, &e, &f).unwrap().metrics_listen.v, None);
}

#[test]
fn s3_is_selected_by_bucket_and_validated() {
    let text = "[[cameras]]\nurl = \"rtsp://cam/s\"\n";
    let cfg = parse(text, &env(&[("S3_BUCKET", "videos")]), &Flags::default()).unwrap();
    assert_eq!(cfg.storage.kind.v, StorageKind::S3);
    // --out selects a folder even with S3_BUCKET set.
    let f = Flags {
        out: Some("/tmp/x".into()),
        ..Flags::default()
    };
    let cfg = parse(text, &env(&[("S3_BUCKET", "videos")]), &f).unwrap();
    assert_eq!(cfg.storage.kind.v, StorageKind::Local);
    let errs = parse(
        text,
        &env(&[("S3_BUCKET", "Bad_Bucket"), ("S3_ACCESS_KEY_ID", "k")]),
        &Flags::default(),
    )
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].at, Origin::Env("S3_BUCKET".into()));
    assert!(errs[1].message.contains("without a secret"));
    let errs = errors("[storage]\nkind = \"s3\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n");
    assert!(errs[0].message.contains("needs a bucket"), "{errs:?}");
    assert_eq!(errs[0].at, file_at(2, 8));
}

#[test]
fn errors_point_at_the_value() {
    let errs = errors("[[cameras]]\nid = \"a\"\nurl = \"rtsp://a:b@\"\n");
    assert_eq!(errs[0].at, file_at(3, 7));
    let errs = errors("[[cameras]]\nurl = \"rtsp://cam/s\"\nfragment_seconds = 0\n");
    assert_eq!(errs[0].at, file_at(3, 20));
    assert!(errs[0].message.contains("fragment duration"));
    let errs = errors(
        "[output]\nkey_template = \"{camera}/{nope}.mp4\"\n[[cameras]]\nurl = \"rtsp://cam/s\"\n",
    );
    assert_eq!(errs[0].at, file_at(2, 16));
}

#[test]
fn env_number_errors_name_the_variable() {
    let e = env(&[("METRICS_PORT", "http"), ("CAMERA1_RTSP_URL", "rtsp://c/s")]);
    let errs = parse("", &e, &Flags::default()).unwrap_err().0;
    assert_eq!(errs[0].at, Origin::Env("METRICS_PORT".into()));
    assert_eq!(
        errs[0].to_string().lines().next().unwrap(),
        "environment variable METRICS_PORT: \"http\" is not a port number"
    );
}

#[test]
fn render_never_shows_secrets() {
    let cfg = parse(
        "[storage]\nkind = \"s3\"\nbucket = \"b12\"\naccess_key_id = \"AKIA1234567890ABCD\"\nsecret_access_key = \"SECRETSECRET\"\n[[cameras]]\nurl = \"rtsp://u:pw0rd@cam/s?token=tok3n\"\n",
        &Env::new(),
        &Flags::default(),
    )
    .unwrap();
    let r = cfg.render();
    for s in ["SECRETSECRET", "pw0rd", "tok3n", "AKIA1234567890"] {
        assert!(!r.contains(s), "{s} in\n{r}");
    }
    assert!(r.contains("\"***ABCD\""), "{r}");
}

#[test]
fn slugs_are_file_safe() {
    assert_eq!(slug("Front Door (main)"), "front-door-main");
    assert_eq!(slug("///"), "");
    let u = CameraUrl::parse("rtsp://u:p@192.168.1.10:554/Streaming/Channels/101").unwrap();
    assert_eq!(
        camera_id_from_url(&u),
        "192-168-1-10-Streaming-Channels-101"
    );
}

#[test]
fn a_flag_wins_over_per_camera_keys() {
    let text = "[output]\nsegment_duration_minutes = 10\n[[cameras]]\nurl = \"rtsp://a/s\"\nsegment_duration_minutes = 5\n[[cameras]]\nurl = \"rtsp://b/s\"\n";
    let cfg = parse(text, &Env::new(), &Flags::default()).unwrap();
    assert_eq!(cfg.cameras[0].segment.v, Duration::from_secs(300));
    assert_eq!(cfg.cameras[1].segment.v, Duration::from_secs(600));
    let f = Flags {
        segment: Some(Duration::from_secs(60)),
        ..Flags::default()
    };
    let cfg = parse(text, &Env::new(), &f).unwrap();
    assert!(cfg
        .cameras
        .iter()
        .all(|c| c.segment.v == Duration::from_secs(60)));
    assert_eq!(cfg.cameras[0].segment.at, Origin::Flag("--segment".into()));
}

#[test]
fn empty_env_values_count_as_unset() {
    let e = env(&[
        ("CAMERA1_RTSP_URL", ""),
        ("METRICS_PORT", " "),
        ("CAMERA2_RTSP_URL", "rtsp://b/s"),
    ]);
    let cfg = parse("", &e, &Flags::default()).unwrap();
    assert_eq!(cfg.cameras.len(), 1);
    assert_eq!(cfg.cameras[0].id.v, "camera2");
    assert_eq!(cfg.metrics_listen.v.unwrap().port(), 9090);
}
