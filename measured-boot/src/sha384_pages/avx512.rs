//! Eight pages at a time in the 64-bit lanes of AVX-512 vectors.

use std::arch::x86_64::{
    __m512i, _mm256_extract_epi64, _mm512_add_epi64, _mm512_extracti64x4_epi64, _mm512_ror_epi64, _mm512_set1_epi64,
    _mm512_set_epi64, _mm512_set_epi8, _mm512_shuffle_epi8, _mm512_srli_epi64, _mm512_ternarylogic_epi64,
};

use super::{sha384_one, DIGEST_LEN, H384, K512, PAGE_LEN};

type V = __m512i;
/// Pages hashed side by side.
const LANES: usize = 8;
/// One 8-lane pass costs about what two pages through ring do.
const MIN_PARTIAL: usize = 2;

/// Whether this CPU (and OS) runs the AVX-512 F and BW code below.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw")
}

sha384_lanes!("avx512f,avx512bw");

// vpternlogq truth tables.
const XOR3: i32 = 0x96;
const CHOOSE: i32 = 0xca;
const MAJORITY: i32 = 0xe8;

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(value: u64) -> V {
    _mm512_set1_epi64(value as i64)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn add(a: V, b: V) -> V {
    _mm512_add_epi64(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn xor3(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi64::<XOR3>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn choose(e: V, f: V, g: V) -> V {
    _mm512_ternarylogic_epi64::<CHOOSE>(e, f, g)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn majority(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi64::<MAJORITY>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn ror<const N: i32>(x: V) -> V {
    _mm512_ror_epi64::<N>(x)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn shr<const N: u32>(x: V) -> V {
    _mm512_srli_epi64::<N>(x)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn message_word(words: &[&[[u8; 8]]; LANES], index: usize) -> V {
    let w = |lane: usize| i64::from_ne_bytes(words[lane][index]);
    let native = _mm512_set_epi64(w(7), w(6), w(5), w(4), w(3), w(2), w(1), w(0));
    // Reverse the bytes of every 64-bit lane (the message is big-endian).
    let swap = _mm512_set_epi8(
        8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
    );
    _mm512_shuffle_epi8(native, swap)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn to_lanes(v: V) -> [u64; LANES] {
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
