//! Resource responses: JWE (RFC 7516) in flattened JSON serialization.
//!
//! Content encryption is always `A256GCM` with a fresh 32-byte key (CEK)
//! and 12-byte IV; the additional authenticated data is the ASCII of the
//! `protected` member. Key management (RFC 7518):
//!
//! * `RSA-OAEP-256` — CEK encrypted with RSAES-OAEP, SHA-256 and MGF1-SHA-256;
//! * `RSA1_5` — CEK encrypted with RSAES-PKCS1-v1_5 (deprecated; decrypted
//!   with the RFC 7516 §11.5 countermeasure: a bad padding yields a random
//!   CEK, so the failure shows only as a failed content check);
//! * `ECDH-ES+A256KW` on P-256 or P-521 — ephemeral-static ECDH, Concat KDF
//!   (SHA-256, AlgorithmID `"ECDH-ES+A256KW"`, PartyUInfo/PartyVInfo from
//!   `apu`/`apv`, empty when absent, 256-bit output), then AES key wrap
//!   (RFC 3394) of the CEK. The ephemeral public key is the header's `epk`.
//!
//! [`decrypt_json`] opens JWEs made by other JOSE libraries with a
//! [`DecryptionKey`] read from PEM: the general JSON serialization with
//! `recipients` (one encrypted CEK per recipient, e.g. go-jose's
//! `FullSerialize`, as ocicrypt writes image layer keys) or the flattened one;
//! besides the algorithms above it accepts `RSA-OAEP` (SHA-1 and MGF1-SHA-1,
//! go-jose's choice for RSA keys) and `ECDH-ES+A256KW` on P-384.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::messages::{Response, TeePubKey};
use crate::tee_key::PrivateKey;
use crate::{b64, Error, Result};

/// `alg` for RSAES-OAEP with SHA-256.
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
/// `alg` for RSAES-OAEP with SHA-1 (only accepted by [`decrypt_json`]).
pub const ALG_RSA_OAEP: &str = "RSA-OAEP";
/// `alg` for RSAES-PKCS1-v1_5 (deprecated, still accepted).
pub const ALG_RSA1_5: &str = "RSA1_5";
/// `alg` for ECDH-ES with AES-256 key wrap.
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// The only content encryption used.
pub const ENC_A256GCM: &str = "A256GCM";

/// Largest plaintext encrypted or decrypted (16 MiB).
pub const MAX_PLAINTEXT_LEN: usize = 16 << 20;
/// Longest `protected` member accepted, in base64url characters.
pub const MAX_PROTECTED_LEN: usize = 8 * 1024;
/// Longest `encrypted_key` accepted, in base64url characters (RSA-4096 needs 683).
pub const MAX_ENCRYPTED_KEY_LEN: usize = 1024;

/// Most members accepted in each unprotected header (`unprotected`, `header`).
pub const MAX_UNPROTECTED_MEMBERS: usize = 64;

const CEK_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const WRAPPED_CEK_LEN: usize = CEK_LEN + 8;
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

/// A recipient public key, checked and ready to use.
enum Recipient {
    Rsa { key: rsa::RsaPublicKey, oaep: bool },
    P256(p256::PublicKey),
    P521(p521::PublicKey),
}

/// Encrypt `plaintext` to `tee_pubkey` with the algorithm the key advertises.
pub fn encrypt(tee_pubkey: &TeePubKey, plaintext: &[u8]) -> Result<Response> {
    Error::check_size("JWE plaintext", plaintext.len(), MAX_PLAINTEXT_LEN)?;
    let recipient = recipient_of(tee_pubkey)?;
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    OsRng.fill_bytes(cek.as_mut());

    let mut header = Map::new();
    let encrypted_key = match &recipient {
        Recipient::Rsa { key, oaep } => {
            header.insert("alg".into(), json!(if *oaep { ALG_RSA_OAEP_256 } else { ALG_RSA1_5 }));
            let ek = if *oaep {
                key.encrypt(&mut OsRng, rsa::Oaep::new::<Sha256>(), cek.as_ref())
            } else {
                key.encrypt(&mut OsRng, rsa::Pkcs1v15Encrypt, cek.as_ref())
            };
            ek.map_err(|_| Error::Crypto("RSA encryption of the content key"))?
        }
        Recipient::P256(key) => {
            // Ephemeral-static ECDH through ring, several times faster than
            // p256 (the KBS does one per released resource). The recipient
            // key was already checked to be on the curve by p256; ring checks
            // it again. The shared secret is the x coordinate, as with p256.
            use ring::agreement;
            let rng = ring::rand::SystemRandom::new();
            let eph = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
                .map_err(|_| Error::Crypto("P-256 ephemeral key generation"))?;
            let eph_public = eph.compute_public_key().map_err(|_| Error::Crypto("P-256 ephemeral public key"))?;
            let peer = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(key, false);
            let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, peer.as_bytes());
            header.insert("alg".into(), json!(ALG_ECDH_ES_A256KW));
            header.insert("epk".into(), epk_json("P-256", eph_public.as_ref()));
            agreement::agree_ephemeral(eph, &peer, |z| wrap_cek(z, &cek)).map_err(|_| Error::Crypto("P-256 ECDH"))??
        }
        Recipient::P521(key) => {
            let eph = p521::ecdh::EphemeralSecret::random(&mut OsRng);
            let shared = eph.diffie_hellman(key);
            header.insert("alg".into(), json!(ALG_ECDH_ES_A256KW));
            header.insert("epk".into(), epk_json("P-521", p521::EncodedPoint::from(eph.public_key()).as_bytes()));
            wrap_cek(shared.raw_secret_bytes(), &cek)?
        }
    };
    header.insert("enc".into(), json!(ENC_A256GCM));
    let protected = b64::url_encode(Value::Object(header).to_string());

    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    let cipher = Aes256Gcm::new_from_slice(cek.as_ref()).map_err(|_| Error::Crypto("AES-256-GCM key setup"))?;
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(iv), protected.as_bytes(), &mut buf)
        .map_err(|_| Error::Crypto("AES-256-GCM encryption"))?;
    Ok(Response {
        protected,
        encrypted_key: b64::url_encode(encrypted_key),
        aad: None,
        unprotected: None,
        header: None,
        iv: b64::url_encode(iv),
        ciphertext: b64::url_encode(buf),
        tag: b64::url_encode(tag),
    })
}

