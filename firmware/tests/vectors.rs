//! Firmware facts recorded in `snp.json`: every image's footer table, SEV
//! layout and metadata sections, and every case's hashes table bytes.

use std::path::PathBuf;

use arca_firmware::{parse_footer_table, parse_sev_hashes_table, parse_sev_layout, Guid, SevHashes};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("ARCA_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")));
    assert!(dir.is_dir(), "vectors directory {} is missing (set ARCA_VECTORS)", dir.display());
    dir.join("measurement")
}

fn snp_json() -> (PathBuf, Value) {
    let dir = vectors_dir();
    let text = std::fs::read_to_string(dir.join("snp.json")).expect("read snp.json");
    (dir, serde_json::from_str(&text).expect("parse snp.json"))
}

#[test]
fn footer_entries_match_vectors() {
    let (dir, json) = snp_json();
    let firmware = json["firmware"].as_object().expect("firmware table");
    assert!(firmware.len() >= 5, "expected the 5 firmware images, found {}", firmware.len());
    for (id, fw) in firmware {
        let image = std::fs::read(dir.join(fw["path"].as_str().unwrap())).unwrap();
        let footer = &fw["footer"];
        assert_eq!(image.len() as u64, footer["size"].as_u64().unwrap(), "{id}: size");
        let table = parse_footer_table(&image).unwrap_or_else(|e| panic!("{id}: {e}"));
        let expected = footer["footer_table_entries"].as_object().unwrap();
        assert_eq!(table.entries.len(), expected.len(), "{id}: entry count");
        for (guid_text, entry) in expected {
            let guid: Guid = guid_text.parse().unwrap();
            let data = table.data(&guid).unwrap_or_else(|| panic!("{id}: entry {guid} missing"));
            assert_eq!(hex::encode(data), entry["data_hex"].as_str().unwrap(), "{id}: entry {guid}");
            let name = entry["name"].as_str().unwrap();
            let ours = table.get(&guid).unwrap().name.unwrap_or("(unknown)");
            assert!(name.starts_with(ours), "{id}: entry {guid} named {ours}, vectors say {name}");
        }
    }
}

fn hex_u64(v: &Value) -> u64 {
    let text = v.as_str().unwrap();
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn sev_layout_matches_vectors() {
    let (dir, json) = snp_json();
    for (id, fw) in json["firmware"].as_object().unwrap() {
        let image = std::fs::read(dir.join(fw["path"].as_str().unwrap())).unwrap();
        let footer = &fw["footer"];
        let layout = parse_sev_layout(&image).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(layout.load_gpa, hex_u64(&footer["load_gpa"]), "{id}: load GPA");
        assert_eq!(layout.sev_es_reset_eip.map(u64::from), Some(hex_u64(&footer["sev_es_reset_eip"])), "{id}");
        assert_eq!(layout.hashes_table.map(|t| u64::from(t.gpa)), Some(hex_u64(&footer["sev_hashes_table_gpa"])));
        assert_eq!(layout.kernel_hashes_supported(), footer["kernel_hashes_supported"].as_bool().unwrap(), "{id}");
        let sections = &layout.metadata.as_ref().unwrap_or_else(|| panic!("{id}: no SEV metadata")).sections;
        let expected = footer["sev_metadata_sections"].as_array().unwrap();
        assert_eq!(sections.len(), expected.len(), "{id}: section count");
        for (i, (ours, theirs)) in sections.iter().zip(expected).enumerate() {
            assert_eq!(u64::from(ours.gpa), hex_u64(&theirs["gpa"]), "{id} section {i}: gpa");
            assert_eq!(u64::from(ours.size), hex_u64(&theirs["size"]), "{id} section {i}: size");
            assert_eq!(u64::from(ours.raw_type), theirs["type"].as_u64().unwrap(), "{id} section {i}: type");
            let name = serde_json::to_value(ours.kind).unwrap();
            assert_eq!(name, theirs["type_name"], "{id} section {i}: type name");
        }
    }
}

#[test]
fn hashes_tables_match_vectors() {
    let (dir, json) = snp_json();
    let inputs = &json["inputs"];
    let read = |id: &Value| -> Option<Vec<u8>> {
        id.as_str().map(|id| std::fs::read(dir.join(inputs[id]["path"].as_str().unwrap())).unwrap())
    };
    let mut checked = 0;
    for case in json["cases"].as_array().unwrap() {
        let Some(expected) = case["intermediate"]["hashes_table_hex"].as_str() else { continue };
        let id = case["id"].as_str().unwrap();
        let kernel = read(&case["kernel"]).expect("a case with a hashes table has a kernel");
        let initrd = read(&case["initrd"]);
        let cmdline = case["cmdline"]["text"].as_str().map(str::as_bytes);
        let hashes = SevHashes::new(&kernel, initrd.as_deref(), cmdline);
        let inter = &case["intermediate"];
        assert_eq!(hex::encode(hashes.kernel), inter["kernel_sha256"].as_str().unwrap(), "{id}: kernel");
        assert_eq!(hex::encode(hashes.initrd), inter["initrd_sha256"].as_str().unwrap(), "{id}: initrd");
        assert_eq!(
            hex::encode(hashes.cmdline),
            inter["cmdline_sha256_over_utf8_plus_nul"].as_str().unwrap(),
            "{id}: cmdline"
        );
        let table = hashes.table();
        assert_eq!(hex::encode(table), expected, "{id}: hashes table bytes");
        assert_eq!(table.len() as u64, inter["hashes_table_len"].as_u64().unwrap());
        assert_eq!(parse_sev_hashes_table(&table).unwrap(), hashes);
        if let Some(page_hash) = inter["hashes_page_sha384"].as_str() {
            use sha2::Digest;
            let offset = hex_u64(&inter["hashes_page_offset"]) as usize;
            let page = hashes.page(offset).unwrap();
            assert_eq!(hex::encode(sha2::Sha384::digest(&page[..])), page_hash, "{id}: hashes page");
        }
        checked += 1;
    }
    assert!(checked >= 20, "expected the cases with a kernel, found {checked}");
}

/// Cutting bytes off the end of a real image (a truncated download) or
/// flipping any byte of its footer region gives an error or a parse, never
/// a panic.
#[test]
fn truncated_and_corrupted_real_images_do_not_panic() {
    let (dir, json) = snp_json();
    let fw = &json["firmware"]["fixture-amdsev-suffix"];
    let image = std::fs::read(dir.join(fw["path"].as_str().unwrap())).unwrap();
    let mut errors = 0;
    for cut in 1..=image.len() {
        if parse_sev_layout(&image[..image.len() - cut]).is_err() {
            errors += 1;
        }
        let _ = parse_footer_table(&image[..image.len() - cut]);
    }
    assert!(errors > 0);
    for at in image.len() - 0x600..image.len() {
        for bit in [0x01u8, 0x80] {
            let mut img = image.clone();
            img[at] ^= bit;
            let _ = parse_sev_layout(&img);
        }
    }
}
