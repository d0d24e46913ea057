//! Overwriting a field of an already written header.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::Mp4Error;

/// A big-endian field to overwrite once a segment's length is known (the
/// `mvhd` and `mehd` durations), for writers that can seek or re-upload.
///
/// The muxer hands these out with every finished segment; crash repair and
/// S3 recovery compute their own from what a file holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HeaderPatch {
    /// Byte offset of the field from the start of the segment.
    pub offset: u64,
    bytes: [u8; 8],
    len: u8,
}

impl HeaderPatch {
    /// Writes `value` as a 32-bit field at `offset`.
    pub fn u32(offset: u64, value: u32) -> Self {
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&value.to_be_bytes());
        HeaderPatch {
            offset,
            bytes,
            len: 4,
        }
    }

    /// Writes `value` as a 64-bit field at `offset`.
    pub fn u64(offset: u64, value: u64) -> Self {
        HeaderPatch {
            offset,
            bytes: value.to_be_bytes(),
            len: 8,
        }
    }

    /// Writes `value` into a field of `width` bytes (4 or 8, as version 0
    /// and 1 full boxes store durations), saturating if it does not fit.
    pub fn versioned(offset: u64, width: usize, value: u64) -> Self {
        if width == 8 {
            Self::u64(offset, value)
        } else {
            Self::u32(offset, u32::try_from(value).unwrap_or(u32::MAX))
        }
    }

    /// The bytes written at [`offset`](Self::offset).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The offset just past the field, `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(u64::from(self.len))
    }

    /// True if the field lies within the first `len` bytes.
    pub fn fits(&self, len: u64) -> bool {
        self.end().is_some_and(|end| end <= len)
    }

    fn out_of_range(&self, data_len: u64) -> Mp4Error {
        Mp4Error::PatchOutOfRange {
            offset: self.offset,
            len: u64::from(self.len),
            data_len,
        }
    }

    /// Applies the patch to a segment held in memory.
    pub fn apply(&self, data: &mut [u8]) -> Result<(), Mp4Error> {
        let data_len = data.len() as u64;
        if !self.fits(data_len) {
            return Err(self.out_of_range(data_len));
        }
        // `fits` checked the range against a length that is a `usize`.
        let at = self.offset as usize;
        data[at..at + self.bytes().len()].copy_from_slice(self.bytes());
        Ok(())
    }

    /// Applies the patch to a file, at its offset (the file position does
    /// not move). The caller checks [`fits`](Self::fits) against what it
    /// wrote, since a file may be longer than the segment.
    pub fn write_to(&self, file: &File) -> io::Result<()> {
        file.write_all_at(self.bytes(), self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_bounds() {
        let mut data = [0u8; 12];
        HeaderPatch::u64(4, 0x0102_0304_0506_0708)
            .apply(&mut data)
            .unwrap();
        assert_eq!(data, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        HeaderPatch::versioned(0, 4, u64::MAX)
            .apply(&mut data)
            .unwrap();
        assert_eq!(&data[..4], &[0xff; 4]);
        assert_eq!(
            HeaderPatch::u64(5, 0).apply(&mut data),
            Err(Mp4Error::PatchOutOfRange {
                offset: 5,
                len: 8,
                data_len: 12
            })
        );
        assert!(!HeaderPatch::u32(u64::MAX - 1, 0).fits(u64::MAX));
        assert!(HeaderPatch::u32(8, 0).fits(12));
    }
}
