//! H.265 RTP payloads per RFC 7798: single NAL unit packets and FUs.

use bytes::Bytes;

use super::{mark_last, Payload, MAX_PAYLOAD};

const FU: u8 = 49;

/// NAL unit type of an H.265 NAL.
pub(crate) fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3f)
}

/// Whether the access unit starts a random access point (IRAP picture).
pub(crate) fn is_irap(nals: &[Bytes]) -> bool {
    nals.iter().any(|n| (16..=21).contains(&nal_type(n)))
}

/// Whether the access unit already carries its own SPS.
pub(crate) fn has_sps(nals: &[Bytes]) -> bool {
    nals.iter().any(|n| nal_type(n) == 33)
}

/// Packetizes one access unit; the last payload gets the marker bit.
pub(crate) fn packetize(nals: &[Bytes], max_payload: usize) -> Vec<Payload> {
    let max_payload = max_payload.clamp(4, MAX_PAYLOAD);
    let mut out = Vec::new();
    for nal in nals.iter().filter(|n| n.len() >= 2) {
        if nal.len() <= max_payload {
            out.push(Payload {
                data: nal.to_vec(),
                marker: false,
            });
            continue;
        }
        let typ = nal_type(nal);
        let hdr = [(nal[0] & 0x81) | (FU << 1), nal[1]];
        let chunks: Vec<&[u8]> = nal[2..].chunks(max_payload - 3).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut fu = typ;
            if i == 0 {
                fu |= 0x80;
            }
            if i == last {
                fu |= 0x40;
            }
            let mut data = Vec::with_capacity(chunk.len() + 3);
            data.extend_from_slice(&[hdr[0], hdr[1], fu]);
            data.extend_from_slice(chunk);
            out.push(Payload {
                data,
                marker: false,
            });
        }
    }
    mark_last(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_idr() {
        let mut nal = vec![19 << 1, 1];
        nal.extend(std::iter::repeat_n(7u8, 2000));
        let p = packetize(&[Bytes::from(nal)], 1000);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].data[..3], [FU << 1, 1, 0x80 | 19]);
        assert_eq!(p[2].data[2], 0x40 | 19);
        assert!(p[2].marker);
    }
}
