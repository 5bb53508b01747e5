//! Variable-time ECDSA P-256 signature verification.
//!
//! Verification handles only public values (key, digest, signature), so it
//! may run in variable time. `p256` 0.13 computes `u1·G + u2·Q` as two
//! separate constant-time scalar multiplications with complete projective
//! formulas; this module computes it with one interleaved width-w NAF ladder
//! (Shamir's trick) in Jacobian coordinates (the a = -3 doubling), with a
//! precomputed table of odd multiples of the generator — about three times
//! faster. Field arithmetic is `p256`'s; the special cases of the
//! incomplete Jacobian formulas (identity, equal or opposite points) are
//! handled explicitly. Tests compare the result with `p256`'s verifier on
//! valid, corrupted and random signatures and check the group law against
//! `p256`'s point arithmetic.

use std::sync::OnceLock;

use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::ops::{Invert, Reduce};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{AffinePoint, FieldBytes, FieldElement, ProjectivePoint, Scalar, U256};

/// Window of the generator's NAF: odd multiples 1·G .. 127·G.
const G_WINDOW: u32 = 8;
/// Window of the public key's NAF: odd multiples 1·Q .. 15·Q.
const Q_WINDOW: u32 = 5;
/// Most NAF digits of a 256-bit scalar.
const NAF_LEN: usize = 258;

/// Width-`w` NAF of a big-endian 256-bit integer, least significant digit first.
fn wnaf(be: &[u8; 32], w: u32) -> [i16; NAF_LEN] {
    // Little-endian 64-bit limbs plus one limb for carries.
    let mut k = [0u64; 5];
    for (limb, chunk) in k.iter_mut().zip(be.rchunks(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(bytes);
    }
    let mut out = [0i16; NAF_LEN];
    let window = 1i64 << w;
    let mask = (window - 1) as u64;
    for digit in out.iter_mut() {
        if k.iter().all(|l| *l == 0) {
            break;
        }
        if k[0] & 1 == 1 {
            let m = (k[0] & mask) as i64;
            let d = if m >= window / 2 { m - window } else { m };
            *digit = d as i16;
            if d > 0 {
                sub_small(&mut k, d as u64);
            } else {
                add_small(&mut k, d.unsigned_abs());
            }
        }
        for i in 0..k.len() {
            let next = k.get(i + 1).copied().unwrap_or(0);
            k[i] = (k[i] >> 1) | (next << 63);
        }
    }
    out
}

fn sub_small(k: &mut [u64; 5], v: u64) {
    let mut borrow = v;
    for limb in k.iter_mut() {
        let (r, b) = limb.overflowing_sub(borrow);
        *limb = r;
        borrow = u64::from(b);
        if borrow == 0 {
            break;
        }
    }
}

fn add_small(k: &mut [u64; 5], v: u64) {
    let mut carry = v;
    for limb in k.iter_mut() {
        let (r, c) = limb.overflowing_add(carry);
        *limb = r;
        carry = u64::from(c);
        if carry == 0 {
            break;
        }
    }
}

/// A point in Jacobian coordinates `(X, Y, Z)`, affine `(X/Z², Y/Z³)`; `Z = 0` is the identity.
#[derive(Clone, Copy)]
struct Jacobian {
    x: FieldElement,
    y: FieldElement,
    z: FieldElement,
}

/// An affine point (never the identity).
#[derive(Clone, Copy)]
struct Affine {
    x: FieldElement,
    y: FieldElement,
}

impl Affine {
    fn from_point(p: &AffinePoint) -> Option<Self> {
        let encoded = p.to_encoded_point(false);
        let x = Option::from(FieldElement::from_repr(*encoded.x()?))?;
        let y = Option::from(FieldElement::from_repr(*encoded.y()?))?;
        Some(Affine { x, y })
    }

    fn neg(self) -> Self {
        Affine { x: self.x, y: -self.y }
    }
}

impl Jacobian {
    const IDENTITY: Jacobian = Jacobian { x: FieldElement::ONE, y: FieldElement::ONE, z: FieldElement::ZERO };

    fn from_affine(p: Affine) -> Self {
        Jacobian { x: p.x, y: p.y, z: FieldElement::ONE }
    }

    fn is_identity(&self) -> bool {
        bool::from(self.z.is_zero())
    }

    fn neg(self) -> Self {
        Jacobian { x: self.x, y: -self.y, z: self.z }
    }

    /// Doubling for a = -3 ("dbl-2001-b", 3M + 5S). The identity stays the identity.
    fn double(&self) -> Self {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x * gamma;
        let t = (self.x - delta) * (self.x + delta);
        let alpha = t.double() + t;
        let beta4 = beta.double().double();
        let x = alpha.square() - beta4.double();
        let z = (self.y + self.z).square() - gamma - delta;
        let y = alpha * (beta4 - x) - gamma.square().double().double().double();
        Jacobian { x, y, z }
    }

    /// Addition of an affine point ("madd-2007-bl"), with the special cases.
    fn add_affine(&self, q: &Affine) -> Self {
        if self.is_identity() {
            return Jacobian::from_affine(*q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - self.x;
        let r = (s2 - self.y).double();
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) { self.double() } else { Jacobian::IDENTITY };
        }
        let hh = h.square();
        let i = hh.double().double();
        let j = h * i;
        let v = self.x * i;
        let x = r.square() - j - v.double();
        let y = r * (v - x) - (self.y * j).double();
        let z = (self.z + h).square() - z1z1 - hh;
        Jacobian { x, y, z }
    }

    /// General addition ("add-2007-bl"), with the special cases.
    fn add(&self, q: &Jacobian) -> Self {
        if self.is_identity() {
            return *q;
        }
        if q.is_identity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x * z2z2;
        let u2 = q.x * z1z1;
        let s1 = self.y * q.z * z2z2;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - u1;
        let r = (s2 - s1).double();
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) { self.double() } else { Jacobian::IDENTITY };
        }
        let i = h.double().square();
        let j = h * i;
        let v = u1 * i;
        let x = r.square() - j - v.double();
        let y = r * (v - x) - (s1 * j).double();
        let z = ((self.z + q.z).square() - z1z1 - z2z2) * h;
        Jacobian { x, y, z }
    }

    /// Affine x coordinate, `None` for the identity.
    fn affine_x(&self) -> Option<FieldElement> {
        let z_inv: Option<FieldElement> = self.z.invert().into();
        z_inv.map(|zi| self.x * zi.square())
    }
}

