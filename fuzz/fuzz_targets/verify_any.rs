//! The whole verifier, every TEE, on arbitrary evidence: never a panic.
#![no_main]

use arca_verifier::{verify, Endorsements, Evidence, EvidenceFormat, Tee, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let tee = [Tee::Snp, Tee::Tdx, Tee::Cca, Tee::Se, Tee::Sample][usize::from(selector % 5)];
    let format = if selector & 0x80 != 0 { EvidenceFormat::Json } else { EvidenceFormat::Raw };
    let mut options = VerifyOptions::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000));
    options.allow_sample = true;
    let _ = verify(tee, &Evidence { bytes, format }, &Endorsements::default(), &options);
});
