//! [`S3Store`]: the client, the global upload limit and the counters shared
//! by every camera's [`S3Sink`](super::S3Sink).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use tokio::sync::{Notify, Semaphore};

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use super::config::{ExposeSecret, S3Config};
use super::error::{root_cause, BoxError, S3Error, S3Operation};
use crate::retry::RetryState;
use crate::sink::fs::FolderLock;
use crate::sink::SinkError;

/// Live counters of a store, for metrics and status screens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Status {
    /// Bytes accepted by the store in successful part or object uploads
    /// (re-uploads of part 1 included).
    pub bytes_uploaded: u64,
    /// Successful `UploadPart` calls.
    pub parts_uploaded: u64,
    /// Objects completed (segments published).
    pub segments_uploaded: u64,
    /// Failed request attempts (each is retried after a backoff).
    pub upload_failures: u64,
    /// Retries made after those failures.
    pub retries: u64,
    /// Bytes in the spool right now (segments not yet fully uploaded).
    pub spool_bytes: u64,
    /// Segments sealed or open whose upload is not complete.
    pub segments_pending: u64,
    /// Age of the oldest fragment not yet uploaded (`None`: all uploaded).
    pub upload_lag: Option<Duration>,
    /// Fragments refused because the spool was full.
    pub fragments_dropped: u64,
    /// Segments refused at start because the spool was full.
    pub segments_dropped: u64,
    /// Objects completed by [`S3Store::recover`].
    pub segments_recovered: u64,
}

/// Upper bounds of the buckets of [`UploadDurations`]: from a tail part
/// on a LAN (tenths of a second) to a whole segment sent over a slow
/// uplink after an outage (minutes).
pub const UPLOAD_DURATION_BUCKETS: [Duration; 12] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2500),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(20),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(300),
];

/// How long a camera's segments took to upload, as a histogram.
///
/// A segment's upload duration runs from the moment its sink sealed it
/// (`finish` handed it to the upload task) to the success of the request
/// that published it (`CompleteMultipartUpload`, or `PutObject` for a
/// segment sent whole). Parts are uploaded while the segment is recorded,
/// so this is the delay the store adds after the segment ends: the tail
/// part, part 1 again with the final header, and the completion, plus any
/// backlog or outage still being worked off. Timing from the first part's
/// upload would mostly measure the segment's length instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadDurations {
    /// Segments timed.
    pub count: u64,
    /// Sum of their durations.
    pub sum: Duration,
    /// For each bound of [`UPLOAD_DURATION_BUCKETS`], then
    /// [`Duration::MAX`] for the rest: how many durations were at most
    /// that bound and above the previous one (not cumulative). The
    /// counts add up to `count`.
    pub buckets: Vec<(Duration, u64)>,
}

impl Default for UploadDurations {
    /// Nothing timed yet: every bucket there, at 0.
    fn default() -> UploadDurations {
        UploadDurations {
            count: 0,
            sum: Duration::ZERO,
            buckets: UPLOAD_DURATION_BUCKETS
                .iter()
                .copied()
                .chain([Duration::MAX])
                .map(|b| (b, 0))
                .collect(),
        }
    }
}

/// One camera's uploads to an [`S3Store`] (see
/// [`S3Store::camera_status`]): only segments recorded through that
/// camera's [`S3Sink`](super::S3Sink)s in this process; what
/// [`S3Store::recover`] completes is counted in
/// [`S3Status::segments_recovered`] only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3CameraStatus {
    /// The camera id given to [`S3Store::sink`].
    pub camera: String,
    /// The camera's segments published in the bucket.
    pub segments_uploaded: u64,
    /// Failed request attempts for the camera's segments (each is retried
    /// after a backoff), of every kind: key checks, part uploads,
    /// completions, metadata copies, aborts.
    pub upload_failures: u64,
    /// How long each published segment took, from seal to publication:
    /// `upload_durations.count == segments_uploaded`.
    pub upload_durations: UploadDurations,
}

