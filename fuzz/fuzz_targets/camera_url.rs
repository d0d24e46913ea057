//! User-given camera URLs: parsing never panics, and a parsed URL never
//! shows its password in Display or Debug, nor the values of credential-like
//! path and query parameters (`/user=admin&password=X`, `?pwd=X`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::source::CameraUrl;

const CREDENTIAL_KEYS: &[&str] = &[
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
    "user",
    "username",
    "usr",
    "login",
    "account",
];

/// Percent-encoded keys are masked too but not checked here (no decoder
/// dependency); their values count as public, which only loosens the check.
fn is_credential_key(key: &str) -> bool {
    CREDENTIAL_KEYS
        .iter()
        .any(|k| key.trim().eq_ignore_ascii_case(k))
}

/// The credential-like parameter values in `text`, and `text` with them
/// cut out (what may legitimately be shown).
fn split_params(text: &str) -> (Vec<&str>, String) {
    let mut values = Vec::new();
    let mut rest = String::new();
    for piece in text.split_inclusive(['&', ';', '/', '?']) {
        match piece.split_once('=') {
            Some((k, v)) if is_credential_key(k) => {
                let v = v.trim_end_matches(['&', ';', '/', '?']);
                values.push(v);
                rest.push_str(k);
                rest.push('=');
                // The marker keeps text on both sides of a cut value from
                // joining into public text; an empty value cuts nothing.
                if !v.is_empty() {
                    rest.push('\0');
                }
                rest.push_str(&piece[k.len() + 1 + v.len()..]);
            }
            _ => rest.push_str(piece),
        }
    }
    (values, rest)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = CameraUrl::parse(s) {
        let shown = format!("{url} {url:?} {}", url.redacted());
        if let Some(creds) = url.credentials() {
            // Passwords shorter than 4 characters, or made of the mask's
            // own characters, cannot be told apart from the mask.
            let maskable = creds.password.len() >= 4 && !creds.password.contains('*');
            if maskable && !url.username().unwrap_or("").contains(&creds.password) {
                assert!(!shown.contains(&creds.password), "password leaked: {shown}");
            }
        }
        // Path, query and fragment parameters: a value that appears nowhere
        // else in the URL (nor in the shown user name) must not be shown.
        let u = url.url();
        let raw = u.as_str();
        let mut values = Vec::new();
        // The shown authority (user name, `***`, host) is public too.
        let text = url.to_string();
        let authority_end = text[7..].find('/').map_or(text.len(), |i| i + 7);
        let mut public = format!("{} {}", &text[..authority_end], url.host_port());
        // Joined as in the URL, so text spanning two parts counts as public.
        public.push(' ');
        for (sep, part) in [("", Some(u.path())), ("?", u.query()), ("#", u.fragment())] {
            if let Some(part) = part {
                let (v, p) = split_params(part);
                values.extend(v);
                public.push_str(sep);
                public.push_str(&p);
            }
        }
        let scrubbed = url.scrub(raw);
        for v in values {
            let maskable = v.len() >= 4 && !v.contains('*');
            if maskable && !public.contains(v) && !url.username().unwrap_or("").contains(v) {
                assert!(!shown.contains(v), "parameter value {v:?} leaked: {shown}");
                assert!(
                    !scrubbed.contains(v),
                    "parameter value {v:?} survived scrub: {scrubbed}"
                );
            }
        }
    }
});
