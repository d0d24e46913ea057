//! Moving fragments along the decode timeline: each `tfdt` rewritten in
//! place, every size and offset unchanged.
//!
//! Every camrec segment starts its decode timeline at zero, so each one
//! plays well alone. A player that reads several segments as one stream
//! and ignores `EXT-X-DISCONTINUITY` (ffmpeg's HLS reader) needs them on
//! one timeline instead: it drops samples whose decode time does not move
//! forward. When camrec serves the bytes itself it can move each fragment
//! by its segment's place in the playlist; the stored files stay as they
//! are.

use super::read::at;
use super::{find_child, BoxHeader, Boxes, FieldReader, HeaderPatch, Mp4Error, MOOF, TFDT, TFHD};
use super::{TRAF, TRUN};

/// Adds `ticks(track_id)` to the base decode time (`tfdt`) of every track
/// fragment of every `moof` among the top-level boxes of `data`; returns
/// how many decode times it changed.
///
/// `data` must start at a box (a fragment's first byte, as an index or a
/// playlist's byte range gives it). A box running past the end of `data`
/// is left alone, unless it is a `moof`: its decode times could be cut in
/// half, which is an error. Nothing is written unless every decode time
/// can be moved: a version 0 `tfdt` whose new value needs more than 32
/// bits fails with [`Mp4Error::DecodeTimeOverflow`].
///
/// ```
/// use recorder_core::mp4::{self, shift_decode_times, BoxWriter};
///
/// let mut w = BoxWriter::default();
/// w.boxed(mp4::MOOF, |w| {
///     w.boxed(mp4::TRAF, |w| {
///         w.full(mp4::TFHD, 0, 0, |w| w.u32(1));
///         w.full(mp4::TFDT, 1, 0, |w| w.u64(3_000));
///     })
/// });
/// let mut bytes = w.into_inner();
/// assert_eq!(shift_decode_times(&mut bytes, |_track| 90_000).unwrap(), 1);
/// assert_eq!(&bytes[bytes.len() - 8..], &93_000u64.to_be_bytes());
/// ```
pub fn shift_decode_times(data: &mut [u8], ticks: impl Fn(u32) -> u64) -> Result<usize, Mp4Error> {
    let mut patches = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let h = BoxHeader::parse(&data[pos..]).map_err(|e| at(e, pos as u64))?;
        let available = (data.len() - pos) as u64;
        let size = if h.size == 0 { available } else { h.size };
        if h.kind == MOOF {
            if size > available {
                return Err(Mp4Error::Overrun {
                    kind: h.kind,
                    offset: pos as u64,
                    size,
                    available,
                });
            }
            let body_start = pos + h.header_len as usize;
            let body = &data[body_start..pos + size as usize];
            moof_patches(body, body_start, &ticks, &mut patches)?;
        }
        if size >= available {
            break;
        }
        pos += size as usize;
    }
    for p in &patches {
        p.apply(data)?;
    }
    Ok(patches.len())
}