/// The live form of an [`S3CameraStatus`], shared by a camera's sinks and
/// their upload tasks. One lock, so a snapshot's duration count always
/// equals its segment count.
#[derive(Debug, Default)]
pub(crate) struct CameraUploads(Mutex<CameraTotals>);

#[derive(Debug, Default)]
struct CameraTotals {
    segments_uploaded: u64,
    upload_failures: u64,
    durations_sum: Duration,
    /// Per bound of `UPLOAD_DURATION_BUCKETS`, then one for the rest.
    buckets: [u64; UPLOAD_DURATION_BUCKETS.len() + 1],
}

impl CameraUploads {
    fn totals(&self) -> std::sync::MutexGuard<'_, CameraTotals> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn failed(&self) {
        self.totals().upload_failures += 1;
    }

    /// A segment published `took` after it was sealed.
    pub fn uploaded(&self, took: Duration) {
        let mut t = self.totals();
        t.segments_uploaded += 1;
        t.durations_sum += took;
        let i = UPLOAD_DURATION_BUCKETS.partition_point(|b| *b < took);
        t.buckets[i] += 1;
    }

    fn snapshot(&self, camera: &str) -> S3CameraStatus {
        let t = self.totals();
        let bounds = UPLOAD_DURATION_BUCKETS
            .iter()
            .copied()
            .chain([Duration::MAX]);
        S3CameraStatus {
            camera: camera.to_owned(),
            segments_uploaded: t.segments_uploaded,
            upload_failures: t.upload_failures,
            upload_durations: UploadDurations {
                count: t.segments_uploaded,
                sum: t.durations_sum,
                buckets: bounds.zip(t.buckets).collect(),
            },
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub bytes_uploaded: AtomicU64,
    pub parts_uploaded: AtomicU64,
    pub segments_uploaded: AtomicU64,
    pub upload_failures: AtomicU64,
    pub retries: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub segments_pending: AtomicU64,
    pub fragments_dropped: AtomicU64,
    pub segments_dropped: AtomicU64,
    pub segments_recovered: AtomicU64,
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn sub(c: &AtomicU64, n: u64) {
    // Saturating, so a bookkeeping slip can never wrap the gauge.
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

/// Shared by the store handle, every sink and every upload task.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Held as long as anything of the store lives.
    pub _spool_lock: FolderLock,
    pub client: Client,
    pub cfg: S3Config,
    /// `cfg.key_prefix()`, computed once.
    pub prefix: String,
    /// Bounds part uploads in flight across all cameras.
    pub upload_permits: Semaphore,
    pub counters: Counters,
    /// Oldest not-uploaded fragment per pending segment (by segment id).
    pub lag: Mutex<HashMap<u64, Instant>>,
    /// Spool paths and upload ids this process is working on (recovery
    /// skips them).
    pub active_keys: Mutex<HashSet<String>>,
    /// Per-camera counters, by the id given to `S3Store::sink`.
    pub cameras: Mutex<HashMap<String, Arc<CameraUploads>>>,
    /// Signalled whenever a segment upload ends.
    pub idle: Notify,
    pub next_segment_id: AtomicU64,
}

/// A connection to one bucket, shared by every camera.
///
/// Cheap to clone. Create it once with [`S3Store::connect`], run
/// [`S3Store::recover`], then hand each camera an [`S3Store::sink`].
#[derive(Clone, Debug)]
pub struct S3Store {
    pub(crate) inner: Arc<Inner>,
}

impl S3Store {
    /// Creates the spool directory (private: 0700, its files 0600; wider
    /// permissions left by an earlier version are tightened), locks it and
    /// counts what an earlier run left in it; then builds the client and
    /// checks, in order, that the endpoint answers, that the credentials are
    /// accepted and that the bucket exists (creating it when
    /// `cfg.create_bucket` is set). Each failure is its own [`S3Error`]
    /// naming what to fix.
    ///
    /// The lock keeps a second camrec process off a spool in use: it gets
    /// [`S3Error::SpoolInUse`] before touching any file there. Stores of the
    /// same process share the lock (their recoveries must not overlap).
    pub async fn connect(cfg: S3Config) -> Result<S3Store, S3Error> {
        cfg.validate()?;
        // The spool first: a second instance is refused even while the
        // store is unreachable.
        let spool = cfg.spool_dir.clone();
        let (leftover, spool_lock) = tokio::task::spawn_blocking(move || {
            let lock = open_spool(&spool)?;
            Ok::<_, S3Error>((dir_size(&spool), lock))
        })
        .await
        .map_err(|e| S3Error::InvalidConfig(format!("spool scan task failed: {e}")))??;
        let client = build_client(&cfg).await;
        check_bucket(&client, &cfg).await?;
        let inner = Inner {
            _spool_lock: spool_lock,
            client,
            prefix: cfg.key_prefix(),
            upload_permits: Semaphore::new(cfg.max_concurrent_uploads),
            cfg,
            counters: Counters::default(),
            lag: Mutex::new(HashMap::new()),
            active_keys: Mutex::new(HashSet::new()),
            cameras: Mutex::new(HashMap::new()),
            idle: Notify::new(),
            next_segment_id: AtomicU64::new(1),
        };
        inner
            .counters
            .spool_bytes
            .store(leftover, Ordering::Relaxed);
        Ok(S3Store {
            inner: Arc::new(inner),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &S3Config {
        &self.inner.cfg
    }

    /// The underlying client (for tools and tests).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// A snapshot of the counters.
    pub fn status(&self) -> S3Status {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let upload_lag = self
            .inner
            .lag
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .min()
            .map(|t| t.elapsed());
        S3Status {
            bytes_uploaded: get(&c.bytes_uploaded),
            parts_uploaded: get(&c.parts_uploaded),
            segments_uploaded: get(&c.segments_uploaded),
            upload_failures: get(&c.upload_failures),
            retries: get(&c.retries),
            spool_bytes: get(&c.spool_bytes),
            segments_pending: get(&c.segments_pending),
            upload_lag,
            fragments_dropped: get(&c.fragments_dropped),
            segments_dropped: get(&c.segments_dropped),
            segments_recovered: get(&c.segments_recovered),
        }
    }

    /// What `camera`'s segments' uploads did so far, or `None` before the
    /// first [`S3Store::sink`] for that camera. Cheap (one lock): fine to
    /// call on every metrics scrape.
    pub fn camera_status(&self, camera: &str) -> Option<S3CameraStatus> {
        let cameras = self.inner.cameras.lock().unwrap_or_else(|e| e.into_inner());
        cameras.get(camera).map(|c| c.snapshot(camera))
    }

    /// [`S3Store::camera_status`] of every camera that got a sink, sorted
    /// by camera id.
    pub fn camera_statuses(&self) -> Vec<S3CameraStatus> {
        let cameras = self.inner.cameras.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<S3CameraStatus> = cameras.iter().map(|(id, c)| c.snapshot(id)).collect();
        all.sort_by(|a, b| a.camera.cmp(&b.camera));
        all
    }

    /// Waits until no segment upload is pending (every finished segment is
    /// published), or `timeout` passes. Returns true when idle. For graceful
    /// shutdown after every sink's segment was finished: what is still
    /// pending at the timeout stays in the spool for [`S3Store::recover`].
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.idle.notified();
            if self.inner.counters.segments_pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.counters.segments_pending.load(Ordering::Acquire) == 0;
            }
        }
    }
}

/// The spool's lock file.
const SPOOL_LOCK_FILE: &str = ".camrec.lock";

/// Creates `dir` private (0700), tightens a wider one, locks it, then
/// makes what it holds private too (an earlier version left its files to
/// the umask).
fn open_spool(dir: &Path) -> Result<FolderLock, S3Error> {
    let err = |action: &'static str, path: &Path, source: std::io::Error| S3Error::Spool {
        action,
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| err("creating", dir, e))?;
    let meta = std::fs::metadata(dir).map_err(|e| err("reading the permissions of", dir, e))?;
    if !meta.is_dir() {
        return Err(err(
            "using",
            dir,
            std::io::Error::other("not a folder: set the spool folder to a directory"),
        ));
    }
    restrict(dir, &meta, 0o700).map_err(|e| {
        err(
            "restricting to its owner (chmod 700; it is someone else's folder or \
             shared: set a spool folder of this user's own)",
            dir,
            e,
        )
    })?;
    let lock = FolderLock::acquire(dir, SPOOL_LOCK_FILE).map_err(|e| match e {
        SinkError::FolderInUse { lock, .. } => S3Error::SpoolInUse {
            path: dir.to_path_buf(),
            lock,
        },
        other => err("locking", dir, std::io::Error::other(other.to_string())),
    })?;
    for entry in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        // Unreadable entries are retried at the next start.
        let Ok(e) = entry else { continue };
        let Ok(m) = e.metadata() else { continue };
        let mode = if m.is_dir() { 0o700 } else { 0o600 };
        if m.is_dir() || m.is_file() {
            restrict(e.path(), &m, mode)
                .map_err(|x| err("restricting the permissions of", e.path(), x))?;
        }
    }
    Ok(lock)
}

