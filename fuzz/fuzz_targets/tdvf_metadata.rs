//! TDVF metadata from arbitrary firmware bytes, and MRTD of what parses.
#![no_main]

use arca_firmware::tdvf;
use arca_measure::tdx::mrtd::{compute_mrtd, PageAddOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = tdvf::parse_tdvf_metadata(data) {
        let _ = compute_mrtd(data, &md, PageAddOrder::SinglePass);
    }
    // The descriptor parser on its own, at an offset taken from the input.
    if let Some(head) = data.get(..4) {
        let offset = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let _ = tdvf::parse_tdvf_descriptor(data, offset);
    }
});
