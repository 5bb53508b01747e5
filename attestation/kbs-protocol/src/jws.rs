//! Compact JWS (RFC 7515) tokens: signing with ES256 and EdDSA (Ed25519),
//! verification of ES256, EdDSA and RS256.
//!
//! [`verify`] checks the signature only; token times are checked by
//! [`check_times`] so that callers choose the clock and the leeway.

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use p256::pkcs8::LineEnding;
use rand::rngs::OsRng;
use serde_json::{Map, Value};
use signature::{Signer, Verifier};
use zeroize::Zeroizing;

use crate::jwk::{ec_jwk, Jwk};
use crate::{b64, Error, Result};

/// Longest compact token accepted (1 MiB: EAR tokens carry whole TEE claim sets).
pub const MAX_TOKEN_LEN: usize = 1 << 20;
/// Longest PEM text read for a key.
pub const MAX_KEY_PEM_LEN: usize = 16 * 1024;

/// `alg` of ECDSA P-256 with SHA-256.
pub const ES256: &str = "ES256";
/// `alg` of Ed25519 (RFC 8037).
pub const EDDSA: &str = "EdDSA";
/// `alg` of RSASSA-PKCS1-v1_5 with SHA-256.
pub const RS256: &str = "RS256";

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// A private key that signs tokens. Zeroized on drop; `Debug` shows only the algorithm.
pub enum SigningKey {
    /// ECDSA P-256 (`ES256`).
    Es256(p256::ecdsa::SigningKey),
    /// Ed25519 (`EdDSA`).
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh P-256 key for `ES256`.
    pub fn generate_es256() -> Self {
        SigningKey::Es256(p256::ecdsa::SigningKey::random(&mut OsRng))
    }

    /// A fresh Ed25519 key for `EdDSA`.
    pub fn generate_ed25519() -> Self {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// Read a PKCS#8 PEM private key (P-256 or Ed25519).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        Error::check_size("signing key PEM", pem.len(), MAX_KEY_PEM_LEN)?;
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::Es256(k));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey::Ed25519)
            .map_err(|e| Error::key("signing key PEM (PKCS#8 P-256 or Ed25519)", e))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let pem = match self {
            SigningKey::Es256(k) => k.to_pkcs8_pem(LineEnding::LF),
            SigningKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        // Encoding a valid in-memory key into PKCS#8 has no failure case.
        pem.expect("PKCS#8 encoding of a valid key")
    }

    /// The JWS `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Es256(_) => ES256,
            SigningKey::Ed25519(_) => EDDSA,
        }
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Es256(k) => VerifyingKey::Es256(*k.verifying_key()),
            SigningKey::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
        }
    }

    /// The public key as a JWK (with `alg` and `use` `sig`).
    pub fn public_jwk(&self) -> Jwk {
        self.verifying_key().to_jwk()
    }

    fn sign_bytes(&self, input: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(input).to_bytes().to_vec(),
        }
    }
}

/// A public key that verifies tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyingKey {
    /// ECDSA P-256 (`ES256`).
    Es256(p256::ecdsa::VerifyingKey),
    /// Ed25519 (`EdDSA`).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA (`RS256`), 2048 to 8192 bits.
    Rs256(rsa::RsaPublicKey),
}

