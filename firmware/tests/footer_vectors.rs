//! The footer table of every firmware image in `snp.json` holds exactly the
//! entries the vectors record, with the same data.

use std::path::PathBuf;

use arca_firmware::{parse_footer_table, Guid};
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
