//! Camera URLs as users write them, split into what retina needs.
//!
//! Users paste `rtsp://user:pass@host/stream` into config files. retina
//! rejects URLs that carry credentials, and every URL it is given may end up
//! in its error text, so the password is taken out here, once, and the only
//! way to print a [`CameraUrl`] is a redacted one. Cameras that take
//! credentials as path or query parameters (XMEye's
//! `/user=admin&password=X&channel=1`) keep them in the URL retina sends,
//! but they are masked wherever the URL is shown and left out of names
//! derived from it ([`CameraUrl::public_path`]).

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
/// `Display` and `Debug` print `rtsp://user:***@host:port/path`, with the
/// values of password- and user-like parameters in the path, query or
/// fragment (`/user=admin&password=X`, `?pwd=X`, ...) masked as well; the
/// URL given to retina ([`CameraUrl::url`]) keeps them, the camera needs
/// them.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraUrl {
    url: Url,
    creds: Option<Credentials>,
}

/// Parameter names some cameras (Dahua, Foscam, XMEye, ...) use to carry
/// secrets in the path or query.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "psw",
    "token",
    "auth",
    "key",
    "secret",
    "credential",
    "credentials",
];

/// Parameter names that carry a user name: masked too, since with the
/// password gone the user name is what identifies the account.
const USER_KEYS: &[&str] = &["user", "username", "usr", "login", "account"];

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

fn is_user_key(key: &str) -> bool {
    USER_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// Whether the value of parameter `raw_key` (as written, maybe
/// percent-encoded) is masked.
fn is_credential_key(raw_key: &str) -> bool {
    let key = percent_decode(raw_key).unwrap_or_else(|| raw_key.to_owned());
    let key = key.trim();
    is_secret_key(key) || is_user_key(key)
}

/// One `key=value` parameter found in a path, query or fragment.
#[derive(Debug)]
struct Param<'a> {
    /// The raw key.
    key: &'a str,
    /// The raw value (may be percent-encoded).
    value: &'a str,
}

/// Where one parameter ends: `&`, `;`, `/` (XMEye puts them in the path)
/// and `?` (a second `?` in a sloppily written query).
const PARAM_SEPARATORS: [char; 4] = ['&', ';', '/', '?'];

/// Splits `text` on [`PARAM_SEPARATORS`] and returns the credential-like
/// parameters.
fn credential_params(text: &str) -> Vec<Param<'_>> {
    text.split(PARAM_SEPARATORS)
        .filter_map(|piece| {
            let (key, value) = piece.split_once('=')?;
            is_credential_key(key).then_some(Param { key, value })
        })
        .collect()
}

/// `text` with the value of every credential-like parameter replaced by
/// `***` (separators and other parameters kept as written).
fn mask_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let end = rest.find(PARAM_SEPARATORS).unwrap_or(rest.len());
        let piece = &rest[..end];
        match piece.split_once('=') {
            Some((key, value)) if is_credential_key(key) && !value.is_empty() => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(piece),
        }
        if end == rest.len() {
            return out;
        }
        out.push_str(&rest[end..end + 1]);
        rest = &rest[end + 1..];
    }
}

/// The spellings a message might quote a parameter value in: as written,
/// percent-decoded, and form-decoded (`+` as space).
fn value_spellings(raw: &str) -> Vec<String> {
    let mut values = vec![raw.to_owned()];
    values.extend(percent_decode(raw));
    values.extend(percent_decode(&raw.replace('+', " ")));
    values.dedup();
    values
}

