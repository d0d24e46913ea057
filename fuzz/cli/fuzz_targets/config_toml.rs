//! `camrec.toml` files are user input: any text must give a configuration
//! or errors that each say where and how to fix — never a panic — and no
//! error may repeat a camera password found in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_cli::config::{build, Env, Flags};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match build(None, text, &Env::new(), &Flags::default()) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error list with no error");
            let shown = errors.to_string();
            for e in &errors.0 {
                assert!(!e.fix.is_empty(), "error without a fix: {}", e.message);
            }
            // A long, distinctive password that appears in a URL of the
            // text must not be echoed back.
            if let Some(at) = text.find("rtsp://u:") {
                let rest = &text[at + 9..];
                if let Some(end) = rest.find('@') {
                    let pw = &rest[..end];
                    if pw.len() >= 8 && pw.chars().all(|c| c.is_ascii_alphanumeric()) {
                        assert!(!shown.contains(pw), "password echoed: {shown}");
                    }
                }
            }
        }
    }
});