/// The `tfdt` rewrites of one `moof` whose body starts at `base` in the
/// data.
fn moof_patches(
    moof: &[u8],
    base: usize,
    ticks: &impl Fn(u32) -> u64,
    out: &mut Vec<HeaderPatch>,
) -> Result<(), Mp4Error> {
    for traf in Boxes::new(moof) {
        let traf = traf.map_err(|e| at(e, base as u64))?;
        if traf.kind != TRAF {
            continue;
        }
        let tfhd = find_child(traf.body, TFHD)?;
        let mut r = FieldReader::new(tfhd.body);
        r.version_flags()?;
        let track_id = r.u32()?;
        let add = ticks(track_id);
        let tfdt = match find_child(traf.body, TFDT) {
            Ok(b) => b,
            // No samples, no time to move (a `traf` with no `trun`).
            Err(Mp4Error::Missing { .. }) if find_child(traf.body, TRUN).is_err() => continue,
            Err(e) => return Err(e),
        };
        let mut r = FieldReader::new(tfdt.body);
        let (version, _) = r.version_flags()?;
        let (value, width) = r.versioned_u64(version)?;
        if add == 0 {
            continue;
        }
        let limit = if width == 8 {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        let moved_to =
            value
                .checked_add(add)
                .filter(|v| *v <= limit)
                .ok_or(Mp4Error::DecodeTimeOverflow {
                    track_id,
                    value,
                    add,
                    width: width as u8,
                })?;
        // The field follows the 4 bytes of version and flags.
        let at = base + traf.body_offset + tfdt.body_offset + 4;
        out.push(HeaderPatch::versioned(at as u64, width, moved_to));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{parse_moof_with, BoxWriter, SampleDefaults, MDAT, PRFT};
    use proptest::prelude::*;

    /// A fragment: `prft`, a `moof` with one `traf` per `(track, version,
    /// decode time)` and one sample each, then `mdat` of `payload` bytes.
    fn fragment(tracks: &[(u32, u8, u64)], payload: usize) -> Vec<u8> {
        let mut w = BoxWriter::default();
        w.full(PRFT, 1, 0, |w| {
            w.u32(1);
            w.u64(7);
            w.u64(0);
        });
        w.boxed(MOOF, |w| {
            for &(track, version, t) in tracks {
                w.boxed(TRAF, |w| {
                    w.full(TFHD, 0, 0, |w| w.u32(track));
                    w.full(TFDT, version, 0, |w| {
                        if version == 1 {
                            w.u64(t)
                        } else {
                            w.u32(t as u32)
                        }
                    });
                    // One sample: duration 3000, size 1.
                    w.full(TRUN, 0, 0x300, |w| {
                        w.u32(1);
                        w.u32(3000);
                        w.u32(1);
                    });
                });
            }
        });
        w.boxed(MDAT, |w| w.bytes(&vec![0xAB; payload]));
        w.into_inner()
    }

    /// The decode times of the `moof`s in `data`, in order.
    fn decode_times(data: &[u8]) -> Vec<(u32, u64)> {
        Boxes::new(data)
            .map_while(Result::ok)
            .filter(|b| b.kind == MOOF)
            .flat_map(|m| parse_moof_with(m.body, |_| Some(SampleDefaults::default())).unwrap())
            .map(|r| (r.track_id, r.base_decode_time))
            .collect()
    }

    #[test]
    fn every_track_moves_by_its_own_ticks_and_nothing_else_changes() {
        let mut data = fragment(&[(1, 1, 0), (2, 1, 480)], 100);
        data.extend(fragment(&[(1, 1, 90_000), (2, 1, 48_480)], 50));
        let before = data.clone();
        let n = shift_decode_times(&mut data, |t| if t == 1 { 900_000 } else { 480_000 }).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            decode_times(&data),
            [(1, 900_000), (2, 480_480), (1, 990_000), (2, 528_480)]
        );
        // Only the 4 × 8 bytes of the decode times differ.
        let changed = data.iter().zip(&before).filter(|(a, b)| a != b).count();
        assert!(changed <= 32, "{changed} bytes changed");
        assert_eq!(data.len(), before.len());
    }

    #[test]
    fn a_range_ending_inside_the_media_data_is_moved_a_cut_moof_is_refused() {
        let whole = fragment(&[(1, 1, 10)], 1000);
        let mut head = whole[..whole.len() - 500].to_vec();
        assert_eq!(shift_decode_times(&mut head, |_| 5).unwrap(), 1);
        assert_eq!(decode_times(&head), [(1, 15)]);

        let moof_end = whole.len() - 1008;
        let mut cut = whole[..moof_end - 4].to_vec();
        let before = cut.clone();
        let e = shift_decode_times(&mut cut, |_| 5).unwrap_err();
        assert!(
            matches!(e, Mp4Error::Overrun { kind, .. } if kind == MOOF),
            "{e}"
        );
        assert_eq!(cut, before, "nothing written on error");
    }

    #[test]
    fn a_32_bit_decode_time_that_would_overflow_is_an_error_and_writes_nothing() {
        let mut data = fragment(&[(1, 1, 0), (2, 0, u64::from(u32::MAX) - 10)], 10);
        let before = data.clone();
        let e = shift_decode_times(&mut data, |_| 11).unwrap_err();
        assert_eq!(
            e,
            Mp4Error::DecodeTimeOverflow {
                track_id: 2,
                value: u64::from(u32::MAX) - 10,
                add: 11,
                width: 4
            }
        );
        assert!(e.to_string().contains("track 2"), "{e}");
        assert_eq!(data, before);
        // Within 32 bits it moves.
        assert_eq!(shift_decode_times(&mut data, |_| 10).unwrap(), 2);
        assert_eq!(decode_times(&data)[1], (2, u64::from(u32::MAX)));
    }

    #[test]
    fn a_zero_shift_changes_nothing() {
        let mut data = fragment(&[(1, 1, 42)], 10);
        let before = data.clone();
        assert_eq!(shift_decode_times(&mut data, |_| 0).unwrap(), 0);
        assert_eq!(data, before);
    }

    proptest! {
        /// Hostile bytes: an error or a count, never a panic, and never a
        /// change in length.
        #[test]
        fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..512), add in any::<u64>()) {
            let len = data.len();
            let _ = shift_decode_times(&mut data, |_| add);
            prop_assert_eq!(data.len(), len);
        }

        /// A real fragment with its bytes flipped here and there.
        #[test]
        fn damaged_fragments_never_panic(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8)) {
            let mut data = fragment(&[(1, 1, 0), (2, 0, 7)], 40);
            for (at, v) in flips {
                let i = at % data.len();
                data[i] = v;
            }
            let _ = shift_decode_times(&mut data, |_| 1 << 40);
        }
    }
}
