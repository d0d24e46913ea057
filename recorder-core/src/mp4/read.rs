//! Reading boxes and their fields from untrusted bytes.

use super::{FourCc, Mp4Error};

/// A box header: type, header length and total size.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BoxHeader {
    /// The box type.
    pub kind: FourCc,
    /// 8, or 16 when a 64-bit size follows the type.
    pub header_len: u64,
    /// Total size including the header; 0 means "to the end of the
    /// enclosing container or file".
    pub size: u64,
}

impl BoxHeader {
    /// The most bytes a header takes: a readable prefix of this length is
    /// always enough for [`BoxHeader::parse`].
    pub const MAX_LEN: usize = 16;

    /// Parses the header at the start of `buf` (which may hold less than
    /// the whole box).
    pub fn parse(buf: &[u8]) -> Result<Self, Mp4Error> {
        let mut r = FieldReader::new(buf);
        let size32 = r.u32()?;
        let kind = r.fourcc()?;
        let (size, header_len) = match size32 {
            1 => (r.u64()?, 16),
            s => (u64::from(s), 8),
        };
        if size != 0 && size < header_len {
            return Err(Mp4Error::SizeTooSmall {
                kind,
                offset: 0,
                size,
                header_len,
            });
        }
        Ok(BoxHeader {
            kind,
            header_len,
            size,
        })
    }
}

/// One box inside a byte slice.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BoxRef<'a> {
    /// The box type.
    pub kind: FourCc,
    /// The bytes after the header.
    pub body: &'a [u8],
    /// Where `body` starts within the slice the box was found in.
    pub body_offset: usize,
}

/// Iterates over the boxes packed in a slice (the top level of a file, or
/// a container's body).
///
/// Yields an error for the first malformed or overlong box and then ends,
/// since nothing after it can be located.
#[derive(Clone, Debug)]
pub struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Boxes<'a> {
    /// The boxes in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Boxes { data, pos: 0 }
    }

    fn next_box(&mut self, rest: &'a [u8]) -> Result<BoxRef<'a>, Mp4Error> {
        let offset = self.pos as u64;
        let h = BoxHeader::parse(rest).map_err(|e| at(e, offset))?;
        let size = if h.size == 0 {
            rest.len() as u64
        } else {
            h.size
        };
        let overrun = Mp4Error::Overrun {
            kind: h.kind,
            offset,
            size,
            available: rest.len() as u64,
        };
        let body = usize::try_from(size)
            .ok()
            .and_then(|end| rest.get(h.header_len as usize..end))
            .ok_or(overrun)?;
        let body_offset = self.pos + h.header_len as usize;
        self.pos = body_offset + body.len();
        Ok(BoxRef {
            kind: h.kind,
            body,
            body_offset,
        })
    }
}

/// Moves an error's offsets from relative to a sub-slice (a header, a
/// box's body) to relative to the slice that holds it at `base`.
pub(super) fn at(e: Mp4Error, base: u64) -> Mp4Error {
    match e {
        Mp4Error::Truncated {
            offset,
            needed,
            available,
        } => Mp4Error::Truncated {
            offset: base + offset,
            needed,
            available,
        },
        Mp4Error::SizeTooSmall {
            kind,
            offset,
            size,
            header_len,
        } => Mp4Error::SizeTooSmall {
            kind,
            offset: base + offset,
            size,
            header_len,
        },
        Mp4Error::Overrun {
            kind,
            offset,
            size,
            available,
        } => Mp4Error::Overrun {
            kind,
            offset: base + offset,
            size,
            available,
        },
        other => other,
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<BoxRef<'a>, Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let item = self.next_box(rest);
        if item.is_err() {
            self.pos = self.data.len();
        }
        Some(item)
    }
}

impl std::iter::FusedIterator for Boxes<'_> {}

/// The first box of type `kind` in `data`.
///
/// Fails with [`Mp4Error::Missing`] if there is none, or with the error of
/// a malformed box met before one was found.
pub fn find_child(data: &[u8], kind: FourCc) -> Result<BoxRef<'_>, Mp4Error> {
    for b in Boxes::new(data) {
        let b = b?;
        if b.kind == kind {
            return Ok(b);
        }
    }
    Err(Mp4Error::Missing { kind })
}

