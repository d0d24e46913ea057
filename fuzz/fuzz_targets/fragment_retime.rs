//! The playback bytes route moves the decode times of fragments read from
//! a folder or a bucket anyone may have written (`?shift_us=`): moving
//! must never panic, never change the length, and either move every
//! decode time or write nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::mp4::shift_decode_times;

fuzz_target!(|input: (u64, &[u8])| {
    let (add, data) = input;
    let mut moved = data.to_vec();
    match shift_decode_times(&mut moved, |track| add.rotate_left(track % 64)) {
        Ok(_) => {
            assert_eq!(moved.len(), data.len());
            // Moving back to where they were is not possible (only
            // forward), but a second pass must find the same boxes.
            let mut again = moved.clone();
            assert!(shift_decode_times(&mut again, |_| 0).is_ok());
            assert_eq!(again, moved, "a zero move writes nothing");
        }
        Err(_) => assert_eq!(moved, data, "nothing written on error"),
    }
});
