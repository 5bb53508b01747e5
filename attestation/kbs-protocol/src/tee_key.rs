//! The key pair a TEE generates so that the KBS can encrypt resources to it.
//!
//! The public half travels in [`RuntimeData::tee_pubkey`](crate::messages::RuntimeData),
//! bound into the hardware evidence; the KBS encrypts each resource to it
//! with [`jwe::encrypt`] and the TEE opens the reply
//! with [`TeeKeyPair::decrypt`].

use std::fmt;

use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::messages::{Response, TeePubKey};
use crate::{b64, jwe, Error, Result};

/// RSA modulus size of generated keys, in bits.
pub const RSA_KEY_BITS: usize = 2048;

/// Longest PEM text [`TeeKeyPair::from_pem`] reads.
pub const MAX_PEM_LEN: usize = 16 * 1024;

/// Which key a TEE generates, and so which JWE key management the KBS uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TeeKeyAlgorithm {
    /// EC P-256 with `ECDH-ES+A256KW` (the guest-components default).
    #[default]
    EcP256,
    /// EC P-521 with `ECDH-ES+A256KW`.
    EcP521,
    /// RSA 2048 with `RSA-OAEP-256`.
    RsaOaep256,
}

impl TeeKeyAlgorithm {
    /// The JWE `alg` the public key advertises.
    pub fn jwe_alg(self) -> &'static str {
        match self {
            TeeKeyAlgorithm::EcP256 | TeeKeyAlgorithm::EcP521 => jwe::ALG_ECDH_ES_A256KW,
            TeeKeyAlgorithm::RsaOaep256 => jwe::ALG_RSA_OAEP_256,
        }
    }
}

impl std::str::FromStr for TeeKeyAlgorithm {
    type Err = Error;

    /// Parses `ec-p256`/`P-256`, `ec-p521`/`P-521`, `rsa`/`RSA-OAEP-256` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ec-p256" | "p-256" | "p256" | "ec" => Ok(TeeKeyAlgorithm::EcP256),
            "ec-p521" | "p-521" | "p521" => Ok(TeeKeyAlgorithm::EcP521),
            "rsa" | "rsa-oaep-256" => Ok(TeeKeyAlgorithm::RsaOaep256),
            _ => Err(Error::Unsupported {
                what: "TEE key algorithm",
                expected: "ec-p256, ec-p521 or rsa",
                found: s.chars().take(64).collect(),
            }),
        }
    }
}

/// The private half of a TEE key.
pub(crate) enum PrivateKey {
    P256(p256::SecretKey),
    P521(p521::SecretKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A TEE's key pair. Secret material is zeroized on drop and never printed.
pub struct TeeKeyPair {
    key: PrivateKey,
    /// The public half, derived once: deriving an EC public key is a scalar
    /// multiplication, and a client sends it with every attestation.
    public: TeePubKey,
}

impl fmt::Debug for TeeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeeKeyPair").field("algorithm", &self.algorithm()).finish_non_exhaustive()
    }
}

