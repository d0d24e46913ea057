//! `[storage]` + `S3_*` variables + `--out` → where segments go, and the
//! library's [`S3Config`] built from it.
//!
//! Defaults come from the library ([`S3Config::new`]), so the CLI and an
//! embedding host start from the same settings.

use std::path::PathBuf;

use recorder_core::sink::s3::{S3Config, SecretString};

use super::env::{self, Env, Vars};
use super::file::{FileConfig, FileCtx};
use super::origin::{err, scrub_userinfo, ConfigError, Origin, Val};
use super::{Config, Flags, DEFAULT_DIR};

const MIB: u64 = 1 << 20;

/// Where segments go.
#[derive(Clone, Debug, PartialEq, Eq, Copy)]
pub enum StorageKind {
    /// A local folder.
    Local,
    /// An S3-compatible bucket.
    S3,
}

impl StorageKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "local",
            StorageKind::S3 => "s3",
        }
    }
}

/// S3 settings with their origins (validated when `kind = "s3"`).
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: Val<Option<String>>,
    /// Key prefix, prepended to the key template.
    pub prefix: Val<String>,
    /// Endpoint URL for non-AWS stores (MinIO, Garage, R2, ...).
    pub endpoint: Val<Option<String>>,
    /// Region.
    pub region: Val<String>,
    /// Access key id (None: the default AWS credential chain).
    pub access_key_id: Val<Option<String>>,
    /// Secret access key. Never printed.
    pub secret_access_key: Val<Option<SecretString>>,
    /// Session token of temporary credentials. Never printed.
    pub session_token: Val<Option<SecretString>>,
    /// Path-style URLs; None: on when an endpoint is set.
    pub force_path_style: Val<Option<bool>>,
    /// Multipart part size, bytes (5 MiB to 5 GiB).
    pub part_size: Val<u64>,
    /// Local spool folder.
    pub spool_dir: Val<PathBuf>,
    /// Largest spool size, bytes, before recording refuses new fragments.
    pub spool_limit: Val<u64>,
    /// Parallel part uploads.
    pub max_concurrent_uploads: Val<i64>,
    /// Create the bucket at start-up when it does not exist.
    pub create_bucket: Val<bool>,
}

impl S3Settings {
    /// The library's defaults.
    fn defaults() -> Self {
        let d = S3Config::new("");
        S3Settings {
            bucket: Val::default(None),
            prefix: Val::default(d.prefix),
            endpoint: Val::default(d.endpoint),
            region: Val::default(d.region),
            access_key_id: Val::default(None),
            secret_access_key: Val::default(None),
            session_token: Val::default(None),
            force_path_style: Val::default(None),
            part_size: Val::default(d.part_size),
            spool_dir: Val::default(d.spool_dir),
            spool_limit: Val::default(d.spool_limit_bytes),
            max_concurrent_uploads: Val::default(
                i64::try_from(d.max_concurrent_uploads).unwrap_or(i64::MAX),
            ),
            create_bucket: Val::default(d.create_bucket),
        }
    }
}

/// Storage settings.
#[derive(Clone, Debug)]
pub struct Storage {
    /// local or s3.
    pub kind: Val<StorageKind>,
    /// Local folder.
    pub dir: Val<PathBuf>,
    /// fsync every fragment (local).
    pub sync_fragments: Val<bool>,
    /// S3 settings.
    pub s3: S3Settings,
}

impl Config {
    /// The library's S3 settings (secrets stay [`SecretString`]s, which
    /// never print). Checked by `S3Store::connect`, which refuses what the
    /// library cannot use.
    pub fn s3_config(&self) -> S3Config {
        let s3 = &self.storage.s3;
        let mut c = S3Config::new(s3.bucket.v.clone().unwrap_or_default())
            .with_region(s3.region.v.clone())
            .with_part_size(s3.part_size.v)
            .with_spool_dir(s3.spool_dir.v.clone())
            .with_spool_limit(s3.spool_limit.v)
            .with_max_concurrent_uploads(usize::try_from(s3.max_concurrent_uploads.v).unwrap_or(0))
            .with_create_bucket(s3.create_bucket.v)
            .with_template(self.key_template.v.clone());
        c.prefix = s3.prefix.v.clone();
        if let Some(ep) = &s3.endpoint.v {
            c = c.with_endpoint(ep.clone());
        }
        if let Some(on) = s3.force_path_style.v {
            c = c.with_force_path_style(on);
        }
        if let (Some(id), Some(secret)) = (&s3.access_key_id.v, &s3.secret_access_key.v) {
            c.access_key_id = Some(id.clone());
            c.secret_access_key = Some(secret.clone());
            c.session_token = s3.session_token.v.clone();
        }
        c
    }
}

