//! RTSP/1.0 message parsing and formatting (RFC 2326).

pub(crate) mod request;
pub(crate) mod response;
