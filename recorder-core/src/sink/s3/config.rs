//! [`S3Config`]: where and how segments are uploaded.
//!
//! The library's one model of S3 settings: hosts (the `camrec` CLI, an
//! embedding application) fill it from wherever their settings live; the
//! library itself reads no environment variables.

use std::path::PathBuf;
use std::time::Duration;

pub use secrecy::{ExposeSecret, SecretString};

use super::error::S3Error;
use crate::sink::ObjectNameTemplate;

/// The smallest part S3 accepts for any part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's limit on the parts of one multipart upload.
pub(crate) const S3_MAX_PARTS: u32 = 10_000;
/// Default part size: 8 MiB (about a minute of a 1 Mbit/s camera).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Default spool limit: 1 GiB.
pub const DEFAULT_SPOOL_LIMIT: u64 = 1024 * 1024 * 1024;
/// Default region when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default number of part uploads in flight at once.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 4;

/// The default spool folder: `camrec-spool` in the system's temporary
/// directory.
pub fn default_spool_dir() -> PathBuf {
    std::env::temp_dir().join("camrec-spool")
}

use crate::retry::Jitter;
pub use crate::retry::RetryPolicy;

/// The default backoff of failed S3 requests: 200 ms doubling up to 30 s,
/// each wait drawn in the upper half of its window ([`Jitter::Equal`]), no
/// attempt limit (the spool holds the data until the store is back).
pub(crate) fn default_retry_policy() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(30)).with_jitter(Jitter::Equal)
}

/// Everything [`S3Store::connect`](super::S3Store::connect) needs.
///
/// `Debug` never prints the secret key or the session token (they are
/// [`SecretString`]s). Build one with [`S3Config::new`] and the `with_*`
/// methods (or set the public fields); the struct is `#[non_exhaustive]`
/// so that new settings, with defaults, do not break hosts.
///
/// ```
/// use recorder_core::sink::s3::S3Config;
/// let cfg = S3Config::new("videos")
///     .with_endpoint("http://127.0.0.1:3900")
///     .with_region("garage")
///     .with_credentials("GK0123", "wJalrXUtnFEMI")
///     .with_spool_limit(4 << 30);
/// assert!(cfg.validate().is_ok());
/// assert!(!format!("{cfg:?}").contains("wJalrXUtnFEMI"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    pub secret_access_key: Option<SecretString>,
    /// Session token for temporary credentials.
    pub session_token: Option<SecretString>,
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
    /// Backoff for failed requests (the same [`RetryPolicy`] type as a
    /// camera's reconnects). Without `max_attempts` (the default) uploads
    /// are retried until they succeed, the spool holding the data
    /// meanwhile; with it, a segment whose request still fails after that
    /// many attempts stays in the spool for [`S3Store::recover`](super::S3Store::recover).
    /// Recovery itself and best-effort requests use limits of their own.
    pub retry: RetryPolicy,
    /// Timeout for connecting to the endpoint.
    pub connect_timeout: Duration,
    /// Timeout for one attempt of one request (a part upload included).
    pub request_timeout: Duration,
    /// Most parts per multipart upload: S3's 10,000. Only tests lower it
    /// (to reach the limit with a small segment); 1 to 10,000.
    #[doc(hidden)]
    pub max_parts: u32,
}

impl S3Config {
    /// A configuration for `bucket` with defaults: region `us-east-1`, no
    /// endpoint (AWS), 8 MiB parts, 4 concurrent uploads, spool in
    /// [`default_spool_dir`] limited to 1 GiB, failed requests retried
    /// after 200 ms doubling up to 30 s (jittered in the upper half of each
    /// window), without limit.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            bucket: bucket.into(),
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            force_path_style: false,
            part_size: DEFAULT_PART_SIZE,
            allow_small_parts: false,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
            spool_dir: default_spool_dir(),
            spool_limit_bytes: DEFAULT_SPOOL_LIMIT,
            create_bucket: false,
            template: ObjectNameTemplate::default(),
            final_metadata_copy: true,
            retry: default_retry_policy(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            max_parts: S3_MAX_PARTS,
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
        self.secret_access_key = Some(SecretString::from(secret.into()));
        self
    }

    /// Sets the session token of temporary credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(SecretString::from(token.into()));
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