fn recipient_of(key: &TeePubKey) -> Result<Recipient> {
    match key {
        TeePubKey::Rsa { alg, n, e } => {
            let oaep = match alg.as_str() {
                ALG_RSA_OAEP_256 => true,
                ALG_RSA1_5 => false,
                other => return Err(unsupported_alg(other)),
            };
            let n = rsa::BigUint::from_bytes_be(&b64::url_decode("RSA modulus n", n)?);
            let e = rsa::BigUint::from_bytes_be(&b64::url_decode("RSA exponent e", e)?);
            let bits = n.bits();
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(Error::KeyMismatch {
                    expected: format!("RSA modulus of {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"),
                    found: format!("{bits} bits"),
                });
            }
            let key = rsa::RsaPublicKey::new(n, e).map_err(|e| Error::key("RSA public key", e))?;
            Ok(Recipient::Rsa { key, oaep })
        }
        TeePubKey::Ec { crv, alg, x, y } => {
            if alg != ALG_ECDH_ES_A256KW {
                return Err(unsupported_alg(alg));
            }
            match crv.as_str() {
                "P-256" => Ok(Recipient::P256(
                    p256::PublicKey::from_sec1_bytes(&ec_point(x, y, 32)?)
                        .map_err(|_| Error::malformed("TEE public key", "x/y is not a point on P-256"))?,
                )),
                "P-521" => Ok(Recipient::P521(
                    p521::PublicKey::from_sec1_bytes(&ec_point(x, y, 66)?)
                        .map_err(|_| Error::malformed("TEE public key", "x/y is not a point on P-521"))?,
                )),
                other => Err(Error::Unsupported {
                    what: "curve",
                    expected: "P-256 or P-521",
                    found: other.chars().take(32).collect(),
                }),
            }
        }
        TeePubKey::Akp { alg, .. } => Err(unsupported_alg(alg)),
    }
}

fn unsupported_alg(found: &str) -> Error {
    Error::Unsupported {
        what: "JWE key management algorithm",
        expected: "RSA-OAEP-256, RSA1_5 or ECDH-ES+A256KW",
        found: found.chars().take(64).collect(),
    }
}

