//! Incremental parser for what clients send on the RTSP connection:
//! requests, and interleaved RTCP receiver reports.

use bytes::{Buf, Bytes, BytesMut};

/// Requests larger than this are treated as hostile.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// One parsed unit from the client.
#[derive(Debug)]
pub(crate) enum Incoming {
    Request(Request),
    /// `$`-framed data (receiver reports); read and ignored.
    Interleaved,
}

/// Why the input can't be parsed; the connection answers 400 and closes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    TooLarge,
    Malformed(&'static str),
}

/// An RTSP request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    #[allow(dead_code)] // Parsed to stay in sync with framing; SET_PARAMETER bodies are ignored.
    pub body: Bytes,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `CSeq` header, if present and numeric.
    pub(crate) fn cseq(&self) -> Option<u32> {
        self.header("CSeq")?.trim().parse().ok()
    }

    /// The session id from the `Session` header, without parameters.
    pub(crate) fn session_id(&self) -> Option<&str> {
        self.header("Session")
            .map(|s| s.split(';').next().unwrap_or("").trim())
    }

    /// The path part of the request URI, e.g. `/stream1/trackID=0`.
    pub(crate) fn path(&self) -> Option<String> {
        uri_path(&self.uri)
    }
}

/// Extracts the path from an absolute `rtsp://` URI or an absolute path.
pub(crate) fn uri_path(uri: &str) -> Option<String> {
    let rest = if let Some(r) = uri
        .strip_prefix("rtsp://")
        .or_else(|| uri.strip_prefix("rtspu://"))
        .or_else(|| uri.strip_prefix("rtsps://"))
    {
        &r[r.find('/').unwrap_or(r.len())..]
    } else if uri.starts_with('/') {
        uri
    } else {
        return None;
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let mut path = if rest.is_empty() {
        "/".to_string()
    } else {
        rest.to_string()
    };
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    Some(path)
}

/// Parses one unit from the front of `buf`, consuming it. `Ok(None)` means
/// more bytes are needed.
pub(crate) fn parse(buf: &mut BytesMut) -> Result<Option<Incoming>, ParseError> {
    // Stray CRLFs between messages are allowed (RFC 2326 inherits HTTP's leniency).
    while buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
        buf.advance(1);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'$' {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < 4 + len {
            return Ok(None);
        }
        buf.advance(4 + len);
        return Ok(Some(Incoming::Interleaved));
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if head_end > MAX_HEAD {
        return Err(ParseError::TooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ParseError::Malformed("utf-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("request line"));
    };
    if !version.starts_with("RTSP/1.") {
        return Err(ParseError::Malformed("version"));
    }
    if !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(ParseError::Malformed("method"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(ParseError::Malformed("header"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut req = Request {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body: Bytes::new(),
    };
    let body_len = match req.header("Content-Length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ParseError::Malformed("Content-Length"))?,
    };
    if body_len > MAX_BODY {
        return Err(ParseError::TooLarge);
    }
    let total = head_end + 4 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let mut msg = buf.split_to(total);
    msg.advance(head_end + 4);
    req.body = msg.freeze();
    Ok(Some(Incoming::Request(req)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(buf: &mut BytesMut) -> Request {
        match parse(buf).unwrap().unwrap() {
            Incoming::Request(r) => r,
            Incoming::Interleaved => panic!("not a request"),
        }
    }

    #[test]
    fn parses_pipelined_with_body_and_interleaved() {
        let mut buf = BytesMut::from(
            &b"OPTIONS rtsp://h:1/s RTSP/1.0\r\nCSeq: 1\r\n\r\n$\x01\x00\x02ab\
SET_PARAMETER rtsp://h/s/ RTSP/1.0\r\ncseq: 2\r\nSession: abc;timeout=60\r\nContent-Length: 3\r\n\r\nxyzGET"[..],
        );
        let r = req(&mut buf);
        assert_eq!((r.method.as_str(), r.cseq()), ("OPTIONS", Some(1)));
        assert!(matches!(parse(&mut buf), Ok(Some(Incoming::Interleaved))));
        let r = req(&mut buf);
        assert_eq!(r.cseq(), Some(2));
        assert_eq!(r.session_id(), Some("abc"));
        assert_eq!(&r.body[..], b"xyz");
        assert_eq!(r.path().as_deref(), Some("/s"));
        assert!(parse(&mut buf).unwrap().is_none());
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = BytesMut::from(&b"\x00\x01 hello\r\n\r\n"[..]);
        assert!(parse(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"DESCRIBE x RTSP/1.0\r\nbad header\r\n\r\n"[..]);
        assert!(parse(&mut buf).is_err());
        let mut buf = BytesMut::from(vec![b'A'; MAX_HEAD + 10].as_slice());
        assert_eq!(parse(&mut buf).unwrap_err(), ParseError::TooLarge);
    }

    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds: [&[u8]; 3] = [
            b"SETUP rtsp://h/s/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 2\r\n\r\nab",
            b"$\x00\x00\x10abc",
            b"GET_PARAMETER * RTSP/1.0\r\n\r\n",
        ];
        for i in 0..20_000 {
            let mut input = seeds[i % seeds.len()].to_vec();
            for _ in 0..rng.gen_range(0..6) {
                let pos = rng.gen_range(0..input.len());
                input[pos] = rng.gen();
            }
            input.truncate(rng.gen_range(0..=input.len()));
            let mut buf = BytesMut::from(input.as_slice());
            while let Ok(Some(_)) = parse(&mut buf) {}
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            uri_path("rtsp://u:p@h:554/a/b?x=1").as_deref(),
            Some("/a/b")
        );
        assert_eq!(uri_path("rtsp://h:554").as_deref(), Some("/"));
        assert_eq!(uri_path("*"), None);
    }
}
