//! Environment variables: the names camrec reads, in one place.
//!
//! Two deployments are replaced by camrec and both sets of names work: the
//! ffmpeg-based recorder's (`CAMERA_1_URL`, `S3_ACCESS_KEY`,
//! `S3_SECRET_KEY`) and the other one's (`CAMERA1_RTSP_URL`,
//! `S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY`), besides the AWS SDK's.
//! Where several names mean one setting, the first one set wins (an empty
//! value counts as unset).

use std::collections::BTreeMap;

use super::origin::{err, ConfigError, Origin, Val};

/// The environment, as a map (tests pass their own).
pub type Env = BTreeMap<String, String>;

/// The process environment.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The S3 settings' variables, first set wins.
pub mod s3 {
    /// Bucket name or `s3://bucket/prefix`.
    pub const BUCKET: &[&str] = &["S3_BUCKET", "S3_URL"];
    /// Key prefix.
    pub const PREFIX: &[&str] = &["S3_PREFIX"];
    /// Endpoint URL.
    pub const ENDPOINT: &[&str] = &["S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];
    /// Signing region.
    pub const REGION: &[&str] = &["S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"];
    /// Access key id.
    pub const ACCESS_KEY_ID: &[&str] = &["S3_ACCESS_KEY_ID", "S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"];
    /// Secret access key.
    pub const SECRET_ACCESS_KEY: &[&str] = &[
        "S3_SECRET_ACCESS_KEY",
        "S3_SECRET_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ];
    /// Session token of temporary credentials.
    pub const SESSION_TOKEN: &[&str] = &["AWS_SESSION_TOKEN"];
    /// Path-style addressing (true/false).
    pub const FORCE_PATH_STYLE: &[&str] = &["S3_FORCE_PATH_STYLE"];
    /// Create the bucket when missing (true/false).
    pub const CREATE_BUCKET: &[&str] = &["S3_CREATE_BUCKET"];
    /// Spool folder (`TEMP_DIR` names its parent instead).
    pub const SPOOL_DIR: &[&str] = &["S3_SPOOL_DIR"];
    /// Parent of the spool folder `camrec-spool` (ffmpeg recorder's temp dir).
    pub const TEMP_DIR: &[&str] = &["TEMP_DIR"];
    /// Spool limit (size).
    pub const SPOOL_LIMIT: &[&str] = &["S3_SPOOL_LIMIT"];
    /// Part size (size).
    pub const PART_SIZE: &[&str] = &["S3_PART_SIZE"];
    /// Parallel part uploads.
    pub const MAX_CONCURRENT_UPLOADS: &[&str] = &["MAX_CONCURRENT_UPLOADS"];
}

/// The metrics port (the listen address keeps its host).
pub const METRICS_PORT: &[&str] = &["METRICS_PORT"];
/// Also export the old dashboards' metric names (true/false).
pub const LEGACY_METRICS: &[&str] = &["CAMREC_LEGACY_METRICS"];

/// Typed reads of the environment that record where a value came from.
pub(super) struct Vars<'a>(pub &'a Env);

impl Vars<'_> {
    /// The first of `names` that is set (and not blank).
    pub fn first(&self, names: &[&str]) -> Option<Val<String>> {
        names.iter().find_map(|n| {
            self.0
                .get(*n)
                .filter(|v| !v.trim().is_empty())
                .map(|v| Val {
                    v: v.clone(),
                    at: Origin::Env((*n).to_string()),
                })
        })
    }

    /// A boolean (`true/false`, `1/0`, `yes/no`, `on/off`).
    pub fn bool(&self, names: &[&str], errors: &mut Vec<ConfigError>) -> Option<Val<bool>> {
        let v = self.first(names)?;
        match parse_bool(&v.v) {
            Some(b) => Some(Val { v: b, at: v.at }),
            None => {
                errors.push(err(
                    &v.at,
                    format!("{:?} is not a boolean", v.v),
                    format!("set {} to true or false", env_name(&v.at)),
                ));
                None
            }
        }
    }

    /// A whole number.
    pub fn int(&self, names: &[&str], errors: &mut Vec<ConfigError>) -> Option<Val<i64>> {
        let v = self.first(names)?;
        match v.v.trim().parse::<i64>() {
            Ok(n) => Some(Val { v: n, at: v.at }),
            Err(_) => {
                errors.push(err(
                    &v.at,
                    format!("{:?} is not a number", v.v),
                    format!("set {} to a whole number such as 4", env_name(&v.at)),
                ));
                None
            }
        }
    }

    /// A size in bytes: `1073741824`, `8M`, `10GiB`, `512 MiB`.
    pub fn size(&self, names: &[&str], errors: &mut Vec<ConfigError>) -> Option<Val<u64>> {
        let v = self.first(names)?;
        match parse_size(&v.v) {
            Some(n) => Some(Val { v: n, at: v.at }),
            None => {
                errors.push(err(
                    &v.at,
                    format!("{:?} is not a size", v.v),
                    format!(
                        "set {} to bytes or a number with a unit: 8M, 10G, 512MiB (K, M, G, T are powers of 1024)",
                        env_name(&v.at)
                    ),
                ));
                None
            }
        }
    }
}