/// Takes group and other permissions off `path` if it has any.
fn restrict(path: &Path, meta: &std::fs::Metadata, mode: u32) -> std::io::Result<()> {
    if meta.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Total size of the `.spool` files under `dir` (manifests are not counted).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() && e.path().extension().is_some_and(|x| x == "spool") => {
                    total += e.metadata().map(|m| m.len()).unwrap_or(0)
                }
                _ => {}
            }
        }
    }
    total
}

pub(crate) async fn build_client(cfg: &S3Config) -> Client {
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(cfg.connect_timeout)
        .operation_attempt_timeout(cfg.request_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(cfg.region.clone()))
        // We retry ourselves, with a backoff sized for outages, from the
        // spool; the SDK's quick retries would only stack on top.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts);
    if let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.expose_secret().to_owned(),
            cfg.session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "camrec-config",
        ));
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(cfg.force_path_style);
    if let Some(ep) = &cfg.endpoint {
        // R2 and others reject the CRC checksums the SDK adds by default.
        b = b
            .endpoint_url(ep)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    Client::from_conf(b.build())
}

/// How a failed request should be treated.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Worth retrying (network, timeout, 5xx, throttling).
    pub transient: bool,
    /// No response at all (connection refused, DNS, timeout).
    pub no_response: bool,
    pub status: Option<u16>,
    pub code: Option<String>,
    /// The store's error message, if it sent one.
    pub message: Option<String>,
    /// The whole chain on one line, for logs.
    pub detail: String,
    /// The error itself, kept as the source of the [`S3Error`] it becomes.
    pub source: Option<BoxError>,
}

