//! OVMF footer tables, SEV layouts and SEV hashes tables from arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = arca_firmware::parse_footer_table(data);
    let _ = arca_firmware::parse_sev_layout(data);
    let _ = arca_firmware::parse_sev_hashes_table(data);
});
