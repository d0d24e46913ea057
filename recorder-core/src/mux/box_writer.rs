//! A tiny ISO BMFF box writer over a `Vec<u8>`: sizes are back-patched when a
//! box closes, so callers write boxes in one pass.

/// Appends big-endian fields and nested boxes to a buffer.
#[derive(Default)]
pub(crate) struct BoxWriter {
    pub(crate) buf: Vec<u8>,
}

impl BoxWriter {
    pub(crate) fn with_capacity(n: usize) -> Self {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// Current length: the offset the next byte will land at.
    pub(crate) fn pos(&self) -> usize {
        self.buf.len()
    }

    /// Writes a box whose body `f` writes, patching its size afterwards.
    pub(crate) fn boxed(&mut self, fourcc: &[u8; 4], f: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        f(self);
        let size = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }

    /// Writes a full box (version and 24-bit flags after the header).
    pub(crate) fn full(
        &mut self,
        fourcc: &[u8; 4],
        version: u8,
        flags: u32,
        f: impl FnOnce(&mut Self),
    ) {
        self.boxed(fourcc, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            f(w);
        });
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Overwrites a big-endian `u32` written earlier.
    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::default();
        w.boxed(b"moov", |w| {
            w.full(b"mvhd", 1, 0x000003, |w| w.u16(0xabcd));
        });
        assert_eq!(
            w.buf,
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
        assert_eq!(w.buf, [1, 2, 3, 0xde, 0xad, 0xbe, 0xef]);
    }
}
