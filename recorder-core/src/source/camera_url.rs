//! Camera URLs as users write them, split into what retina needs.
//!
//! Users paste `rtsp://user:pass@host/stream` into config files. retina
//! rejects URLs that carry credentials, and every URL it is given may end up
//! in its error text, so the password is taken out here, once, and the only
//! way to print a [`CameraUrl`] is a redacted one.

use std::fmt;
use std::str::FromStr;

use retina::client::Credentials;
use url::Url;

/// Why a camera URL was rejected.
///
/// The messages never repeat the URL itself: it may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Nothing was given.
    #[error("the camera URL is empty; expected rtsp://[user:password@]host[:port]/path")]
    Empty,
    /// The text is not a URL at all.
    #[error("the camera URL is not a valid URL ({reason}); expected rtsp://[user:password@]host[:port]/path")]
    Invalid {
        /// What the URL parser objected to (never includes the input).
        reason: String,
    },
    /// `rtsps://` was given; the RTSP library has no TLS support.
    #[error("rtsps:// (RTSP over TLS) is not supported by the RTSP client (retina); use the camera's plain rtsp:// URL")]
    RtspsUnsupported,
    /// A scheme other than `rtsp`.
    #[error("the camera URL has scheme `{scheme}`; only rtsp:// is supported")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// `rtsp:///path` or similar.
    #[error("the camera URL has no host; expected rtsp://host[:port]/path")]
    MissingHost,
    /// A password with an empty user name (`rtsp://:secret@host/`).
    #[error("the camera URL has a password but no user name")]
    PasswordWithoutUser,
    /// Percent-encoded credentials that do not decode to UTF-8.
    #[error("the {part} in the camera URL is not valid UTF-8 after percent-decoding")]
    BadEncoding {
        /// `user name` or `password`.
        part: &'static str,
    },
}

/// A parsed camera URL: a credential-free [`Url`] for retina plus the
/// credentials, kept apart.
///
/// `Display` and `Debug` print `rtsp://user:***@host:port/path`, with
/// password-like query values (`password=`, `pwd=`, ...) masked as well.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraUrl {
    url: Url,
    creds: Option<Credentials>,
}

/// Query keys some cameras (Dahua, Foscam, ...) use to carry secrets.
const SECRET_QUERY_KEYS: &[&str] = &[
    "password", "passwd", "pass", "pwd", "psw", "token", "key", "auth", "secret",
];

fn is_secret_key(key: &str) -> bool {
    SECRET_QUERY_KEYS
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
}

fn decode(part: &str, what: &'static str) -> Result<String, UrlError> {
    percent_decode(part).ok_or(UrlError::BadEncoding { part: what })
}

/// Percent-decodes a URL component; `None` for non-UTF-8 results.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

