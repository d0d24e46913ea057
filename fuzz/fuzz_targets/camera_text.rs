//! Text a camera controls (RTSP error reasons, SDP `a=tool` and session
//! names) goes through `sanitize` before any log line or terminal: its
//! output must never hold a control character, an escape sequence or a
//! bidirectional override, whatever bytes the camera sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::source::text::sanitize;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = sanitize(&text);
    assert!(
        !out.chars().any(|c| c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
        "unsafe character left in {out:?}"
    );
    // Idempotent: sanitising twice changes nothing more.
    assert_eq!(sanitize(&out), out);
    assert!(out.len() <= text.len(), "sanitising never adds bytes");
});
