//! SHA-384 of many 4 KiB pages at once.
//!
//! An SNP launch digest needs the SHA-384 of every firmware page that is
//! not filler (about 180 of the 1024 pages of a Debian AmdSev image), and
//! those digests are independent of each other. Hashing one page at a
//! time leaves most of the vector unit idle: SHA-512's round function is a
//! chain of 64-bit additions and rotations with no instruction-level
//! parallelism to spare, and x86 has no SHA-512 instructions before the
//! 2024 cores. In vector lanes the same round runs on several pages side
//! by side, one page per 64-bit lane:
//!
//! - AVX-512 (Genoa and later EPYC, Ice Lake and later Xeon): eight lanes,
//!   4-5x the throughput of ring's single-stream assembly here;
//! - AVX2 (Milan and Rome EPYC, older Xeon): four lanes, about 2x.
//!
//! Written here because no maintained crate offers multi-buffer SHA-512:
//! `sha2` and `ring` hash one message at a time, and the multi-buffer
//! libraries (isa-l_crypto) are C and assembly built with their own
//! toolchain. Each lane implementation is checked against `sha2` on random
//! pages. Elsewhere every page goes through ring, the fastest
//! single-stream SHA-384 here.

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod lanes;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// A page.
pub const PAGE_LEN: usize = 4096;
/// A SHA-384 digest.
pub const DIGEST_LEN: usize = 48;

/// SHA-384 of each page, in order, by the fastest means this CPU has.
pub fn sha384_pages(pages: &[&[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]> {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            return avx512::sha384_pages(pages);
        }
        if avx2::available() {
            return avx2::sha384_pages(pages);
        }
    }
    sha384_each(pages)
}

