//! Kept at this path for `recorder-cli/tests/{cli_record,soak}.rs`, which
//! include it with `#[path]`; the helpers live in `../support/media.rs`.
#![allow(dead_code)]

include!("../support/media.rs");
