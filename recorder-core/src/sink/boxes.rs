//! Reading ISO BMFF boxes from untrusted bytes.
//!
//! Everything here runs on files a crash left behind, so every read is
//! bounds-checked and returns `None` rather than panicking.

/// A box header: type, header length (8 or 16) and total size.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    pub kind: [u8; 4],
    pub header_len: u64,
    /// Total size including the header; 0 means "to the end of the
    /// enclosing container or file".
    pub size: u64,
}

/// What a header parse found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// A well-formed header.
    Box(BoxHeader),
    /// Not enough bytes for the header.
    Short,
    /// A size smaller than its own header.
    Invalid,
}

/// Parses the header at the start of `buf`.
pub(crate) fn parse_header(buf: &[u8]) -> Header {
    let mut r = Reader::new(buf);
    let (Some(size32), Some(kind)) = (r.u32(), r.fourcc()) else {
        return Header::Short;
    };
    let (size, header_len) = match size32 {
        1 => match r.u64() {
            Some(large) => (large, 16),
            None => return Header::Short,
        },
        s => (u64::from(s), 8),
    };
    if size != 0 && size < header_len {
        return Header::Invalid;
    }
    Header::Box(BoxHeader {
        kind,
        header_len,
        size,
    })
}

/// Iterates over the boxes packed in `data`, yielding `(type, body, offset
/// of the body within data)`; stops at the first malformed or overlong box.
pub(crate) struct Children<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Children<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Children { data, pos: 0 }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = ([u8; 4], &'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        let Header::Box(h) = parse_header(rest) else {
            self.pos = self.data.len();
            return None;
        };
        let size = if h.size == 0 {
            rest.len() as u64
        } else {
            h.size
        };
        let (Ok(size), Ok(hl)) = (usize::try_from(size), usize::try_from(h.header_len)) else {
            self.pos = self.data.len();
            return None;
        };
        let Some(body) = rest.get(hl..size) else {
            self.pos = self.data.len();
            return None;
        };
        let body_offset = self.pos + hl;
        self.pos += size;
        Some((h.kind, body, body_offset))
    }
}

/// The first child of type `kind`, as `(body, offset of body in data)`.
pub(crate) fn find_child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<(&'a [u8], usize)> {
    Children::new(data)
        .find(|(k, _, _)| k == kind)
        .map(|(_, b, o)| (b, o))
}

/// A bounds-checked big-endian reader.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_be_bytes(a))
    }

    pub fn fourcc(&mut self) -> Option<[u8; 4]> {
        let b = self.bytes(4)?;
        Some([b[0], b[1], b[2], b[3]])
    }

    /// A full box's version and 24-bit flags.
    pub fn version_flags(&mut self) -> Option<(u8, u32)> {
        let v = self.u32()?;
        Some(((v >> 24) as u8, v & 0x00ff_ffff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header(b"\0\0\0"), Header::Short);
        assert_eq!(parse_header(b"\0\0\0\x07free"), Header::Invalid);
        assert_eq!(
            parse_header(b"\0\0\0\x08free"),
            Header::Box(BoxHeader {
                kind: *b"free",
                header_len: 8,
                size: 8
            })
        );
        assert_eq!(parse_header(b"\0\0\0\x01mdat\0\0\0\0"), Header::Short);
        assert_eq!(
            parse_header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f"),
            Header::Invalid
        );
        assert_eq!(
            parse_header(b"\0\0\0\x01mdat\0\0\0\x01\0\0\0\0"),
            Header::Box(BoxHeader {
                kind: *b"mdat",
                header_len: 16,
                size: 1 << 32
            })
        );
    }

    #[test]
    fn children_stop_at_overlong_box() {
        let data = b"\0\0\0\x09abcdX\0\0\0\x10efgh";
        let kids: Vec<_> = Children::new(data).collect();
        assert_eq!(kids, vec![(*b"abcd", &b"X"[..], 8)]);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_header(&data);
            for (_, body, _) in Children::new(&data) {
                for _ in Children::new(body) {}
            }
            let mut r = Reader::new(&data);
            while r.version_flags().is_some() {
                let _ = r.u64();
                let _ = r.bytes(usize::MAX);
            }
        }
    }
}
