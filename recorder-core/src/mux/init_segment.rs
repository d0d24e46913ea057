//! The init segment: `ftyp` + `moov` with empty sample tables and `mvex`.

use super::types::{CodecConfig, TrackSpec};
use crate::mp4::{self, BoxWriter, FourCc};

/// Timescale of `mvhd` and `mehd`: milliseconds are plenty for a duration.
pub(crate) const MOVIE_TIMESCALE: u32 = 1000;

pub(crate) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// A built init segment and where its duration fields live.
pub(crate) struct InitSegment {
    pub(crate) bytes: Vec<u8>,
    /// Offset of the 64-bit `mvhd` duration.
    pub(crate) mvhd_duration_at: usize,
    /// Offset of the 64-bit `mehd` fragment duration.
    pub(crate) mehd_duration_at: usize,
    /// Per track, with an edit list: offsets of its 64-bit
    /// `segment_duration` (movie timescale) and `media_time` (the track's
    /// timescale), known only when the segment ends.
    pub(crate) edits_at: Vec<(usize, usize)>,
}

/// Writes `ftyp` and `moov` for `tracks`; track ids are index + 1. With
/// `edit_list`, every track gets an `edts`/`elst` with one edit whose
/// fields are zero until patched (see [`InitSegment::edits_at`]).
pub(crate) fn write_init(tracks: &[TrackSpec], edit_list: bool) -> InitSegment {
    let mut w = BoxWriter::with_capacity(1024);
    w.boxed(mp4::FTYP, |w| {
        w.bytes(b"iso6");
        w.u32(0);
        for brand in [b"iso6", b"iso5", b"isom", b"mp41"] {
            w.bytes(brand);
        }
    });
    let mut mvhd_duration_at = 0;
    let mut mehd_duration_at = 0;
    let mut edits_at = Vec::new();
    w.boxed(mp4::MOOV, |w| {
        w.full(mp4::MVHD, 1, 0, |w| {
            w.u64(0); // creation_time
            w.u64(0); // modification_time
            w.u32(MOVIE_TIMESCALE);
            mvhd_duration_at = w.pos();
            w.u64(0);
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.zeros(10);
            for m in UNITY_MATRIX {
                w.u32(m);
            }
            w.zeros(24); // pre_defined
            w.u32(tracks.len() as u32 + 1); // next_track_ID
        });
        for (i, t) in tracks.iter().enumerate() {
            if let Some(at) = write_trak(w, i as u32 + 1, t, edit_list) {
                edits_at.push(at);
            }
        }
        w.boxed(mp4::MVEX, |w| {
            w.full(mp4::MEHD, 1, 0, |w| {
                mehd_duration_at = w.pos();
                w.u64(0);
            });
            for (i, t) in tracks.iter().enumerate() {
                w.full(mp4::TREX, 0, 0, |w| {
                    w.u32(i as u32 + 1);
                    w.u32(1); // default_sample_description_index
                    w.u32(0); // default_sample_duration
                    w.u32(0); // default_sample_size
                              // Video defaults to non-sync: fragments flag keyframes.
                    w.u32(if t.codec.is_video() {
                        mp4::SAMPLE_FLAGS_NON_SYNC
                    } else {
                        mp4::SAMPLE_FLAGS_SYNC
                    });
                });
            }
        });
    });
    InitSegment {
        bytes: w.into_inner(),
        mvhd_duration_at,
        mehd_duration_at,
        edits_at,
    }
}

