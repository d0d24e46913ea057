//! What can be wrong with boxes.

use super::FourCc;

/// Why bytes could not be read as boxes, or a patch not applied.
///
/// Offsets are relative to the slice given to the reader.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mp4Error {
    /// Fewer bytes than a header or field needs.
    #[error("truncated: {needed} bytes needed at offset {offset}, only {available} there")]
    Truncated {
        /// Where the read started.
        offset: u64,
        /// Bytes the read needed.
        needed: u64,
        /// Bytes left from `offset`.
        available: u64,
    },
    /// A box declares a size smaller than its own header.
    #[error("box `{kind}` at offset {offset} declares {size} bytes, less than its {header_len}-byte header")]
    SizeTooSmall {
        /// The box type.
        kind: FourCc,
        /// Where the box starts.
        offset: u64,
        /// The declared size.
        size: u64,
        /// The header's length (8, or 16 with a 64-bit size).
        header_len: u64,
    },
    /// A box declares more bytes than its container (or the data) holds.
    #[error("box `{kind}` at offset {offset} declares {size} bytes, only {available} there")]
    Overrun {
        /// The box type.
        kind: FourCc,
        /// Where the box starts.
        offset: u64,
        /// The declared size.
        size: u64,
        /// Bytes left from `offset`.
        available: u64,
    },
    /// No box of the wanted type among the children searched.
    #[error("no `{kind}` box")]
    Missing {
        /// The type looked for.
        kind: FourCc,
    },
    /// A [`HeaderPatch`](super::HeaderPatch) lands (partly) outside the data.
    #[error(
        "header patch of {len} bytes at offset {offset} lies outside the {data_len} bytes written"
    )]
    PatchOutOfRange {
        /// Where the patch starts.
        offset: u64,
        /// Its length.
        len: u64,
        /// Length of the data it was applied to.
        data_len: u64,
    },
    /// Moving a fragment's decode time would overflow its field.
    #[error("moving the decode time {value} of track {track_id} by {add} ticks overflows its {width}-byte field")]
    DecodeTimeOverflow {
        /// The track whose `tfdt` it is.
        track_id: u32,
        /// The stored decode time.
        value: u64,
        /// The ticks to add.
        add: u64,
        /// The field's width in bytes (4 for a version 0 `tfdt`).
        width: u8,
    },
}
