//! [`S3Config`]: where and how segments are uploaded.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::S3Error;
use crate::sink::ObjectNameTemplate;

/// The smallest part S3 accepts for any part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Default part size: 8 MiB (about a minute of a 1 Mbit/s camera).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Default spool limit: 10 GiB.
pub const DEFAULT_SPOOL_LIMIT: u64 = 10 * 1024 * 1024 * 1024;

/// A secret that never shows in `Debug`/`Display` output (and hence in logs
/// or error messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; only for handing to the signer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Backoff between attempts of a failed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait (the wait doubles up to this).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

/// Everything [`S3Store::connect`](super::S3Store::connect) needs.
///
/// `Debug` never prints the secret key. Build one with [`S3Config::new`]
/// or [`S3Config::from_env`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// Endpoint URL for non-AWS stores (`http://127.0.0.1:3900`,
    /// `https://ACCOUNT.r2.cloudflarestorage.com`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Signing region (`us-east-1`, `auto` for R2, `garage` for Garage).
    pub region: String,
    /// Bucket name.
    pub bucket: String,
    /// Key prefix, without leading `/`; a trailing `/` is added when missing.
    pub prefix: String,
    /// Access key id; `None` uses the AWS default credential chain
    /// (profile, web identity, instance metadata).
    pub access_key_id: Option<String>,
    /// Secret access key (redacted in `Debug`).
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// Path-style URLs (`endpoint/bucket/key`); what MinIO, Garage and
    /// SeaweedFS expect. Defaults to true when `endpoint` is set.
    pub force_path_style: bool,
    /// Target size of a multipart part; parts end on fragment boundaries,
    /// so they are at least this big (except the last). At least 5 MiB.
    pub part_size: u64,
    /// Lets `part_size` go under 5 MiB. Only for test servers that do not
    /// enforce S3's minimum (Garage); real S3 rejects such uploads.
    pub allow_small_parts: bool,
    /// Part uploads in flight at once, across every camera of the store.
    pub max_concurrent_uploads: usize,
    /// Where fragments wait until they are uploaded (one file per open or
    /// not-yet-uploaded segment).
    pub spool_dir: PathBuf,
    /// Most bytes the spool may hold across all cameras; see `docs/s3.md`
    /// for what happens when it is full.
    pub spool_limit_bytes: u64,
    /// Create the bucket at start-up when it does not exist.
    pub create_bucket: bool,
    /// Object names under `prefix`.
    pub template: ObjectNameTemplate,
    /// After completing a multipart upload, copy the object onto itself to
    /// add the metadata only known at the end (end time, duration, frame
    /// count). A server-side copy; turn off to save it.
    pub final_metadata_copy: bool,
    /// Backoff for failed requests (uploads are retried until they succeed;
    /// the spool holds the data meanwhile).
    pub retry: RetryPolicy,
    /// Timeout for connecting to the endpoint.
    pub connect_timeout: Duration,
    /// Timeout for one attempt of one request (a part upload included).
    pub request_timeout: Duration,
}

