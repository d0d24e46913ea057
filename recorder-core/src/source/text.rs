//! Text a camera controls (error strings, SDP fields), made safe to print.
//!
//! A camera can put terminal escape sequences into its `a=tool` line or an
//! error reason; printed raw they could retitle the window, hide log lines
//! or fake others. Everything here goes through [`sanitize`] first.

/// `text` without terminal escape sequences, control characters and
/// bidirectional overrides. Line breaks and tabs become spaces so one
/// message stays on one log line.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // CSI as a single C1 character: parameters up to a final byte.
            '\u{9b}' => skip_csi(&mut chars),
            // OSC, DCS, SOS, PM, APC as C1 characters: a string up to ST.
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// After ESC: skips the rest of the sequence.
fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Intermediate bytes, then one final byte (e.g. `ESC ( B`).
        Some(' '..='/') => {
            while let Some(&c) = chars.peek() {
                chars.next();
                if !(' '..='/').contains(&c) {
                    break;
                }
            }
        }
        // Two-character sequences (`ESC c`, `ESC 7`, ...), or a lone ESC.
        _ => {}
    }
}

/// Skips CSI parameters and intermediates up to and including the final byte.
fn skip_csi(chars: &mut Chars<'_>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) || !(' '..='~').contains(&c) {
            break;
        }
    }
}

/// Skips a control string up to BEL, ST (`ESC \`) or the C1 ST.
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for t in [
            "",
            "Hikvision RTSP Server 1.0",
            "connection refused (os error 111)",
            "Grüße, 東京",
        ] {
            assert_eq!(sanitize(t), t);
        }
    }

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(sanitize("a\x1b[31mred\x1b[0m b"), "ared b");
        assert_eq!(sanitize("x\x1b]0;pwned title\x07y"), "xy");
        assert_eq!(
            sanitize("x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\y"),
            "xlinky"
        );
        assert_eq!(sanitize("x\x1b(By"), "xy");
        assert_eq!(sanitize("x\x1bcy"), "xy");
        assert_eq!(sanitize("x\u{9b}2Jy"), "xy");
        assert_eq!(sanitize("x\u{9d}title\u{9c}y"), "xy");
        assert_eq!(sanitize("trailing\x1b"), "trailing");
        assert_eq!(sanitize("open\x1b[12;"), "open");
    }

    #[test]
    fn control_characters_are_removed_and_lines_joined() {
        assert_eq!(sanitize("a\rfake: ok\nb\tc"), "a fake: ok b c");
        assert_eq!(
            sanitize("bell\x07 back\x08 del\x7f nul\0"),
            "bell back del nul"
        );
        assert_eq!(sanitize("abc\u{202e}fdp.exe"), "abcfdp.exe");
    }

    #[test]
    fn output_never_holds_a_control_character() {
        let nasty: String = (0u32..0x300).filter_map(char::from_u32).collect();
        let s = sanitize(&nasty);
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
    }
}
