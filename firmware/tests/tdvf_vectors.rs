//! The TDVF metadata of every firmware image in `tdx.json` parses to
//! exactly the descriptor and sections the vectors record.

use std::path::PathBuf;

use arca_firmware::{parse_tdvf_metadata, Error};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")));
    assert!(dir.is_dir(), "vectors directory {} is missing (set ARCA_VECTORS)", dir.display());
    dir.join("measurement")
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("expected a hex string, found {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn tdvf_metadata_matches_vectors() {
    let tdx = json("tdx.json");
    let mut checked = 0;
    for (id, fw) in tdx["firmware"].as_object().expect("firmware table") {
        let Some(path) = fw["path"].as_str() else {
            // Recorded by reference only (not shipped): nothing to read.
            assert_eq!(fw["shipped_here"], false, "{id}: no path but shipped_here");
            continue;
        };
        let image = std::fs::read(vectors_dir().join(path)).unwrap();
        assert_eq!(image.len() as u64, fw["size"].as_u64().unwrap(), "{id}: size");
        let md = parse_tdvf_metadata(&image).unwrap_or_else(|e| panic!("{id}: {e}"));
        let want = &fw["tdvf_metadata"];
        assert_eq!(u64::from(md.descriptor_offset_from_end), hex_u64(&want["descriptor_offset_from_end"]), "{id}");
        assert_eq!(want["signature"], "TDVF");
        assert_eq!(u64::from(md.length), want["length"].as_u64().unwrap(), "{id}: length");
        assert_eq!(u64::from(md.version), want["version"].as_u64().unwrap(), "{id}: version");
        let sections = want["sections"].as_array().unwrap();
        assert_eq!(md.sections.len(), sections.len(), "{id}: section count");
        for (i, (got, want)) in md.sections.iter().zip(sections).enumerate() {
            let ctx = format!("{id} section {i}");
            assert_eq!(u64::from(got.data_offset), hex_u64(&want["data_offset"]), "{ctx}: data_offset");
            assert_eq!(u64::from(got.raw_data_size), hex_u64(&want["raw_data_size"]), "{ctx}: raw_data_size");
            assert_eq!(got.memory_address, hex_u64(&want["memory_address"]), "{ctx}: memory_address");
            assert_eq!(got.memory_data_size, hex_u64(&want["memory_data_size"]), "{ctx}: memory_data_size");
            assert_eq!(u64::from(got.section_type.as_u32()), want["type"].as_u64().unwrap(), "{ctx}: type");
            assert_eq!(got.section_type.name(), want["type_name"].as_str().unwrap(), "{ctx}: type name");
            assert_eq!(u64::from(got.attributes), hex_u64(&want["attributes"]), "{ctx}: attributes");
            assert_eq!(got.mr_extend(), want["mr_extend"].as_bool().unwrap(), "{ctx}: mr_extend");
            assert_eq!(got.page_aug(), want["page_aug"].as_bool().unwrap(), "{ctx}: page_aug");
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "expected the 3 shipped TDVF-carrying images");
}

#[test]
fn sev_only_fixtures_have_no_tdvf_metadata() {
    // The 4 KiB suffix fixtures carry a footer table but (being cut from
    // the end of the image) not the descriptor: the TDX entry, if present,
    // points outside them or the entry is missing. Either way, an error.
    let snp = json("snp.json");
    for (id, fw) in snp["firmware"].as_object().unwrap() {
        let path = fw["path"].as_str().unwrap();
        let image = std::fs::read(vectors_dir().join(path)).unwrap();
        if image.len() > 4096 {
            continue;
        }
        let err = parse_tdvf_metadata(&image).expect_err(id);
        assert!(
            matches!(err, Error::NoTdvfMetadata | Error::OutOfBounds { .. } | Error::TdvfDescriptorGuid { .. }),
            "{id}: {err}"
        );
    }
}

mod hostile {
    //! Mutations of a real TDVF image: the parser never panics, and what it
    //! accepts satisfies the invariants measurement relies on.

    use super::*;
    use proptest::prelude::*;

    fn bookworm_image() -> Vec<u8> {
        // The descriptor sits 0x840 bytes from the end of the Debian 12
        // image; mutate only the last 4 KiB, where the footer table and the
        // descriptor are, on a copy of the whole image.
        let tdx = json("tdx.json");
        let fw = &tdx["firmware"]["debian-bookworm-ovmf"];
        std::fs::read(vectors_dir().join(fw["path"].as_str().unwrap())).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_tail_never_panics(edits in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8)) {
            let mut image = bookworm_image();
            let base = image.len() - 4096;
            for (at, value) in edits {
                image[base + at] = value;
            }
            if let Ok(md) = parse_tdvf_metadata(&image) {
                for (i, s) in md.sections.iter().enumerate() {
                    prop_assert!(s.raw_data(&image).is_ok(), "section {i} raw data inside the image");
                    prop_assert!(u64::from(s.raw_data_size) <= s.memory_data_size);
                    prop_assert_eq!(s.memory_address % 0x1000, 0);
                    for t in &md.sections[..i] {
                        let disjoint = s.memory_data_size == 0
                            || t.memory_data_size == 0
                            || s.memory_end() <= t.memory_address
                            || t.memory_end() <= s.memory_address;
                        prop_assert!(disjoint, "sections overlap");
                    }
                }
            }
        }

        #[test]
        fn truncated_images_are_errors(cut in 1usize..0x900) {
            let image = bookworm_image();
            // Cutting bytes off the end moves the footer: never a panic, and
            // never the original metadata read from the wrong place.
            let short = &image[..image.len() - cut];
            prop_assert!(parse_tdvf_metadata(short).is_err());
        }
    }
}