impl VerifyingKey {
    /// A key from a JWK: `EC` on P-256, `OKP` on Ed25519, or `RSA`. A JWK
    /// `alg`, when present, must be the one the key type verifies.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let (x, y) = (jwk.member("x", &jwk.x)?, jwk.member("y", &jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(Error::malformed("JWK", "P-256 coordinates must be 32 bytes each"));
                }
                let point =
                    p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
                VerifyingKey::Es256(
                    p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                        .map_err(|_| Error::malformed("JWK", "x/y is not a point on P-256"))?,
                )
            }
            ("OKP", Some("Ed25519")) => {
                let x: [u8; 32] = jwk
                    .member("x", &jwk.x)?
                    .try_into()
                    .map_err(|_| Error::malformed("JWK", "Ed25519 `x` must be 32 bytes"))?;
                VerifyingKey::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&x)
                        .map_err(|_| Error::malformed("JWK", "`x` is not an Ed25519 point"))?,
                )
            }
            ("RSA", _) => {
                let n = rsa::BigUint::from_bytes_be(&jwk.member("n", &jwk.n)?);
                let e = rsa::BigUint::from_bytes_be(&jwk.member("e", &jwk.e)?);
                rsa_key(n, e)?
            }
            (kty, crv) => {
                return Err(Error::Unsupported {
                    what: "JWS key",
                    expected: "EC P-256, OKP Ed25519 or RSA",
                    found: format!("kty {} crv {}", trunc(kty), trunc(crv.unwrap_or("-"))),
                })
            }
        };
        if let Some(alg) = &jwk.alg {
            if alg != key.alg() {
                return Err(Error::KeyMismatch { expected: format!("alg {}", key.alg()), found: trunc(alg) });
            }
        }
        Ok(key)
    }

    /// A key from SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`) of P-256,
    /// Ed25519 or RSA, or PKCS#1 `BEGIN RSA PUBLIC KEY`.
    pub fn from_public_pem(pem: &str) -> Result<Self> {
        Error::check_size("public key PEM", pem.len(), MAX_KEY_PEM_LEN)?;
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::Es256(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(VerifyingKey::Ed25519(k));
        }
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let k = rsa::RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|e| Error::key("public key PEM (P-256, Ed25519 or RSA)", e))?;
        rsa_key(k.n().clone(), k.e().clone())
    }

    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            VerifyingKey::Es256(_) => ES256,
            VerifyingKey::Ed25519(_) => EDDSA,
            VerifyingKey::Rs256(_) => RS256,
        }
    }

    /// The key as a JWK (with `alg` and `use` `sig`).
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = match self {
            VerifyingKey::Es256(k) => ec_jwk("P-256", k.to_encoded_point(false).as_bytes()),
            VerifyingKey::Ed25519(k) => Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(b64::url_encode(k.as_bytes())),
                ..Jwk::default()
            },
            VerifyingKey::Rs256(k) => {
                use rsa::traits::PublicKeyParts;
                Jwk {
                    kty: "RSA".into(),
                    n: Some(b64::url_encode(k.n().to_bytes_be())),
                    e: Some(b64::url_encode(k.e().to_bytes_be())),
                    ..Jwk::default()
                }
            }
        };
        jwk.alg = Some(self.alg().into());
        jwk.use_ = Some("sig".into());
        jwk
    }

    fn verify_bytes(&self, input: &[u8], sig: &[u8]) -> bool {
        match self {
            VerifyingKey::Es256(k) => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| sig.len() == 64 && k.verify(input, &s).is_ok())
            }
            VerifyingKey::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(input, &s).is_ok())
            }
            VerifyingKey::Rs256(k) => {
                let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(k.clone());
                rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| vk.verify(input, &s).is_ok())
            }
        }
    }
}

fn rsa_key(n: rsa::BigUint, e: rsa::BigUint) -> Result<VerifyingKey> {
    let bits = n.bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(Error::KeyMismatch {
            expected: format!("RSA modulus of {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"),
            found: format!("{bits} bits"),
        });
    }
    rsa::RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .map(VerifyingKey::Rs256)
        .map_err(|e| Error::key("RSA public key", e))
}