fn write_trak(
    w: &mut BoxWriter,
    id: u32,
    t: &TrackSpec,
    edit_list: bool,
) -> Option<(usize, usize)> {
    let video = t.codec.is_video();
    let mut edit = None;
    w.boxed(mp4::TRAK, |w| {
        // flags: enabled | in_movie
        w.full(mp4::TKHD, 0, 3, |w| {
            w.u32(0);
            w.u32(0);
            w.u32(id);
            w.u32(0);
            w.u32(0); // duration: unknown in a fragmented file
            w.zeros(8);
            w.u16(0); // layer
            w.u16(0); // alternate_group
            w.u16(if video { 0 } else { 0x0100 });
            w.u16(0);
            for m in UNITY_MATRIX {
                w.u32(m);
            }
            let (width, height) = t.codec.dimensions().unwrap_or((0, 0));
            w.u32(u32::from(width) << 16);
            w.u32(u32::from(height) << 16);
        });
        if edit_list {
            // Duration and media time are patched at the segment's end.
            edit = Some(w.edit_list(0, 0, 0));
        }
        w.boxed(mp4::MDIA, |w| {
            w.full(mp4::MDHD, 0, 0, |w| {
                w.u32(0);
                w.u32(0);
                w.u32(t.timescale);
                w.u32(0);
                w.u16(0x55c4); // "und"
                w.u16(0);
            });
            write_hdlr(w, video);
            w.boxed(mp4::MINF, |w| {
                write_minf_head(w, video);
                w.boxed(mp4::STBL, |w| {
                    w.full(mp4::STSD, 0, 0, |w| {
                        w.u32(1);
                        write_sample_entry(w, &t.codec);
                    });
                    w.full(mp4::STTS, 0, 0, |w| w.u32(0));
                    w.full(mp4::STSC, 0, 0, |w| w.u32(0));
                    w.full(mp4::STSZ, 0, 0, |w| {
                        w.u32(0);
                        w.u32(0);
                    });
                    w.full(mp4::STCO, 0, 0, |w| w.u32(0));
                });
            });
        });
    });
    edit
}

/// `hdlr` of a video or sound track.
pub(crate) fn write_hdlr(w: &mut BoxWriter, video: bool) {
    w.full(mp4::HDLR, 0, 0, |w| {
        w.u32(0);
        w.bytes(if video { b"vide" } else { b"soun" });
        w.zeros(12);
        w.bytes(if video {
            b"VideoHandler\0"
        } else {
            b"SoundHandler\0"
        });
    });
}

/// What `minf` holds before its `stbl`: the media header and a `dinf`
/// saying the samples are in this file.
pub(crate) fn write_minf_head(w: &mut BoxWriter, video: bool) {
    if video {
        w.full(mp4::VMHD, 0, 1, |w| w.zeros(8));
    } else {
        w.full(mp4::SMHD, 0, 0, |w| w.zeros(4));
    }
    w.boxed(mp4::DINF, |w| {
        w.full(mp4::DREF, 0, 0, |w| {
            w.u32(1);
            w.full(mp4::URL, 0, 1, |_| {});
        });
    });
}

fn write_sample_entry(w: &mut BoxWriter, codec: &CodecConfig) {
    match codec {
        CodecConfig::H264 {
            avcc,
            width,
            height,
        } => visual_entry(w, mp4::AVC1, *width, *height, mp4::AVCC, avcc),
        CodecConfig::H265 {
            hvcc,
            width,
            height,
        } => visual_entry(w, mp4::HVC1, *width, *height, mp4::HVCC, hvcc),
        CodecConfig::Aac {
            asc,
            sample_rate,
            channels,
        } => audio_entry(w, mp4::MP4A, *sample_rate, *channels, 16, |w| {
            write_esds(w, asc)
        }),
        CodecConfig::G711 {
            mu_law,
            sample_rate,
            channels,
        } => {
            let fourcc = if *mu_law { mp4::ULAW } else { mp4::ALAW };
            audio_entry(w, fourcc, *sample_rate, *channels, 16, |_| {})
        }
    }
}

fn visual_entry(
    w: &mut BoxWriter,
    kind: FourCc,
    width: u16,
    height: u16,
    cfg: FourCc,
    record: &[u8],
) {
    w.boxed(kind, |w| {
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(16); // pre_defined, reserved
        w.u16(width);
        w.u16(height);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x0018); // depth
        w.u16(0xffff); // pre_defined = -1
        w.boxed(cfg, |w| w.bytes(record));
    });
}

fn audio_entry(
    w: &mut BoxWriter,
    kind: FourCc,
    sample_rate: u32,
    channels: u16,
    sample_size: u16,
    ext: impl FnOnce(&mut BoxWriter),
) {
    w.boxed(kind, |w| {
        w.zeros(6);
        w.u16(1);
        w.zeros(8);
        w.u16(channels);
        w.u16(sample_size);
        w.u32(0);
        // 16.16 fixed point; rates above 65535 Hz do not fit and are left
        // to the codec configuration (the ASC carries the true rate).
        w.u32(if sample_rate <= 0xffff {
            sample_rate << 16
        } else {
            0
        });
        ext(w);
    });
}

