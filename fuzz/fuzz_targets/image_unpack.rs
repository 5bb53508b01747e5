//! Layers applied onto an empty rootfs: it may fail, but must not panic, and
//! must leave the canary directory beside the rootfs as it was.
//!
//! The first byte picks the input's form: a raw blob (plain, gzip or zstd),
//! or a list of entries made into a well-formed tar, so the fuzzer reaches
//! the unpacking itself instead of stopping at header checksums. In the list
//! form each entry is: type byte, name, link, data (each a length byte and
//! that many bytes; names up to 100 bytes), mode (a length byte and one byte).
#![no_main]

use arca_image::compression::decoder;
use arca_image::unpack::{apply_layer, UnpackOptions};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: [&str; 3] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

const TYPES: [u8; 8] = [b'0', b'5', b'2', b'1', b'3', b'6', b'x', b'L'];

/// Entries read from `data` as a tar stream with its end-of-archive marker.
fn structured_tar(mut data: &[u8]) -> Vec<u8> {
    fn take<'a>(data: &mut &'a [u8], max: usize) -> &'a [u8] {
        let Some((&len, rest)) = data.split_first() else { return &[] };
        let len = usize::from(len).min(max).min(rest.len());
        let (field, rest) = rest.split_at(len);
        *data = rest;
        field
    }
    let mut out = Vec::new();
    while let Some((&kind, rest)) = data.split_first() {
        data = rest;
        let name = take(&mut data, 100);
        let link = take(&mut data, 100);
        let body = take(&mut data, 255);
        // The byte's bits spread over the mode, setuid/setgid/sticky included; always owner-writable.
        let mode = take(&mut data, 1).first().map_or(0o644, |&b| (u32::from(b) << 4 | 0o600) & 0o7777);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::new(TYPES[usize::from(kind) % TYPES.len()]));
        header.set_size(body.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
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
    let (media_type, blob) = match selector % 4 {
        3 => (MEDIA_TYPES[0], structured_tar(input)),
        n => (MEDIA_TYPES[usize::from(n)], input.to_vec()),
    };
    if let Ok(reader) = decoder(media_type, Box::new(std::io::Cursor::new(blob))) {
        let _ = apply_layer(reader, &rootfs, "sha256:fuzz", &options);
    }

    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 2, "entries appeared beside the rootfs: {names:?}");
    let canary_names: Vec<_> = std::fs::read_dir(&canary).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(canary_names.len(), 1, "the canary changed: {canary_names:?}");
    assert_eq!(std::fs::read(canary.join("keep")).expect("canary file"), b"canary");
});
