//! Writing boxes into a buffer in one pass.

use super::FourCc;

/// Appends big-endian fields and nested boxes to a `Vec<u8>`; a box's size
/// is patched in when its body is done, so callers write in one pass.
#[derive(Clone, Debug, Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    /// A writer whose buffer holds `n` bytes before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// The bytes written.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Current length: the offset the next byte will land at.
    pub fn pos(&self) -> usize {
        self.buf.len()
    }

    /// Writes a box whose body `f` writes, patching its size afterwards.
    ///
    /// Bodies must stay below 4 GiB; larger media data needs a 64-bit
    /// header written by hand.
    pub fn boxed(&mut self, kind: FourCc, f: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(&kind.0);
        f(self);
        let size = (self.buf.len() - start) as u32;
        self.patch_u32(start, size);
    }

    /// Writes a full box (version and 24-bit flags after the header).
    pub fn full(&mut self, kind: FourCc, version: u8, flags: u32, f: impl FnOnce(&mut Self)) {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            f(w);
        });
    }

    /// Writes `edts` with a version-1 `elst` (64-bit fields, so any later
    /// patch fits): an empty edit of `empty` movie ticks first when it is
    /// not zero (nothing shown), then one edit showing `duration` movie
    /// ticks of the media from `media_time` (media ticks). Returns where
    /// that edit's duration and media time are, for values only known
    /// later.
    pub fn edit_list(&mut self, empty: u64, duration: u64, media_time: u64) -> (usize, usize) {
        let mut at = (0, 0);
        self.boxed(super::EDTS, |w| {
            w.full(super::ELST, 1, 0, |w| {
                w.u32(if empty > 0 { 2 } else { 1 });
                if empty > 0 {
                    w.u64(empty);
                    w.u64(u64::MAX); // media_time -1: an empty edit
                    w.u16(1);
                    w.u16(0);
                }
                at.0 = w.pos();
                w.u64(duration);
                at.1 = w.pos();
                w.u64(media_time);
                w.u16(1); // media_rate 1.0
                w.u16(0);
            });
        });
        at
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// The low 24 bits of `v`, big-endian.
    pub fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A big-endian `i32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A box type (or brand).
    pub fn fourcc(&mut self, v: FourCc) {
        self.buf.extend_from_slice(&v.0);
    }

    /// Raw bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// `n` zero bytes.
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Overwrites a big-endian `u32` written earlier at `at`.
    ///
    /// # Panics
    ///
    /// If `at + 4` is beyond what was written: offsets come from
    /// [`pos`](Self::pos), never from input.
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{MOOV, MVHD};

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::default();
        w.boxed(MOOV, |w| {
            w.full(MVHD, 1, 0x000003, |w| w.u16(0xabcd));
        });
        assert_eq!(
            w.into_inner(),
            [
                0, 0, 0, 22, b'm', b'o', b'o', b'v', // outer
                0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 0, 0, 3, 0xab, 0xcd
            ]
        );
    }

    #[test]
    fn u24_and_patch() {
        let mut w = BoxWriter::default();
        w.u24(0x010203);
        let at = w.pos();
        w.u32(0);
        w.patch_u32(at, 0xdeadbeef);
        assert_eq!(w.as_slice(), [1, 2, 3, 0xde, 0xad, 0xbe, 0xef]);
    }
}
