//! Unit tests of the byte layouts and the stage-2 block split.

use super::rmm::*;
use super::*;

#[test]
fn block_sizes_follow_concatenated_tables() {
    // 4 KiB granules, 9 bits per level; an initial level of 16 entries or
    // fewer is folded into the next one.
    assert_eq!(block_sizes(52), 0x80_4020_1000);
    assert_eq!(block_sizes(48), 0x80_4020_1000);
    assert_eq!(block_sizes(44), 0x80_4020_1000);
    assert_eq!(block_sizes(43), 0x00_4020_1000);
    assert_eq!(block_sizes(41), 0x00_4020_1000);
    assert_eq!(block_sizes(39), 0x00_4020_1000);
    assert_eq!(block_sizes(35), 0x00_4020_1000);
    assert_eq!(block_sizes(34), 0x00_0020_1000);
    assert_eq!(block_sizes(33), 0x00_0020_1000);
    assert_eq!(block_sizes(32), 0x00_0020_1000);
}

#[test]
fn ripas_blocks_are_the_largest_aligned_fit() {
    let s = 0x4020_1000;
    assert_eq!(block_at(0, 0x1000, s), 0x1000);
    assert_eq!(block_at(0x4000_0000, 0x8000_0000, s), 0x4000_0000);
    assert_eq!(block_at(0x4000_0000, 0x8000_0000, 0x20_1000), 0x20_0000);
    assert_eq!(block_at(0x8000_1000, 0x8020_0000, s), 0x1000);
    assert_eq!(block_at(0x620_0000, 0x7000_0000, s), 0x20_0000);
    assert_eq!(block_at(0x630_0000, 0x7000_0000, s), 0x1000);
    assert_eq!(block_at(0x40_0000, 0x50_0000, s), 0x1000);
}

#[test]
fn structures_put_fields_at_their_offsets() {
    let p = RealmCreateParams {
        flags: REALM_FLAG_SVE | REALM_FLAG_PMU,
        s2sz: 41,
        sve_vq: 15,
        num_bps: 1,
        num_wps: 1,
        pmu_num_ctrs: 6,
        hash_algo: 1,
    };
    let b = realm_params_bytes(&p);
    assert_eq!(b.len(), 4096);
    assert_eq!(&b[..8], &6u64.to_le_bytes());
    assert_eq!((b[8], b[0x10], b[0x18], b[0x20], b[0x28], b[0x30]), (41, 15, 1, 1, 6, 1));
    assert_eq!(b.iter().filter(|x| **x != 0).count(), 7);

    let r = rec_params_bytes(0x4000_0000, &[0x4820_0000, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(r[0], 1);
    assert_eq!(&r[0x200..0x208], &0x4000_0000u64.to_le_bytes());
    assert_eq!(&r[0x300..0x308], &0x4820_0000u64.to_le_bytes());
    assert_eq!(r[0x338], 7);

    let rim = [0xaa; 64];
    let d = data_descriptor(&rim, 0x4000_1000, &[0xbb; 64]);
    assert_eq!((d[0], d[8], d[9]), (0, 0, 1));
    assert_eq!(&d[0x10..0x50], &rim);
    assert_eq!(&d[0x50..0x58], &0x4000_1000u64.to_le_bytes());
    assert_eq!(d[0x58], 1);
    assert_eq!(&d[0x60..0xa0], &[0xbb; 64]);
    assert!(d[0xa0..].iter().all(|x| *x == 0));
    let d = ripas_descriptor(&rim, 0x4000_0000, 0x8000_0000);
    assert_eq!((d[0], &d[0x58..0x60]), (2, &0x8000_0000u64.to_le_bytes()[..]));
    let d = rec_descriptor(&rim, &[0xcc; 64]);
    assert_eq!((d[0], &d[0x50..0x90]), (1, &[0xcc; 64][..]));
}

#[test]
fn sha256_measurements_are_zero_padded() {
    let h = hash(HashAlgo::Sha256, b"abc");
    assert_eq!(hex::encode(&h[..32]), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert!(h[32..].iter().all(|x| *x == 0));
}

#[test]
fn unaligned_data_gets_leading_zeros() {
    let p = RealmCreateParams { flags: 0, s2sz: 33, sve_vq: 0, num_bps: 1, num_wps: 1, pmu_num_ctrs: 0, hash_algo: 0 };
    // 4 bytes at the last 4 bytes of a granule, then one more byte.
    let mut a = Rim::create(HashAlgo::Sha256, &p);
    assert_eq!(a.data_create(0x8000_0ffc, &[1, 2, 3, 4, 5]), 2);
    let mut b = Rim::create(HashAlgo::Sha256, &p);
    let mut bytes = vec![0u8; 0x2000];
    bytes[0xffc..0x1001].copy_from_slice(&[1, 2, 3, 4, 5]);
    assert_eq!(b.data_create(0x8000_0000, &bytes), 2);
    assert_eq!(a.digest(), b.digest());
    // An empty blob at a granule boundary measures nothing.
    let before = a.digest().to_vec();
    assert_eq!(a.data_create(0x8000_3000, &[]), 0);
    assert_eq!(a.digest(), &before[..]);
}

#[test]
fn personalization_value_parsing() {
    let p = PersonalizationValue::from_hex("abc").unwrap();
    assert_eq!(&p.0[..3], &[0x0a, 0xbc, 0]);
    assert!(PersonalizationValue::from_hex(&"0".repeat(129)).is_err());
    assert!(matches!(PersonalizationValue::from_hex("+2"), Err(Error::CcaRealmParam { .. })));
    assert!(matches!(PersonalizationValue::from_bytes(&[0; 65]), Err(Error::CcaRealmParam { .. })));
}

#[test]
fn capability_files_layer_downwards() {
    let caps = HostCapabilities::from_configs(&[
        "ipa_bits = 52\npmu = true\nlpa2 = true\nnum_bps = 6",
        "lpa2 = false\nnum_bps = 8\npmu = true",
    ])
    .unwrap();
    assert_eq!((caps.ipa_bits, caps.num_bps, caps.lpa2, caps.pmu), (Some(52), Some(6), Some(false), Some(true)));
    assert!(matches!(parse_host_config("bogus = 1"), Err(Error::CcaHostConfig { .. })));
    assert!(matches!(parse_host_config("num_bps = 1"), Err(Error::CcaRealmParam { field: "num_bps", .. })));
    assert!(matches!(parse_host_config("sve_vl = 200"), Err(Error::CcaRealmParam { field: "sve_vl", .. })));
    assert!(matches!(parse_host_config("pmu_num_ctrs = 32"), Err(Error::CcaRealmParam { field: "pmu_num_ctrs", .. })));
    assert!(matches!(parse_host_config("ipa_bits = 300"), Err(Error::CcaHostConfig { .. })));
}