/// Uncompressed SEC1 point from base64url coordinates of `len` bytes each.
fn ec_point(x: &str, y: &str, len: usize) -> Result<Vec<u8>> {
    let x = b64::url_decode("EC x", x)?;
    let y = b64::url_decode("EC y", y)?;
    if x.len() != len || y.len() != len {
        return Err(Error::malformed(
            "EC public key",
            format!("coordinates must be {len} bytes each, found x {} and y {}", x.len(), y.len()),
        ));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

fn epk_json(crv: &str, sec1_uncompressed: &[u8]) -> Value {
    let coords = &sec1_uncompressed[1..];
    let (x, y) = coords.split_at(coords.len() / 2);
    json!({"kty": "EC", "crv": crv, "x": b64::url_encode(x), "y": b64::url_encode(y)})
}

/// Concat KDF of RFC 7518 §4.6.2 for a 256-bit key (one SHA-256 round).
fn concat_kdf(z: &[u8], apu: &[u8], apv: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    for part in [ALG_ECDH_ES_A256KW.as_bytes(), apu, apv] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.update(256u32.to_be_bytes());
    Zeroizing::new(h.finalize().into())
}

fn wrap_cek(z: &[u8], cek: &[u8; CEK_LEN]) -> Result<Vec<u8>> {
    let kek = aes_kw::KekAes256::from(*concat_kdf(z, &[], &[]));
    let mut out = vec![0u8; WRAPPED_CEK_LEN];
    kek.wrap(cek, &mut out).map_err(|_| Error::Crypto("AES key wrap"))?;
    Ok(out)
}

/// Decrypt `response` with `key` (see [`TeeKeyPair::decrypt`](crate::tee_key::TeeKeyPair::decrypt)).
pub(crate) fn decrypt(key: &PrivateKey, response: &Response) -> Result<Zeroizing<Vec<u8>>> {
    let key = match key {
        PrivateKey::Rsa(k) => KeyRef::Rsa { key: k, oaep_sha1: false },
        PrivateKey::P256(k) => KeyRef::P256(k),
        PrivateKey::P521(k) => KeyRef::P521(k),
    };
    decrypt_with(key, response)
}

/// A private key as [`unwrap_cek`] uses it; `oaep_sha1` allows `RSA-OAEP`.
#[derive(Clone, Copy)]
enum KeyRef<'a> {
    Rsa { key: &'a rsa::RsaPrivateKey, oaep_sha1: bool },
    P256(&'a p256::SecretKey),
    P384(&'a p384::SecretKey),
    P521(&'a p521::SecretKey),
}

fn decrypt_with(key: KeyRef<'_>, response: &Response) -> Result<Zeroizing<Vec<u8>>> {
    Error::check_size("JWE protected header", response.protected.len(), MAX_PROTECTED_LEN)?;
    Error::check_size("JWE encrypted_key", response.encrypted_key.len(), MAX_ENCRYPTED_KEY_LEN)?;
    Error::check_size("JWE ciphertext", response.ciphertext.len(), MAX_PLAINTEXT_LEN / 3 * 4 + 4)?;
    Error::check_size("JWE aad", response.aad.as_deref().map_or(0, str::len), MAX_PROTECTED_LEN)?;
    let mut header: Map<String, Value> =
        serde_json::from_slice(&b64::url_decode("JWE protected", &response.protected)?)
            .map_err(|e| Error::malformed("JWE protected header", e.to_string()))?;
    // The JOSE header is the union of the protected, shared unprotected and
    // per-recipient headers, whose member names must be disjoint (RFC 7516 §7.2.1).
    for extra in [&response.unprotected, &response.header].into_iter().flatten() {
        if extra.len() > MAX_UNPROTECTED_MEMBERS {
            return Err(Error::malformed(
                "JWE unprotected header",
                format!("{} members, at most {MAX_UNPROTECTED_MEMBERS} allowed", extra.len()),
            ));
        }
        for (name, value) in extra {
            if name == "crit" || header.insert(name.clone(), value.clone()).is_some() {
                return Err(Error::malformed(
                    "JWE header",
                    format!("member `{}` repeated or unprotected", trunc(name)),
                ));
            }
        }
    }
    let member = |name: &'static str| header.get(name).and_then(Value::as_str);
    let enc = member("enc").ok_or_else(|| Error::malformed("JWE protected header", "no string `enc`"))?;
    if enc != ENC_A256GCM {
        return Err(Error::Unsupported { what: "JWE content encryption", expected: "A256GCM", found: trunc(enc) });
    }
    for unsupported in ["zip", "crit"] {
        if header.contains_key(unsupported) {
            return Err(Error::Unsupported { what: "JWE header member", expected: "none", found: unsupported.into() });
        }
    }
    let alg = member("alg").ok_or_else(|| Error::malformed("JWE protected header", "no string `alg`"))?;
    let iv = b64::url_decode("JWE iv", &response.iv)?;
    let tag = b64::url_decode("JWE tag", &response.tag)?;
    let (Ok(iv), Ok(tag)) = (<[u8; IV_LEN]>::try_from(iv.as_slice()), <[u8; TAG_LEN]>::try_from(tag.as_slice())) else {
        return Err(Error::malformed(
            "JWE",
            format!("iv/tag must be {IV_LEN}/{TAG_LEN} bytes, found {}/{}", iv.len(), tag.len()),
        ));
    };
    let encrypted_key = b64::url_decode("JWE encrypted_key", &response.encrypted_key)?;
    let cek = unwrap_cek(key, alg, &header, &encrypted_key)?;

    let mut aad = response.protected.clone().into_bytes();
    if let Some(extra) = &response.aad {
        aad.push(b'.');
        aad.extend_from_slice(extra.as_bytes());
    }
    let mut buf = Zeroizing::new(b64::url_decode("JWE ciphertext", &response.ciphertext)?);
    let cipher = Aes256Gcm::new_from_slice(cek.as_ref()).map_err(|_| Error::Crypto("AES-256-GCM key setup"))?;
    cipher
        .decrypt_in_place_detached(&Nonce::from(iv), &aad, &mut buf, &Tag::from(tag))
        .map_err(|_| Error::Decrypt("content authentication failed"))?;
    Ok(buf)
}

fn trunc(s: &str) -> String {
    s.chars().take(64).collect()
}

fn unwrap_cek(
    key: KeyRef<'_>,
    alg: &str,
    header: &Map<String, Value>,
    encrypted_key: &[u8],
) -> Result<Zeroizing<[u8; CEK_LEN]>> {
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    match (key, alg) {
        (KeyRef::Rsa { key: k, oaep_sha1 }, ALG_RSA_OAEP_256 | ALG_RSA_OAEP) => {
            let padding = if alg == ALG_RSA_OAEP_256 {
                rsa::Oaep::new::<Sha256>()
            } else if oaep_sha1 {
                rsa::Oaep::new::<sha1::Sha1>()
            } else {
                return Err(Error::KeyMismatch {
                    expected: "RSA-OAEP-256 or RSA1_5 (RSA key)".into(),
                    found: ALG_RSA_OAEP.into(),
                });
            };
            let plain = Zeroizing::new(
                k.decrypt_blinded(&mut OsRng, padding, encrypted_key)
                    .map_err(|_| Error::Decrypt("content key decryption failed"))?,
            );
            if plain.len() != CEK_LEN {
                return Err(Error::Decrypt("content key decryption failed"));
            }
            cek.copy_from_slice(&plain);
        }
        (KeyRef::Rsa { key: k, .. }, ALG_RSA1_5) => {
            // RFC 7516 §11.5: never reveal a padding failure; carry on with a
            // random key so the content check fails the same way.
            OsRng.fill_bytes(cek.as_mut());
            if encrypted_key.len() == k.size() {
                if let Ok(plain) = k.decrypt_blinded(&mut OsRng, rsa::Pkcs1v15Encrypt, encrypted_key) {
                    let plain = Zeroizing::new(plain);
                    if plain.len() == CEK_LEN {
                        cek.copy_from_slice(&plain);
                    }
                }
            }
        }
        (KeyRef::P256(k), ALG_ECDH_ES_A256KW) => {
            let epk = p256::PublicKey::from_sec1_bytes(&epk_point(header, "P-256", 32)?)
                .map_err(|_| Error::malformed("JWE epk", "not a point on P-256"))?;
            let shared = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), epk.as_affine());
            unwrap_with_kek(shared.raw_secret_bytes(), header, encrypted_key, &mut cek)?;
        }
        (KeyRef::P384(k), ALG_ECDH_ES_A256KW) => {
            let epk = p384::PublicKey::from_sec1_bytes(&epk_point(header, "P-384", 48)?)
                .map_err(|_| Error::malformed("JWE epk", "not a point on P-384"))?;
            let shared = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), epk.as_affine());
            unwrap_with_kek(shared.raw_secret_bytes(), header, encrypted_key, &mut cek)?;
        }
        (KeyRef::P521(k), ALG_ECDH_ES_A256KW) => {
            let epk = p521::PublicKey::from_sec1_bytes(&epk_point(header, "P-521", 66)?)
                .map_err(|_| Error::malformed("JWE epk", "not a point on P-521"))?;
            let shared = p521::ecdh::diffie_hellman(k.to_nonzero_scalar(), epk.as_affine());
            unwrap_with_kek(shared.raw_secret_bytes(), header, encrypted_key, &mut cek)?;
        }
        (key, alg) => {
            let expected = match key {
                KeyRef::Rsa { oaep_sha1: false, .. } => "RSA-OAEP-256 or RSA1_5 (RSA key)",
                KeyRef::Rsa { oaep_sha1: true, .. } => "RSA-OAEP-256, RSA-OAEP or RSA1_5 (RSA key)",
                KeyRef::P256(_) | KeyRef::P384(_) | KeyRef::P521(_) => "ECDH-ES+A256KW (EC key)",
            };
            return Err(Error::KeyMismatch { expected: expected.into(), found: trunc(alg) });
        }
    }
    Ok(cek)
}

fn epk_point(header: &Map<String, Value>, crv: &str, len: usize) -> Result<Vec<u8>> {
    let epk = header.get("epk").and_then(Value::as_object).ok_or_else(|| Error::malformed("JWE header", "no `epk`"))?;
    let get = |name: &str| epk.get(name).and_then(Value::as_str).unwrap_or_default();
    if get("kty") != "EC" || get("crv") != crv {
        return Err(Error::KeyMismatch {
            expected: format!("epk of kty EC on {crv}"),
            found: format!("kty {} crv {}", trunc(get("kty")), trunc(get("crv"))),
        });
    }
    ec_point(get("x"), get("y"), len)
}

fn unwrap_with_kek(
    z: &[u8],
    header: &Map<String, Value>,
    encrypted_key: &[u8],
    cek: &mut Zeroizing<[u8; CEK_LEN]>,
) -> Result<()> {
    let party = |name: &'static str| -> Result<Vec<u8>> {
        match header.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => b64::url_decode(name, s),
            Some(_) => Err(Error::malformed("JWE header", format!("`{name}` is not a string"))),
        }
    };
    let kek = aes_kw::KekAes256::from(*concat_kdf(z, &party("apu")?, &party("apv")?));
    if encrypted_key.len() != WRAPPED_CEK_LEN {
        return Err(Error::Decrypt("wrapped content key has the wrong length"));
    }
    kek.unwrap(encrypted_key, cek.as_mut()).map_err(|_| Error::Decrypt("content key unwrap failed"))
}