fn trunc(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Sign `claims` into a compact JWS. The header is `extra_header` with
/// `alg` (the key's) and `typ` `"JWT"` set over whatever it held.
pub fn sign(key: &SigningKey, claims: &Value, extra_header: Map<String, Value>) -> Result<String> {
    let mut header = extra_header;
    header.insert("alg".into(), Value::from(key.alg()));
    header.insert("typ".into(), Value::from("JWT"));
    let input =
        format!("{}.{}", b64::url_encode(Value::Object(header).to_string()), b64::url_encode(claims.to_string()));
    let sig = key.sign_bytes(input.as_bytes());
    Ok(format!("{input}.{}", b64::url_encode(sig)))
}

/// The parts of a compact token: header, claims, signing input and signature.
struct Parts<'a> {
    header: Map<String, Value>,
    claims: Value,
    signing_input: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>> {
    Error::check_size("JWS token", token.len(), MAX_TOKEN_LEN)?;
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(Error::malformed("JWS token", "expected three dot-separated parts"));
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64::url_decode("JWS header", h)?)
        .map_err(|e| Error::malformed("JWS header", format!("not a JSON object: {e}")))?;
    let claims: Value = serde_json::from_slice(&b64::url_decode("JWS payload", p)?)
        .map_err(|e| Error::malformed("JWS payload", format!("not JSON: {e}")))?;
    if !claims.is_object() {
        return Err(Error::malformed("JWS payload", "claims are not a JSON object"));
    }
    Ok(Parts { header, claims, signing_input: &token[..h.len() + 1 + p.len()], signature: s })
}

/// Header and claims of a token, without checking its signature.
///
/// For routing only (e.g. to find `kid`, `jwk` or `x5c` in the header);
/// never trust the result before [`verify`].
pub fn decode_unverified(token: &str) -> Result<(Value, Value)> {
    let parts = split(token)?;
    Ok((Value::Object(parts.header), parts.claims))
}

/// Verify a token's signature with one of `keys` and return its claims.
///
/// Only keys whose algorithm is the header's `alg` are tried; `none`, and
/// any `crit` extension, are rejected.
pub fn verify(token: &str, keys: &[VerifyingKey]) -> Result<Value> {
    let parts = split(token)?;
    let alg = parts
        .header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::malformed("JWS header", "no string `alg`"))?;
    if parts.header.contains_key("crit") {
        return Err(Error::Unsupported { what: "JWS header member", expected: "no crit", found: "crit".into() });
    }
    if ![ES256, EDDSA, RS256].contains(&alg) {
        return Err(Error::Unsupported { what: "JWS alg", expected: "ES256, EdDSA or RS256", found: trunc(alg) });
    }
    let candidates: Vec<&VerifyingKey> = keys.iter().filter(|k| k.alg() == alg).collect();
    if candidates.is_empty() {
        let mut have: Vec<&str> = keys.iter().map(VerifyingKey::alg).collect();
        have.dedup();
        return Err(Error::KeyMismatch {
            expected: format!("a key for {}", trunc(alg)),
            found: format!("keys for {have:?}"),
        });
    }
    let sig = b64::url_decode("JWS signature", parts.signature)?;
    if candidates.iter().any(|k| k.verify_bytes(parts.signing_input.as_bytes(), &sig)) {
        Ok(parts.claims)
    } else {
        Err(Error::BadSignature { alg: alg.to_string(), candidates: candidates.len() })
    }
}