impl Failure {
    /// A failure on our side, not an answer from the store (a spool file
    /// that cannot be read, a reply missing a field): never transient.
    pub fn local(code: Option<String>, detail: String, source: Option<BoxError>) -> Failure {
        Failure {
            transient: false,
            no_response: false,
            status: None,
            code,
            message: None,
            detail,
            source,
        }
    }

    pub fn code_is(&self, c: &str) -> bool {
        self.code.as_deref() == Some(c)
    }

    /// A short account for messages: code, status and message when the
    /// store answered, the innermost cause when it did not.
    pub fn summary(&self) -> String {
        let base = match (&self.code, self.status) {
            (Some(c), Some(s)) => format!("{c} (HTTP {s})"),
            (None, Some(s)) => format!("HTTP {s}"),
            _ => {
                return match &self.source {
                    Some(e) if self.no_response => root_cause(e.as_ref()),
                    _ => self.detail.clone(),
                }
            }
        };
        match &self.message {
            Some(m) => format!("{base}: {m}"),
            None => base,
        }
    }

    /// The typed error for `op` on `key`, keeping the SDK's error as source.
    pub fn into_error(self, op: S3Operation, bucket: &str, key: &str) -> S3Error {
        S3Error::Request {
            op,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: self.summary(),
            code: self.code,
            status: self.status,
            source: self.source,
        }
    }
}

