//! SE image headers, ARCBs, exchange files, evidence JSON and configuration from arbitrary bytes.
#![no_main]

use arca_verifier::se;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = se::parse_header(data);
    let _ = se::find_header(data);
    let _ = se::parse_arcb(data);
    let _ = se::parse_exchange(data);
    let _ = se::parse_exchange_response(data);
    let _ = se::parse_evidence_json(data);
    let _ = se::parse_config(data);
});