    /// Sets the key prefix (a trailing `/` is added when missing).
    pub fn with_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.prefix = normalize_prefix(prefix.as_ref());
        self
    }

    /// Sets the signing region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Sets path-style addressing explicitly.
    pub fn with_force_path_style(mut self, on: bool) -> Self {
        self.force_path_style = on;
        self
    }

    /// Sets the multipart part size in bytes.
    pub fn with_part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets the spool folder.
    pub fn with_spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = dir.into();
        self
    }

    /// Sets the most bytes the spool may hold.
    pub fn with_spool_limit(mut self, bytes: u64) -> Self {
        self.spool_limit_bytes = bytes;
        self
    }

    /// Sets how many part uploads may be in flight at once.
    pub fn with_max_concurrent_uploads(mut self, n: usize) -> Self {
        self.max_concurrent_uploads = n;
        self
    }

    /// Creates the bucket at start-up when it does not exist.
    pub fn with_create_bucket(mut self, on: bool) -> Self {
        self.create_bucket = on;
        self
    }

    /// Sets the object name template.
    pub fn with_template(mut self, template: ObjectNameTemplate) -> Self {
        self.template = template;
        self
    }

    /// Sets the backoff of failed requests.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
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
        if self.part_size > MAX_PART_SIZE {
            return bad(format!(
                "part size {} bytes is above S3's maximum of 5 GiB",
                self.part_size
            ));
        }
        if self.max_parts == 0 || self.max_parts > S3_MAX_PARTS {
            return bad(format!(
                "max_parts {} is outside 1..={S3_MAX_PARTS}",
                self.max_parts
            ));
        }
        if self.max_concurrent_uploads == 0 {
            return bad("max_concurrent_uploads must be at least 1".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad(
                "give both the access key id and the secret access key, or neither to use the \
                 AWS credential chain"
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

    /// `prefix` as it starts every key: no leading `/`, a trailing `/`
    /// (or empty).
    pub fn key_prefix(&self) -> String {
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
                "{url:?} is not an s3:// URL (scheme {scheme:?}); an http(s) URL is an endpoint, \
                 not a bucket"
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn defaults_are_the_hosts_defaults() {
        let cfg = S3Config::new("b");
        assert_eq!(cfg.spool_dir, std::env::temp_dir().join("camrec-spool"));
        assert_eq!(cfg.spool_limit_bytes, 1 << 30);
        assert_eq!(cfg.part_size, 8 << 20);
        assert_eq!(cfg.region, "us-east-1");
        assert_eq!(cfg.max_concurrent_uploads, 4);
    }

    #[test]
    fn builder_and_redaction() {
        let cfg = S3Config::new("")
            .with_url("s3://video/site1")
            .unwrap()
            .with_endpoint("http://127.0.0.1:9000")
            .with_credentials("AKIDEXAMPLE", "supersecretvalue")
            .with_session_token("tokentokentoken")
            .with_region("garage")
            .with_spool_limit(1 << 30);
        assert_eq!(cfg.bucket, "video");
        assert_eq!(cfg.prefix, "site1/");
        assert_eq!(cfg.region, "garage");
        assert!(cfg.force_path_style);
        assert_eq!(cfg.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(
            cfg.secret_access_key.as_ref().map(|s| s.expose_secret()),
            Some("supersecretvalue")
        );
        assert!(cfg.validate().is_ok());
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("supersecretvalue"), "{dbg}");
        assert!(!dbg.contains("tokentokentoken"), "{dbg}");
        assert!(dbg.contains("AKIDEXAMPLE"));
        assert_eq!(S3Config::new("b").with_prefix("/x").prefix, "x/");
    }

    #[test]
    fn validation_names_the_setting_not_a_host_flag() {
        let e = S3Config::new("b")
            .with_part_size(1 << 20)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("5 MiB"), "{e}");
        let mut half = S3Config::new("b");
        half.access_key_id = Some("k".into());
        let e = half.validate().unwrap_err().to_string();
        assert!(e.contains("secret access key"), "{e}");
        assert!(!e.contains("S3_") && !e.contains("--"), "{e}");
        let e = parse_s3_url("http://b/x").unwrap_err().to_string();
        assert!(!e.contains("S3_ENDPOINT"), "{e}");
    }
}
