//! `layers.json`, the record of an EROFS build that a guest takes from the
//! host beside the layers (and trusts only once it is signed or vouched
//! for): it may be refused, never panic; whatever is accepted names only
//! plain files and round-trips.
#![no_main]

use arca_image::erofs::ErofsLayers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = ErofsLayers::from_json(data) {
        for layer in &record.layers {
            assert!(!layer.file.contains('/') && layer.file != ".." && layer.file != ".");
        }
        let again = ErofsLayers::from_json(&record.to_json()).expect("an accepted record reads back");
        assert_eq!(again, record);
    }
});
