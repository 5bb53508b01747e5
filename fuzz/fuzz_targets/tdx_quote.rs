//! TDX quotes, DCAP collateral, CC event logs and PCK extensions from arbitrary bytes.
#![no_main]

use arca_verifier::tdx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tdx::parse_quote(data);
    let _ = tdx::parse_collateral(data);
    if let Ok(log) = tdx::parse_event_log(data) {
        let _ = log.replay();
    }
    let _ = tdx::pck::parse_pck_extension(data);
});