/// `name` under `[storage]`, or the ffmpeg recorder's `legacy` name for it
/// (an error when both are there).
fn one_of<T>(
    own: Option<Val<T>>,
    legacy: Option<Val<T>>,
    names: (&str, &str),
    errors: &mut Vec<ConfigError>,
) -> Option<Val<T>> {
    match (own, legacy) {
        (Some(o), Some(l)) => {
            errors.push(err(
                &l.at,
                format!(
                    "{} is set twice: as {} (at {}) and as {}",
                    names.0, names.0, o.at, names.1
                ),
                format!(
                    "keep one: {} (camrec) or {} (ffmpeg recorder)",
                    names.0, names.1
                ),
            ));
            Some(o)
        }
        (o, l) => o.or(l),
    }
}

/// The largest spool limit accepted: 1 PiB. Larger is no disk anyone has,
/// and byte counts near `u64::MAX` would overflow the spool's accounting.
const MAX_SPOOL_LIMIT: u64 = 1 << 50;

/// A `*_mib` setting in bytes; a negative value is reported (naming the
/// setting) and left out, a huge one saturates and fails its range check.
fn mib_setting(
    cx: &FileCtx<'_>,
    v: &Option<toml::Spanned<i64>>,
    name: &str,
    range: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<u64>> {
    let v = cx.map(v, |v| v)?;
    match u64::try_from(v.v) {
        Ok(n) => Some(Val {
            v: n.saturating_mul(MIB),
            at: v.at,
        }),
        Err(_) => {
            errors.push(err(
                &v.at,
                format!("{name} = {} is negative", v.v),
                format!("set {name} {range}"),
            ));
            None
        }
    }
}

pub(super) fn build(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    env: &Env,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Storage {
    let mut kind_text: Val<Option<String>> = Val::default(None);
    let mut dir = Val::default(PathBuf::from(DEFAULT_DIR));
    let mut sync = Val::default(false);
    let mut s3 = S3Settings::defaults();
    if let Some(st) = &file.storage {
        kind_text.put(cx.map(&st.kind, Some));
        dir.put(cx.map(&st.dir, PathBuf::from));
        sync.put(cx.map(&st.sync_fragments, |v| v));
        let bucket = one_of(
            cx.map(&st.bucket, Some),
            cx.map(&st.s3_bucket, Some),
            ("bucket", "s3_bucket"),
            errors,
        );
        s3.bucket.put(bucket);
        s3.prefix.put(cx.map(&st.prefix, |v| v));
        let endpoint = one_of(
            cx.map(&st.endpoint, Some),
            cx.map(&st.s3_endpoint, Some),
            ("endpoint", "s3_endpoint"),
            errors,
        );
        s3.endpoint.put(endpoint);
        let region = one_of(
            cx.map(&st.region, |v| v),
            cx.map(&st.s3_region, |v| v),
            ("region", "s3_region"),
            errors,
        );
        s3.region.put(region);
        s3.access_key_id.put(cx.map(&st.access_key_id, Some));
        s3.secret_access_key
            .put(cx.map(&st.secret_access_key, |v| Some(SecretString::from(v))));
        s3.part_size.put(mib_setting(
            cx,
            &st.part_size_mib,
            "part_size_mib",
            "between 5 and 5120",
            errors,
        ));
        s3.spool_dir.put(cx.map(&st.spool_dir, PathBuf::from));
        s3.spool_limit.put(mib_setting(
            cx,
            &st.spool_limit_mib,
            "spool_limit_mib",
            "between twice part_size_mib and 1073741824 (1 PiB)",
            errors,
        ));
        s3.max_concurrent_uploads
            .put(cx.map(&st.max_concurrent_uploads, |v| v));
        s3.create_bucket.put(cx.map(&st.create_bucket, |v| v));
    }
    let vars = Vars(env);
    let some = |v: Option<Val<String>>| {
        v.map(|v| Val {
            v: Some(v.v),
            at: v.at,
        })
    };
    s3.bucket.put(some(vars.first(env::s3::BUCKET)));
    s3.prefix.put(vars.first(env::s3::PREFIX));
    s3.endpoint.put(some(vars.first(env::s3::ENDPOINT)));
    s3.region.put(vars.first(env::s3::REGION));
    s3.access_key_id
        .put(some(vars.first(env::s3::ACCESS_KEY_ID)));
    if let Some(v) = vars.first(env::s3::SECRET_ACCESS_KEY) {
        s3.secret_access_key
            .set(Some(SecretString::from(v.v)), v.at);
    }
    if let Some(v) = vars.first(env::s3::SESSION_TOKEN) {
        s3.session_token.set(Some(SecretString::from(v.v)), v.at);
    }
    if let Some(v) = vars.bool(env::s3::FORCE_PATH_STYLE, errors) {
        s3.force_path_style.set(Some(v.v), v.at);
    }
    s3.create_bucket
        .put(vars.bool(env::s3::CREATE_BUCKET, errors));
    // The bucket variable may be a bare name or s3://bucket/prefix.
    if matches!(s3.bucket.at, Origin::Env(_)) {
        if let Some(b) = s3.bucket.v.clone().filter(|b| b.contains("://")) {
            let at = s3.bucket.at.clone();
            split_s3_url(&b, &at, &mut s3, errors);
        }
    }
    if let Some(v) = vars.first(env::s3::TEMP_DIR) {
        s3.spool_dir
            .set(PathBuf::from(v.v).join("camrec-spool"), v.at);
    }
    s3.spool_dir
        .put(vars.first(env::s3::SPOOL_DIR).map(|v| Val {
            v: PathBuf::from(v.v),
            at: v.at,
        }));
    s3.spool_limit.put(vars.size(env::s3::SPOOL_LIMIT, errors));
    s3.part_size.put(vars.size(env::s3::PART_SIZE, errors));
    s3.max_concurrent_uploads
        .put(vars.int(env::s3::MAX_CONCURRENT_UPLOADS, errors));
    // The kind: the file's choice; else S3 when a bucket is set; --out
    // selects a local folder or a bucket.
    let mut kind = match &kind_text.v {
        Some(k) => match k.trim().to_ascii_lowercase().as_str() {
            "local" => Val {
                v: StorageKind::Local,
                at: kind_text.at.clone(),
            },
            "s3" => Val {
                v: StorageKind::S3,
                at: kind_text.at.clone(),
            },
            other => {
                errors.push(err(
                    &kind_text.at,
                    format!("unknown storage kind {other:?}"),
                    "write kind = \"local\" (a folder) or kind = \"s3\"",
                ));
                Val::default(StorageKind::Local)
            }
        },
        None if s3.bucket.at != Origin::Default => Val {
            v: StorageKind::S3,
            at: s3.bucket.at.clone(),
        },
        None => Val::default(StorageKind::Local),
    };
    if let Some(out) = &flags.out {
        let at = Origin::Flag("--out".into());
        match out.to_str().filter(|o| is_s3_url(o)) {
            Some(url) => {
                split_s3_url(url, &at, &mut s3, errors);
                kind.set(StorageKind::S3, at);
            }
            None => {
                dir.set(out.clone(), at.clone());
                kind.set(StorageKind::Local, at);
            }
        }
    }
    if flags.sync_fragments {
        sync.set(true, Origin::Flag("--sync-fragments".into()));
    }
    if kind.v == StorageKind::S3 {
        validate_s3(&s3, &kind.at, errors);
    } else if dir.v.as_os_str().is_empty() {
        errors.push(err(
            &dir.at,
            "the output folder is empty",
            "set dir = \"/path/to/recordings\"",
        ));
    }
    Storage {
        kind,
        dir,
        sync_fragments: sync,
        s3,
    }
}

/// `s3://...` (any case): an `--out` that names a bucket, not a folder.
pub fn is_s3_url(s: &str) -> bool {
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("s3://"))
}

/// Sets bucket and prefix from `s3://bucket/prefix`.
fn split_s3_url(url: &str, at: &Origin, s3: &mut S3Settings, errors: &mut Vec<ConfigError>) {
    match recorder_core::sink::s3::parse_s3_url(url) {
        Ok((bucket, prefix)) => {
            s3.bucket.set(Some(bucket), at.clone());
            s3.prefix.set(prefix, at.clone());
        }
        Err(e) => errors.push(err(
            at,
            format!("{:?} is not a usable S3 location: {e}", scrub_userinfo(url)),
            "write s3://bucket or s3://bucket/prefix (the endpoint goes in S3_ENDPOINT or [storage] endpoint)",
        )),
    }
}

/// Sizes in messages and `config check`: MiB, with decimals only when
/// needed.
pub(super) fn in_mib(bytes: u64) -> String {
    if bytes % MIB == 0 {
        (bytes / MIB).to_string()
    } else {
        format!("{}", bytes as f64 / MIB as f64)
    }
}

fn validate_s3(s3: &S3Settings, kind_at: &Origin, errors: &mut Vec<ConfigError>) {
    use recorder_core::sink::s3::{MAX_PART_SIZE, MIN_PART_SIZE};
    match &s3.bucket.v {
        None => errors.push(err(
            kind_at,
            "S3 storage needs a bucket",
            "set bucket = \"...\" under [storage] (or S3_BUCKET)",
        )),
        Some(b) => {
            let ok = (3..=63).contains(&b.len())
                && b.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !b.starts_with(['-', '.'])
                && !b.ends_with(['-', '.']);
            if !ok {
                errors.push(err(
                    &s3.bucket.at,
                    format!("{b:?} is not a valid bucket name"),
                    "use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit",
                ));
            }
        }
    }
    if let Some(e) = &s3.endpoint.v {
        match url::Url::parse(e) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
                if u.password().is_some() || !u.username().is_empty() {
                    errors.push(err(
                        &s3.endpoint.at,
                        "the S3 endpoint contains credentials",
                        "remove user:password@ from the endpoint; set access_key_id / secret_access_key (or S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY)",
                    ));
                }
            }
            _ => errors.push(err(
                &s3.endpoint.at,
                format!("{:?} is not an http(s) URL", scrub_userinfo(e)),
                "write the endpoint as https://host[:port], e.g. \"http://127.0.0.1:3900\" for Garage",
            )),
        }
    }
    if s3.region.v.trim().is_empty() {
        errors.push(err(
            &s3.region.at,
            "the S3 region is empty",
            "set region = \"us-east-1\" (or your store's region; many ignore it)",
        ));
    }
    match (&s3.access_key_id.v, &s3.secret_access_key.v) {
        (Some(_), None) => errors.push(err(
            &s3.access_key_id.at,
            "an access key id without a secret access key",
            "set secret_access_key (or S3_SECRET_ACCESS_KEY / S3_SECRET_KEY) too, or neither to use the AWS default credential chain",
        )),
        (None, Some(_)) => errors.push(err(
            &s3.secret_access_key.at,
            "a secret access key without an access key id",
            "set access_key_id (or S3_ACCESS_KEY_ID / S3_ACCESS_KEY) too, or neither to use the AWS default credential chain",
        )),
        _ => {}
    }
    // The key id travels in the Authorization header: the SDK cannot sign
    // with anything but printable ASCII, so say so before recording starts.
    if let Some(id) = &s3.access_key_id.v {
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
            errors.push(err(
                &s3.access_key_id.at,
                "the access key id is not 1 to 128 printable ASCII characters (no spaces, control or non-ASCII characters)",
                "copy the access key id again from the storage provider (e.g. AKIAIOSFODNN7EXAMPLE)",
            ));
        }
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&s3.part_size.v) {
        errors.push(err(
            &s3.part_size.at,
            format!(
                "part size {} MiB is outside what S3 allows",
                in_mib(s3.part_size.v)
            ),
            "set part_size_mib (or S3_PART_SIZE) between 5 (S3's minimum for all but the last part) and 5120",
        ));
    }
    if s3.spool_limit.v > MAX_SPOOL_LIMIT {
        errors.push(err(
            &s3.spool_limit.at,
            format!(
                "spool limit {} MiB is more than 1 PiB",
                in_mib(s3.spool_limit.v)
            ),
            "set spool_limit_mib (or S3_SPOOL_LIMIT) between twice part_size_mib and 1073741824 (1 PiB)",
        ));
    } else if s3.spool_limit.v < s3.part_size.v.saturating_mul(2) {
        errors.push(err(
            &s3.spool_limit.at,
            format!(
                "spool limit {} MiB cannot hold two parts of {} MiB",
                in_mib(s3.spool_limit.v),
                in_mib(s3.part_size.v)
            ),
            "set spool_limit_mib to at least twice part_size_mib (the spool is what survives an S3 outage: make it large)",
        ));
    }
    if !(1..=64).contains(&s3.max_concurrent_uploads.v) {
        errors.push(err(
            &s3.max_concurrent_uploads.at,
            format!(
                "{} concurrent uploads is out of range",
                s3.max_concurrent_uploads.v
            ),
            "set max_concurrent_uploads between 1 and 64 (4 is plenty for most sites)",
        ));
    }
}