pub(crate) fn classify<E>(e: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&e).to_string();
    let code = e.code().map(str::to_owned);
    let message = e.message().map(str::to_owned);
    let (transient, no_response, status) = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (true, true, None),
        SdkError::ResponseError(r) => (true, false, Some(r.raw().status().as_u16())),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let transient = status >= 500
                || status == 408
                || status == 429
                || matches!(
                    code.as_deref(),
                    Some("RequestTimeout" | "SlowDown" | "InternalError" | "ServiceUnavailable")
                );
            (transient, false, Some(status))
        }
        _ => (false, false, None),
    };
    Failure {
        transient,
        no_response,
        status,
        code,
        message,
        detail,
        source: Some(Box::new(e)),
    }
}

impl Inner {
    /// Runs `op` until it succeeds, sleeping between attempts as the
    /// store's [`RetryPolicy`](crate::retry::RetryPolicy) says. Transient
    /// failures are retried until `max_attempts` (when given, else the
    /// policy's limit, else forever); other failures too (the spool keeps
    /// the data and the operator may fix the store), but `stop_on` lets the
    /// caller take over for failures it handles itself (e.g. `NoSuchUpload`).
    ///
    /// Each failure is counted for the store and, when given, for `camera`.
    pub async fn retry<T, F, Fut>(
        &self,
        what: S3Operation,
        key: &str,
        camera: Option<&CameraUploads>,
        max_attempts: Option<u32>,
        stop_on: impl Fn(&Failure) -> bool,
        mut op: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut policy = self.cfg.retry.clone();
        if max_attempts.is_some() {
            policy.max_attempts = max_attempts;
        }
        let mut backoff = RetryState::new(policy);
        loop {
            match op().await {
                Ok(v) => {
                    if backoff.failures() > 0 {
                        tracing::info!(
                            op = what.name(),
                            key,
                            attempt = backoff.failures() + 1,
                            "S3 request succeeded after retries"
                        );
                    }
                    return Ok(v);
                }
                Err(f) => {
                    add(&self.counters.upload_failures, 1);
                    if let Some(c) = camera {
                        c.failed();
                    }
                    if stop_on(&f) {
                        return Err(f);
                    }
                    let Some(delay) = backoff.next_delay() else {
                        return Err(f);
                    };
                    let attempt = backoff.failures();
                    if f.transient {
                        tracing::warn!(op = what.name(), key, attempt, retry_in = ?delay, error = %f.detail, "S3 request failed; retrying");
                    } else {
                        tracing::error!(op = what.name(), key, attempt, retry_in = ?delay, error = %f.detail, "S3 request refused; retrying (the data stays in the spool)");
                    }
                    tokio::time::sleep(delay).await;
                    add(&self.counters.retries, 1);
                }
            }
        }
    }

