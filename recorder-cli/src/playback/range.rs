//! The HTTP `Range` header (RFC 9110 §14): one byte range, resolved
//! against the resource's length.

use super::error::ApiError;

/// A resolved byte range: `start..start + len` of the resource, `len > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

impl ByteRange {
    /// The last byte (inclusive), as `Content-Range` writes it.
    pub fn last(&self) -> u64 {
        self.start + self.len - 1
    }
}

/// Resolves a `Range` header value against a resource of `total` bytes:
/// `Ok(None)` for no header (send it whole), `Ok(Some(range))` for one
/// satisfiable range, a 416 for anything else. Several ranges are refused
/// rather than answered with a multipart body (players ask for one).
pub fn resolve(header: Option<&str>, total: u64) -> Result<Option<ByteRange>, ApiError> {
    let Some(h) = header else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ApiError::range_not_satisfiable(format!("Range {h:?}: {why} (length {total})"), total)
    };
    let spec = h
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("only byte ranges (bytes=FIRST-LAST) are served"))?
        .trim();
    if spec.contains(',') {
        return Err(bad("only a single range is served"));
    }
    let (first, last) = spec
        .split_once('-')
        .ok_or_else(|| bad("expected FIRST-LAST, FIRST- or -SUFFIX"))?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad("not a number"));
    let (start, end_inclusive) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => return Err(bad("expected FIRST-LAST, FIRST- or -SUFFIX")),
        // The last N bytes.
        (true, false) => {
            let n = number(last)?;
            if n == 0 || total == 0 {
                return Err(bad("an empty suffix"));
            }
            (total.saturating_sub(n), total - 1)
        }
        (false, true) => (number(first)?, total.saturating_sub(1)),
        (false, false) => {
            let (a, b) = (number(first)?, number(last)?);
            if b < a {
                return Err(bad("LAST is before FIRST"));
            }
            // A LAST past the end means "to the end" (RFC 9110 §14.1.2).
            (a, b.min(total.saturating_sub(1)))
        }
    };
    if start >= total {
        return Err(bad("starts at or past the end"));
    }
    Ok(Some(ByteRange {
        start,
        len: end_inclusive - start + 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn ok(h: &str, total: u64) -> (u64, u64) {
        let r = resolve(Some(h), total).unwrap().unwrap();
        (r.start, r.last())
    }

    fn refused(h: &str, total: u64) -> ApiError {
        let e = resolve(Some(h), total).unwrap_err();
        assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE, "{h}");
        assert_eq!(e.unsatisfied_len, Some(total));
        e
    }

    #[test]
    fn no_header_is_the_whole_resource() {
        assert_eq!(resolve(None, 10).unwrap(), None);
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(ok("bytes=0-0", 10), (0, 0));
        assert_eq!(ok("bytes=2-5", 10), (2, 5));
        assert_eq!(ok("bytes=4-", 10), (4, 9));
        assert_eq!(ok("bytes=-3", 10), (7, 9));
        assert_eq!(ok(" bytes= 1 - 2 ", 10), (1, 2));
    }

    #[test]
    fn ends_past_the_length_are_clamped() {
        assert_eq!(ok("bytes=5-100", 10), (5, 9));
        assert_eq!(ok("bytes=-100", 10), (0, 9));
    }

    #[test]
    fn unsatisfiable_and_malformed_ranges_are_416_with_a_reason() {
        assert!(refused("bytes=10-", 10).message.contains("past the end"));
        assert!(refused("bytes=10-12", 10).message.contains("past the end"));
        assert!(refused("bytes=5-2", 10).message.contains("before"));
        assert!(refused("bytes=0-1,3-4", 10).message.contains("single"));
        assert!(refused("items=0-1", 10).message.contains("byte ranges"));
        assert!(refused("bytes=-0", 10).message.contains("empty"));
        assert!(refused("bytes=a-b", 10).message.contains("number"));
        refused("bytes=-", 10);
        refused("bytes=0-0", 0);
        refused("bytes=18446744073709551616-", 10);
    }
}
