//! H.265 RTP payloads per RFC 7798: single NAL unit packets and FUs.

use bytes::Bytes;

use super::{packetize_nals, Payload, MAX_PAYLOAD};

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

/// True for a parameter set NAL unit (what [`crate::Faults::no_parameter_sets`]
/// strips).
pub(crate) fn is_parameter_set(nal: &Bytes) -> bool {
    matches!(nal_type(nal), 32..=34)
}

/// Packetizes one access unit; the last payload gets the marker bit.
pub(crate) fn packetize(nals: &[Bytes], max_payload: usize) -> Vec<Payload> {
    packetize_nals(
        nals.iter().filter(|n| n.len() >= 2),
        max_payload.clamp(4, MAX_PAYLOAD),
        // PayloadHdr: the NAL's F bit and layer/TID with type FU.
        |nal| vec![(nal[0] & 0x81) | (FU << 1), nal[1]],
        nal_type,
    )
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
