//! A layer blob from arbitrary bytes (the first byte picks plain, gzip or
//! zstd) applied onto an empty rootfs: it may fail, but must not panic,
//! and must leave the canary directory beside the rootfs as it was.
#![no_main]

use arca_image::compression::decoder;
use arca_image::unpack::{apply_layer, UnpackOptions};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: [&str; 3] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, blob)) = data.split_first() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let rootfs = dir.path().join("rootfs");
    let canary = dir.path().join("canary");
    std::fs::create_dir(&rootfs).expect("rootfs");
    std::fs::create_dir(&canary).expect("canary");
    std::fs::write(canary.join("keep"), b"canary").expect("canary file");

    let options = UnpackOptions {
        max_layer_bytes: 16 << 20,
        max_entries: 4096,
        preserve_ownership: false,
        ..UnpackOptions::default()
    };
    let media_type = MEDIA_TYPES[usize::from(selector) % MEDIA_TYPES.len()];
    if let Ok(reader) = decoder(media_type, Box::new(std::io::Cursor::new(blob.to_vec()))) {
        let _ = apply_layer(reader, &rootfs, "sha256:fuzz", &options);
    }

    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 2, "entries appeared beside the rootfs: {names:?}");
    let canary_names: Vec<_> = std::fs::read_dir(&canary).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(canary_names.len(), 1, "the canary changed: {canary_names:?}");
    assert_eq!(std::fs::read(canary.join("keep")).expect("canary file"), b"canary");
});