impl CameraUrl {
    /// Parses a user-given URL such as `rtsp://admin:p%40ss@192.168.1.10:554/stream1`
    /// or `rtsp://[fe80::1]/live`.
    ///
    /// Credentials are percent-decoded and removed from the URL.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        let mut url = Url::parse(input).map_err(|e| UrlError::Invalid {
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "rtsp" => {}
            "rtsps" => return Err(UrlError::RtspsUnsupported),
            other => {
                return Err(UrlError::UnsupportedScheme {
                    scheme: other.to_owned(),
                })
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::MissingHost);
        }
        let user = decode(url.username(), "user name")?;
        let password = url.password().map(|p| decode(p, "password")).transpose()?;
        let creds = match (user.is_empty(), password) {
            (true, Some(_)) => return Err(UrlError::PasswordWithoutUser),
            (true, None) => None,
            (false, password) => Some(Credentials {
                username: user,
                password: password.unwrap_or_default(),
            }),
        };
        // Setting these cannot fail for a URL that has a host; ignore the
        // unit errors rather than unwrap on user input.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(CameraUrl { url, creds })
    }

    /// Builds a URL from a credential-free URL and separate credentials
    /// (e.g. a password from an environment variable).
    pub fn with_credentials(
        input: &str,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, UrlError> {
        let mut u = Self::parse(input)?;
        u.creds = Some(Credentials {
            username: username.into(),
            password: password.into(),
        });
        Ok(u)
    }

    /// The URL without user name or password: the one to hand to retina.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The credentials from the URL, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.creds.as_ref()
    }

    /// The user name, if any (not secret; shown in logs).
    pub fn username(&self) -> Option<&str> {
        self.creds.as_ref().map(|c| c.username.as_str())
    }

    /// `host:port` (port defaulting to 554), for messages.
    pub fn host_port(&self) -> String {
        let port = self.url.port().unwrap_or(554);
        match self.url.host() {
            Some(url::Host::Ipv6(a)) => format!("[{a}]:{port}"),
            Some(h) => format!("{h}:{port}"),
            None => format!("?:{port}"),
        }
    }

    /// Replaces every secret this URL holds (password, password-like query
    /// values; raw and percent-encoded) in `text` by `***`. For text from
    /// other libraries that may quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(c) = &self.creds {
            secrets.push(c.password.clone());
        }
        for (k, v) in self.url.query_pairs() {
            if is_secret_key(&k) {
                secrets.push(v.into_owned());
            }
        }
        if let Some(q) = self.url.query() {
            for pair in q.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if is_secret_key(k) {
                        secrets.push(v.to_owned());
                    }
                }
            }
        }
        let encoded: Vec<String> = secrets
            .iter()
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        secrets.extend(encoded);
        // Longest first so a secret that contains another is fully masked.
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for s in &secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// The redacted form as a `String` (same as `to_string()`).
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

impl FromStr for CameraUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut u = self.url.clone();
        if let Some(c) = &self.creds {
            // set_username percent-encodes, so odd user names still print
            // as a valid URL.
            let _ = u.set_username(&c.username);
            if !c.password.is_empty() {
                let _ = u.set_password(Some("***"));
            }
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_secret_key(&k) {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if pairs.iter().any(|(k, _)| is_secret_key(k)) {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
        }
        // The password may also appear elsewhere in what the user typed
        // (a path, a mistyped second URL): mask it there too. Very short
        // passwords are left alone there, or masking would mangle the URL.
        match &self.creds {
            Some(c) if c.password.len() >= 4 && u.as_str().contains(c.password.as_str()) => {
                f.write_str(&self.scrub(u.as_str()))
            }
            _ => f.write_str(u.as_str()),
        }
    }
}

