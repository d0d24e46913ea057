//! Segment indexes come from the end of files in a folder or a bucket
//! anyone may have written: decoding must never panic, an index that
//! decodes must encode back to the same index, and the tail parser must
//! agree with the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::index::{decode, encode, parse_tail, Tail};

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = decode(data) {
        let bytes = encode(&index);
        assert_eq!(decode(&bytes).expect("re-encoded index decodes"), index);
    }
    // The same bytes as a file's tail, any length.
    for len in [data.len() as u64, data.len() as u64 + 1000] {
        if let Ok(Tail::Index(i)) = parse_tail(data, len) {
            assert!(i.media_end() <= len);
        }
    }
});