/// Longest JWE JSON [`decrypt_json`] reads (64 KiB: a few recipients and a small payload).
pub const MAX_JSON_LEN: usize = 64 * 1024;
/// Most recipients [`decrypt_json`] accepts in one JWE.
pub const MAX_RECIPIENTS: usize = 32;
/// Longest PEM text [`DecryptionKey::from_pem`] reads.
pub const MAX_KEY_PEM_LEN: usize = 32 * 1024;

/// A private key that opens JWEs made by other JOSE libraries: RSA (2048 to
/// 4096 bits; `RSA-OAEP`, `RSA-OAEP-256`, `RSA1_5`) or EC on P-256, P-384 or
/// P-521 (`ECDH-ES+A256KW`). Zeroized on drop; `Debug` shows only the kind.
pub struct DecryptionKey(DecryptionKeyInner);

enum DecryptionKeyInner {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DecryptionKey").field(&self.kind()).finish()
    }
}

impl DecryptionKey {
    /// Reads the first private key of a PEM text: `PRIVATE KEY` (PKCS#8, RSA
    /// or EC), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1; an
    /// `EC PARAMETERS` block before it, as `openssl ecparam -genkey` writes,
    /// is skipped). Encrypted PEM keys are not supported.
    pub fn from_pem(pem: &str) -> Result<Self> {
        Error::check_size("private key PEM", pem.len(), MAX_KEY_PEM_LEN)?;
        let mut rest = pem;
        let mut labels = Vec::new();
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            let label_end =
                block[11..].find("-----").map(|i| i + 11).ok_or_else(|| bad_pem("unterminated BEGIN line"))?;
            let label = &block[11..label_end];
            let end_marker = format!("-----END {label}-----");
            let end = block.find(&end_marker).ok_or_else(|| bad_pem("a block has no END line"))? + end_marker.len();
            rest = &block[end..];
            labels.push(label.chars().take(32).collect::<String>());
            let (_, der) = p256::pkcs8::der::pem::decode_vec(&block.as_bytes()[..end])
                .map_err(|e| bad_pem(format!("block {}: {e}", label.chars().take(32).collect::<String>())))?;
            let der = Zeroizing::new(der);
            let inner = match label {
                "EC PARAMETERS" => continue,
                "PRIVATE KEY" => Self::from_pkcs8(&der)?,
                "RSA PRIVATE KEY" => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    DecryptionKeyInner::Rsa(Box::new(
                        rsa::RsaPrivateKey::from_pkcs1_der(&der)
                            .map_err(|e| Error::key("PKCS#1 RSA private key", e))?,
                    ))
                }
                "EC PRIVATE KEY" => Self::from_sec1(&der)?,
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::Unsupported {
                        what: "private key PEM",
                        expected: "an unencrypted key",
                        found: "ENCRYPTED PRIVATE KEY".into(),
                    })
                }
                _ => continue,
            };
            let key = DecryptionKey(inner);
            key.check()?;
            return Ok(key);
        }
        Err(bad_pem(format!(
            "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block (found: {})",
            if labels.is_empty() { "no PEM blocks".to_string() } else { labels.join(", ") }
        )))
    }

    fn from_pkcs8(der: &[u8]) -> Result<DecryptionKeyInner> {
        use p256::pkcs8::DecodePrivateKey;
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(DecryptionKeyInner::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(DecryptionKeyInner::P256(k));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
            return Ok(DecryptionKeyInner::P384(k));
        }
        p521::SecretKey::from_pkcs8_der(der)
            .map(DecryptionKeyInner::P521)
            .map_err(|_| bad_pem("PKCS#8 key is neither RSA nor EC on P-256, P-384 or P-521"))
    }

    fn from_sec1(der: &[u8]) -> Result<DecryptionKeyInner> {
        // SEC1 keys name their curve; a key of another curve fails to parse.
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(DecryptionKeyInner::P256(k));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(DecryptionKeyInner::P384(k));
        }
        p521::SecretKey::from_sec1_der(der)
            .map(DecryptionKeyInner::P521)
            .map_err(|_| bad_pem("SEC1 EC key is not on P-256, P-384 or P-521"))
    }

    fn check(&self) -> Result<()> {
        if let DecryptionKeyInner::Rsa(k) = &self.0 {
            let bits = k.n().bits();
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(Error::KeyMismatch {
                    expected: format!("RSA key of {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"),
                    found: format!("{bits} bits"),
                });
            }
            k.validate().map_err(|e| Error::key("RSA private key", e))?;
        }
        Ok(())
    }

    /// The key's kind: `RSA-2048`, `EC P-384`, …
    pub fn kind(&self) -> String {
        match &self.0 {
            DecryptionKeyInner::Rsa(k) => format!("RSA-{}", k.n().bits()),
            DecryptionKeyInner::P256(_) => "EC P-256".into(),
            DecryptionKeyInner::P384(_) => "EC P-384".into(),
            DecryptionKeyInner::P521(_) => "EC P-521".into(),
        }
    }

    fn as_ref(&self) -> KeyRef<'_> {
        match &self.0 {
            DecryptionKeyInner::Rsa(k) => KeyRef::Rsa { key: k, oaep_sha1: true },
            DecryptionKeyInner::P256(k) => KeyRef::P256(k),
            DecryptionKeyInner::P384(k) => KeyRef::P384(k),
            DecryptionKeyInner::P521(k) => KeyRef::P521(k),
        }
    }
}

