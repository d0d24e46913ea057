//! The source's timeline takes RTP timestamps and RTCP sender reports
//! straight from the network: any sequence must place frames without
//! panicking, and a placed frame's wall clock must stay within the
//! representable range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recorder_core::mux::WallTime;
use recorder_core::source::{Timeline, TimelineConfig};

fuzz_target!(|data: &[u8]| {
    let mut tl = Timeline::new(&[90_000, 48_000], TimelineConfig::default());
    let mut arrival = 1_700_000_000_000_000_000i64;
    for op in data.chunks(18) {
        if op.len() < 18 {
            break;
        }
        let track = usize::from(op[0] & 1);
        let rtp = i64::from_le_bytes(op[1..9].try_into().unwrap());
        let step = i64::from(u16::from_le_bytes([op[9], op[10]])) * 1_000_000;
        arrival = arrival.saturating_add(step);
        if op[11] & 1 == 1 {
            let ntp = u64::from_le_bytes(op[10..18].try_into().unwrap());
            tl.sender_report(track, rtp, ntp, WallTime(arrival));
        } else if let Some(p) = tl.place(track, rtp, WallTime(arrival)) {
            let _ = p.wall.to_ntp();
        }
    }
    let _ = tl.stats();
});
