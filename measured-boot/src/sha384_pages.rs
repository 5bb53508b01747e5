//! SHA-384 of many 4 KiB pages at once.
//!
//! An SNP launch digest needs the SHA-384 of every firmware page that is
//! not filler (about 180 of the 1024 pages of a Debian AmdSev image) and
//! those digests are independent of each other. Hashing one page at a
//! time leaves most of the vector unit idle: SHA-512's round function is a
//! chain of 64-bit additions and rotations with no instruction-level
//! parallelism to spare, and x86 has no SHA-512 instructions before the
//! 2024 cores. With AVX-512 the same round runs on eight pages side by
//! side, one page per 64-bit lane, which is 4-5x the throughput of ring's
//! single-stream assembly on the machines we measure on (`make bench`).
//!
//! Written here because no maintained crate offers multi-buffer SHA-512:
//! `sha2` and `ring` hash one message at a time, and the multi-buffer
//! libraries (isa-l_crypto) are C and assembly built with their own
//! toolchain. The lane code is checked against `sha2` on random pages.
//!
//! Without AVX-512 (or on other architectures) every page goes through
//! ring, which is the fastest single-stream SHA-384 here.

/// A page.
pub const PAGE_LEN: usize = 4096;
/// A SHA-384 digest.
pub const DIGEST_LEN: usize = 48;