fn bad_pem(reason: impl Into<String>) -> Error {
    Error::malformed("private key PEM", reason)
}

/// A JWE in the general (`recipients`) or flattened JSON serialization.
#[derive(serde::Deserialize)]
struct JsonJwe {
    protected: String,
    #[serde(default)]
    unprotected: Option<Map<String, Value>>,
    #[serde(default)]
    header: Option<Map<String, Value>>,
    #[serde(default)]
    encrypted_key: Option<String>,
    #[serde(default)]
    recipients: Option<Vec<JsonRecipient>>,
    #[serde(default)]
    aad: Option<String>,
    iv: String,
    ciphertext: String,
    tag: String,
}

#[derive(serde::Deserialize)]
struct JsonRecipient {
    #[serde(default)]
    header: Option<Map<String, Value>>,
    #[serde(default)]
    encrypted_key: String,
}

/// Decrypt a JWE in the general or flattened JSON serialization with the
/// first of `keys` that opens one of its recipients (every key is tried on
/// every recipient). Content encryption must be `A256GCM`.
///
/// When no key fits, the error is [`Error::NoMatchingKey`], which names the
/// recipients' algorithms but nothing of the keys.
pub fn decrypt_json<'k>(keys: impl IntoIterator<Item = &'k DecryptionKey>, jwe: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let keys: Vec<&DecryptionKey> = keys.into_iter().collect();
    Error::check_size("JWE JSON", jwe.len(), MAX_JSON_LEN)?;
    let jwe: JsonJwe = serde_json::from_slice(jwe).map_err(|e| Error::malformed("JWE JSON", e.to_string()))?;
    // go-jose writes a top-level `encrypted_key` (the first recipient's) next
    // to `recipients`; with `recipients` present only those count.
    let recipients = match jwe.recipients {
        Some(r) => r,
        None => vec![JsonRecipient { header: jwe.header, encrypted_key: jwe.encrypted_key.unwrap_or_default() }],
    };
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(Error::malformed(
            "JWE JSON",
            format!("{} recipients, expected 1 to {MAX_RECIPIENTS}", recipients.len()),
        ));
    }
    let mut algs = Vec::new();
    // A failure that no key could avoid (bad iv, unsupported `enc`, …) is
    // reported as such when no attempt failed for key reasons.
    let mut structural: Option<Error> = None;
    let mut key_failures = 0usize;
    for recipient in recipients {
        let alg = recipient_alg(&jwe.protected, recipient.header.as_ref());
        let flat = Response {
            protected: jwe.protected.clone(),
            encrypted_key: recipient.encrypted_key,
            aad: jwe.aad.clone(),
            unprotected: jwe.unprotected.clone(),
            header: recipient.header,
            iv: jwe.iv.clone(),
            ciphertext: jwe.ciphertext.clone(),
            tag: jwe.tag.clone(),
        };
        for key in &keys {
            match decrypt_with(key.as_ref(), &flat) {
                Ok(plain) => return Ok(plain),
                // A malformed shared part fails for every key and recipient.
                Err(e @ Error::TooLarge { .. }) => return Err(e),
                Err(Error::Decrypt(_) | Error::KeyMismatch { .. }) => key_failures += 1,
                Err(e) => {
                    structural.get_or_insert(e);
                }
            }
        }
        algs.push(alg);
    }
    match structural {
        Some(e) if key_failures == 0 => Err(e),
        _ => Err(Error::NoMatchingKey { keys: keys.len(), recipients: algs.len(), algs: algs.join(", ") }),
    }
}

