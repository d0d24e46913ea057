//! Errors from the muxer: all are caller mistakes, never stream content.

/// What the muxer refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MuxError {
    /// `Muxer::new` was given no tracks.
    #[error("no tracks to record: give the muxer at least one audio or video track")]
    NoTracks,
    /// More than one video track (cameras send one per session; record each
    /// stream as its own camera).
    #[error("{count} video tracks in one session; camrec records one video track per camera (configure each stream as its own camera)")]
    TooManyVideoTracks {
        /// How many were given.
        count: usize,
    },
    /// A track with a zero timescale.
    #[error("track {track} has a timescale of 0 Hz; the source must give the RTP clock rate")]
    ZeroTimescale {
        /// The track index.
        track: usize,
    },
    /// A codec configuration the muxer cannot write.
    #[error("track {track}: {problem}")]
    BadCodecConfig {
        /// The track index.
        track: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A frame or update for a track that does not exist.
    #[error("frame for track {track}, but the session has only {tracks} tracks")]
    NoSuchTrack {
        /// The index given.
        track: usize,
        /// How many tracks there are.
        tracks: usize,
    },
    /// A frame whose payload is larger than a `trun` entry can describe.
    #[error("frame of {size} bytes on track {track} is larger than 4 GiB")]
    FrameTooLarge {
        /// The track index.
        track: usize,
        /// The payload size.
        size: usize,
    },
}