/// Check `exp` (required) and `nbf` (optional) against `now_unix` with
/// `leeway_s` seconds of allowed clock skew.
pub fn check_times(claims: &Value, now_unix: i64, leeway_s: u64) -> Result<()> {
    let leeway = i64::try_from(leeway_s).unwrap_or(i64::MAX);
    let time = |name: &'static str| -> Result<Option<i64>> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| Error::malformed("token claims", format!("`{name}` is not a number"))),
        }
    };
    let exp = time("exp")?.ok_or_else(|| Error::malformed("token claims", "no `exp`"))?;
    if now_unix > exp.saturating_add(leeway) {
        return Err(Error::Expired { exp, now: now_unix, leeway_s });
    }
    if let Some(nbf) = time("nbf")? {
        if now_unix < nbf.saturating_sub(leeway) {
            return Err(Error::NotYetValid { nbf, now: now_unix, leeway_s });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7515 Appendix A.3: ES256 example token and key.
    #[test]
    fn rfc7515_es256_example_verifies() {
        let jwk = Jwk::from_json(
            r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let claims = verify(token, std::slice::from_ref(&key)).unwrap();
        assert_eq!(claims["iss"], "joe");
        assert!(matches!(check_times(&claims, 1_300_819_381, 0), Err(Error::Expired { .. })));
        check_times(&claims, 1_300_819_380, 0).unwrap();
        let mut bad = token.to_string();
        bad.replace_range(10..11, "X");
        assert!(verify(&bad, &[key]).is_err());
    }

    /// RFC 8037 Appendix A.4: Ed25519 signing is deterministic, so our
    /// signer must reproduce the RFC's signature exactly.
    #[test]
    fn rfc8037_ed25519_example_reproduced() {
        let d: [u8; 32] =
            b64::url_decode("d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap().try_into().unwrap();
        let key = SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d));
        assert_eq!(key.public_jwk().x.as_deref(), Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            b64::url_encode(key.sign_bytes(input.as_bytes())),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        let sig = b64::url_decode(
            "s",
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
        )
        .unwrap();
        assert!(key.verifying_key().verify_bytes(input.as_bytes(), &sig));
        assert!(!key.verifying_key().verify_bytes(b"other", &sig));
    }

    #[test]
    fn sign_verify_and_alg_confusion() {
        let es = SigningKey::generate_es256();
        let ed = SigningKey::generate_ed25519();
        let mut extra = Map::new();
        extra.insert("kid".into(), json!("k1"));
        extra.insert("alg".into(), json!("none"));
        let t = sign(&es, &json!({"sub": "x", "exp": 10}), extra).unwrap();
        let (h, c) = decode_unverified(&t).unwrap();
        assert_eq!((h["alg"].as_str(), h["typ"].as_str(), h["kid"].as_str()), (Some("ES256"), Some("JWT"), Some("k1")));
        assert_eq!(c["sub"], "x");
        assert_eq!(verify(&t, &[ed.verifying_key(), es.verifying_key()]).unwrap(), c);
        assert!(matches!(verify(&t, &[ed.verifying_key()]), Err(Error::KeyMismatch { .. })));
        let other = SigningKey::generate_es256();
        assert!(matches!(verify(&t, &[other.verifying_key()]), Err(Error::BadSignature { candidates: 1, .. })));
        let t2 = sign(&ed, &json!({"exp": 10}), Map::new()).unwrap();
        assert!(verify(&t2, &[ed.verifying_key()]).is_ok());
        // A token whose header says "none" is never accepted.
        let none = format!("{}.{}.", b64::url_encode(r#"{"alg":"none"}"#), b64::url_encode("{}"));
        assert!(verify(&none, &[es.verifying_key()]).is_err());
    }

    #[test]
    fn keys_round_trip_through_pem_and_jwk() {
        for k in [SigningKey::generate_es256(), SigningKey::generate_ed25519()] {
            let pem = k.to_pkcs8_pem();
            let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(back.verifying_key(), k.verifying_key());
            assert_eq!(VerifyingKey::from_jwk(&k.public_jwk()).unwrap(), k.verifying_key());
            assert!(!format!("{k:?}").contains(&pem[30..50]));
        }
        let mut jwk = SigningKey::generate_es256().public_jwk();
        jwk.alg = Some("RS256".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn times() {
        let c = json!({"exp": 100, "nbf": 50});
        check_times(&c, 100, 0).unwrap();
        check_times(&c, 105, 5).unwrap();
        assert!(matches!(check_times(&c, 106, 5), Err(Error::Expired { .. })));
        assert!(matches!(check_times(&c, 40, 5), Err(Error::NotYetValid { .. })));
        assert!(check_times(&json!({}), 0, 0).is_err());
        assert!(check_times(&json!({"exp": "soon"}), 0, 0).is_err());
    }
}
