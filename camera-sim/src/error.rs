//! Error type for the simulator's public API.

use std::path::PathBuf;

/// Errors returned while configuring or starting a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding a socket or reading a media file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A media file could not be read from the given path.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file that failed to open.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The `mp4` crate rejected the file.
    #[error("MP4 parse error: {0}")]
    Mp4(#[from] mp4::Error),
    /// The file parsed but can't be served (no video, unsupported codec, bad samples).
    #[error("unsupported media: {0}")]
    UnsupportedMedia(String),
    /// The configuration is inconsistent (duplicate mounts, missing second clip, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No mount is configured at this path.
    #[error("no mount at path {0:?}")]
    UnknownMount(String),
}

/// Shorthand for results carrying a [`SimError`].
pub type Result<T, E = SimError> = std::result::Result<T, E>;
