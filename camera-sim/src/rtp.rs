//! RTP packet headers (RFC 3550 §5.1).

/// Builds an RTP packet: 12-byte header (no CSRCs, no extension) + payload.
pub(crate) fn packet(
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push((u8::from(marker) << 7) | (pt & 0x7f));
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Wraps a packet in RTSP interleaved framing (RFC 2326 §10.12).
pub(crate) fn interleaved(channel: u8, packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(4 + packet.len());
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&packet[..usize::from(len)]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_layout() {
        let p = super::packet(96, true, 0x1234, 0xdeadbeef, 7, &[9]);
        assert_eq!(
            p,
            [0x80, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7, 9]
        );
    }
}
