//! ISO BMFF (MP4) boxes: one place that names box types and flags, reads
//! boxes from untrusted bytes and writes them.
//!
//! The muxer writes with [`BoxWriter`]; crash repair and S3 recovery read
//! with [`Boxes`], [`find_child`] and [`FieldReader`]; all three describe the
//! duration fields they overwrite with a [`HeaderPatch`].
//!
//! Reading never panics: input may be a torn file or hostile bytes, so every
//! read is bounds-checked and fails with an [`Mp4Error`].
//!
//! ```
//! use recorder_core::mp4::{self, BoxWriter, FieldReader};
//!
//! let mut w = BoxWriter::default();
//! w.boxed(mp4::MOOV, |w| w.full(mp4::MVHD, 1, 0, |w| w.u64(7)));
//! let bytes = w.into_inner();
//!
//! let moov = mp4::find_child(&bytes, mp4::MOOV).unwrap();
//! let mvhd = mp4::find_child(moov.body, mp4::MVHD).unwrap();
//! let mut r = FieldReader::new(mvhd.body);
//! assert_eq!(r.version_flags().unwrap(), (1, 0));
//! assert_eq!(r.u64().unwrap(), 7);
//! ```

mod error;
mod flags;
mod fourcc;
mod movie;
mod patch;
mod read;
mod retime;
mod write;

pub use error::Mp4Error;
pub use flags::*;
pub use fourcc::*;
pub use movie::{
    parse_moof, parse_moof_with, parse_moov, MovieTrack, RunSample, SampleDefaults, TrackRun,
};
pub use patch::HeaderPatch;
pub use read::{find_child, BoxHeader, BoxRef, Boxes, FieldReader};
pub use retime::shift_decode_times;
pub use write::BoxWriter;
