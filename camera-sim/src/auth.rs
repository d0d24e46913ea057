//! RTSP authentication (RFC 2617 Basic and Digest/MD5, as cameras use it).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};

use crate::config::{AuthMode, Credentials};

/// Realm announced in challenges.
pub(crate) const REALM: &str = "camera-sim";

/// Checks requests against configured credentials.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    creds: Credentials,
    nonce: String,
}

impl Authenticator {
    /// One nonce per connection is enough: tests don't replay requests.
    pub(crate) fn new(creds: Credentials) -> Self {
        let nonce = format!("{:032x}", rand::random::<u128>());
        Self { creds, nonce }
    }

    /// The `WWW-Authenticate` header value for a 401 reply.
    pub(crate) fn challenge(&self) -> String {
        match self.creds.mode {
            AuthMode::Basic => format!("Basic realm=\"{REALM}\""),
            AuthMode::Digest => {
                format!(
                    "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=MD5",
                    self.nonce
                )
            }
        }
    }

    /// Whether an `Authorization` header value grants access for `method`.
    pub(crate) fn check(&self, method: &str, authorization: Option<&str>) -> bool {
        let Some(auth) = authorization.map(str::trim) else {
            return false;
        };
        match self.creds.mode {
            AuthMode::Basic => {
                let Some(b64) = strip_scheme(auth, "Basic") else {
                    return false;
                };
                let expected = format!("{}:{}", self.creds.user, self.creds.password);
                B64.decode(b64.trim())
                    .is_ok_and(|d| d == expected.as_bytes())
            }
            AuthMode::Digest => {
                let Some(params) = strip_scheme(auth, "Digest") else {
                    return false;
                };
                self.check_digest(method, params)
            }
        }
    }

    fn check_digest(&self, method: &str, params: &str) -> bool {
        let p = parse_params(params);
        let get = |k: &str| {
            p.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let (Some(user), Some(nonce), Some(uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return false;
        };
        if user != self.creds.user || nonce != self.nonce {
            return false;
        }
        let ha1 = md5_hex(&format!("{user}:{REALM}:{}", self.creds.password));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
            }
            _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        expected.eq_ignore_ascii_case(response)
    }
}

fn strip_scheme<'a>(auth: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = auth.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses `k="v", k2=v2` auth parameters; quoted values may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(mode: AuthMode) -> Authenticator {
        Authenticator::new(Credentials {
            user: "admin".into(),
            password: "secret".into(),
            mode,
        })
    }

    #[test]
    fn basic() {
        let a = auth(AuthMode::Basic);
        let ok = format!("Basic {}", B64.encode("admin:secret"));
        assert!(a.check("DESCRIBE", Some(&ok)));
        assert!(!a.check("DESCRIBE", Some("Basic YWRtaW46d3Jvbmc=")));
        assert!(!a.check("DESCRIBE", None));
        assert!(!a.check("DESCRIBE", Some("Basic")));
    }

    #[test]
    fn digest_without_and_with_qop() {
        let a = auth(AuthMode::Digest);
        let uri = "rtsp://127.0.0.1:554/stream1";
        let ha1 = md5_hex("admin:camera-sim:secret");
        let ha2 = md5_hex(&format!("DESCRIBE:{uri}"));
        let resp = md5_hex(&format!("{ha1}:{}:{ha2}", a.nonce));
        let h = format!(
            "Digest username=\"admin\", realm=\"camera-sim\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\"",
            a.nonce
        );
        assert!(a.check("DESCRIBE", Some(&h)));
        assert!(!a.check("SETUP", Some(&h)));
        let resp = md5_hex(&format!("{ha1}:{}:00000001:abc:auth:{ha2}", a.nonce));
        let h = format!(
            "Digest username=\"admin\", realm=\"camera-sim\", nonce=\"{}\", uri=\"{uri}\", qop=auth, nc=00000001, cnonce=\"abc\", response=\"{resp}\"",
            a.nonce
        );
        assert!(a.check("DESCRIBE", Some(&h)));
    }
}
