//! A dm-verity superblock read from a hash file the host provides: any 512
//! bytes may be refused, never panic; what parses must encode back to the
//! same parameters.
#![no_main]

use arca_verity::superblock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = superblock::parse(data, 0) {
        let encoded = superblock::encode(&params).expect("parsed parameters encode");
        assert_eq!(superblock::parse(&encoded, 0).expect("encoded superblock parses"), params);
        // The tree shape of any parsed superblock is computable without panicking.
        let _ = params.hash_blocks();
        let _ = params.hash_end();
    }
});
