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

/// The ffmpeg recorder's documented `config.toml`, verbatim in shape.
const FFMPEG_RECORDER_TOML: &str = r#"[[cameras]]
id = "cam1"
name = "Front Door"
url = "rtsp://admin:pw0rd@192.168.1.10:554/stream1"
enabled = true
resolution = "2560x1440"
fps = 15

[[cameras]]
id = "cam2"
name = "Garage"
url = "rtsp://admin:pw0rd@192.168.1.11:554/stream1"
enabled = false
resolution = "1920x1080"
fps = 20

[storage]
s3_endpoint = "http://minio:9000"
s3_bucket = "camera-recordings"
s3_region = "us-east-1"
segment_duration_minutes = 5
"#;

#[test]
fn ffmpeg_recorder_config_maps_onto_camrec() {
    let e = env(&[
        ("S3_ACCESS_KEY", "minio-key"),
        ("S3_SECRET_KEY", "minio-secret"),
    ]);
    let cfg = parse(FFMPEG_RECORDER_TOML, &e, &Flags::default()).unwrap();
    assert_eq!(cfg.cameras.len(), 2);
    let (c1, c2) = (&cfg.cameras[0], &cfg.cameras[1]);
    assert_eq!(c1.id.v, "cam1");
    assert_eq!(c1.name.v.as_deref(), Some("Front Door"));
    assert!(c1.enabled.v && !c2.enabled.v);
    assert_eq!(cfg.enabled_cameras().count(), 1);
    assert_eq!(
        c1.expected_resolution.v,
        Some(Resolution {
            width: 2560,
            height: 1440
        })
    );
    assert_eq!(c1.expected_resolution.at, file_at(6, 14));
    assert_eq!(c1.expected_fps.v, Some(15.0));
    assert_eq!(c2.expected_fps.v, Some(20.0));
    // [storage] segment_duration_minutes is every camera's segment length.
    assert_eq!(c1.segment.v, Duration::from_secs(300));
    assert_eq!(c2.segment.at, file_at(21, 28));
    let s3 = &cfg.storage.s3;
    assert_eq!(cfg.storage.kind.v, StorageKind::S3);
    assert_eq!(s3.bucket.v.as_deref(), Some("camera-recordings"));
    assert_eq!(s3.bucket.at, file_at(19, 13));
    assert_eq!(s3.endpoint.v.as_deref(), Some("http://minio:9000"));
    assert_eq!(s3.region.v, "us-east-1");
    assert_eq!(s3.region.at, file_at(20, 13));
    assert_eq!(s3.access_key_id.v.as_deref(), Some("minio-key"));
    assert_eq!(s3.access_key_id.at, Origin::Env("S3_ACCESS_KEY".into()));
    assert_eq!(s3.secret_access_key.at, Origin::Env("S3_SECRET_KEY".into()));
    let core = cfg.s3_config();
    assert_eq!(core.bucket, "camera-recordings");
    assert!(core.force_path_style);
    assert!(core.secret_access_key.is_some());
    let shown = format!("{}\n{cfg:?}\n{core:?}", cfg.render());
    for s in ["minio-secret", "pw0rd"] {
        assert!(!shown.contains(s), "{s} shown in\n{shown}");
    }
    assert!(cfg.render().contains("resolution"), "{}", cfg.render());
}

#[test]
fn ffmpeg_recorder_env_names_work_beside_the_other_deployments() {
    let e = env(&[
        ("CAMERA_1_URL", "rtsp://env1/s"),
        ("CAMERA_2_URL", "rtsp://env2/s"),
        ("CAMERA_2_NAME", "Yard"),
        ("CAMERA_3_URL", "rtsp://env3/s"),
        ("CAMERA_3_ID", "gate"),
    ]);
    let cfg = parse(FFMPEG_RECORDER_TOML, &e, &Flags::default()).unwrap();
    assert_eq!(cfg.cameras.len(), 3);
    assert_eq!(cfg.cameras[0].id.v, "cam1");
    assert_eq!(cfg.cameras[0].url.v.url().host_str(), Some("env1"));
    assert_eq!(cfg.cameras[0].url.at, Origin::Env("CAMERA_1_URL".into()));
    // The file's disabled camera stays disabled; the URL still applies.
    assert!(!cfg.cameras[1].enabled.v);
    assert_eq!(cfg.cameras[1].name.v.as_deref(), Some("Yard"));
    assert_eq!(cfg.cameras[2].id.v, "gate");
    assert_eq!(cfg.cameras[2].id.at, Origin::Env("CAMERA_3_ID".into()));
    // camrec's (and the other deployment's) names win over the aliases.
    let e = env(&[
        ("S3_BUCKET", "b-1"),
        ("S3_ACCESS_KEY_ID", "id-a"),
        ("S3_ACCESS_KEY", "id-b"),
        ("S3_SECRET_ACCESS_KEY", "sa"),
        ("S3_SECRET_KEY", "sb"),
        ("CAMERA1_RTSP_URL", "rtsp://x/s"),
    ]);
    let cfg = parse("", &e, &Flags::default()).unwrap();
    assert_eq!(cfg.storage.s3.access_key_id.v.as_deref(), Some("id-a"));
    assert_eq!(
        cfg.storage.s3.secret_access_key.at,
        Origin::Env("S3_SECRET_ACCESS_KEY".into())
    );
    assert_eq!(cfg.cameras[0].id.v, "camera1");
}

