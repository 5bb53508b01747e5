//! Kata's `kernel_verity_params` value (from a configuration file or a pod
//! annotation on Kata's allow-list): may be refused, never panics, and what
//! parses prints back to a value that parses to the same thing.
#![no_main]

use arca_verity::table::KernelVerityParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(params) = KernelVerityParams::parse(text) else { return };
    let printed = params.to_string();
    assert_eq!(KernelVerityParams::parse(&printed).ok().as_ref(), Some(&params), "{printed}");
    let _ = params.kernel_cmdline("/dev/vda1", "/dev/vda2");
});
