//! [`S3Error`]: what went wrong talking to the store, and what to fix.

use std::io;
use std::path::PathBuf;

/// An S3 problem, phrased for the operator. Never contains the secret key.
#[derive(Debug, thiserror::Error)]
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
        /// What the connection attempt reported.
        detail: String,
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
    },

    /// The bucket does not exist.
    #[error(
        "bucket {bucket:?} does not exist at {endpoint}: create it, fix the bucket name, or set \
         create_bucket (S3_CREATE_BUCKET=true)"
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
    },

    /// A request failed for good.
    #[error("S3 {op} of {key:?} in bucket {bucket:?} failed: {detail}")]
    Request {
        /// The operation (`UploadPart`, ...).
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The object key (or prefix).
        key: String,
        /// The store's answer.
        detail: String,
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
