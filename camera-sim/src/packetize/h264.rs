//! H.264 RTP payloads per RFC 6184: single NAL unit packets and FU-A.

use bytes::Bytes;

use super::{packetize_nals, Payload, MAX_PAYLOAD};

const FU_A: u8 = 28;

/// NAL unit type of an H.264 NAL.
pub(crate) fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Whether the access unit holds an IDR slice.
pub(crate) fn is_idr(nals: &[Bytes]) -> bool {
    nals.iter().any(|n| nal_type(n) == 5)
}

/// Whether the access unit already carries its own SPS.
pub(crate) fn has_sps(nals: &[Bytes]) -> bool {
    nals.iter().any(|n| nal_type(n) == 7)
}

/// True for a parameter set NAL unit (what [`crate::Faults::no_parameter_sets`]
/// strips).
pub(crate) fn is_parameter_set(nal: &Bytes) -> bool {
    matches!(nal_type(nal), 7 | 8)
}

/// Packetizes one access unit; the last payload gets the marker bit.
pub(crate) fn packetize(nals: &[Bytes], max_payload: usize) -> Vec<Payload> {
    packetize_nals(
        nals.iter().filter(|n| !n.is_empty()),
        max_payload.clamp(3, MAX_PAYLOAD),
        // FU indicator: the NAL's F and NRI bits with type FU-A.
        |nal| vec![(nal[0] & 0xe0) | FU_A],
        nal_type,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_nals_go_whole_with_marker_on_last() {
        let nals = [
            Bytes::from_static(&[0x67, 1, 2]),
            Bytes::from_static(&[0x65, 3]),
        ];
        let p = packetize(&nals, 1388);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].data, vec![0x67, 1, 2]);
        assert!(!p[0].marker && p[1].marker);
    }

    #[test]
    fn large_nal_fragments_and_reassembles() {
        let mut nal = vec![0x65];
        nal.extend((0..3000u32).map(|i| i as u8));
        let p = packetize(&[Bytes::from(nal.clone())], 1000);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].data[0], 0x7c);
        assert_eq!(p[0].data[1], 0x85);
        assert_eq!(p[3].data[1], 0x45);
        assert!(p[3].marker && !p[2].marker);
        let mut re = vec![(p[0].data[0] & 0xe0) | (p[0].data[1] & 0x1f)];
        for x in &p {
            assert!(x.data.len() <= 1000);
            re.extend_from_slice(&x.data[2..]);
        }
        assert_eq!(re, nal);
    }
}