impl TeeKeyPair {
    /// Generate a fresh key pair from the operating system's random source.
    pub fn generate(alg: TeeKeyAlgorithm) -> Result<Self> {
        let key = match alg {
            TeeKeyAlgorithm::EcP256 => PrivateKey::P256(p256::SecretKey::random(&mut OsRng)),
            TeeKeyAlgorithm::EcP521 => PrivateKey::P521(p521::SecretKey::random(&mut OsRng)),
            TeeKeyAlgorithm::RsaOaep256 => PrivateKey::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_KEY_BITS).map_err(|e| Error::key("RSA key generation", e))?,
            )),
        };
        Ok(TeeKeyPair::new(key))
    }

    fn new(key: PrivateKey) -> Self {
        let public = public_of(&key);
        TeeKeyPair { key, public }
    }

    /// Which algorithm the key is for.
    pub fn algorithm(&self) -> TeeKeyAlgorithm {
        match self.key {
            PrivateKey::P256(_) => TeeKeyAlgorithm::EcP256,
            PrivateKey::P521(_) => TeeKeyAlgorithm::EcP521,
            PrivateKey::Rsa(_) => TeeKeyAlgorithm::RsaOaep256,
        }
    }

    /// The public key as sent in the runtime data.
    pub fn public_key(&self) -> TeePubKey {
        self.public.clone()
    }

    /// Decrypt a resource response encrypted to this key.
    ///
    /// Accepts `ECDH-ES+A256KW` for EC keys (the `epk` curve must be the
    /// key's), `RSA-OAEP-256` and `RSA1_5` for RSA keys; content encryption
    /// must be `A256GCM`.
    pub fn decrypt(&self, response: &Response) -> Result<Zeroizing<Vec<u8>>> {
        jwe::decrypt(&self.key, response)
    }

    /// The private key as PKCS#8 PEM, to keep in a file.
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        let pem = match &self.key {
            PrivateKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P521(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map_err(|e| Error::key("PKCS#8 encoding", e))
    }

    /// Read a key written by [`to_pem`](Self::to_pem): PKCS#8 PEM of a P-256,
    /// P-521 or RSA (2048 to 4096 bits) private key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        Error::check_size("TEE key PEM", pem.len(), MAX_PEM_LEN)?;
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
            return Ok(TeeKeyPair::new(PrivateKey::P256(k)));
        }
        if let Ok(k) = p521::SecretKey::from_pkcs8_pem(pem) {
            return Ok(TeeKeyPair::new(PrivateKey::P521(k)));
        }
        match rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            Ok(k) => {
                use rsa::traits::PublicKeyParts;
                let bits = k.n().bits();
                if !(2048..=4096).contains(&bits) {
                    return Err(Error::KeyMismatch {
                        expected: "RSA key of 2048 to 4096 bits".into(),
                        found: format!("{bits} bits"),
                    });
                }
                k.validate().map_err(|e| Error::key("RSA private key", e))?;
                Ok(TeeKeyPair::new(PrivateKey::Rsa(Box::new(k))))
            }
            Err(e) => Err(Error::key("TEE key PEM (PKCS#8 P-256, P-521 or RSA)", e)),
        }
    }
}

fn public_of(key: &PrivateKey) -> TeePubKey {
    let alg = match key {
        PrivateKey::P256(_) => TeeKeyAlgorithm::EcP256,
        PrivateKey::P521(_) => TeeKeyAlgorithm::EcP521,
        PrivateKey::Rsa(_) => TeeKeyAlgorithm::RsaOaep256,
    }
    .jwe_alg()
    .to_string();
    match key {
        PrivateKey::P256(k) => {
            let point = p256::EncodedPoint::from(k.public_key());
            ec_pub("P-256", alg, point.as_bytes())
        }
        PrivateKey::P521(k) => {
            let point = p521::EncodedPoint::from(k.public_key());
            ec_pub("P-521", alg, point.as_bytes())
        }
        PrivateKey::Rsa(k) => {
            use rsa::traits::PublicKeyParts;
            TeePubKey::Rsa { alg, n: b64::url_encode(k.n().to_bytes_be()), e: b64::url_encode(k.e().to_bytes_be()) }
        }
    }
}

fn ec_pub(crv: &str, alg: String, sec1_uncompressed: &[u8]) -> TeePubKey {
    let coords = &sec1_uncompressed[1..];
    let (x, y) = coords.split_at(coords.len() / 2);
    TeePubKey::Ec { crv: crv.to_string(), alg, x: b64::url_encode(x), y: b64::url_encode(y) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        for alg in [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521, TeeKeyAlgorithm::RsaOaep256] {
            let k = TeeKeyPair::generate(alg).unwrap();
            let pem = k.to_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = TeeKeyPair::from_pem(&pem).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.public_key(), k.public_key());
            assert!(!format!("{k:?}").contains(&pem[40..60]));
        }
        assert!(TeeKeyPair::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
    }

    #[test]
    fn public_key_shapes() {
        match TeeKeyPair::generate(TeeKeyAlgorithm::EcP521).unwrap().public_key() {
            TeePubKey::Ec { crv, alg, x, y } => {
                assert_eq!((crv.as_str(), alg.as_str()), ("P-521", "ECDH-ES+A256KW"));
                assert_eq!(b64::url_decode("x", &x).unwrap().len(), 66);
                assert_eq!(b64::url_decode("y", &y).unwrap().len(), 66);
            }
            other => panic!("expected an EC key, found {other:?}"),
        }
        assert_eq!("rsa".parse::<TeeKeyAlgorithm>().unwrap(), TeeKeyAlgorithm::RsaOaep256);
        assert_eq!(TeeKeyAlgorithm::default(), TeeKeyAlgorithm::EcP256);
    }
}