/// A bounds-checked big-endian reader of box fields.
#[derive(Clone, Debug)]
pub struct FieldReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> FieldReader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        FieldReader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        let b = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or(Mp4Error::Truncated {
                offset: self.pos as u64,
                needed: n as u64,
                available: self.remaining() as u64,
            })?;
        self.pos += n;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Mp4Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        self.bytes(n).map(|_| ())
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, Mp4Error> {
        self.array::<1>().map(|[b]| b)
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, Mp4Error> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, Mp4Error> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian `i32`.
    pub fn i32(&mut self) -> Result<i32, Mp4Error> {
        self.array().map(i32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, Mp4Error> {
        self.array().map(u64::from_be_bytes)
    }

    /// A box type.
    pub fn fourcc(&mut self) -> Result<FourCc, Mp4Error> {
        self.array().map(FourCc)
    }

    /// A full box's version and 24-bit flags.
    pub fn version_flags(&mut self) -> Result<(u8, u32), Mp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// A field that is 64 bits wide in version 1 of a full box and 32 bits
    /// otherwise (times and durations), with its width in bytes.
    pub fn versioned_u64(&mut self, version: u8) -> Result<(u64, usize), Mp4Error> {
        if version == 1 {
            Ok((self.u64()?, 8))
        } else {
            Ok((u64::from(self.u32()?), 4))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{FREE, MDAT};
    use proptest::prelude::*;

    #[test]
    fn headers() {
        assert!(matches!(
            BoxHeader::parse(b"\0\0\0"),
            Err(Mp4Error::Truncated { needed: 4, .. })
        ));
        assert!(matches!(
            BoxHeader::parse(b"\0\0\0\x07free"),
            Err(Mp4Error::SizeTooSmall { size: 7, .. })
        ));
        assert_eq!(
            BoxHeader::parse(b"\0\0\0\x08free").unwrap(),
            BoxHeader {
                kind: FREE,
                header_len: 8,
                size: 8
            }
        );
        assert!(matches!(
            BoxHeader::parse(b"\0\0\0\x01mdat\0\0\0\0"),
            Err(Mp4Error::Truncated { offset: 8, .. })
        ));
        assert!(matches!(
            BoxHeader::parse(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f"),
            Err(Mp4Error::SizeTooSmall { size: 15, .. })
        ));
        assert_eq!(
            BoxHeader::parse(b"\0\0\0\x01mdat\0\0\0\x01\0\0\0\0").unwrap(),
            BoxHeader {
                kind: MDAT,
                header_len: 16,
                size: 1 << 32
            }
        );
    }

    #[test]
    fn boxes_stop_at_overlong_box() {
        let data = b"\0\0\0\x09abcdX\0\0\0\x10efgh";
        let kids: Vec<_> = Boxes::new(data).collect();
        assert_eq!(
            kids,
            vec![
                Ok(BoxRef {
                    kind: FourCc(*b"abcd"),
                    body: &b"X"[..],
                    body_offset: 8
                }),
                Err(Mp4Error::Overrun {
                    kind: FourCc(*b"efgh"),
                    offset: 9,
                    size: 16,
                    available: 8
                })
            ]
        );
        assert_eq!(find_child(data, FourCc(*b"abcd")).unwrap().body, &b"X"[..]);
        assert!(matches!(
            find_child(data, FourCc(*b"zzzz")),
            Err(Mp4Error::Overrun { .. })
        ));
        assert_eq!(
            find_child(&data[..9], FourCc(*b"zzzz")),
            Err(Mp4Error::Missing {
                kind: FourCc(*b"zzzz")
            })
        );
    }

    #[test]
    fn size_zero_runs_to_the_end() {
        let data = b"\0\0\0\0mdatxyz";
        let b = Boxes::new(data).next().unwrap().unwrap();
        assert_eq!((b.kind, b.body), (MDAT, &b"xyz"[..]));
    }

    #[test]
    fn fourcc_display_escapes() {
        assert_eq!(FourCc(*b"url ").to_string(), "url ");
        assert_eq!(FourCc([b'a', 0, 0xff, b'z']).to_string(), "a\\x00\\xffz");
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = BoxHeader::parse(&data);
            for b in Boxes::new(&data).flatten() {
                for _ in Boxes::new(b.body) {}
            }
            let mut r = FieldReader::new(&data);
            while r.version_flags().is_ok() {
                let _ = r.u64();
                let _ = r.versioned_u64(0);
                let _ = r.bytes(usize::MAX);
            }
        }
    }
}