fn env_name(at: &Origin) -> &str {
    match at {
        Origin::Env(n) => n,
        _ => "the variable",
    }
}

/// `true/false`, `1/0`, `yes/no`, `on/off`, any case.
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A size: bare bytes, or a number with a unit as `bytesize` reads it.
/// `K`, `M`, `G`, `T` (and `KB`, `MB`, ...) keep the meaning earlier
/// versions gave them, powers of 1024, so existing settings do not shrink.
pub(super) fn parse_size(v: &str) -> Option<u64> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let unit = match unit.to_ascii_uppercase().as_str() {
        "K" | "KB" => "KiB",
        "M" | "MB" => "MiB",
        "G" | "GB" => "GiB",
        "T" | "TB" => "TiB",
        _ => unit,
    };
    if num.is_empty() {
        return None;
    }
    format!("{num} {unit}")
        .trim()
        .parse::<bytesize::ByteSize>()
        .ok()
        .map(|b| b.as_u64())
}

/// One camera from the environment: camera `n` (1-based).
#[derive(Debug)]
pub(super) struct EnvCamera {
    pub n: usize,
    pub url: Option<Val<String>>,
    pub name: Option<Val<String>>,
    pub id: Option<Val<String>>,
}

/// The variables of camera `n`, in both namings.
fn camera_names(n: usize, what: &str) -> [String; 2] {
    match what {
        "url" => [format!("CAMERA{n}_RTSP_URL"), format!("CAMERA_{n}_URL")],
        "name" => [format!("CAMERA{n}_NAME"), format!("CAMERA_{n}_NAME")],
        _ => [format!("CAMERA{n}_ID"), format!("CAMERA_{n}_ID")],
    }
}

/// The camera number in a variable name, if it is one of the camera
/// variables (`CAMERA1_RTSP_URL`, `CAMERA1_NAME`, `CAMERA1_ID`,
/// `CAMERA_1_URL`, `CAMERA_1_NAME`, `CAMERA_1_ID`).
fn camera_number(key: &str) -> Option<usize> {
    let rest = key.strip_prefix("CAMERA")?;
    let (rest, suffixes): (&str, &[&str]) = match rest.strip_prefix('_') {
        Some(r) => (r, &["_URL", "_NAME", "_ID"]),
        None => (rest, &["_RTSP_URL", "_NAME", "_ID"]),
    };
    let n = suffixes.iter().find_map(|s| rest.strip_suffix(s))?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<usize>().ok().filter(|n| *n >= 1)
}

/// Every camera the environment names, by number.
pub(super) fn cameras(env: &Env, errors: &mut Vec<ConfigError>) -> Vec<EnvCamera> {
    let mut numbers: Vec<usize> = env.keys().filter_map(|k| camera_number(k)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let vars = Vars(env);
    numbers
        .into_iter()
        .map(|n| {
            let mut one = |what: &str| {
                let [a, b] = camera_names(n, what);
                let (va, vb) = (vars.first(&[a.as_str()]), vars.first(&[b.as_str()]));
                if let (Some(x), Some(y)) = (&va, &vb) {
                    if x.v != y.v {
                        errors.push(err(
                            &y.at,
                            format!("{a} and {b} are both set, to different values"),
                            format!("keep one of them ({a} is camrec's name, {b} the ffmpeg recorder's)"),
                        ));
                    }
                }
                va.or(vb)
            };
            EnvCamera {
                n,
                url: one("url"),
                name: one("name"),
                id: one("id"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_binary_letters_and_accept_bytesize_units() {
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        assert_eq!(parse_size("10GB"), Some(10 << 30));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn camera_variables_in_both_namings() {
        for (k, n) in [
            ("CAMERA1_RTSP_URL", Some(1)),
            ("CAMERA12_NAME", Some(12)),
            ("CAMERA_3_URL", Some(3)),
            ("CAMERA_4_NAME", Some(4)),
            ("CAMERA_5_ID", Some(5)),
            ("CAMERA1_URL", None),
            ("CAMERA_1_RTSP_URL", None),
            ("CAMERA0_RTSP_URL", None),
            ("CAMERAS", None),
        ] {
            assert_eq!(camera_number(k), n, "{k}");
        }
        let env: Env = [
            ("CAMERA_1_URL", "rtsp://a/s"),
            ("CAMERA_1_NAME", "Door"),
            ("CAMERA2_RTSP_URL", "rtsp://b/s"),
            ("CAMERA_2_URL", "rtsp://c/s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut errors = Vec::new();
        let cams = cameras(&env, &mut errors);
        assert_eq!(cams.len(), 2);
        assert_eq!(cams[0].url.as_ref().unwrap().v, "rtsp://a/s");
        assert_eq!(
            cams[0].url.as_ref().unwrap().at,
            Origin::Env("CAMERA_1_URL".into())
        );
        assert_eq!(cams[0].name.as_ref().unwrap().v, "Door");
        // camrec's name wins, and the conflict is an error.
        assert_eq!(cams[1].url.as_ref().unwrap().v, "rtsp://b/s");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].at, Origin::Env("CAMERA_2_URL".into()));
    }
}