impl S3Config {
    /// A configuration for `bucket` with defaults: region `us-east-1`, no
    /// endpoint (AWS), 8 MiB parts, 4 concurrent uploads, spool in
    /// `./camrec-spool` limited to 10 GiB.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: bucket.into(),
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            force_path_style: false,
            part_size: DEFAULT_PART_SIZE,
            allow_small_parts: false,
            max_concurrent_uploads: 4,
            spool_dir: PathBuf::from("camrec-spool"),
            spool_limit_bytes: DEFAULT_SPOOL_LIMIT,
            create_bucket: false,
            template: ObjectNameTemplate::default(),
            final_metadata_copy: true,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
        }
    }

    /// Sets the endpoint and turns on path-style addressing.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.force_path_style = true;
        self
    }

    /// Sets static credentials.
    pub fn with_credentials(
        mut self,
        key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(key_id.into());
        self.secret_access_key = Some(Secret::new(secret));
        self
    }

    /// Sets bucket and prefix from `s3://bucket/prefix` (or a bare
    /// `bucket/prefix`).
    pub fn with_url(mut self, url: &str) -> Result<Self, S3Error> {
        let (bucket, prefix) = parse_s3_url(url)?;
        self.bucket = bucket;
        self.prefix = prefix;
        Ok(self)
    }

    /// Reads the process environment; see [`S3Config::from_lookup`].
    pub fn from_env() -> Result<Self, S3Error> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Builds a configuration from variables (the first one set wins):
    ///
    /// | setting | variables |
    /// |---|---|
    /// | bucket (+prefix) | `S3_BUCKET` (`name` or `s3://name/prefix`), `S3_URL` |
    /// | prefix | `S3_PREFIX` |
    /// | endpoint | `S3_ENDPOINT`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` |
    /// | region | `S3_REGION`, `AWS_REGION`, `AWS_DEFAULT_REGION` (else `us-east-1`) |
    /// | key id | `S3_ACCESS_KEY_ID`, `AWS_ACCESS_KEY_ID` |
    /// | secret | `S3_SECRET_ACCESS_KEY`, `AWS_SECRET_ACCESS_KEY` |
    /// | session token | `AWS_SESSION_TOKEN` |
    /// | path style | `S3_FORCE_PATH_STYLE` (`true`/`false`; default: true with an endpoint) |
    /// | spool | `S3_SPOOL_DIR`, `S3_SPOOL_LIMIT` (bytes, or with `K`/`M`/`G` suffix) |
    /// | part size | `S3_PART_SIZE` (same syntax) |
    /// | create bucket | `S3_CREATE_BUCKET` (`true`/`false`) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, S3Error> {
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        let url = first(&["S3_BUCKET", "S3_URL"]).ok_or_else(|| {
            S3Error::InvalidConfig(
                "no bucket given: set S3_BUCKET (a bucket name or s3://bucket/prefix)".into(),
            )
        })?;
        let mut cfg = S3Config::new("").with_url(&url)?;
        if let Some(p) = get("S3_PREFIX") {
            cfg.prefix = normalize_prefix(&p);
        }
        if let Some(ep) = first(&["S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
            cfg = cfg.with_endpoint(ep);
        }
        if let Some(r) = first(&["S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]) {
            cfg.region = r;
        }
        cfg.access_key_id = first(&["S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]);
        cfg.secret_access_key =
            first(&["S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"]).map(Secret::new);
        cfg.session_token = get("AWS_SESSION_TOKEN").map(Secret::new);
        if let Some(v) = get("S3_FORCE_PATH_STYLE") {
            cfg.force_path_style = parse_bool("S3_FORCE_PATH_STYLE", &v)?;
        }
        if let Some(v) = get("S3_CREATE_BUCKET") {
            cfg.create_bucket = parse_bool("S3_CREATE_BUCKET", &v)?;
        }
        if let Some(v) = get("S3_SPOOL_DIR") {
            cfg.spool_dir = PathBuf::from(v);
        }
        if let Some(v) = get("S3_SPOOL_LIMIT") {
            cfg.spool_limit_bytes = parse_size("S3_SPOOL_LIMIT", &v)?;
        }
        if let Some(v) = get("S3_PART_SIZE") {
            cfg.part_size = parse_size("S3_PART_SIZE", &v)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the settings that can be checked offline.
    pub fn validate(&self) -> Result<(), S3Error> {
        let bad = |m: String| Err(S3Error::InvalidConfig(m));
        if self.bucket.is_empty() {
            return bad("the bucket name is empty".into());
        }
        if self.bucket.contains('/') {
            return bad(format!(
                "bucket name {:?} contains '/': give the prefix separately or use s3://bucket/prefix",
                self.bucket
            ));
        }
        if self.part_size < MIN_PART_SIZE && !self.allow_small_parts {
            return bad(format!(
                "part size {} bytes is below S3's minimum of 5 MiB ({MIN_PART_SIZE} bytes)",
                self.part_size
            ));
        }
        if self.part_size > 5 * 1024 * 1024 * 1024 {
            return bad(format!(
                "part size {} bytes is above S3's maximum of 5 GiB",
                self.part_size
            ));
        }
        if self.max_concurrent_uploads == 0 {
            return bad("max_concurrent_uploads must be at least 1".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad(
                "give both the access key id and the secret access key (S3_ACCESS_KEY_ID and \
                 S3_SECRET_ACCESS_KEY), or neither to use the AWS credential chain"
                    .into(),
            );
        }
        if let Some(ep) = &self.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return bad(format!(
                    "endpoint {ep:?} must start with http:// or https://"
                ));
            }
        }
        self.template
            .require_extension(".mp4")
            .map_err(|e| S3Error::InvalidConfig(e.to_string()))?;
        Ok(())
    }

    /// `prefix` with a trailing `/` (or empty).
    pub(crate) fn key_prefix(&self) -> String {
        normalize_prefix(&self.prefix)
    }

    /// The endpoint as shown in messages.
    pub(crate) fn endpoint_display(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("AWS S3 ({})", self.region),
        }
    }
}

fn normalize_prefix(p: &str) -> String {
    let p = p.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_owned()
    } else {
        format!("{p}/")
    }
}

/// Splits `s3://bucket/prefix` (or `bucket/prefix`, or `bucket`) into
/// bucket and normalized prefix.
pub fn parse_s3_url(url: &str) -> Result<(String, String), S3Error> {
    let rest = match url.split_once("://") {
        Some(("s3" | "S3", rest)) => rest,
        Some((scheme, _)) => {
            return Err(S3Error::InvalidConfig(format!(
                "{url:?} is not an s3:// URL (scheme {scheme:?}); for an endpoint use S3_ENDPOINT"
            )))
        }
        None => url,
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(S3Error::InvalidConfig(format!(
            "{url:?} names no bucket: use s3://bucket/prefix"
        )));
    }
    Ok((bucket.to_owned(), normalize_prefix(prefix)))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, S3Error> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(S3Error::InvalidConfig(format!(
            "{name}={v:?} is not a boolean (true/false)"
        ))),
    }
}

