//! Four pages at a time in the 64-bit lanes of AVX2 vectors (no rotate or
//! ternary-logic instructions: rotations are two shifts and an or).

use std::arch::x86_64::{
    __m256i, _mm256_add_epi64, _mm256_and_si256, _mm256_andnot_si256, _mm256_extract_epi64, _mm256_or_si256,
    _mm256_set1_epi64x, _mm256_set_epi64x, _mm256_set_epi8, _mm256_shuffle_epi8, _mm256_sllv_epi64, _mm256_srli_epi64,
    _mm256_srlv_epi64, _mm256_xor_si256,
};

use super::{sha384_one, DIGEST_LEN, H384, K512, PAGE_LEN};

type V = __m256i;
/// Pages hashed side by side.
const LANES: usize = 4;
/// One 4-lane pass costs about what two pages through ring do.
const MIN_PARTIAL: usize = 3;

/// Whether this CPU (and OS) runs the AVX2 code below.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

sha384_lanes!("avx2");

#[inline]
#[target_feature(enable = "avx2")]
fn splat(value: u64) -> V {
    _mm256_set1_epi64x(value as i64)
}

#[inline]
#[target_feature(enable = "avx2")]
fn add(a: V, b: V) -> V {
    _mm256_add_epi64(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor3(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
fn choose(e: V, f: V, g: V) -> V {
    _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g))
}

#[inline]
#[target_feature(enable = "avx2")]
fn majority(a: V, b: V, c: V) -> V {
    _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(c, _mm256_or_si256(a, b)))
}

/// Rotation right by `N`; the counts are per-lane shift operands because a
/// shift immediate of `64 - N` cannot be written for a generic `N`.
#[inline]
#[target_feature(enable = "avx2")]
fn ror<const N: i32>(x: V) -> V {
    let right = splat(N as u64);
    let left = splat(64 - N as u64);
    _mm256_or_si256(_mm256_srlv_epi64(x, right), _mm256_sllv_epi64(x, left))
}

#[inline]
#[target_feature(enable = "avx2")]
fn shr<const N: i32>(x: V) -> V {
    _mm256_srli_epi64::<N>(x)
}

#[inline]
#[target_feature(enable = "avx2")]
fn message_word(words: &[&[[u8; 8]]; LANES], index: usize) -> V {
    let w = |lane: usize| i64::from_ne_bytes(words[lane][index]);
    let native = _mm256_set_epi64x(w(3), w(2), w(1), w(0));
    // Reverse the bytes of every 64-bit lane (the message is big-endian).
    let swap = _mm256_set_epi8(
        8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
    );
    _mm256_shuffle_epi8(native, swap)
}

#[inline]
#[target_feature(enable = "avx2")]
fn to_lanes(v: V) -> [u64; LANES] {
    [
        _mm256_extract_epi64::<0>(v),
        _mm256_extract_epi64::<1>(v),
        _mm256_extract_epi64::<2>(v),
        _mm256_extract_epi64::<3>(v),
    ]
    .map(|x| x as u64)
}
