//! Turns access units into RTP payloads.

use bytes::Bytes;

pub(crate) mod aac;
pub(crate) mod h264;
pub(crate) mod h265;

/// Largest RTP payload; with the 12-byte RTP header this keeps packets at
/// ~1400 bytes, safely under common path MTUs for UDP.
pub(crate) const MAX_PAYLOAD: usize = 1388;

/// One RTP payload and whether it ends its access unit (RTP marker bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payload {
    pub data: Vec<u8>,
    pub marker: bool,
}

/// Packetizes one access unit: a NAL that fits in `max_payload` goes whole
/// (single NAL unit packet); a larger one goes as fragmentation units,
/// each `fu_header` (the payload header with the FU type) + an FU header
/// byte (start/end bits over `nal_type`) + the next piece of the NAL
/// after its own `fu_header.len()`-byte header. The last payload gets the
/// marker bit.
fn packetize_nals<'a>(
    nals: impl IntoIterator<Item = &'a Bytes>,
    max_payload: usize,
    fu_header: impl Fn(&[u8]) -> Vec<u8>,
    nal_type: impl Fn(&[u8]) -> u8,
) -> Vec<Payload> {
    let mut out = Vec::new();
    for nal in nals {
        if nal.len() <= max_payload {
            out.push(Payload {
                data: nal.to_vec(),
                marker: false,
            });
            continue;
        }
        let header = fu_header(nal);
        let typ = nal_type(nal);
        let chunks: Vec<&[u8]> = nal[header.len()..]
            .chunks(max_payload - header.len() - 1)
            .collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut fu = typ;
            if i == 0 {
                fu |= 0x80;
            }
            if i == last {
                fu |= 0x40;
            }
            let mut data = Vec::with_capacity(header.len() + 1 + chunk.len());
            data.extend_from_slice(&header);
            data.push(fu);
            data.extend_from_slice(chunk);
            out.push(Payload {
                data,
                marker: false,
            });
        }
    }
    mark_last(out)
}

/// Sets the marker on the last payload of an access unit.
fn mark_last(mut out: Vec<Payload>) -> Vec<Payload> {
    if let Some(last) = out.last_mut() {
        last.marker = true;
    }
    out
}