/// SHA-384 of each page through ring, one at a time.
fn sha384_each(pages: &[&[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]> {
    pages.iter().map(|page| sha384_one(&page[..])).collect()
}

/// SHA-384 of one message through ring.
fn sha384_one(data: &[u8]) -> [u8; DIGEST_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA384, data);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-384's initial hash value (FIPS 180-4, section 5.3.4).
#[cfg(target_arch = "x86_64")]
const H384: [u64; 8] = [
    0xcbbb_9d5d_c105_9ed8,
    0x629a_292a_367c_d507,
    0x9159_015a_3070_dd17,
    0x152f_ecd8_f70e_5939,
    0x6733_2667_ffc0_0b31,
    0x8eb4_4a87_6858_1511,
    0xdb0c_2e0d_64f9_8fa7,
    0x47b5_481d_befa_4fa4,
];

/// SHA-512's round constants (FIPS 180-4, section 4.2.3).
#[cfg(target_arch = "x86_64")]
const K512: [u64; 80] = [
    0x428a_2f98_d728_ae22,
    0x7137_4491_23ef_65cd,
    0xb5c0_fbcf_ec4d_3b2f,
    0xe9b5_dba5_8189_dbbc,
    0x3956_c25b_f348_b538,
    0x59f1_11f1_b605_d019,
    0x923f_82a4_af19_4f9b,
    0xab1c_5ed5_da6d_8118,
    0xd807_aa98_a303_0242,
    0x1283_5b01_4570_6fbe,
    0x2431_85be_4ee4_b28c,
    0x550c_7dc3_d5ff_b4e2,
    0x72be_5d74_f27b_896f,
    0x80de_b1fe_3b16_96b1,
    0x9bdc_06a7_25c7_1235,
    0xc19b_f174_cf69_2694,
    0xe49b_69c1_9ef1_4ad2,
    0xefbe_4786_384f_25e3,
    0x0fc1_9dc6_8b8c_d5b5,
    0x240c_a1cc_77ac_9c65,
    0x2de9_2c6f_592b_0275,
    0x4a74_84aa_6ea6_e483,
    0x5cb0_a9dc_bd41_fbd4,
    0x76f9_88da_8311_53b5,
    0x983e_5152_ee66_dfab,
    0xa831_c66d_2db4_3210,
    0xb003_27c8_98fb_213f,
    0xbf59_7fc7_beef_0ee4,
    0xc6e0_0bf3_3da8_8fc2,
    0xd5a7_9147_930a_a725,
    0x06ca_6351_e003_826f,
    0x1429_2967_0a0e_6e70,
    0x27b7_0a85_46d2_2ffc,
    0x2e1b_2138_5c26_c926,
    0x4d2c_6dfc_5ac4_2aed,
    0x5338_0d13_9d95_b3df,
    0x650a_7354_8baf_63de,
    0x766a_0abb_3c77_b2a8,
    0x81c2_c92e_47ed_aee6,
    0x9272_2c85_1482_353b,
    0xa2bf_e8a1_4cf1_0364,
    0xa81a_664b_bc42_3001,
    0xc24b_8b70_d0f8_9791,
    0xc76c_51a3_0654_be30,
    0xd192_e819_d6ef_5218,
    0xd699_0624_5565_a910,
    0xf40e_3585_5771_202a,
    0x106a_a070_32bb_d1b8,
    0x19a4_c116_b8d2_d0c8,
    0x1e37_6c08_5141_ab53,
    0x2748_774c_df8e_eb99,
    0x34b0_bcb5_e19b_48a8,
    0x391c_0cb3_c5c9_5a63,
    0x4ed8_aa4a_e341_8acb,
    0x5b9c_ca4f_7763_e373,
    0x682e_6ff3_d6b2_b8a3,
    0x748f_82ee_5def_b2fc,
    0x78a5_636f_4317_2f60,
    0x84c8_7814_a1f0_ab72,
    0x8cc7_0208_1a64_39ec,
    0x90be_fffa_2363_1e28,
    0xa450_6ceb_de82_bde9,
    0xbef9_a3f7_b2c6_7915,
    0xc671_78f2_e372_532b,
    0xca27_3ece_ea26_619c,
    0xd186_b8c7_21c0_c207,
    0xeada_7dd6_cde0_eb1e,
    0xf57d_4f7f_ee6e_d178,
    0x06f0_67aa_7217_6fba,
    0x0a63_7dc5_a2c8_98a6,
    0x113f_9804_bef9_0dae,
    0x1b71_0b35_131c_471b,
    0x28db_77f5_2304_7d84,
    0x32ca_ab7b_40c7_2493,
    0x3c9e_be0a_15c9_bebc,
    0x431d_67c4_9c10_0d4c,
    0x4cc5_d4be_cb3e_42b6,
    0x597f_299c_fc65_7e2a,
    0x5fcb_6fab_3ad6_faec,
    0x6c44_198c_4a47_5817,
];

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    // The reference: an independent SHA-384 implementation.
    use sha2::{Digest, Sha384};

    use super::*;

    type Backend = fn(&[&[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]>;

    /// Every implementation this CPU can run, by name; the ones it cannot
    /// are named on stderr.
    fn backends() -> Vec<(&'static str, Backend)> {
        let mut all: Vec<(&'static str, Backend)> = vec![("ring", sha384_each), ("dispatch", sha384_pages)];
        #[cfg(target_arch = "x86_64")]
        for (name, available, backend) in [
            ("avx512", avx512::available(), avx512::sha384_pages as Backend),
            ("avx2", avx2::available(), avx2::sha384_pages as Backend),
        ] {
            if available {
                all.push((name, backend));
            } else {
                eprintln!("skipped the {name} lanes: this CPU does not have them");
            }
        }
        all
    }

    fn reference(pages: &[[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]> {
        pages.iter().map(|p| Sha384::digest(p).into()).collect()
    }

    fn page(seed: u32) -> [u8; PAGE_LEN] {
        std::array::from_fn(|i| {
            (seed.wrapping_mul(2_654_435_761) ^ (i as u32).wrapping_mul(40_503)) as u8 ^ (i >> 7) as u8
        })
    }

    #[test]
    fn every_group_size_equals_plain_hashing() {
        // 0..=17 pages: empty, below the partial-group thresholds, partial
        // groups, one and two full groups of either width and the
        // remainders after them.
        let pages: Vec<[u8; PAGE_LEN]> = (0..17).map(page).collect();
        for (name, backend) in backends() {
            for n in 0..=pages.len() {
                let refs: Vec<&[u8; PAGE_LEN]> = pages[..n].iter().collect();
                assert_eq!(backend(&refs), reference(&pages[..n]), "{name}, {n} pages");
            }
        }
    }

    #[test]
    fn known_answers() {
        // Pages of one repeated byte, as firmware filler is, and the
        // all-0xff page's digest as `sha384sum` prints it.
        let pages = [[0u8; PAGE_LEN], [0xff; PAGE_LEN], [0x5a; PAGE_LEN], [0xff; PAGE_LEN]];
        let refs: Vec<&[u8; PAGE_LEN]> = pages.iter().collect();
        for (name, backend) in backends() {
            let got = backend(&refs);
            assert_eq!(got, reference(&pages), "{name}");
            assert_eq!(
                hex::encode(got[1]),
                "9761a6cc8f381514125bd5461b11a17a721703fb2179ddf15348b6276b47fe93bbca565060bdb425c99cae93fbd68d84",
                "{name}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_pages_equal_plain_hashing(
            seeds in proptest::collection::vec(any::<u32>(), 0..20),
            flip in any::<(usize, u8)>(),
        ) {
            let mut pages: Vec<[u8; PAGE_LEN]> = seeds.iter().map(|&s| page(s)).collect();
            if let Some(p) = pages.first_mut() {
                p[flip.0 % PAGE_LEN] ^= flip.1 | 1;
            }
            let refs: Vec<&[u8; PAGE_LEN]> = pages.iter().collect();
            for (name, backend) in backends() {
                prop_assert_eq!(backend(&refs), reference(&pages), "{}", name);
            }
        }
    }
}