#[test]
fn legacy_keys_twice_and_bad_expectations_are_located() {
    let errs = errors(
        "[storage]\nbucket = \"a-b\"\ns3_bucket = \"c-d\"\n[[cameras]]\nurl = \"rtsp://c/s\"\n",
    );
    assert_eq!(errs[0].at, file_at(3, 13));
    assert!(errs[0].message.contains("set twice"), "{errs:?}");
    assert!(errs[0].fix.contains("s3_bucket"), "{errs:?}");
    let errs = errors(
        "[output]\nsegment_duration_minutes = 10\n[storage]\nsegment_duration_minutes = 5\n[[cameras]]\nurl = \"rtsp://c/s\"\n",
    );
    assert_eq!(errs[0].at, file_at(4, 28));
    let errs = errors("[[cameras]]\nurl = \"rtsp://c/s\"\nresolution = \"1080p\"\nfps = 0\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].at, file_at(3, 14));
    assert!(errs[0].fix.contains("2560x1440"));
    assert_eq!(errs[1].at, file_at(4, 7));
    // Unknown keys still fail, with the place.
    let errs = errors("[storage]\ns3_bucket = \"b-1\"\ns3_bukket = \"x\"\n");
    assert_eq!(errs[0].at, file_at(3, 1));
    assert!(errs[0].message.contains("unknown field `s3_bukket`"));
}

#[test]
fn delivery_mismatch_is_reported_with_the_configured_values() {
    let cfg = parse(FFMPEG_RECORDER_TOML, &Env::new(), &Flags::default()).unwrap();
    let c = &cfg.cameras[0];
    let qhd = Resolution {
        width: 2560,
        height: 1440,
    };
    assert_eq!(c.delivery_mismatch(Some(qhd), Some(15.2)), None);
    assert_eq!(c.delivery_mismatch(None, None), None);
    let w = c
        .delivery_mismatch(
            Some(Resolution {
                width: 1920,
                height: 1080,
            }),
            Some(25.0),
        )
        .unwrap();
    assert!(
        w.contains("1920x1080 (configured 2560x1440)") && w.contains("25.0 fps (configured 15)"),
        "{w}"
    );
    assert!("2560X1440".parse::<Resolution>().is_ok());
    assert!("0x10".parse::<Resolution>().is_err());
}

#[test]
fn s3_defaults_are_the_librarys() {
    let cfg = parse(
        "",
        &env(&[("S3_BUCKET", "b-1"), ("CAMERA1_RTSP_URL", "rtsp://c/s")]),
        &Flags::default(),
    )
    .unwrap();
    let lib = recorder_core::sink::s3::S3Config::new("b-1");
    let core = cfg.s3_config();
    assert_eq!(core.spool_dir, lib.spool_dir);
    assert_eq!(core.spool_limit_bytes, lib.spool_limit_bytes);
    assert_eq!(core.part_size, lib.part_size);
    assert_eq!(core.max_concurrent_uploads, lib.max_concurrent_uploads);
    assert_eq!(core.region, lib.region);
    assert!(!core.force_path_style);
}

#[test]
fn s3_sizes_and_spool_from_the_environment() {
    let e = env(&[
        ("S3_URL", "s3://b-1/site"),
        ("CAMERA1_RTSP_URL", "rtsp://c/s"),
        ("TEMP_DIR", "/tmp/a"),
        ("S3_SPOOL_DIR", "/var/spool/cam"),
        ("S3_SPOOL_LIMIT", "10G"),
        ("S3_PART_SIZE", "16MiB"),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("AWS_ACCESS_KEY_ID", "id"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "tok"),
    ]);
    let cfg = parse("", &e, &Flags::default()).unwrap();
    let core = cfg.s3_config();
    assert_eq!(core.bucket, "b-1");
    assert_eq!(core.prefix, "site/");
    assert_eq!(core.spool_dir, PathBuf::from("/var/spool/cam"));
    assert_eq!(core.spool_limit_bytes, 10 << 30);
    assert_eq!(core.part_size, 16 << 20);
    assert!(core.force_path_style && core.session_token.is_some());
    let r = cfg.render();
    assert!(r.contains("spool_limit_mib          = 10240"), "{r}");
    assert!(!r.contains("tok\""), "{r}");
    let errs = parse(
        "",
        &env(&[
            ("S3_BUCKET", "b-1"),
            ("S3_PART_SIZE", "big"),
            ("CAMERA1_RTSP_URL", "rtsp://c/s"),
        ]),
        &Flags::default(),
    )
    .unwrap_err()
    .0;
    assert_eq!(errs[0].at, Origin::Env("S3_PART_SIZE".into()));
    assert!(errs[0].fix.contains("8M"), "{errs:?}");
}

#[test]
fn legacy_metric_names_by_file_env_or_flag() {
    let text = "[metrics]\nlegacy_names = true\n[[cameras]]\nurl = \"rtsp://c/s\"\n";
    let cfg = parse(text, &Env::new(), &Flags::default()).unwrap();
    assert!(cfg.metrics_legacy_names.v);
    assert_eq!(cfg.metrics_legacy_names.at, file_at(2, 16));
    let text = "[[cameras]]\nurl = \"rtsp://c/s\"\n";
    let cfg = parse(text, &Env::new(), &Flags::default()).unwrap();
    assert!(!cfg.metrics_legacy_names.v);
    let cfg = parse(
        text,
        &env(&[("CAMREC_LEGACY_METRICS", "1")]),
        &Flags::default(),
    )
    .unwrap();
    assert!(cfg.metrics_legacy_names.v);
    let f = Flags {
        legacy_metrics: true,
        ..Flags::default()
    };
    let cfg = parse(text, &Env::new(), &f).unwrap();
    assert_eq!(
        cfg.metrics_legacy_names.at,
        Origin::Flag("--legacy-metrics".into())
    );
}

#[test]
fn retention_from_file_per_camera_and_flags() {
    use std::time::Duration;
    let text = r#"
[retention]
max_age = "30d"
max_bytes = "500GiB"
total_max_bytes = "2TiB"
min_free = "5GiB"
clips_max_age = "1w"

[[cameras]]
id = "porch"
url = "rtsp://cam/a"
retention_max_age = "7d"

[[cameras]]
id = "garage"
url = "rtsp://cam/b"
"#;
    let cfg = parse(text, &Env::new(), &Flags::default()).unwrap();
    let r = &cfg.retention;
    assert_eq!(r.max_age.v, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(r.max_age.at, file_at(3, 11));
    assert_eq!(r.min_free.v, Some(5 << 30));
    assert_eq!(r.total_max_bytes.v, Some(2 << 40));
    assert_eq!(r.clips_max_age.v, Some(Duration::from_secs(7 * 86_400)));
    let porch = &cfg.cameras[0];
    assert_eq!(
        porch.retention_max_age.v,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(porch.retention_max_age.at, file_at(12, 21));
    assert_eq!(porch.retention_max_bytes.v, Some(500 << 30));
    assert_eq!(cfg.cameras[1].retention_max_age.v, r.max_age.v);
    let policy = r.policy(cfg.cameras.iter().map(|c| {
        (
            c.id.v.as_str(),
            c.retention_max_age.v,
            c.retention_max_bytes.v,
        )
    }));
    assert_eq!(
        policy.camera_limits("porch").max_age,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(policy.camera_limits("garage"), policy.per_camera);
    assert_eq!(policy.min_free_bytes, Some(5 << 30));
    assert!(r.active_with(&cfg.cameras));
    // A flag sets every camera's limit, per-camera keys included.
    let f = Flags {
        retention: RetentionFlags {
            max_age: Some(Duration::from_secs(86_400)),
            ..RetentionFlags::default()
        },
        ..Flags::default()
    };
    let cfg = parse(text, &Env::new(), &f).unwrap();
    assert_eq!(
        cfg.cameras[0].retention_max_age.v,
        Some(Duration::from_secs(86_400))
    );
    assert_eq!(
        cfg.cameras[0].retention_max_age.at,
        Origin::Flag("--max-age".into())
    );
    // Shown by config check, in a form that reads back.
    let shown = cfg.render();
    assert!(shown.contains("[retention]"), "{shown}");
    assert!(shown.contains("\"500GiB\""), "{shown}");
    assert!(shown.contains("\"1d\""), "{shown}");
    // Nothing set: inactive.
    let cfg = parse(
        "[[cameras]]\nurl = \"rtsp://cam/a\"\n",
        &Env::new(),
        &Flags::default(),
    )
    .unwrap();
    assert!(!cfg.retention.active_with(&cfg.cameras));
}

#[test]
fn bad_retention_values_are_located_with_a_fix() {
    let errs = errors(
        "[retention]\nmax_age = \"30\"\nmin_free = \"5 weeks\"\n[[cameras]]\nurl = \"rtsp://cam/a\"\nretention_max_bytes = \"lots\"\n",
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert_eq!(errs[0].at, file_at(2, 11));
    assert!(errs[0].message.contains("unit is needed"), "{}", errs[0]);
    assert!(errs[0].fix.contains("30d"), "{}", errs[0]);
    assert_eq!(errs[1].at, file_at(3, 12));
    assert!(errs[1].message.contains("unknown unit"), "{}", errs[1]);
    assert_eq!(errs[2].at, file_at(6, 23));
    assert!(errs[2].fix.contains("500GiB"), "{}", errs[2]);
    // A number where a string is expected: the TOML type error.
    let errs = errors("[retention]\nmax_bytes = 5\n[[cameras]]\nurl = \"rtsp://cam/a\"\n");
    assert!(errs[0].message.contains("invalid type"), "{}", errs[0]);
    // On S3 an age becomes a lifecycle rule; a size limit has no S3 form.
    assert!(parse(
        "[retention]\nmax_age = \"30d\"\n[[cameras]]\nurl = \"rtsp://cam/a\"\n",
        &env(&[("S3_BUCKET", "videos")]),
        &Flags::default(),
    )
    .is_ok());
    let errs = parse(
        "[retention]\nmax_bytes = \"5GiB\"\n[[cameras]]\nurl = \"rtsp://cam/a\"\n",
        &env(&[("S3_BUCKET", "videos")]),
        &Flags::default(),
    )
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].at, file_at(2, 13));
    assert!(errs[0].message.contains("S3"), "{}", errs[0]);
}

#[test]
fn prune_needs_no_cameras() {
    let f = Flags {
        out: Some("/tmp/x".into()),
        retention: RetentionFlags {
            min_free: Some(1 << 30),
            ..RetentionFlags::default()
        },
        ..Flags::default()
    };
    let cfg = load_without_cameras(None, &Env::new(), &f).unwrap();
    assert!(cfg.cameras.is_empty());
    assert!(cfg.retention.active_with(&cfg.cameras));
    assert!(build(None, "", &Env::new(), &f).is_err());
}

#[test]
fn thumbnails_default_on_and_follow_file_then_flags() {
    let cam = "[[cameras]]\nurl = \"rtsp://cam/a\"\n";
    let cfg = parse(cam, &Env::new(), &Flags::default()).unwrap();
    let t = cfg.thumbnails.library_config().unwrap();
    assert_eq!(t.interval, Duration::from_secs(300));
    assert_eq!(
        t.template.as_str(),
        "{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.jpg"
    );
    assert_eq!(cfg.thumbnails.enabled.at, Origin::Default);

    let text = format!(
        "[thumbnails]\ninterval_minutes = 0.5\nkey_template = \"thumbs/{{camera}}/{{HHMMSS}}.jpg\"\n{cam}"
    );
    let cfg = parse(&text, &Env::new(), &Flags::default()).unwrap();
    let t = cfg.thumbnails.library_config().unwrap();
    assert_eq!(t.interval, Duration::from_secs(30));
    assert_eq!(t.template.as_str(), "thumbs/{camera}/{HHMMSS}.jpg");
    assert_eq!(cfg.thumbnails.interval.at, file_at(2, 20));
    let shown = cfg.render();
    assert!(shown.contains("[thumbnails]"), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("interval_minutes") && l.contains("= 0.5 ")),
        "{shown}"
    );

    // The flag wins over the file; --no-thumbnails turns them off.
    let f = Flags {
        thumbnail_interval: Some(Duration::from_secs(60)),
        ..Flags::default()
    };
    let cfg = parse(&text, &Env::new(), &f).unwrap();
    assert_eq!(
        cfg.thumbnails.library_config().unwrap().interval,
        Duration::from_secs(60)
    );
    assert_eq!(
        cfg.thumbnails.interval.at,
        Origin::Flag("--thumbnail-interval".into())
    );
    let f = Flags {
        no_thumbnails: true,
        ..Flags::default()
    };
    let cfg = parse(&text, &Env::new(), &f).unwrap();
    assert!(cfg.thumbnails.library_config().is_none());
    let off = format!("[thumbnails]\nenabled = false\n{cam}");
    let cfg = parse(&off, &Env::new(), &Flags::default()).unwrap();
    assert!(cfg.thumbnails.library_config().is_none());
}

#[test]
fn bad_thumbnail_values_are_located_with_a_fix() {
    let errs = errors(
        "[thumbnails]\ninterval_minutes = 0\nkey_template = \"{camera}/{HHMMSS}.mp4\"\n[[cameras]]\nurl = \"rtsp://cam/a\"\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].at, file_at(2, 20));
    assert!(errs[0].message.contains("out of range"), "{}", errs[0]);
    assert!(errs[0].fix.contains("1 s to 24 h"), "{}", errs[0]);
    assert_eq!(errs[1].at, file_at(3, 16));
    assert!(errs[1].message.contains(".jpg"), "{}", errs[1]);
}