    /// A request that may fail without harm: a few attempts, none after
    /// the store refuses it.
    pub async fn best_effort<F, Fut>(
        &self,
        what: S3Operation,
        key: &str,
        camera: Option<&CameraUploads>,
        op: F,
    ) -> Result<(), Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), Failure>>,
    {
        self.retry(what, key, camera, Some(5), |f| !f.transient, op)
            .await
    }

    pub fn set_lag(&self, id: u64, oldest: Option<Instant>) {
        let mut lag = self.lag.lock().unwrap_or_else(|e| e.into_inner());
        match oldest {
            Some(t) => {
                lag.insert(id, t);
            }
            None => {
                lag.remove(&id);
            }
        }
    }

    pub fn note_fragment(&self, id: u64, at: Instant) {
        let mut lag = self.lag.lock().unwrap_or_else(|e| e.into_inner());
        lag.entry(id).or_insert(at);
    }

    pub fn key_display(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.cfg.bucket)
    }
}

/// The start-up check (see [`S3Store::connect`]).
async fn check_bucket(client: &Client, cfg: &S3Config) -> Result<(), S3Error> {
    let endpoint = cfg.endpoint_display();
    let key_id = cfg
        .access_key_id
        .clone()
        .unwrap_or_else(|| "(from the AWS credential chain)".into());
    let head = client.head_bucket().bucket(&cfg.bucket).send().await;
    let Err(e) = head else { return Ok(()) };
    let f = classify(e);
    if f.no_response {
        return Err(S3Error::Unreachable {
            endpoint,
            detail: f.summary(),
            source: f.source,
        });
    }
    match f.status {
        Some(404) => {
            if !cfg.create_bucket {
                return Err(S3Error::NoSuchBucket {
                    endpoint,
                    bucket: cfg.bucket.clone(),
                });
            }
            create_bucket(client, cfg).await
        }
        Some(301) => Err(S3Error::InvalidConfig(format!(
            "bucket {:?} is in another region than {:?}: set the region (`S3Config::region`) to the bucket's",
            cfg.bucket, cfg.region
        ))),
        Some(400 | 401 | 403) => {
            // HEAD replies carry no error code; ask a call that does.
            let lf = client.list_buckets().send().await.err().map(classify);
            let bad_key = lf.as_ref().is_some_and(|lf| {
                matches!(
                    lf.code.as_deref(),
                    Some(
                        "InvalidAccessKeyId"
                            | "SignatureDoesNotMatch"
                            | "InvalidToken"
                            | "ExpiredToken"
                            | "AuthorizationHeaderMalformed"
                            | "InvalidClientTokenId"
                    )
                ) || (lf.code.is_none() && lf.status == Some(403))
                    || lf.message.as_deref().is_some_and(|m| {
                        let m = m.to_ascii_lowercase();
                        m.contains("signature") || m.contains("access key") || m.contains("no such key")
                    })
            });
            match lf {
                Some(lf) if bad_key => Err(S3Error::BadCredentials {
                    endpoint,
                    key_id,
                    detail: lf.summary(),
                    source: lf.source,
                }),
                _ => Err(S3Error::AccessDenied {
                    endpoint,
                    key_id,
                    bucket: cfg.bucket.clone(),
                    detail: f.summary(),
                    source: f.source,
                }),
            }
        }
        _ => Err(f.into_error(S3Operation::HeadBucket, &cfg.bucket, "")),
    }
}