/// Odd multiples `1·P, 3·P, …, (2^(w-1) - 1)·P`.
fn odd_multiples(p: Affine, w: u32) -> Vec<Jacobian> {
    let n = 1usize << (w - 2);
    let first = Jacobian::from_affine(p);
    let twice = first.double();
    let mut table = Vec::with_capacity(n);
    let mut cur = first;
    for _ in 0..n {
        table.push(cur);
        cur = cur.add(&twice);
    }
    table
}

fn generator_table() -> &'static [Affine] {
    static TABLE: OnceLock<Vec<Affine>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let g = ProjectivePoint::GENERATOR;
        let twice = g.double();
        let mut out = Vec::new();
        let mut cur = g;
        for _ in 0..(1usize << (G_WINDOW - 2)) {
            out.extend(Affine::from_point(&cur.to_affine()));
            cur += twice;
        }
        out
    })
}

/// `u1·G + u2·Q` in variable time.
fn lincomb(u1: &Scalar, q: Affine, u2: &Scalar) -> Jacobian {
    let g_table = generator_table();
    let q_table = odd_multiples(q, Q_WINDOW);
    let n1 = wnaf(&u1.to_bytes().into(), G_WINDOW);
    let n2 = wnaf(&u2.to_bytes().into(), Q_WINDOW);
    let mut acc = Jacobian::IDENTITY;
    let Some(top) = n1.iter().zip(&n2).rposition(|(a, b)| *a != 0 || *b != 0) else {
        return acc;
    };
    for i in (0..=top).rev() {
        acc = acc.double();
        let (d1, d2) = (n1.get(i).copied().unwrap_or(0), n2.get(i).copied().unwrap_or(0));
        if let Some(p) = g_table.get((d1.unsigned_abs() / 2) as usize).filter(|_| d1 != 0) {
            acc = acc.add_affine(&if d1 > 0 { *p } else { p.neg() });
        }
        if let Some(p) = q_table.get((d2.unsigned_abs() / 2) as usize).filter(|_| d2 != 0) {
            acc = acc.add(&if d2 > 0 { *p } else { p.neg() });
        }
    }
    acc
}

