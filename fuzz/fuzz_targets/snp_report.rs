//! SNP reports, trustee SNP evidence JSON and hwID extensions from arbitrary bytes.
#![no_main]

use arca_verifier::snp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snp::parse_report(data);
    let _ = snp::parse_trustee_evidence(data);
    let _ = snp::parse_hwid(data);
});
