//! Retention reads camera and start time back from file names it finds on
//! disk (`ObjectNameTemplate::match_name`): names anyone can create. It
//! must never panic, and a name the default template rendered must read
//! back as the camera and second it was rendered from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::sink::{sanitize_camera_id, ObjectNameTemplate, DEFAULT_TEMPLATE};
use recorder_core::time::WallTime;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Input: "template\nname" tries an arbitrary template on an arbitrary
    // name; anything else is a name for the default template.
    if let Some((template, name)) = text.split_once('\n') {
        if let Ok(t) = ObjectNameTemplate::parse(template) {
            let _ = t.match_name(name);
        }
    }
    let default = ObjectNameTemplate::parse(DEFAULT_TEMPLATE).unwrap();
    let _ = default.match_name(text);

    // Round trip: the input's first 8 bytes pick a second between 1970
    // and 2100, the rest is the camera id.
    if data.len() >= 8 {
        let secs = i64::from_le_bytes(data[..8].try_into().unwrap()).rem_euclid(4_102_444_800);
        let Ok(camera) = std::str::from_utf8(&data[8..]) else {
            return;
        };
        let wall = WallTime(secs * 1_000_000_000);
        let name = default.render(camera, wall, 0);
        let fields = default
            .match_name(&name)
            .unwrap_or_else(|| panic!("{name:?} does not read back"));
        assert_eq!(fields.start, Some(wall), "{name:?}");
        assert_eq!(
            fields.camera.as_deref(),
            Some(sanitize_camera_id(camera).as_ref()),
            "{name:?}"
        );
    }
});
