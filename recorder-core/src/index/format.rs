//! The `cidx` box and its `cidt` trailer: encoding, decoding, and finding
//! them at the end of a file.

use std::io::{self, Read, Seek, SeekFrom};
use std::time::Duration;

use super::{FragmentIndex, SegmentIndex, TrackIndex};
use crate::mp4::{BoxHeader, BoxWriter, FieldReader, FourCc, Mp4Error};
use crate::time::WallTime;

/// Type of the box that holds the encoded index.
pub const INDEX_BOX: FourCc = FourCc(*b"cidx");
/// Type of the fixed-size box that ends the file and points at `cidx`.
pub const TRAILER_BOX: FourCc = FourCc(*b"cidt");
/// Length of the trailer box.
pub const TRAILER_LEN: u64 = 16;
/// How many bytes of a file's tail a reader fetches first: enough for the
/// index of a 15-minute segment of one-second fragments with audio.
pub const TAIL_GUESS: u64 = 64 * 1024;
/// The largest index box a reader accepts (a garbage size must not make
/// it fetch or allocate gigabytes).
pub const MAX_INDEX_LEN: u64 = 64 << 20;

/// Version of the index layout this code writes and reads.
const VERSION: u8 = 0;
/// Fragment flag: the primary track starts with a keyframe.
const FLAG_KEYFRAME: u8 = 1;

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The bytes end before a field.
    #[error("segment index truncated: {what} needs {needed} bytes, only {available} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// The bytes are not a `cidx` box.
    #[error("not a segment index: box type `{found}`, expected `cidx`")]
    NotAnIndex {
        /// The box type found.
        found: FourCc,
    },
    /// A version this code does not know.
    #[error("segment index version {version} is not supported (this camrec reads version 0)")]
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// A field holds an impossible value.
    #[error("segment index is invalid: {what}")]
    Invalid {
        /// What is wrong.
        what: &'static str,
    },
    /// The segment's boxes could not be read (rebuilding).
    #[error("segment is not a readable fragmented MP4: {0}")]
    Mp4(#[from] Mp4Error),
    /// Reading the file failed.
    #[error("reading the segment failed: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `index` as a `cidx` box followed by its `cidt` trailer: the
/// bytes to append to a finished segment.
pub fn encode(index: &SegmentIndex) -> Vec<u8> {
    let n = index.tracks.len();
    let mut w = BoxWriter::with_capacity(128 + n * 32 + index.fragments.len() * (41 + n * 12));
    w.full(INDEX_BOX, VERSION, 0, |w| {
        let camera = truncate_utf8(&index.camera, usize::from(u16::MAX));
        w.u16(camera.len() as u16);
        w.bytes(camera.as_bytes());
        w.u64(index.wall_start.0 as u64);
        w.u64(index.wall_end.0 as u64);
        w.u64(duration_ns(index.duration));
        w.u64(index.video_frames);
        w.u64(index.init.start);
        w.u64(index.init.end);
        w.u8(n.min(255) as u8);
        for t in index.tracks.iter().take(255) {
            let codec = truncate_utf8(&t.codec, 255);
            w.u8(codec.len() as u8);
            w.bytes(codec.as_bytes());
            w.u32(t.timescale);
            w.u16(t.width);
            w.u16(t.height);
            w.u32(t.sample_rate);
            w.u16(t.channels);
        }
        w.u32(index.fragments.len() as u32);
        for f in &index.fragments {
            w.u64(f.offset);
            w.u64(f.len);
            w.u32(f.header_len);
            w.u64(f.wall_start.0 as u64);
            w.u64(duration_ns(f.duration));
            w.u8(if f.keyframe { FLAG_KEYFRAME } else { 0 });
            for i in 0..n.min(255) {
                w.u64(f.decode_start.get(i).copied().unwrap_or(0));
                w.u32(f.samples.get(i).copied().unwrap_or(0));
            }
        }
    });
    let len = w.pos() as u32;
    w.bytes(&trailer(len));
    w.into_inner()
}

/// The `cidt` trailer for an index box of `index_box_len` bytes.
pub fn trailer(index_box_len: u32) -> [u8; TRAILER_LEN as usize] {
    let mut t = [0u8; TRAILER_LEN as usize];
    t[..4].copy_from_slice(&(TRAILER_LEN as u32).to_be_bytes());
    t[4..8].copy_from_slice(&TRAILER_BOX.0);
    // version 0, flags 0 in t[8..12]
    t[12..].copy_from_slice(&index_box_len.to_be_bytes());
    t
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A reader whose errors name the field.
struct Fields<'a>(FieldReader<'a>);

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], IndexError> {
        let available = self.0.remaining() as u64;
        self.0.bytes(n).map_err(|_| IndexError::Truncated {
            what,
            needed: n as u64,
            available,
        })
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, IndexError> {
        Ok(self.bytes(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, IndexError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, IndexError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, IndexError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.bytes(8, what)?);
        Ok(u64::from_be_bytes(a))
    }
    fn string(&mut self, n: usize, what: &'static str) -> Result<String, IndexError> {
        let b = self.bytes(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| IndexError::Invalid {
            what: "a text field is not UTF-8",
        })
    }
}

/// Decodes a `cidx` box (the whole box, header included; trailing bytes
/// after it, such as the trailer, are ignored).
pub fn decode(data: &[u8]) -> Result<SegmentIndex, IndexError> {
    let h = BoxHeader::parse(data)?;
    if h.kind != INDEX_BOX {
        return Err(IndexError::NotAnIndex { found: h.kind });
    }
    let size = usize::try_from(h.size).unwrap_or(usize::MAX);
    let body = data
        .get(h.header_len as usize..size)
        .filter(|_| h.size != 0)
        .ok_or(IndexError::Truncated {
            what: "the index box",
            needed: h.size,
            available: data.len() as u64,
        })?;
    let mut r = Fields(FieldReader::new(body));
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(IndexError::UnsupportedVersion { version });
    }
    r.bytes(3, "flags")?;
    let n = usize::from(r.u16("camera length")?);
    let camera = r.string(n, "camera")?;
    let wall_start = WallTime(r.u64("wall-clock start")? as i64);
    let wall_end = WallTime(r.u64("wall-clock end")? as i64);
    let duration = Duration::from_nanos(r.u64("duration")?);
    let video_frames = r.u64("video frame count")?;
    let init = r.u64("init start")?..r.u64("init end")?;
    if init.start > init.end {
        return Err(IndexError::Invalid {
            what: "the init range ends before it starts",
        });
    }
    let ntracks = usize::from(r.u8("track count")?);
    let mut tracks = Vec::with_capacity(ntracks);
    for _ in 0..ntracks {
        let n = usize::from(r.u8("codec name length")?);
        tracks.push(TrackIndex {
            codec: r.string(n, "codec name")?,
            timescale: r.u32("timescale")?,
            width: r.u16("width")?,
            height: r.u16("height")?,
            sample_rate: r.u32("sample rate")?,
            channels: r.u16("channels")?,
        });
    }
    let nfrag = r.u32("fragment count")? as usize;
    let per_fragment = 37 + 12 * ntracks;
    let available = r.0.remaining();
    if nfrag.saturating_mul(per_fragment) > available {
        return Err(IndexError::Truncated {
            what: "the fragment table",
            needed: (nfrag as u64).saturating_mul(per_fragment as u64),
            available: available as u64,
        });
    }
    let mut fragments = Vec::with_capacity(nfrag);
    for _ in 0..nfrag {
        let offset = r.u64("fragment offset")?;
        let len = r.u64("fragment length")?;
        if offset.checked_add(len).is_none() {
            return Err(IndexError::Invalid {
                what: "a fragment's byte range overflows",
            });
        }
        let header_len = r.u32("fragment header length")?;
        if u64::from(header_len) > len {
            return Err(IndexError::Invalid {
                what: "a fragment's header is longer than the fragment",
            });
        }
        let wall_start = WallTime(r.u64("fragment wall-clock start")? as i64);
        let duration = Duration::from_nanos(r.u64("fragment duration")?);
        let keyframe = r.u8("fragment flags")? & FLAG_KEYFRAME != 0;
        let mut decode_start = Vec::with_capacity(ntracks);
        let mut samples = Vec::with_capacity(ntracks);
        for _ in 0..ntracks {
            decode_start.push(r.u64("decode time")?);
            samples.push(r.u32("sample count")?);
        }
        fragments.push(FragmentIndex {
            offset,
            len,
            header_len,
            wall_start,
            duration,
            keyframe,
            decode_start,
            samples,
        });
    }
    Ok(SegmentIndex {
        camera,
        wall_start,
        wall_end,
        duration,
        tracks,
        init,
        fragments,
        video_frames,
    })
}

