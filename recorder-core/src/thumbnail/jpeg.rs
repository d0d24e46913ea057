//! H.264 keyframe → JPEG, with OpenH264 and `jpeg-encoder`.

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use super::{Thumbnail, ThumbnailError};
use crate::mux::CodecConfig;

/// Largest picture side we decode into a thumbnail (H.264 level 6.2 tops
/// out at 8192; JPEG at 65535).
const MAX_SIDE: usize = 16384;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Decodes one H.264 keyframe (`frame_data`: 4-byte length-prefixed NAL
/// units, as [`Frame::data`](crate::Frame::data) holds them) with the
/// SPS/PPS of `codec`'s `avcC` and encodes the picture as a JPEG of
/// `quality` (1-100).
///
/// A fresh decoder per call: thumbnails are minutes apart, and nothing of
/// one camera's stream can leak into another's picture.
pub fn h264_keyframe_to_jpeg(
    codec: &CodecConfig,
    frame_data: &[u8],
    quality: u8,
) -> Result<Thumbnail, ThumbnailError> {
    let CodecConfig::H264 { avcc, .. } = codec else {
        return Err(ThumbnailError::NotVideo {
            codec: codec.name(),
        });
    };
    let mut annexb = Vec::with_capacity(frame_data.len() + 128);
    avcc_to_annexb(avcc, &mut annexb)?;
    length_prefixed_to_annexb(frame_data, &mut annexb)?;
    let bytes = annexb.len();
    let decode_err = |e: openh264::Error| ThumbnailError::Decode {
        bytes,
        detail: e.to_string(),
    };
    let mut decoder = Decoder::new().map_err(decode_err)?;
    let (width, height, rgb) = {
        let picture = match decoder.decode(&annexb).map_err(decode_err)? {
            Some(p) => Some(p),
            None => decoder.flush_remaining().map_err(decode_err)?.pop(),
        };
        let picture = picture.ok_or(ThumbnailError::NoPicture { bytes })?;
        let (w, h) = picture.dimensions();
        if !(1..=MAX_SIDE).contains(&w) || !(1..=MAX_SIDE).contains(&h) {
            return Err(ThumbnailError::BadSize {
                width: w,
                height: h,
            });
        }
        let mut rgb = vec![0u8; w * h * 3];
        picture.write_rgb8(&mut rgb);
        (w as u16, h as u16, rgb)
    };
    let mut jpeg = Vec::with_capacity(rgb.len() / 10);
    let encoder = jpeg_encoder::Encoder::new(&mut jpeg, quality.clamp(1, 100));
    encoder
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ThumbnailError::Encode {
            width,
            height,
            detail: e.to_string(),
        })?;
    Ok(Thumbnail {
        jpeg,
        width,
        height,
    })
}

fn malformed(what: &'static str, detail: String) -> ThumbnailError {
    ThumbnailError::Malformed { what, detail }
}

/// Appends the SPS and PPS of an `AVCDecoderConfigurationRecord` as
/// Annex B NAL units.
fn avcc_to_annexb(avcc: &[u8], out: &mut Vec<u8>) -> Result<(), ThumbnailError> {
    let bad = |detail: String| malformed("avcC record", detail);
    if avcc.len() < 6 {
        return Err(bad(format!("{} bytes, at least 6 needed", avcc.len())));
    }
    let mut at = 5;
    for kind in ["SPS", "PPS"] {
        let mask = if kind == "SPS" { 0x1f } else { 0xff };
        let count = *avcc
            .get(at)
            .ok_or_else(|| bad(format!("ends before the {kind} count at byte {at}")))?
            & mask;
        at += 1;
        for i in 0..count {
            let len = avcc
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(|| bad(format!("ends in the length of {kind} {i} at byte {at}")))?;
            let nal = avcc.get(at + 2..at + 2 + len).ok_or_else(|| {
                bad(format!(
                    "{kind} {i} of {len} bytes at byte {} runs past its end ({} bytes)",
                    at + 2,
                    avcc.len()
                ))
            })?;
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
            at += 2 + len;
        }
    }
    Ok(())
}

/// Appends 4-byte length-prefixed NAL units as Annex B.
fn length_prefixed_to_annexb(data: &[u8], out: &mut Vec<u8>) -> Result<(), ThumbnailError> {
    let mut rest = data;
    let mut at = 0usize;
    if data.is_empty() {
        return Err(malformed("frame", "no bytes".into()));
    }
    while !rest.is_empty() {
        let Some((len, body)) = rest
            .split_first_chunk::<4>()
            .map(|(l, b)| (u32::from_be_bytes(*l) as usize, b))
        else {
            return Err(malformed(
                "frame",
                format!(
                    "{} stray bytes at offset {at} where a NAL length belongs",
                    rest.len()
                ),
            ));
        };
        if len == 0 || len > body.len() {
            return Err(malformed(
                "frame",
                format!(
                    "NAL unit at offset {at} claims {len} bytes, {} remain",
                    body.len()
                ),
            ));
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(&body[..len]);
        rest = &body[len..];
        at += 4 + len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn codec(avcc: &'static [u8]) -> CodecConfig {
        CodecConfig::H264 {
            avcc: Bytes::from_static(avcc),
            width: 16,
            height: 16,
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good_avcc: &[u8] = &[
            1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 0x42, 1, 0, 1, 0x68,
        ];
        // avcC too short, SPS length past the end, PPS count missing.
        for avcc in [
            &[1u8, 2][..],
            &[1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 9, 0x67][..],
            &[1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 1, 0x67][..],
        ] {
            let c = CodecConfig::H264 {
                avcc: Bytes::copy_from_slice(avcc),
                width: 16,
                height: 16,
            };
            let e = h264_keyframe_to_jpeg(&c, &[0, 0, 0, 1, 0x65], 80).unwrap_err();
            assert!(
                matches!(
                    e,
                    ThumbnailError::Malformed {
                        what: "avcC record",
                        ..
                    }
                ),
                "{e}"
            );
        }
        // Length prefixes: past the end, zero, stray tail, empty.
        for data in [
            &[0u8, 0, 0, 9, 0x65][..],
            &[0, 0, 0, 0][..],
            &[0, 0, 0, 1, 0x65, 0, 0][..],
            &[][..],
        ] {
            let e = h264_keyframe_to_jpeg(&codec(good_avcc), data, 80).unwrap_err();
            assert!(
                matches!(e, ThumbnailError::Malformed { what: "frame", .. }),
                "{e}"
            );
        }
        // Well-framed garbage reaches the decoder and fails there.
        let e = h264_keyframe_to_jpeg(&codec(good_avcc), &[0, 0, 0, 3, 0x65, 0x88, 0x84], 80)
            .unwrap_err();
        assert!(
            matches!(
                e,
                ThumbnailError::Decode { .. } | ThumbnailError::NoPicture { .. }
            ),
            "{e}"
        );
        let e = h264_keyframe_to_jpeg(
            &CodecConfig::G711 {
                mu_law: true,
                sample_rate: 8000,
                channels: 1,
            },
            &[0, 0, 0, 1, 0x65],
            80,
        )
        .unwrap_err();
        assert!(
            matches!(e, ThumbnailError::NotVideo { codec: "pcm_mulaw" }),
            "{e}"
        );
    }
}
