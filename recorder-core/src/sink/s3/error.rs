//! [`S3Error`]: what went wrong talking to the store, and what to fix.
//!
//! Each variant names the operation and the bucket (and key) concerned and
//! keeps the SDK's error as its [`source`](std::error::Error::source), so a
//! host can walk the chain (or print it with `{:#}` in `anyhow`) down to the
//! socket error; the message itself stays one readable line.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The error an S3 request (or a local step of an upload) failed with, as
/// kept in [`S3Error`]'s source chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The S3 request that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum S3Operation {
    /// `HeadBucket` (the start-up check).
    HeadBucket,
    /// `ListBuckets` (tells bad credentials from missing permissions).
    ListBuckets,
    /// `CreateBucket`.
    CreateBucket,
    /// `HeadObject` (is the object name taken?).
    HeadObject,
    /// `PutObject` (a segment too small for a multipart upload, a thumbnail,
    /// a clip no bigger than a part).
    PutObject,
    /// `CopyObject` (the final metadata).
    CopyObject,
    /// `CreateMultipartUpload`.
    CreateMultipartUpload,
    /// `UploadPart`.
    UploadPart,
    /// `CompleteMultipartUpload`.
    CompleteMultipartUpload,
    /// `AbortMultipartUpload`.
    AbortMultipartUpload,
    /// `ListMultipartUploads` (recovery).
    ListMultipartUploads,
    /// `ListParts` (recovery).
    ListParts,
    /// `GetBucketLifecycleConfiguration` (retention rules).
    GetBucketLifecycleConfiguration,
    /// `PutBucketLifecycleConfiguration`.
    PutBucketLifecycleConfiguration,
    /// `DeleteBucketLifecycle`.
    DeleteBucketLifecycle,
}

impl S3Operation {
    /// The operation's name in the S3 API (`UploadPart`, ...).
    pub fn name(self) -> &'static str {
        match self {
            S3Operation::HeadBucket => "HeadBucket",
            S3Operation::ListBuckets => "ListBuckets",
            S3Operation::CreateBucket => "CreateBucket",
            S3Operation::HeadObject => "HeadObject",
            S3Operation::PutObject => "PutObject",
            S3Operation::CopyObject => "CopyObject",
            S3Operation::CreateMultipartUpload => "CreateMultipartUpload",
            S3Operation::UploadPart => "UploadPart",
            S3Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            S3Operation::AbortMultipartUpload => "AbortMultipartUpload",
            S3Operation::ListMultipartUploads => "ListMultipartUploads",
            S3Operation::ListParts => "ListParts",
            S3Operation::GetBucketLifecycleConfiguration => "GetBucketLifecycleConfiguration",
            S3Operation::PutBucketLifecycleConfiguration => "PutBucketLifecycleConfiguration",
            S3Operation::DeleteBucketLifecycle => "DeleteBucketLifecycle",
        }
    }
}

impl fmt::Display for S3Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An S3 problem, phrased for the operator. Never contains the secret key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The configuration is unusable.
    #[error("S3 configuration: {0}")]
    InvalidConfig(String),

    /// Nothing answered at the endpoint.
    #[error(
        "cannot reach the S3 endpoint {endpoint}: {detail}. Check the endpoint URL (scheme, \
         host and port) and that the store is running"
    )]
    Unreachable {
        /// The endpoint URL (or "AWS S3 (region)").
        endpoint: String,
        /// What the connection attempt reported (its innermost cause).
        detail: String,
        /// The SDK's error.
        #[source]
        source: Option<BoxError>,
    },

    /// The store does not know the key, or the signature is wrong.
    #[error(
        "the S3 store at {endpoint} rejected access key id {key_id:?}: {detail}. Check the \
         access key id and secret access key (and the region, which is part of the signature)"
    )]
    BadCredentials {
        /// The endpoint.
        endpoint: String,
        /// The access key id (never the secret).
        key_id: String,
        /// The store's error code and message.
        detail: String,
        /// The SDK's error.
        #[source]
        source: Option<BoxError>,
    },

    /// The key is valid but may not use the bucket.
    #[error(
        "access key id {key_id:?} may not use bucket {bucket:?} at {endpoint}: {detail}. Grant \
         it read and write access to the bucket"
    )]
    AccessDenied {
        /// The endpoint.
        endpoint: String,
        /// The access key id.
        key_id: String,
        /// The bucket.
        bucket: String,
        /// The store's error code and message.
        detail: String,
        /// The SDK's error.
        #[source]
        source: Option<BoxError>,
    },

    /// The bucket does not exist.
    #[error(
        "bucket {bucket:?} does not exist at {endpoint}: create it, fix the bucket name, or \
         enable bucket creation (`create_bucket`)"
    )]
    NoSuchBucket {
        /// The endpoint.
        endpoint: String,
        /// The bucket.
        bucket: String,
    },

    /// Creating the bucket failed.
    #[error("could not create bucket {bucket:?} at {endpoint}: {detail}")]
    CreateBucket {
        /// The endpoint.
        endpoint: String,
        /// The bucket.
        bucket: String,
        /// The store's answer.
        detail: String,
        /// The SDK's error.
        #[source]
        source: Option<BoxError>,
    },

    /// A request failed for good (or gave up after its attempts).
    #[error("S3 {op} of {key:?} in bucket {bucket:?} failed: {detail}")]
    Request {
        /// The operation.
        op: S3Operation,
        /// The bucket.
        bucket: String,
        /// The object key (or prefix).
        key: String,
        /// The store's error code, when it sent one (`NoSuchUpload`, ...).
        code: Option<String>,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
        /// A short account: code, status and message, or what the
        /// connection reported.
        detail: String,
        /// The SDK's error (or the local error, e.g. reading the spool).
        #[source]
        source: Option<BoxError>,
    },

    /// The store accepted lifecycle rules but reads back others (a store
    /// that ignores part of a rule, such as a tag filter); the bucket's
    /// previous rules were put back.
    #[error(
        "bucket {bucket:?} did not keep the lifecycle rules as written ({differences}); its \
         previous rules were restored. This store does not support that kind of rule: see \
         docs/s3.md for what each provider supports"
    )]
    LifecycleNotKept {
        /// The bucket.
        bucket: String,
        /// How what was read back differs from what was written.
        differences: String,
    },

    /// Every name next to the wanted key is taken.
    #[error("no free object name next to {key:?} in bucket {bucket:?}")]
    NameExhausted {
        /// The bucket.
        bucket: String,
        /// The wanted key.
        key: String,
    },

    /// Another camrec process holds the spool's lock: it is recording
    /// through this spool, and its files are live.
    #[error(
        "S3 spool {path} is in use by another running camrec (its lock file {lock} is held): \
         set a different spool folder for this instance (S3_SPOOL_DIR, `spool_dir` under \
         [storage], S3Config::spool_dir), or stop the other one first"
    )]
    SpoolInUse {
        /// The spool folder.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },

    /// The spool directory could not be used.
    #[error("S3 spool: {action} {path}: {source}")]
    Spool {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl S3Error {
    /// The S3 operation that failed, for request errors.
    pub fn operation(&self) -> Option<S3Operation> {
        match self {
            S3Error::Request { op, .. } => Some(*op),
            _ => None,
        }
    }
}

/// The innermost error of `e`'s source chain, as text: for a connection
/// failure the socket's own words ("Connection refused"), which are what
/// an operator needs, without the SDK's layers.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `e` and its causes on one line (`a: b: c`), for reports that keep text.
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        // The SDK repeats a cause in its parent's text at times.
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
