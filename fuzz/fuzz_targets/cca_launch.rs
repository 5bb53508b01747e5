//! CCA launch inputs from arbitrary bytes: the arm64 Image header, the DTB,
//! capability files, and a whole measurement with the bytes as kernel,
//! initrd and DTB.
#![no_main]

use arca_measure::cca::{self, CcaLaunch, HostCapabilities, Vmm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cca::parse_arm64_image_header(data);
    let _ = cca::parse_dtb(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cca::parse_host_config(text);
    }
    // Split the input into kernel | initrd | DTB at two bytes' positions.
    let (Some(&a), Some(&b)) = (data.first(), data.get(1)) else { return };
    let rest = &data[2..];
    let k = (a as usize * rest.len() / 256).min(rest.len());
    let i = (k + b as usize * (rest.len() - k) / 256).min(rest.len());
    for vmm in [Vmm::Qemu, Vmm::Kvmtool] {
        let launch = CcaLaunch {
            vmm,
            kernel: rest[..k].to_vec(),
            initrd: Some(rest[k..i].to_vec()),
            dtb: rest[i..].to_vec(),
            memory_size: 64 << 20,
            vcpus: 1,
            cmdline: None,
            host: HostCapabilities {
                ipa_bits: Some(48),
                num_bps: Some(2),
                num_wps: Some(2),
                ..HostCapabilities::default()
            },
            hash_algo: None,
            personalization_value: None,
        };
        let _ = cca::measure(&launch);
    }
});
