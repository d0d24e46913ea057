//! Turns access units into RTP payloads.

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

/// Sets the marker on the last payload of an access unit.
fn mark_last(mut out: Vec<Payload>) -> Vec<Payload> {
    if let Some(last) = out.last_mut() {
        last.marker = true;
    }
    out
}