impl fmt::Debug for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CameraUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_repeated_in_the_path_is_masked() {
        // Found by the camera_url fuzz target.
        let u =
            CameraUrl::parse("rtsp://a1dmin:secret12\r@19rtsp://a1dmin:secret12\r@121").unwrap();
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("secret12"), "{shown}");
    }

    #[test]
    fn splits_credentials() {
        let u = CameraUrl::parse("rtsp://admin:s3cret@192.168.1.10:554/stream1").unwrap();
        assert_eq!(u.url().as_str(), "rtsp://192.168.1.10:554/stream1");
        let c = u.credentials().unwrap();
        assert_eq!(c.username, "admin");
        assert_eq!(c.password, "s3cret");
        assert_eq!(u.to_string(), "rtsp://admin:***@192.168.1.10:554/stream1");
        assert_eq!(u.host_port(), "192.168.1.10:554");
    }

    #[test]
    fn percent_encoded_credentials_are_decoded() {
        let u = CameraUrl::parse("rtsp://ad%20min:p%40ss%3Aw%2Ford@cam.local/live").unwrap();
        let c = u.credentials().unwrap();
        assert_eq!(c.username, "ad min");
        assert_eq!(c.password, "p@ss:w/ord");
        assert_eq!(u.url().as_str(), "rtsp://cam.local/live");
        assert_eq!(u.to_string(), "rtsp://ad%20min:***@cam.local/live");
    }

    #[test]
    fn raw_special_characters_in_password() {
        // Users paste unencoded passwords; the URL parser encodes what it can.
        let u = CameraUrl::parse("rtsp://admin:a!b$c&d@cam/x").unwrap();
        assert_eq!(u.credentials().unwrap().password, "a!b$c&d");
    }

    #[test]
    fn no_credentials() {
        let u = CameraUrl::parse("  rtsp://cam.local/live  ").unwrap();
        assert!(u.credentials().is_none());
        assert_eq!(u.to_string(), "rtsp://cam.local/live");
        assert_eq!(u.host_port(), "cam.local:554");
    }

    #[test]
    fn user_without_password() {
        let u = CameraUrl::parse("rtsp://viewer@cam/live").unwrap();
        assert_eq!(u.credentials().unwrap().password, "");
        assert_eq!(u.to_string(), "rtsp://viewer@cam/live");
    }

    #[test]
    fn ipv6_host() {
        let u = CameraUrl::parse("rtsp://admin:pw@[fe80::1]:8554/live").unwrap();
        assert_eq!(u.url().as_str(), "rtsp://[fe80::1]:8554/live");
        assert_eq!(u.host_port(), "[fe80::1]:8554");
        assert_eq!(u.to_string(), "rtsp://admin:***@[fe80::1]:8554/live");
    }

    #[test]
    fn errors() {
        assert_eq!(CameraUrl::parse(""), Err(UrlError::Empty));
        assert_eq!(CameraUrl::parse("   "), Err(UrlError::Empty));
        assert_eq!(
            CameraUrl::parse("rtsps://cam/live"),
            Err(UrlError::RtspsUnsupported)
        );
        assert!(CameraUrl::parse("rtsps://cam/live")
            .unwrap_err()
            .to_string()
            .contains("retina"));
        assert_eq!(
            CameraUrl::parse("http://cam/live"),
            Err(UrlError::UnsupportedScheme {
                scheme: "http".into()
            })
        );
        assert_eq!(CameraUrl::parse("rtsp:///live"), Err(UrlError::MissingHost));
        assert!(matches!(
            CameraUrl::parse("not a url"),
            Err(UrlError::Invalid { .. })
        ));
        assert_eq!(
            CameraUrl::parse("rtsp://:pw@cam/"),
            Err(UrlError::PasswordWithoutUser)
        );
        assert_eq!(
            CameraUrl::parse("rtsp://a:%ff%fe@cam/"),
            Err(UrlError::BadEncoding { part: "password" })
        );
    }

    #[test]
    fn password_never_printed() {
        let secret = "Hunter2Secret";
        let inputs = [
            format!("rtsp://admin:{secret}@cam:554/s"),
            format!("rtsp://admin:{secret}@[::1]/s"),
            format!("rtsp://cam/s?user=admin&password={secret}"),
            format!("rtsp://cam/s?PWD={secret}&channel=1"),
        ];
        for i in &inputs {
            let u = CameraUrl::parse(i).unwrap();
            assert!(!u.to_string().contains(secret), "{u}");
            assert!(!format!("{u:?}").contains(secret), "{u:?}");
            assert!(!format!("{:?}", u.clone()).contains(secret));
        }
        let u = CameraUrl::parse(&inputs[2]).unwrap();
        assert!(u.to_string().contains("channel") || u.to_string().contains("user=admin"));
        // Errors never echo the input either.
        for bad in [
            format!("rtsps://admin:{secret}@cam/"),
            format!("http://admin:{secret}@cam/"),
            format!("rtsp://:{secret}@cam/"),
            format!("rtsp://admin:{secret}@/"),
            format!("rtsp://admin:{secret}@cam:99999/"),
        ] {
            let e = CameraUrl::parse(&bad).unwrap_err();
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn scrub_masks_secrets_in_foreign_text() {
        let u = CameraUrl::parse("rtsp://a:p%40ss@cam/s?pwd=x%2By&ch=1").unwrap();
        let t = u.scrub("GET rtsp://cam/s?pwd=x%2By&ch=1 failed; p@ss p%40ss x+y");
        assert!(!t.contains("p@ss") && !t.contains("p%40ss"), "{t}");
        assert!(!t.contains("x%2By") && !t.contains("x+y"), "{t}");
        assert!(t.contains("ch=1"));
    }

    #[test]
    fn with_credentials_overrides() {
        let u = CameraUrl::with_credentials("rtsp://cam/live", "u", "p@ss").unwrap();
        assert_eq!(u.credentials().unwrap().password, "p@ss");
        assert_eq!(u.to_string(), "rtsp://u:***@cam/live");
    }
}
