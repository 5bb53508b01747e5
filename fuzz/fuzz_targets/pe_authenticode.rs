//! PE/COFF headers and the Authenticode digest, and the QEMU setup-header
//! patch, from arbitrary kernel bytes.
#![no_main]

use arca_measure::tdx::{kernel, layout::RamLayout, pe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = pe::parse_pe(data) {
        let _ = image.authenticode_ranges();
    }
    let _ = pe::authenticode_sha384(data);
    if let Ok(ram) = RamLayout::q35(1 << 30) {
        let _ = kernel::patch_setup_header(data, Some(data.len() as u64), &ram, kernel::DEFAULT_ACPI_DATA_SIZE);
    }
});
