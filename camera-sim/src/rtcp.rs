//! RTCP sender reports (RFC 3550 §6.4.1), sent with an SDES CNAME so the
//! compound packet is valid.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Converts wall-clock time to a 64-bit NTP timestamp.
pub(crate) fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Builds an SR + SDES compound packet.
pub(crate) fn sender_report(
    ssrc: u32,
    ntp: u64,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(48);
    p.extend_from_slice(&[0x80, 200, 0, 6]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&rtp_ts.to_be_bytes());
    p.extend_from_slice(&packets.to_be_bytes());
    p.extend_from_slice(&octets.to_be_bytes());

    let cname = b"camera-sim";
    let mut chunk = Vec::new();
    chunk.extend_from_slice(&ssrc.to_be_bytes());
    chunk.push(1);
    chunk.push(cname.len() as u8);
    chunk.extend_from_slice(cname);
    // Item list ends with a null octet, then pad to a 32-bit boundary.
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    let words = (chunk.len() / 4) as u16;
    p.extend_from_slice(&[0x81, 202]);
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&chunk);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_lengths_are_consistent() {
        let p = sender_report(1, 2, 3, 4, 5);
        assert_eq!(p.len() % 4, 0);
        let sr_len = (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1) * 4;
        assert_eq!(sr_len, 28);
        let sdes_len = (usize::from(u16::from_be_bytes([p[30], p[31]])) + 1) * 4;
        assert_eq!(sr_len + sdes_len, p.len());
    }

    #[test]
    fn ntp_epoch() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH) >> 32, NTP_UNIX_OFFSET);
    }
}