/// `1234`, `64K`, `8M`, `10G` (binary units; an optional `iB`/`B` is ignored).
pub fn parse_size(name: &str, v: &str) -> Result<u64, S3Error> {
    let t = v.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            S3Error::InvalidConfig(format!(
                "{name}={v:?} is not a size (bytes, or a number with K, M or G)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn urls() {
        assert_eq!(
            parse_s3_url("s3://b/cams").unwrap(),
            ("b".into(), "cams/".into())
        );
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert_eq!(parse_s3_url("b/x/y/").unwrap(), ("b".into(), "x/y/".into()));
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("http://b/x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("x", "8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("x", "10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("x", "123").unwrap(), 123);
        assert!(parse_size("x", "lots").is_err());
    }

    #[test]
    fn env_and_redaction() {
        let vars: HashMap<&str, &str> = [
            ("S3_BUCKET", "s3://video/site1"),
            ("S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("S3_SECRET_ACCESS_KEY", "supersecretvalue"),
            ("AWS_REGION", "garage"),
            ("S3_SPOOL_LIMIT", "1G"),
        ]
        .into_iter()
        .collect();
        let cfg = S3Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(cfg.bucket, "video");
        assert_eq!(cfg.prefix, "site1/");
        assert_eq!(cfg.region, "garage");
        assert!(cfg.force_path_style);
        assert_eq!(cfg.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(cfg.spool_limit_bytes, 1 << 30);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("supersecretvalue"), "{dbg}");
        assert!(dbg.contains("AKIDEXAMPLE"));

        let e = S3Config::from_lookup(|_| None).unwrap_err();
        assert!(e.to_string().contains("S3_BUCKET"), "{e}");
        let e = S3Config::from_lookup(|k| {
            (k == "S3_BUCKET")
                .then(|| "b".to_string())
                .or_else(|| (k == "S3_PART_SIZE").then(|| "1M".to_string()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("5 MiB"), "{e}");
    }
}