/// SHA-384 of each page, in order.
pub fn sha384_pages(pages: &[&[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]> {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return x86::sha384_pages(pages);
    }
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m512i, _mm256_extract_epi64, _mm512_add_epi64, _mm512_extracti64x4_epi64, _mm512_ror_epi64,
        _mm512_set1_epi64, _mm512_set_epi64, _mm512_set_epi8, _mm512_setzero_si512, _mm512_shuffle_epi8,
        _mm512_srli_epi64, _mm512_ternarylogic_epi64,
    };

    use super::{sha384_one, DIGEST_LEN, H384, K512, PAGE_LEN};

    /// Pages hashed side by side, one per 64-bit lane of a 512-bit vector.
    const LANES: usize = 8;
    /// A group of this many pages or more (short of a full group) is still
    /// hashed in the lanes, with the spare lanes repeating a page: one
    /// 8-lane pass costs about as much as two pages through ring.
    const MIN_PARTIAL: usize = 2;
    /// 128-byte blocks in a page.
    const BLOCKS: usize = PAGE_LEN / 128;

    /// Whether this CPU runs the lane code (AVX-512 F and BW; the OS
    /// saving the ZMM state is part of std's detection).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw")
    }

    /// SHA-384 of each page; the caller has checked [`available`].
    pub(super) fn sha384_pages(pages: &[&[u8; PAGE_LEN]]) -> Vec<[u8; DIGEST_LEN]> {
        let mut out = Vec::with_capacity(pages.len());
        for group in pages.chunks(LANES) {
            if group.len() < MIN_PARTIAL {
                out.extend(group.iter().map(|page| sha384_one(&page[..])));
                continue;
            }
            // Spare lanes repeat the group's last page; their digests are dropped.
            let last = group[group.len() - 1];
            let lanes: [&[u8; PAGE_LEN]; LANES] = std::array::from_fn(|l| group.get(l).copied().unwrap_or(last));
            let digests = hash_lanes_checked(lanes);
            out.extend_from_slice(&digests[..group.len()]);
        }
        out
    }

    /// [`hash_lanes`] behind the feature check that makes calling it sound
    /// (std caches the check, so repeating it per group costs a load).
    #[allow(unsafe_code)]
    fn hash_lanes_checked(pages: [&[u8; PAGE_LEN]; LANES]) -> [[u8; DIGEST_LEN]; LANES] {
        if !available() {
            return pages.map(|page| sha384_one(&page[..]));
        }
        // SAFETY: `hash_lanes` only needs the CPU to support AVX-512 F and BW,
        // which was checked (at run time, by CPUID and XCR0) just above.
        unsafe { hash_lanes(pages) }
    }

    /// SHA-384 of eight pages, one per lane.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn hash_lanes(pages: [&[u8; PAGE_LEN]; LANES]) -> [[u8; DIGEST_LEN]; LANES] {
        let words: [&[[u8; 8]]; LANES] = std::array::from_fn(|l| pages[l].as_chunks::<8>().0);
        let mut state: [__m512i; 8] = std::array::from_fn(|i| splat(H384[i]));
        for block in 0..BLOCKS {
            let mut w: [__m512i; 16] = std::array::from_fn(|i| gather_word(&words, block * 16 + i));
            compress(&mut state, &mut w);
        }
        // A page is a whole number of blocks, so its padding is one block
        // of its own: the 0x80 marker, zeros, and the length in bits.
        let mut pad = [_mm512_setzero_si512(); 16];
        pad[0] = splat(1 << 63);
        pad[15] = splat((PAGE_LEN * 8) as u64);
        compress(&mut state, &mut pad);

        let mut out = [[0u8; DIGEST_LEN]; LANES];
        for (i, word) in state.iter().take(DIGEST_LEN / 8).enumerate() {
            for (lane, value) in lanes(*word).into_iter().enumerate() {
                out[lane][i * 8..i * 8 + 8].copy_from_slice(&value.to_be_bytes());
            }
        }
        out
    }

    /// One value in every lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(value: u64) -> __m512i {
        _mm512_set1_epi64(value as i64)
    }

    /// The eight lanes of a vector, lane 0 first.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn lanes(v: __m512i) -> [u64; LANES] {
        let lo = _mm512_extracti64x4_epi64::<0>(v);
        let hi = _mm512_extracti64x4_epi64::<1>(v);
        [
            _mm256_extract_epi64::<0>(lo),
            _mm256_extract_epi64::<1>(lo),
            _mm256_extract_epi64::<2>(lo),
            _mm256_extract_epi64::<3>(lo),
            _mm256_extract_epi64::<0>(hi),
            _mm256_extract_epi64::<1>(hi),
            _mm256_extract_epi64::<2>(hi),
            _mm256_extract_epi64::<3>(hi),
        ]
        .map(|x| x as u64)
    }

    /// Big-endian message word `index` of each lane's page.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn gather_word(words: &[&[[u8; 8]]; LANES], index: usize) -> __m512i {
        let w = |lane: usize| i64::from_ne_bytes(words[lane][index]);
        let native = _mm512_set_epi64(w(7), w(6), w(5), w(4), w(3), w(2), w(1), w(0));
        // Reverse the bytes of every 64-bit lane (the message is big-endian).
        let swap = _mm512_set_epi8(
            8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
            8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
        );
        _mm512_shuffle_epi8(native, swap)
    }

    /// SHA-512's compression function (FIPS 180-4, section 6.4.2) on every
    /// lane; `w` is the block's 16 message words and is used as the
    /// rolling message schedule.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn compress(state: &mut [__m512i; 8], w: &mut [__m512i; 16]) {
        // vpternlogq truth tables: a ^ b ^ c, choose (a ? b : c), majority.
        const XOR3: i32 = 0x96;
        const CHOOSE: i32 = 0xca;
        const MAJORITY: i32 = 0xe8;
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        // One round; the caller renames the working variables instead of
        // moving them, eight rounds per turn of the loop.
        macro_rules! round {
            ($t:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {{
                let t: usize = $t;
                if t >= 16 {
                    let w15 = w[(t + 1) % 16];
                    let w2 = w[(t + 14) % 16];
                    let s0 = _mm512_ternarylogic_epi64::<XOR3>(
                        _mm512_ror_epi64::<1>(w15),
                        _mm512_ror_epi64::<8>(w15),
                        _mm512_srli_epi64::<7>(w15),
                    );
                    let s1 = _mm512_ternarylogic_epi64::<XOR3>(
                        _mm512_ror_epi64::<19>(w2),
                        _mm512_ror_epi64::<61>(w2),
                        _mm512_srli_epi64::<6>(w2),
                    );
                    w[t % 16] = _mm512_add_epi64(_mm512_add_epi64(w[t % 16], s0), _mm512_add_epi64(w[(t + 9) % 16], s1));
                }
                let big_s1 = _mm512_ternarylogic_epi64::<XOR3>(
                    _mm512_ror_epi64::<14>($e),
                    _mm512_ror_epi64::<18>($e),
                    _mm512_ror_epi64::<41>($e),
                );
                let ch = _mm512_ternarylogic_epi64::<CHOOSE>($e, $f, $g);
                let kw = _mm512_add_epi64(splat(K512[t]), w[t % 16]);
                let t1 = _mm512_add_epi64(_mm512_add_epi64($h, big_s1), _mm512_add_epi64(ch, kw));
                let big_s0 = _mm512_ternarylogic_epi64::<XOR3>(
                    _mm512_ror_epi64::<28>($a),
                    _mm512_ror_epi64::<34>($a),
                    _mm512_ror_epi64::<39>($a),
                );
                let maj = _mm512_ternarylogic_epi64::<MAJORITY>($a, $b, $c);
                $d = _mm512_add_epi64($d, t1);
                $h = _mm512_add_epi64(t1, _mm512_add_epi64(big_s0, maj));
            }};
        }
        for t in (0..80).step_by(8) {
            round!(t, a, b, c, d, e, f, g, h);
            round!(t + 1, h, a, b, c, d, e, f, g);
            round!(t + 2, g, h, a, b, c, d, e, f);
            round!(t + 3, f, g, h, a, b, c, d, e);
            round!(t + 4, e, f, g, h, a, b, c, d);
            round!(t + 5, d, e, f, g, h, a, b, c);
            round!(t + 6, c, d, e, f, g, h, a, b);
            round!(t + 7, b, c, d, e, f, g, h, a);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = _mm512_add_epi64(*s, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    // The reference: an independent SHA-384 implementation.
    use sha2::{Digest, Sha384};

    use super::*;

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
        #[cfg(target_arch = "x86_64")]
        if !x86::available() {
            eprintln!("skipped the lane path: this CPU has no AVX-512 F/BW (ring is used and checked)");
        }
        // 0..=17 pages: empty, below the partial-group threshold, partial
        // groups, one and two full groups and the remainders after them.
        let pages: Vec<[u8; PAGE_LEN]> = (0..17).map(page).collect();
        for n in 0..=pages.len() {
            let refs: Vec<&[u8; PAGE_LEN]> = pages[..n].iter().collect();
            assert_eq!(sha384_pages(&refs), reference(&pages[..n]), "{n} pages");
        }
    }

    #[test]
    fn known_answers() {
        // Pages of one repeated byte, as firmware filler is, and the
        // all-0xff page's digest as `sha384sum` prints it.
        let pages = [[0u8; PAGE_LEN], [0xff; PAGE_LEN], [0x5a; PAGE_LEN]];
        let refs: Vec<&[u8; PAGE_LEN]> = pages.iter().collect();
        let got = sha384_pages(&refs);
        assert_eq!(got, reference(&pages));
        assert_eq!(
            hex::encode(got[1]),
            "9761a6cc8f381514125bd5461b11a17a721703fb2179ddf15348b6276b47fe93bbca565060bdb425c99cae93fbd68d84"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_pages_equal_plain_hashing(seeds in proptest::collection::vec(any::<u32>(), 0..20), flip in any::<(usize, u8)>()) {
            let mut pages: Vec<[u8; PAGE_LEN]> = seeds.iter().map(|&s| page(s)).collect();
            if let Some(p) = pages.first_mut() {
                p[flip.0 % PAGE_LEN] ^= flip.1 | 1;
            }
            let refs: Vec<&[u8; PAGE_LEN]> = pages.iter().collect();
            prop_assert_eq!(sha384_pages(&refs), reference(&pages));
        }
    }
}