/// Verify an ECDSA P-256 signature over a 32-byte digest (SHA-256).
pub fn verify_prehash(key: &VerifyingKey, digest: &[u8; 32], signature: &Signature) -> bool {
    let (r, s) = signature.split_scalars();
    let e = <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(*digest));
    let s_inv: Option<Scalar> = s.as_ref().invert_vartime().into();
    let Some(s_inv) = s_inv else {
        return false;
    };
    let u1 = e * s_inv;
    let u2 = *r.as_ref() * s_inv;
    let Some(q) = Affine::from_point(key.as_affine()) else {
        return false;
    };
    let Some(x) = lincomb(&u1, q, &u2).affine_x() else {
        return false;
    };
    let x = <Scalar as Reduce<U256>>::reduce_bytes(&x.to_repr());
    x == *r.as_ref()
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    use p256::ecdsa::SigningKey;
    use p256::elliptic_curve::point::AffineCoordinates;
    use proptest::prelude::*;

    use super::*;

    fn key(seed: u8) -> SigningKey {
        let mut bytes = [seed; 32];
        bytes[0] = 1;
        SigningKey::from_slice(&bytes).unwrap()
    }

    #[test]
    fn naf_digits_rebuild_the_scalar() {
        for w in [Q_WINDOW, G_WINDOW] {
            for seed in 0u8..=255 {
                let be: [u8; 32] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7));
                let digits = wnaf(&be, w);
                // Horner evaluation in scalar arithmetic.
                let mut acc = Scalar::ZERO;
                for d in digits.iter().rev() {
                    acc = acc.double();
                    let v = Scalar::from(d.unsigned_abs() as u64);
                    acc = if *d < 0 { acc - v } else { acc + v };
                    assert!(*d == 0 || (d % 2 != 0 && d.unsigned_abs() < 1 << (w - 1)));
                }
                let want = <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(be));
                assert_eq!(acc, want, "w={w} seed={seed}");
            }
        }
    }

    /// `u1·G + u2·Q` by `p256`'s constant-time arithmetic, affine x (None for the identity).
    fn reference(u1: &Scalar, q: &ProjectivePoint, u2: &Scalar) -> Option<FieldBytes> {
        let p = ProjectivePoint::GENERATOR * u1 + *q * u2;
        (!bool::from(p.is_identity())).then(|| p.to_affine().x())
    }

    fn ours(u1: &Scalar, q: &ProjectivePoint, u2: &Scalar) -> Option<FieldBytes> {
        let q = Affine::from_point(&q.to_affine()).unwrap();
        lincomb(u1, q, u2).affine_x().map(|x| x.to_repr())
    }

    #[test]
    fn group_law_special_cases_match_p256() {
        let g = ProjectivePoint::GENERATOR;
        let three = Scalar::from(3u64);
        let q = g * three;
        let cases = [
            (Scalar::ZERO, g, Scalar::ONE),
            (Scalar::ONE, g, Scalar::ZERO),
            (Scalar::ONE, g, Scalar::ONE),  // G + G: doubling inside an addition
            (Scalar::ONE, g, -Scalar::ONE), // G - G: the identity
            (three, q, -Scalar::ONE),       // 3G - 3G
            (Scalar::from(5u64), q, Scalar::from(7u64)),
            (-Scalar::ONE, q, Scalar::from(2u64)),
            (Scalar::ZERO, q, Scalar::ZERO),
        ];
        for (u1, q, u2) in cases {
            assert_eq!(ours(&u1, &q, &u2), reference(&u1, &q, &u2), "{u1:?} {u2:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn lincomb_matches_p256(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), k in any::<[u8; 32]>()) {
            let red = |x: [u8; 32]| <Scalar as Reduce<U256>>::reduce_bytes(&FieldBytes::from(x));
            let q = ProjectivePoint::GENERATOR * red(k);
            prop_assume!(!bool::from(q.is_identity()));
            prop_assert_eq!(ours(&red(a), &q, &red(b)), reference(&red(a), &q, &red(b)));
        }

        #[test]
        fn agrees_with_p256(seed in any::<u8>(), digest in any::<[u8; 32]>(), flip in 0usize..96, other in any::<[u8; 64]>()) {
            let sk = key(seed);
            let vk = *sk.verifying_key();
            let sig: Signature = sk.sign_prehash(&digest).unwrap();
            prop_assert!(verify_prehash(&vk, &digest, &sig));
            // Corrupt the digest or the signature: both verifiers reject.
            let mut d2 = digest;
            let mut raw = sig.to_bytes();
            if flip < 32 { d2[flip] ^= 1 } else { raw[flip - 32] ^= 1 }
            if let Ok(bad) = Signature::from_slice(&raw) {
                prop_assert_eq!(verify_prehash(&vk, &d2, &bad), vk.verify_prehash(&d2, &bad).is_ok());
            }
            // Random signatures agree too.
            if let Ok(rand) = Signature::from_slice(&other) {
                prop_assert_eq!(verify_prehash(&vk, &digest, &rand), vk.verify_prehash(&digest, &rand).is_ok());
            }
        }
    }
}
