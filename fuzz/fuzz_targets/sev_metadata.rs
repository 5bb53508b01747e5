//! SEV metadata blocks at fuzzer-chosen offsets, and SNP launches of
//! arbitrary firmware images (the whole path from bytes to digest).
#![no_main]

use arca_measure::snp::{SevMode, SnpLaunch, VcpuSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((head, image)) = data.split_first_chunk::<4>() {
        let _ = arca_firmware::parse_sev_metadata(image, u32::from_le_bytes(*head));
    }
    // Keep images small: whole-page SHA-384 of large inputs only slows the fuzzer.
    if data.len() <= 64 * 1024 {
        let mut launch = SnpLaunch::new(SevMode::Snp, data.to_vec());
        launch.vcpus = 2;
        launch.vcpu = Some(VcpuSpec::Type("EPYC-v4".into()));
        launch.kernel = Some(b"kernel".to_vec());
        let _ = arca_measure::snp::measure(&launch);
    }
});