/// The `alg` (and `epk` curve) of one recipient, for error messages.
fn recipient_alg(protected: &str, header: Option<&Map<String, Value>>) -> String {
    let protected: Option<Map<String, Value>> =
        b64::url_decode("JWE protected", protected).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let get =
        |name: &str| header.and_then(|h| h.get(name)).or_else(|| protected.as_ref().and_then(|p| p.get(name))).cloned();
    let alg = get("alg").and_then(|v| v.as_str().map(trunc)).unwrap_or_else(|| "no alg".into());
    match get("epk").and_then(|e| e.get("crv").and_then(Value::as_str).map(trunc)) {
        Some(crv) => format!("{alg} {crv}"),
        None => alg,
    }
}

/// Key-management algorithms [`encrypt`] produces and
/// [`TeeKeyPair::decrypt`](crate::tee_key::TeeKeyPair::decrypt) accepts.
pub const SUPPORTED_ALGS: [&str; 3] = [ALG_RSA_OAEP_256, ALG_RSA1_5, ALG_ECDH_ES_A256KW];

/// `tee_pubkey` with its `alg` replaced (e.g. an RSA key re-labelled
/// `RSA1_5` to encrypt for a client that only handles that).
pub fn with_alg(tee_pubkey: &TeePubKey, alg: &str) -> TeePubKey {
    let mut k = tee_pubkey.clone();
    match &mut k {
        TeePubKey::Rsa { alg: a, .. } | TeePubKey::Ec { alg: a, .. } | TeePubKey::Akp { alg: a, .. } => {
            *a = alg.to_string()
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
    use p256::pkcs8::LineEnding;

    #[test]
    fn round_trip_every_alg() {
        let msg = b"resource bytes \x00\xff";
        for alg in [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521, TeeKeyAlgorithm::RsaOaep256] {
            let k = TeeKeyPair::generate(alg).unwrap();
            let mut pubs = vec![k.public_key()];
            if alg == TeeKeyAlgorithm::RsaOaep256 {
                pubs.push(with_alg(&k.public_key(), ALG_RSA1_5));
            }
            for p in pubs {
                let r = encrypt(&p, msg).unwrap();
                let h: Value = serde_json::from_slice(&b64::url_decode("p", &r.protected).unwrap()).unwrap();
                assert_eq!(h["alg"], p.alg());
                assert_eq!(h["enc"], "A256GCM");
                assert_eq!(k.decrypt(&r).unwrap().as_slice(), msg);
                if p.alg() == ALG_ECDH_ES_A256KW {
                    assert_eq!(b64::url_decode("k", &r.encrypted_key).unwrap().len(), 40);
                }
                // Any change to authenticated parts must fail.
                let mut bad = r.clone();
                bad.ciphertext = b64::url_encode(b"resource bytes \x00\xfe");
                assert!(k.decrypt(&bad).is_err());
                let mut bad = r.clone();
                bad.aad = Some("eA".into());
                assert!(k.decrypt(&bad).is_err());
            }
        }
    }

    #[test]
    fn wrong_key_and_wrong_alg_fail() {
        let a = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
        let b = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
        let c = TeeKeyPair::generate(TeeKeyAlgorithm::EcP521).unwrap();
        let r = encrypt(&a.public_key(), b"x").unwrap();
        assert!(matches!(b.decrypt(&r), Err(Error::Decrypt(_))));
        assert!(matches!(c.decrypt(&r), Err(Error::KeyMismatch { .. })));
        assert!(encrypt(&with_alg(&a.public_key(), "ECDH-ES"), b"x").is_err());
        assert!(encrypt(&with_alg(&a.public_key(), "RSA-OAEP-256"), b"x").is_err());
    }

    #[test]
    fn header_union_is_disjoint() {
        let k = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
        let r = encrypt(&k.public_key(), b"x").unwrap();
        let mut dup = r.clone();
        dup.header = Some([("alg".to_string(), json!("RSA1_5"))].into_iter().collect());
        assert!(matches!(k.decrypt(&dup), Err(Error::Malformed { .. })));
        let mut crit = r.clone();
        crit.unprotected = Some([("crit".to_string(), json!(["b64"]))].into_iter().collect());
        assert!(k.decrypt(&crit).is_err());
        let mut extra = r.clone();
        extra.unprotected = Some([("kid".to_string(), json!("k"))].into_iter().collect());
        assert_eq!(k.decrypt(&extra).unwrap().as_slice(), b"x", "unprotected members outside AAD are allowed");
    }

    #[test]
    fn off_curve_point_rejected() {
        let k = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap();
        let TeePubKey::Ec { crv, alg, x, .. } = k.public_key() else { panic!("EC key expected") };
        let bad = TeePubKey::Ec { crv, alg, x: x.clone(), y: x };
        assert!(matches!(encrypt(&bad, b"x"), Err(Error::Malformed { .. })));
    }

    /// A general-serialization JWE as go-jose writes it for several
    /// recipients: `enc` protected, `alg`/`epk` per recipient, plus go-jose's
    /// stray top-level `encrypted_key`.
    fn general_jwe(recipients: &[(Value, Vec<u8>)], cek: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        let protected = b64::url_encode(r#"{"enc":"A256GCM"}"#);
        let iv = [9u8; IV_LEN];
        let mut buf = plaintext.to_vec();
        let tag = Aes256Gcm::new_from_slice(cek)
            .unwrap()
            .encrypt_in_place_detached(&Nonce::from(iv), protected.as_bytes(), &mut buf)
            .unwrap();
        let recipients: Vec<Value> =
            recipients.iter().map(|(h, k)| json!({"header": h, "encrypted_key": b64::url_encode(k)})).collect();
        serde_json::to_vec(&json!({
            "protected": protected,
            "recipients": recipients,
            "encrypted_key": recipients.first().map(|r| r["encrypted_key"].clone()),
            "iv": b64::url_encode(iv),
            "ciphertext": b64::url_encode(&buf),
            "tag": b64::url_encode(tag),
        }))
        .unwrap()
    }

    fn rsa_oaep_sha1_recipient(key: &rsa::RsaPrivateKey, cek: &[u8; 32]) -> (Value, Vec<u8>) {
        let ek = key.to_public_key().encrypt(&mut OsRng, rsa::Oaep::new::<sha1::Sha1>(), cek).unwrap();
        (json!({"alg": "RSA-OAEP"}), ek)
    }

    fn p384_recipient(key: &p384::PublicKey, cek: &[u8; 32]) -> (Value, Vec<u8>) {
        let eph = p384::ecdh::EphemeralSecret::random(&mut OsRng);
        let shared = eph.diffie_hellman(key);
        let epk = epk_json("P-384", p384::EncodedPoint::from(eph.public_key()).as_bytes());
        (json!({"alg": ALG_ECDH_ES_A256KW, "epk": epk}), wrap_cek(shared.raw_secret_bytes(), cek).unwrap())
    }

    #[test]
    fn pem_forms_are_read() {
        use p256::pkcs8::EncodePrivateKey;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let pkcs1 = rsa_key.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY"));
        assert_eq!(DecryptionKey::from_pem(&pkcs1).unwrap().kind(), "RSA-2048");
        let pkcs8 = rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(DecryptionKey::from_pem(&pkcs8).unwrap().kind(), "RSA-2048");

        let ec = p384::SecretKey::random(&mut OsRng);
        let sec1 = ec.to_sec1_pem(LineEnding::LF).unwrap();
        // As `openssl ecparam -genkey` writes it: parameters first.
        let with_params =
            format!("-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n{}", *sec1);
        assert_eq!(DecryptionKey::from_pem(&with_params).unwrap().kind(), "EC P-384");
        let p256_sec1 = p256::SecretKey::random(&mut OsRng).to_sec1_pem(LineEnding::LF).unwrap();
        assert_eq!(DecryptionKey::from_pem(&p256_sec1).unwrap().kind(), "EC P-256");
        let p521_pkcs8 = p521::SecretKey::random(&mut OsRng).to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(DecryptionKey::from_pem(&p521_pkcs8).unwrap().kind(), "EC P-521");
        assert!(!format!("{:?}", DecryptionKey::from_pem(&pkcs8).unwrap()).contains("BigUint"));

        for bad in ["", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"] {
            assert!(matches!(DecryptionKey::from_pem(bad), Err(Error::Malformed { .. })), "{bad:?}");
        }
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(DecryptionKey::from_pem(encrypted).is_err());
        let unterminated = "-----BEGIN PRIVATE KEY-----\nAAAA\n";
        assert!(DecryptionKey::from_pem(unterminated).is_err());
        assert!(matches!(DecryptionKey::from_pem(&"A".repeat(MAX_KEY_PEM_LEN + 1)), Err(Error::TooLarge { .. })));
        let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap().to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(matches!(DecryptionKey::from_pem(&small), Err(Error::KeyMismatch { .. })));
    }

    #[test]
    fn general_serialization_opens_with_any_recipient_key() {
        use p256::pkcs8::EncodePrivateKey;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let ec_key = p384::SecretKey::random(&mut OsRng);
        let cek = [5u8; 32];
        let msg = br#"{"symkey":"..."}"#;
        let jwe = general_jwe(
            &[rsa_oaep_sha1_recipient(&rsa_key, &cek), p384_recipient(&ec_key.public_key(), &cek)],
            &cek,
            msg,
        );
        let rsa = DecryptionKey::from_pem(&rsa_key.to_pkcs1_pem(LineEnding::LF).unwrap()).unwrap();
        let ec = DecryptionKey::from_pem(&ec_key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        let other = DecryptionKey::from_pem(&p384::SecretKey::random(&mut OsRng).to_pkcs8_pem(LineEnding::LF).unwrap())
            .unwrap();
        assert_eq!(decrypt_json([&rsa], &jwe).unwrap().as_slice(), msg);
        assert_eq!(decrypt_json([&ec], &jwe).unwrap().as_slice(), msg);
        assert_eq!(decrypt_json([&other, &ec], &jwe).unwrap().as_slice(), msg);
        let err = decrypt_json([&other], &jwe).unwrap_err();
        assert!(matches!(err, Error::NoMatchingKey { keys: 1, recipients: 2, .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("no supplied key matches") && text.contains("RSA-OAEP, ECDH-ES+A256KW P-384"), "{text}");

        // Flattened, one recipient, alg in the protected header (go-jose's single-recipient form).
        let flat = encrypt(&TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap().public_key(), msg).unwrap();
        let flat = serde_json::to_vec(&flat).unwrap();
        assert!(matches!(decrypt_json([&ec], &flat), Err(Error::NoMatchingKey { recipients: 1, .. })));

        // The SHA-1 OAEP of ocicrypt stays out of TEE key decryption.
        let tee = TeeKeyPair::from_pem(&rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        let v: Value = serde_json::from_slice(&jwe).unwrap();
        let as_flat = Response {
            protected: b64::url_encode(r#"{"enc":"A256GCM","alg":"RSA-OAEP"}"#),
            encrypted_key: v["recipients"][0]["encrypted_key"].as_str().unwrap().into(),
            aad: None,
            unprotected: None,
            header: None,
            iv: v["iv"].as_str().unwrap().into(),
            ciphertext: v["ciphertext"].as_str().unwrap().into(),
            tag: v["tag"].as_str().unwrap().into(),
        };
        assert!(matches!(tee.decrypt(&as_flat), Err(Error::KeyMismatch { .. })));
    }

    #[test]
    fn json_limits_and_structural_errors() {
        use p256::pkcs8::EncodePrivateKey;
        let ec_key = p384::SecretKey::random(&mut OsRng);
        let ec = DecryptionKey::from_pem(&ec_key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        assert!(matches!(decrypt_json([&ec], &vec![b' '; MAX_JSON_LEN + 1]), Err(Error::TooLarge { .. })));
        assert!(matches!(decrypt_json([&ec], b"[]"), Err(Error::Malformed { .. })));
        let cek = [1u8; 32];
        let many: Vec<_> = (0..MAX_RECIPIENTS + 1).map(|_| p384_recipient(&ec_key.public_key(), &cek)).collect();
        assert!(matches!(decrypt_json([&ec], &general_jwe(&many, &cek, b"x")), Err(Error::Malformed { .. })));
        assert!(matches!(decrypt_json([&ec], &general_jwe(&[], &cek, b"x")), Err(Error::Malformed { .. })));
        // A bad iv fails for every key: said as such, not as "no key matches".
        let mut v: Value =
            serde_json::from_slice(&general_jwe(&[p384_recipient(&ec_key.public_key(), &cek)], &cek, b"x")).unwrap();
        v["iv"] = json!("AAAA");
        let err = decrypt_json([&ec], &serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
    }

    /// RFC 7518 Appendix C: ECDH-ES key agreement example (Concat KDF with
    /// apu "Alice", apv "Bob", AlgorithmID "A128GCM", 128 bits) — checks the
    /// KDF framing with the RFC's numbers.
    #[test]
    fn concat_kdf_framing_matches_rfc7518_appendix_c() {
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128,
            106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let mut h = Sha256::new();
        h.update(1u32.to_be_bytes());
        h.update(z);
        for part in [&b"A128GCM"[..], b"Alice", b"Bob"] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        h.update(128u32.to_be_bytes());
        let out = h.finalize();
        assert_eq!(b64::url_encode(&out[..16]), "VqqN6vgjbSBcIijNcacQGg");
        // Our KDF uses the same framing with AlgorithmID ECDH-ES+A256KW and 256 bits.
        let ours = concat_kdf(&z, b"Alice", b"Bob");
        let mut h = Sha256::new();
        h.update(1u32.to_be_bytes());
        h.update(z);
        for part in [&b"ECDH-ES+A256KW"[..], b"Alice", b"Bob"] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        h.update(256u32.to_be_bytes());
        assert_eq!(ours.as_slice(), &h.finalize()[..]);
    }

    /// RFC 3394 §4.6: wrap 256 bits of key data with a 256-bit KEK.
    #[test]
    fn aes_key_wrap_rfc3394_vector() {
        let kek: [u8; 32] = hex::decode("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
            .unwrap()
            .try_into()
            .unwrap();
        let data = hex::decode("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F").unwrap();
        let mut out = [0u8; 40];
        aes_kw::KekAes256::from(kek).wrap(&data, &mut out).unwrap();
        assert_eq!(
            hex::encode_upper(out),
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
        );
    }
}
