//! The lane-parallel SHA-384 shared by the vector widths.
//!
//! [`sha384_lanes!`] expands, inside a backend module, to that module's
//! `sha384_pages`: SHA-512's compression function (FIPS 180-4, section
//! 6.4.2) written once over the backend's vector type and its helpers,
//! compiled for the backend's target features. The backend provides:
//!
//! - `V`, the vector type, with `LANES` 64-bit lanes, and `MIN_PARTIAL`,
//!   the fewest pages worth a pass of the lanes (spare lanes repeat a page);
//! - `available()`, the run-time CPU check, and `FEATURES`, the features
//!   it checks, as `#[target_feature]` takes them;
//! - `splat(u64)`, `add(V, V)`, `xor3(V, V, V)`, `choose(e, f, g)`
//!   (`e ? f : g` bitwise), `majority(V, V, V)`, `ror::<N>(V)`,
//!   `shr::<N>(V)`, `message_word(words, index)` (word `index` of every
//!   lane's page, big-endian) and `to_lanes(V)`.

/// Defines `sha384_pages` for the backend module it is expanded in.
macro_rules! sha384_lanes {
    ($features:literal) => {
        /// 128-byte blocks in a page.
        const BLOCKS: usize = PAGE_LEN / 128;

        /// SHA-384 of each page, [`LANES`] at a time; a short group of at
        /// least [`MIN_PARTIAL`] pages still goes through the lanes.
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
                out.extend_from_slice(&hash_lanes_checked(lanes)[..group.len()]);
            }
            out
        }

        /// [`hash_lanes`] behind the feature check that makes calling it
        /// sound (std caches the check, so repeating it per group costs a
        /// load), or ring where the CPU lacks the features.
        #[allow(unsafe_code)]
        fn hash_lanes_checked(pages: [&[u8; PAGE_LEN]; LANES]) -> [[u8; DIGEST_LEN]; LANES] {
            if !available() {
                return pages.map(|page| sha384_one(&page[..]));
            }
            // SAFETY: `hash_lanes` needs nothing but the CPU features it is
            // compiled for, and `available` checked them (CPUID, and XCR0 for
            // the OS saving the vector state) just above.
            unsafe { hash_lanes(pages) }
        }

        /// SHA-384 of one page per lane.
        #[target_feature(enable = $features)]
        fn hash_lanes(pages: [&[u8; PAGE_LEN]; LANES]) -> [[u8; DIGEST_LEN]; LANES] {
            let words: [&[[u8; 8]]; LANES] = std::array::from_fn(|l| pages[l].as_chunks::<8>().0);
            let mut state: [V; 8] = std::array::from_fn(|i| splat(H384[i]));
            for block in 0..BLOCKS {
                let mut w: [V; 16] = std::array::from_fn(|i| message_word(&words, block * 16 + i));
                compress(&mut state, &mut w);
            }
            // A page is a whole number of blocks, so its padding is a block
            // of its own: the 0x80 marker, zeros, and the length in bits.
            let mut pad: [V; 16] = std::array::from_fn(|_| splat(0));
            pad[0] = splat(1 << 63);
            pad[15] = splat((PAGE_LEN * 8) as u64);
            compress(&mut state, &mut pad);

            let mut out = [[0u8; DIGEST_LEN]; LANES];
            for (i, word) in state.iter().take(DIGEST_LEN / 8).enumerate() {
                for (lane, value) in to_lanes(*word).into_iter().enumerate() {
                    out[lane][i * 8..i * 8 + 8].copy_from_slice(&value.to_be_bytes());
                }
            }
            out
        }

        /// SHA-512's compression function on every lane; `w` holds the
        /// block's 16 message words and serves as the rolling schedule.
        #[inline]
        #[target_feature(enable = $features)]
        fn compress(state: &mut [V; 8], w: &mut [V; 16]) {
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
            // One round; the working variables are renamed by the caller
            // instead of moved, eight rounds per turn of the loop.
            macro_rules! round {
                ($t:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {{
                    let t: usize = $t;
                    if t >= 16 {
                        let w15 = w[(t + 1) % 16];
                        let w2 = w[(t + 14) % 16];
                        let s0 = xor3(ror::<1>(w15), ror::<8>(w15), shr::<7>(w15));
                        let s1 = xor3(ror::<19>(w2), ror::<61>(w2), shr::<6>(w2));
                        w[t % 16] = add(add(w[t % 16], s0), add(w[(t + 9) % 16], s1));
                    }
                    let big_s1 = xor3(ror::<14>($e), ror::<18>($e), ror::<41>($e));
                    let t1 = add(add($h, big_s1), add(choose($e, $f, $g), add(splat(K512[t]), w[t % 16])));
                    let big_s0 = xor3(ror::<28>($a), ror::<34>($a), ror::<39>($a));
                    $d = add($d, t1);
                    $h = add(t1, add(big_s0, majority($a, $b, $c)));
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
                *s = add(*s, v);
            }
        }
    };
}
