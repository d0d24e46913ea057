//! Box types.

use std::fmt;

/// A four-character box type such as `moov`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourCc(pub [u8; 4]);

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hostile input may hold any bytes: escape what is not printable.
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({self})")
    }
}

macro_rules! fourccs {
    ($($(#[$doc:meta])* $name:ident = $lit:literal;)*) => {
        $($(#[$doc])* pub const $name: FourCc = FourCc(*$lit);)*
    };
}

fourccs! {
    /// File type and compatible brands.
    FTYP = b"ftyp";
    /// Movie: the metadata of all tracks.
    MOOV = b"moov";
    /// Movie header: timescale and duration.
    MVHD = b"mvhd";
    /// Track.
    TRAK = b"trak";
    /// Track header: id, dimensions.
    TKHD = b"tkhd";
    /// Edit container.
    EDTS = b"edts";
    /// Edit list: where presentation starts in the media.
    ELST = b"elst";
    /// Media.
    MDIA = b"mdia";
    /// Media header: the track's timescale.
    MDHD = b"mdhd";
    /// Handler: video or sound.
    HDLR = b"hdlr";
    /// Media information.
    MINF = b"minf";
    /// Video media header.
    VMHD = b"vmhd";
    /// Sound media header.
    SMHD = b"smhd";
    /// Data information.
    DINF = b"dinf";
    /// Data reference.
    DREF = b"dref";
    /// Data entry URL.
    URL = b"url ";
    /// Sample table.
    STBL = b"stbl";
    /// Sample descriptions.
    STSD = b"stsd";
    /// Decoding time to sample.
    STTS = b"stts";
    /// Sample to chunk.
    STSC = b"stsc";
    /// Sample sizes.
    STSZ = b"stsz";
    /// Chunk offsets.
    STCO = b"stco";
    /// 64-bit chunk offsets.
    CO64 = b"co64";
    /// Composition time offsets.
    CTTS = b"ctts";
    /// Sync samples (keyframes).
    STSS = b"stss";
    /// H.264 sample entry.
    AVC1 = b"avc1";
    /// H.264 decoder configuration.
    AVCC = b"avcC";
    /// H.265 sample entry.
    HVC1 = b"hvc1";
    /// H.265 decoder configuration.
    HVCC = b"hvcC";
    /// AAC (MPEG-4 audio) sample entry.
    MP4A = b"mp4a";
    /// Elementary stream descriptor.
    ESDS = b"esds";
    /// G.711 μ-law sample entry.
    ULAW = b"ulaw";
    /// G.711 A-law sample entry.
    ALAW = b"alaw";
    /// Movie extends: the file is fragmented.
    MVEX = b"mvex";
    /// Movie extends header: the fragmented file's duration.
    MEHD = b"mehd";
    /// Track extends: per-track sample defaults.
    TREX = b"trex";
    /// Producer reference time: a fragment's wall clock.
    PRFT = b"prft";
    /// Movie fragment.
    MOOF = b"moof";
    /// Movie fragment header: sequence number.
    MFHD = b"mfhd";
    /// Track fragment.
    TRAF = b"traf";
    /// Track fragment header.
    TFHD = b"tfhd";
    /// Track fragment decode time.
    TFDT = b"tfdt";
    /// Track run: the samples.
    TRUN = b"trun";
    /// Media data.
    MDAT = b"mdat";
    /// Free space.
    FREE = b"free";
}