/// What the tail of a file says about its index.
#[derive(Debug)]
pub enum Tail {
    /// The index.
    Index(SegmentIndex),
    /// The index is longer than the tail given: fetch this many bytes
    /// from the end of the file and call [`parse_tail`] again.
    NeedMore {
        /// Bytes from the end of the file.
        from_end: u64,
    },
    /// The file ends without a trailer: it has no index (rebuild it).
    Missing,
}

/// Reads the index from the last bytes of a file: `tail` is the file's
/// final `tail.len()` bytes and `file_len` its length. Sans-IO, so local
/// files and S3 ranged GETs share it.
pub fn parse_tail(tail: &[u8], file_len: u64) -> Result<Tail, IndexError> {
    let t = TRAILER_LEN as usize;
    if tail.len() < t || file_len < TRAILER_LEN {
        return Ok(Tail::Missing);
    }
    let tr = &tail[tail.len() - t..];
    if tr[..8] != trailer(0)[..8] {
        return Ok(Tail::Missing);
    }
    if tr[8] != VERSION {
        return Err(IndexError::UnsupportedVersion { version: tr[8] });
    }
    let box_len = u64::from(u32::from_be_bytes([tr[12], tr[13], tr[14], tr[15]]));
    let from_end = box_len + TRAILER_LEN;
    if box_len > MAX_INDEX_LEN || from_end > file_len {
        return Err(IndexError::Invalid {
            what: "the trailer gives an index box larger than the file or the limit",
        });
    }
    if from_end as usize > tail.len() {
        return Ok(Tail::NeedMore { from_end });
    }
    let start = tail.len() - from_end as usize;
    let index = decode(&tail[start..tail.len() - t])?;
    if index.media_end() > file_len - from_end {
        return Err(IndexError::Invalid {
            what: "fragments lie beyond the index box",
        });
    }
    Ok(Tail::Index(index))
}

/// Reads the index at the end of a local file (or anything seekable) of
/// length `len`: one read of [`TAIL_GUESS`] bytes, a second only if the
/// index is larger. `Ok(None)`: the file has no index.
pub fn read_tail<R: Read + Seek>(
    file: &mut R,
    len: u64,
) -> Result<Option<SegmentIndex>, IndexError> {
    let mut want = len.min(TAIL_GUESS);
    loop {
        let mut buf = vec![0u8; want as usize];
        file.seek(SeekFrom::Start(len - want))?;
        file.read_exact(&mut buf)?;
        match parse_tail(&buf, len)? {
            Tail::Index(i) => return Ok(Some(i)),
            Tail::Missing => return Ok(None),
            Tail::NeedMore { from_end } if from_end > want => want = from_end,
            Tail::NeedMore { .. } => {
                return Err(IndexError::Invalid {
                    what: "the index does not fit the bytes the trailer gives",
                })
            }
        }
    }
}
