//! Kata's guest-pull hand-off, as the host controls it: the
//! `io.katacontainers.volume=<base64 JSON>` mount option (base64 or raw
//! JSON), the `image_guest_pull=<JSON>` driver option, and the annotations
//! that pick the image. Any may be refused; none may panic, and whatever
//! parses must encode back to the same value.
#![no_main]

use std::collections::BTreeMap;

use arca_image::volume::{GuestPullRequest, ImagePullVolume, KataVirtualVolume};
use libfuzzer_sys::fuzz_target;

fn check_round_trip(volume: &KataVirtualVolume) {
    let option = volume.to_mount_option().expect("a parsed volume encodes");
    let again = KataVirtualVolume::from_mount_option(&option).expect("its encoding parses").expect("is a volume");
    assert_eq!(&again, volume);
    let _ = volume.verity();
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            if let Ok(volume) = KataVirtualVolume::from_json(rest) {
                check_round_trip(&volume);
            }
        }
        1 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(Some(volume)) = KataVirtualVolume::from_mount_option(text) {
                check_round_trip(&volume);
            }
            let _ = KataVirtualVolume::from_base64(text);
        }
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Ok(pull) = ImagePullVolume::from_driver_option(text) {
                let option = pull.to_driver_option().expect("metadata encodes");
                assert_eq!(ImagePullVolume::from_driver_option(&option).expect("its encoding parses"), pull);
            }
        }
        _ => {
            // A JSON volume, then annotations as NUL-separated key/value pairs.
            let mut parts = rest.split(|&b| b == 0);
            let Some(json) = parts.next() else { return };
            let Ok(volume) = KataVirtualVolume::from_json(json) else { return };
            let mut annotations = BTreeMap::new();
            while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
                annotations.insert(String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned());
            }
            if let Ok(request) = GuestPullRequest::new(&volume, &annotations) {
                let _ = request.driver_option();
                let _ = request.source();
            }
        }
    }
});