/// An MPEG-4 descriptor: tag, then the length in the one-byte form when it
/// fits and the four-byte expanded form otherwise.
fn descriptor(w: &mut BoxWriter, tag: u8, body: &[u8]) {
    w.u8(tag);
    let len = body.len() as u32;
    if len < 0x80 {
        w.u8(len as u8);
    } else {
        w.u8(0x80 | ((len >> 21) & 0x7f) as u8);
        w.u8(0x80 | ((len >> 14) & 0x7f) as u8);
        w.u8(0x80 | ((len >> 7) & 0x7f) as u8);
        w.u8((len & 0x7f) as u8);
    }
    w.bytes(body);
}

fn write_esds(w: &mut BoxWriter, asc: &[u8]) {
    let mut dsi = BoxWriter::default();
    descriptor(&mut dsi, 0x05, asc);
    let mut dcd = BoxWriter::default();
    dcd.u8(0x40); // objectTypeIndication: MPEG-4 audio
    dcd.u8((0x05 << 2) | 1); // streamType audio, reserved bit
    dcd.u24(0); // bufferSizeDB
    dcd.u32(0); // maxBitrate
    dcd.u32(0); // avgBitrate
    dcd.bytes(dsi.as_slice());
    let mut es = BoxWriter::default();
    es.u16(0); // ES_ID
    es.u8(0); // no dependency, URL or OCR
    descriptor(&mut es, 0x04, dcd.as_slice());
    descriptor(&mut es, 0x06, &[0x02]); // SLConfig: predefined MP4
    w.full(mp4::ESDS, 0, 0, |w| descriptor(w, 0x03, es.as_slice()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn esds_matches_hand_checked_bytes() {
        let mut w = BoxWriter::default();
        write_esds(&mut w, &[0x11, 0x90]);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 0x27, b'e', b's', b'd', b's', 0, 0, 0, 0,
            0x03, 0x19, 0x00, 0x00, 0x00,
            0x04, 0x11, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x05, 0x02, 0x11, 0x90,
            0x06, 0x01, 0x02,
        ];
        assert_eq!(w.as_slice(), expected);
    }

    #[test]
    fn long_descriptor_uses_expanded_length() {
        let mut w = BoxWriter::default();
        descriptor(&mut w, 0x05, &[0u8; 200]);
        assert_eq!(&w.as_slice()[..5], &[0x05, 0x80, 0x80, 0x81, 0x48]);
        assert_eq!(w.pos(), 205);
    }

    #[test]
    fn init_has_ftyp_moov_and_patchable_durations() {
        let tracks = [
            TrackSpec {
                timescale: 90_000,
                codec: CodecConfig::H264 {
                    avcc: Bytes::from_static(&[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0x00]),
                    width: 640,
                    height: 360,
                },
            },
            TrackSpec {
                timescale: 48_000,
                codec: CodecConfig::Aac {
                    asc: Bytes::from_static(&[0x11, 0x90]),
                    sample_rate: 48_000,
                    channels: 1,
                },
            },
        ];
        let init = write_init(&tracks, false);
        let b = &init.bytes;
        assert_eq!(&b[4..8], b"ftyp");
        let ftyp_len = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(ftyp_len, 32);
        assert_eq!(&b[ftyp_len + 4..ftyp_len + 8], b"moov");
        let moov_len = u32::from_be_bytes(b[ftyp_len..ftyp_len + 4].try_into().unwrap()) as usize;
        assert_eq!(ftyp_len + moov_len, b.len());
        // mvhd is first in moov: header(8) + version/flags(4) + 2 times(16) + timescale(4).
        assert_eq!(init.mvhd_duration_at, ftyp_len + 8 + 8 + 4 + 16 + 4);
        assert_eq!(
            &b[init.mvhd_duration_at - 4..init.mvhd_duration_at],
            &1000u32.to_be_bytes()
        );
        assert_eq!(
            &b[init.mehd_duration_at - 8..init.mehd_duration_at - 4],
            b"mehd"
        );
        let find = |needle: &[u8]| b.windows(4).filter(|w| *w == needle).count();
        assert_eq!(find(b"trak"), 2);
        assert_eq!(find(b"trex"), 2);
        assert_eq!(find(b"avcC"), 1);
        assert_eq!(find(b"esds"), 1);
    }
}