/// Secret values hidden inside another value behind `_`, as XMEye writes
/// them (`user=admin_password=X_channel=1`): here `X`.
fn inner_secrets(value: &str, out: &mut Vec<String>) {
    for piece in value.split('_') {
        if let Some((k, inner)) = piece.split_once('=') {
            if is_credential_key(k) && !inner.is_empty() {
                out.push(inner.to_owned());
            }
        }
    }
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

    /// Replaces every secret this URL holds (password, values of
    /// password-like and user-like path and query parameters; raw,
    /// decoded and percent-encoded) in `text` by `***`. For text from
    /// other libraries that may quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        // A quoted URL is replaced whole first, so user names in its
        // parameters go too (they are not hunted for elsewhere in the text:
        // a user name like `admin` is ordinary prose).
        let mut out = text.to_owned();
        let raw = self.url.as_str();
        if self.has_masked_params() && out.contains(raw) {
            out = out.replace(raw, &self.redacted());
        }
        let mut secrets: Vec<String> = Vec::new();
        if let Some(c) = &self.creds {
            secrets.push(c.password.clone());
        }
        for p in self.params() {
            let key = percent_decode(p.key).unwrap_or_else(|| p.key.to_owned());
            let spellings = value_spellings(p.value);
            for v in &spellings {
                inner_secrets(v, &mut secrets);
            }
            if is_secret_key(key.trim()) {
                secrets.extend(spellings);
            } else {
                // A user name alone is ordinary prose (`admin`); masked only
                // as the `user=admin` pair.
                for v in spellings.iter().filter(|v| !v.is_empty()) {
                    out = out.replace(&format!("{}={v}", p.key), &format!("{}=***", p.key));
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
        secrets.retain(|s| !s.is_empty() && s != "***");
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        for s in &secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// The credential-like parameters of the path, query and fragment.
    fn params(&self) -> Vec<Param<'_>> {
        let mut v = credential_params(self.url.path());
        v.extend(self.url.query().map(credential_params).unwrap_or_default());
        v.extend(
            self.url
                .fragment()
                .map(credential_params)
                .unwrap_or_default(),
        );
        v
    }

    fn has_masked_params(&self) -> bool {
        self.params().iter().any(|p| !p.value.is_empty())
    }

    /// The path with credential-like parameters left out, for deriving
    /// names (folder, file, metric label) that must never hold a secret.
    /// `/user=admin&password=X&channel=1&stream=0.sdp` gives
    /// `/channel=1&stream=0.sdp`.
    pub fn public_path(&self) -> String {
        let mut out = String::new();
        let mut rest = self.url.path();
        loop {
            let end = rest.find(PARAM_SEPARATORS).unwrap_or(rest.len());
            let piece = &rest[..end];
            let secret = piece
                .split_once('=')
                .is_some_and(|(k, _)| is_credential_key(k));
            if !secret {
                out.push_str(piece);
            }
            if end == rest.len() {
                break;
            }
            let sep = &rest[end..end + 1];
            // Drop the separator that followed a dropped parameter, keep `/`.
            if !secret || sep == "/" {
                out.push_str(sep);
            }
            rest = &rest[end + 1..];
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
        // Textual masking keeps the rest of the URL exactly as written.
        let path = mask_params(u.path());
        u.set_path(&path);
        if let Some(q) = u.query().map(mask_params) {
            u.set_query(Some(&q));
        }
        if let Some(fr) = u.fragment().map(mask_params) {
            u.set_fragment(Some(&fr));
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
        // User names in parameters are masked too (issue #10); the rest stays.
        assert_eq!(u.to_string(), "rtsp://cam/s?user=***&password=***");
        let u = CameraUrl::parse(&inputs[3]).unwrap();
        assert_eq!(u.to_string(), "rtsp://cam/s?PWD=***&channel=1");
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
    fn path_and_query_credentials_are_masked_but_sent() {
        let secret = "Xm3yeS3cret";
        let cases = [
            (
                format!("rtsp://10.0.0.5/user=admin&password={secret}&channel=1&stream=0.sdp"),
                "rtsp://10.0.0.5/user=***&password=***&channel=1&stream=0.sdp",
            ),
            (
                format!("rtsp://host/live?user=admin&pass={secret}"),
                "rtsp://host/live?user=***&pass=***",
            ),
            (
                format!("rtsp://host/live;USERNAME=admin;PWD={secret};ch=2"),
                "rtsp://host/live;USERNAME=***;PWD=***;ch=2",
            ),
            (
                format!("rtsp://host/Login=admin/Token={secret}/stream"),
                "rtsp://host/Login=***/Token=***/stream",
            ),
            (
                format!("rtsp://host/s?Credentials={secret}&account=bob&key={secret}#psw={secret}"),
                "rtsp://host/s?Credentials=***&account=***&key=***#psw=***",
            ),
            (
                format!("rtsp://host/s?pa%73s={secret}&x=1"),
                "rtsp://host/s?pa%73s=***&x=1",
            ),
        ];
        for (input, shown) in &cases {
            let u = CameraUrl::parse(input).unwrap();
            assert_eq!(u.to_string(), *shown);
            assert_eq!(u.redacted(), *shown);
            assert!(!format!("{u:?}").contains(secret));
            // retina gets the URL as written: the camera needs them.
            assert!(u.url().as_str().contains(secret), "{}", u.url());
            assert!(!u.public_path().contains(secret));
        }
    }

    #[test]
    fn xmeye_underscore_form_is_masked() {
        let u = CameraUrl::parse(
            "rtsp://192.168.1.10:554/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp?real_stream",
        )
        .unwrap();
        assert_eq!(
            u.to_string(),
            "rtsp://192.168.1.10:554/user=***?real_stream"
        );
        let t = u.scrub("bad password tlJwpbo6 for rtsp://192.168.1.10:554/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp?real_stream");
        assert!(!t.contains("tlJwpbo6"), "{t}");
        assert_eq!(u.public_path(), "/");
    }

    #[test]
    fn a_second_question_mark_separates_parameters() {
        let u = CameraUrl::parse("rtsp://host/live?channel=1?user=admin&pass=QmPw9").unwrap();
        assert_eq!(
            u.to_string(),
            "rtsp://host/live?channel=1?user=***&pass=***"
        );
    }

    #[test]
    fn similar_names_are_not_masked() {
        let u =
            CameraUrl::parse("rtsp://host/live?channel=1&passive=1&keyframe=2&name=door&users=3")
                .unwrap();
        assert_eq!(
            u.to_string(),
            "rtsp://host/live?channel=1&passive=1&keyframe=2&name=door&users=3"
        );
        let u = CameraUrl::parse("rtsp://host/live?password=&user=").unwrap();
        assert_eq!(u.to_string(), "rtsp://host/live?password=&user=");
    }

    #[test]
    fn public_path_drops_credential_parameters() {
        let u = CameraUrl::parse("rtsp://10.0.0.5/user=admin&password=X&channel=1&stream=0.sdp")
            .unwrap();
        assert_eq!(u.public_path(), "/channel=1&stream=0.sdp");
        let u = CameraUrl::parse("rtsp://h/a/user=u/pwd=p/b;token=t;c").unwrap();
        assert_eq!(u.public_path(), "/a///b;c");
        let u = CameraUrl::parse("rtsp://h/Streaming/Channels/101").unwrap();
        assert_eq!(u.public_path(), "/Streaming/Channels/101");
    }

    #[test]
    fn scrub_masks_path_credentials_in_retina_text() {
        let u = CameraUrl::parse(
            "rtsp://10.0.0.5/user=admin&password=p%40ss+w&channel=1&stream=0.sdp?auth=T0k3n",
        )
        .unwrap();
        let raw = u.url().as_str().to_owned();
        let t = u.scrub(&format!(
            "RTSP DESCRIBE {raw} failed: 404; p@ss+w p%40ss+w T0k3n; user=admin"
        ));
        for s in ["p@ss", "p%40ss", "T0k3n", "user=admin"] {
            assert!(!t.contains(s), "{s} in {t}");
        }
        assert!(t.contains(&u.redacted()), "{t}");
        assert!(t.contains("404"));
        assert_eq!(u.scrub("admin logged in"), "admin logged in");
    }

    #[test]
    fn config_debug_never_prints_a_secret() {
        let secret = "DbgS3cretPw";
        for input in [
            format!("rtsp://admin:{secret}@cam/live"),
            format!("rtsp://cam/user=admin&password={secret}&channel=1"),
            format!("rtsp://cam/live?usr=admin&pwd={secret}"),
        ] {
            let url = CameraUrl::parse(&input).unwrap();
            let src = crate::source::SourceConfig::new(url.clone());
            let cam = crate::recorder::CameraConfig::new("c", url);
            let shown = format!("{src:?} {src:#?} {cam:?} {cam:#?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(
                !shown.contains("admin&") && !shown.contains("usr=admin"),
                "{shown}"
            );
        }
    }

    #[test]
    fn with_credentials_overrides() {
        let u = CameraUrl::with_credentials("rtsp://cam/live", "u", "p@ss").unwrap();
        assert_eq!(u.credentials().unwrap().password, "p@ss");
        assert_eq!(u.to_string(), "rtsp://u:***@cam/live");
    }
}