async fn create_bucket(client: &Client, cfg: &S3Config) -> Result<(), S3Error> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let mut req = client.create_bucket().bucket(&cfg.bucket);
    if cfg.region != "us-east-1" && cfg.endpoint.is_none() {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(cfg.region.as_str()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {
            tracing::info!(bucket = %cfg.bucket, "created bucket");
            Ok(())
        }
        Err(e) => {
            let f = classify(e);
            if f.code_is("BucketAlreadyOwnedByYou") {
                Ok(())
            } else {
                Err(S3Error::CreateBucket {
                    endpoint: cfg.endpoint_display(),
                    bucket: cfg.bucket.clone(),
                    detail: f.summary(),
                    source: f.source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::upload_part::UploadPartError;
    use std::error::Error as _;

    #[test]
    fn spool_is_made_private_and_locked() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("fresh");
        let lock = open_spool(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        drop(lock);
        // Left world-readable by an earlier version: tightened.
        let old = tmp.path().join("old");
        std::fs::create_dir_all(old.join("cam")).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(old.join("cam/a.mp4.spool"), b"x").unwrap();
        std::fs::set_permissions(
            old.join("cam/a.mp4.spool"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let _lock = open_spool(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
        assert_eq!(mode(&old.join("cam")), 0o700);
        assert_eq!(mode(&old.join("cam/a.mp4.spool")), 0o600);
    }

    #[test]
    fn spool_locked_by_another_process_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.mp4.spool"), b"live").unwrap();
        // Another open file description: how another process holds it.
        let other = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(SPOOL_LOCK_FILE))
            .unwrap();
        assert!(crate::sink::fs::try_lock(&other).unwrap());
        let e = open_spool(&dir).unwrap_err();
        assert!(
            matches!(&e, S3Error::SpoolInUse { path, .. } if *path == dir),
            "{e:?}"
        );
        assert!(e.to_string().contains(&*dir.to_string_lossy()), "{e}");
        assert_eq!(std::fs::read(dir.join("a.mp4.spool")).unwrap(), b"live");
        drop(other);
        let _lock = open_spool(&dir).unwrap();
    }

    #[test]
    fn camera_uploads_count_durations_in_buckets() {
        let c = CameraUploads::default();
        assert_eq!(
            c.snapshot("door"),
            S3CameraStatus {
                camera: "door".into(),
                ..S3CameraStatus::default()
            }
        );
        let empty = UploadDurations::default();
        assert_eq!(empty.buckets.len(), UPLOAD_DURATION_BUCKETS.len() + 1);
        assert_eq!(empty.buckets.last(), Some(&(Duration::MAX, 0)));
        // A bound belongs to its own bucket ("at most"), like Prometheus' `le`.
        for ms in [100, 101, 1_000, 400_000] {
            c.uploaded(Duration::from_millis(ms));
        }
        c.failed();
        let s = c.snapshot("door");
        assert_eq!((s.segments_uploaded, s.upload_failures), (4, 1));
        let d = &s.upload_durations;
        assert_eq!(d.count, 4);
        assert_eq!(d.sum, Duration::from_millis(401_201));
        let n = |bound: Duration| d.buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(n(Duration::from_millis(100)), 1);
        assert_eq!(n(Duration::from_millis(250)), 1);
        assert_eq!(n(Duration::from_secs(1)), 1);
        assert_eq!(n(Duration::MAX), 1);
        assert_eq!(d.buckets.iter().map(|(_, n)| n).sum::<u64>(), 4);
    }

    #[test]
    fn request_errors_keep_their_source() {
        let sdk: SdkError<UploadPartError, HttpResponse> =
            SdkError::timeout_error(std::io::Error::other("deadline passed"));
        let f = classify(sdk);
        assert!(f.transient && f.no_response);
        let e = f.into_error(S3Operation::UploadPart, "videos", "cam1/a.mp4");
        assert_eq!(e.operation(), Some(S3Operation::UploadPart));
        let msg = e.to_string();
        assert!(
            msg.contains("UploadPart") && msg.contains("\"cam1/a.mp4\"") && msg.contains("videos"),
            "{msg}"
        );
        assert!(msg.contains("deadline passed"), "{msg}");
        let source = e.source().expect("the SDK error is the source");
        assert!(source.is::<SdkError<UploadPartError, HttpResponse>>());
        let root = source.source().expect("and its cause follows");
        assert_eq!(root.to_string(), "deadline passed");
    }

    #[test]
    fn local_failures_keep_their_io_error() {
        let io = std::io::Error::other("disk gone");
        let f = Failure::local(
            Some("SpoolRead".into()),
            "reading x: disk gone".into(),
            Some(Box::new(io)),
        );
        assert!(!f.transient);
        let e = f.into_error(S3Operation::PutObject, "videos", "k");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk gone")
        );
    }
}
