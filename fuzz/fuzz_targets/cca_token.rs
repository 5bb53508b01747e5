//! CCA tokens, JSON evidence and both stores from arbitrary bytes.
#![no_main]

use arca_verifier::cca;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cca::parse_token(data);
    let _ = cca::parse_json_evidence(data);
    let _ = cca::parse_trust_anchors(data);
    let _ = cca::parse_reference_values(data);
});
