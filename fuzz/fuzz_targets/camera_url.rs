//! User-given camera URLs: parsing never panics, and a parsed URL never
//! shows its password in Display or Debug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::source::CameraUrl;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
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
    }
});
