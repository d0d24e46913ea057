//! AAC RTP payloads per RFC 3640 (mpeg4-generic, AAC-hbr): one access unit
//! per packet, 13-bit size + 3-bit index AU headers.

use super::{Payload, MAX_PAYLOAD};

/// Packetizes one AAC access unit. AUs too big for one packet are
/// fragmented (RFC 3640 §3.2.3.2): each fragment repeats the full AU size and
/// only the last carries the marker.
pub(crate) fn packetize(au: &[u8], max_payload: usize) -> Vec<Payload> {
    let max_payload = max_payload.clamp(5, MAX_PAYLOAD);
    // 13 bits of size: larger AUs can't be described; truncation keeps the
    // stream well-formed and never happens with real AAC frames.
    let au = &au[..au.len().min(0x1fff)];
    let size = au.len() as u16;
    let header = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1f) << 3) as u8];
    let chunks: Vec<&[u8]> = if au.is_empty() {
        vec![au]
    } else {
        au.chunks(max_payload - header.len()).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut data = header.to_vec();
            data.extend_from_slice(c);
            Payload {
                data,
                marker: i == last,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn au_header() {
        let p = packetize(&[1u8; 300], 1388);
        assert_eq!(p.len(), 1);
        assert_eq!(&p[0].data[..4], &[0x00, 0x10, 0x09, 0x60]);
        assert!(p[0].marker);
    }
}
