//! JSON Web Keys (RFC 7517) and `x5c` endorsement of token signer keys.
//!
//! A [`Jwk`] holds the public members only: private-key members (`d`, `p`,
//! `q`…) in an input are ignored and never kept, so a `Jwk` can be logged
//! and passed around freely. Private keys live in
//! [`jws::SigningKey`](crate::jws::SigningKey) and
//! [`tee_key::TeeKeyPair`](crate::tee_key::TeeKeyPair).

use arca_verifier::x509::{self, Certificate, ObjectIdentifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::messages::TeePubKey;
use crate::{b64, Error, Result};

/// Longest JWK or JWK-set JSON text parsed.
pub const MAX_JWK_LEN: usize = 256 * 1024;
/// Most certificates accepted in an `x5c` chain.
pub const MAX_X5C_LEN: usize = 8;

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A public JSON Web Key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC`, `RSA` or `OKP`.
    pub kty: String,
    /// Intended use (`sig`, `enc`).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Algorithm the key is for (`ES256`, `EdDSA`, `RS256`, `ECDH-ES+A256KW`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve (`P-256`, `P-521`, `Ed25519`) for `EC` and `OKP` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// base64url X coordinate (`EC`) or public key (`OKP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// base64url Y coordinate (`EC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// base64url RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// base64url RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Certificate chain, leaf first, each standard base64 DER (not base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    /// base64url SHA-1 thumbprint of the leaf certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// base64url SHA-256 thumbprint of the leaf certificate.
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// URL of the certificate chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5u: Option<String>,
}

/// A JWK set (RFC 7517 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parse a JWK set from JSON text of at most [`MAX_JWK_LEN`] bytes.
    pub fn from_json(text: &str) -> Result<Self> {
        Error::check_size("JWK set", text.len(), MAX_JWK_LEN)?;
        serde_json::from_str(text).map_err(|e| Error::malformed("JWK set", e.to_string()))
    }
}

impl Jwk {
    /// Parse a JWK from JSON text of at most [`MAX_JWK_LEN`] bytes.
    pub fn from_json(text: &str) -> Result<Self> {
        Error::check_size("JWK", text.len(), MAX_JWK_LEN)?;
        serde_json::from_str(text).map_err(|e| Error::malformed("JWK", e.to_string()))
    }

    /// Parse a JWK from a JSON value (e.g. a JWS header's `jwk`).
    pub fn from_value(value: &serde_json::Value) -> Result<Self> {
        Jwk::deserialize(value).map_err(|e| Error::malformed("JWK", e.to_string()))
    }

    /// A required member, or a [`Error::Malformed`] naming it.
    pub(crate) fn member(&self, name: &'static str, value: &Option<String>) -> Result<Vec<u8>> {
        let text = value.as_deref().ok_or_else(|| {
            Error::malformed(
                "JWK",
                format!("kty {} needs member `{name}`", self.kty.chars().take(16).collect::<String>()),
            )
        })?;
        b64::url_decode("JWK member", text)
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of the key.
    pub fn thumbprint_sha256(&self) -> Result<String> {
        let s = |v: &Option<String>, name: &str| -> Result<String> {
            let v = v.as_deref().ok_or_else(|| Error::malformed("JWK", format!("no `{name}` for thumbprint")))?;
            Ok(serde_json::Value::from(v).to_string())
        };
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                s(&self.crv, "crv")?,
                s(&self.x, "x")?,
                s(&self.y, "y")?
            ),
            "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(&self.e, "e")?, s(&self.n, "n")?),
            "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, s(&self.crv, "crv")?, s(&self.x, "x")?),
            other => {
                return Err(Error::Unsupported {
                    what: "JWK kty",
                    expected: "EC, RSA or OKP",
                    found: other.chars().take(16).collect(),
                })
            }
        };
        Ok(b64::url_encode(Sha256::digest(canonical.as_bytes())))
    }

    /// Whether `self` and `other` are the same public key (members compared
    /// by value, so leading zero bytes of RSA integers do not matter).
    pub fn same_key(&self, other: &Jwk) -> bool {
        fn bytes(v: &Option<String>) -> Option<Vec<u8>> {
            b64::url_decode("JWK member", v.as_deref()?).ok()
        }
        fn int(v: &Option<String>) -> Option<Vec<u8>> {
            let b = bytes(v)?;
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            Some(b[start..].to_vec())
        }
        if self.kty != other.kty {
            return false;
        }
        match self.kty.as_str() {
            "RSA" => int(&self.n).is_some() && int(&self.n) == int(&other.n) && int(&self.e) == int(&other.e),
            "EC" => {
                self.crv.is_some()
                    && self.crv == other.crv
                    && bytes(&self.x).is_some()
                    && bytes(&self.x) == bytes(&other.x)
                    && bytes(&self.y) == bytes(&other.y)
            }
            "OKP" => {
                self.crv.is_some()
                    && self.crv == other.crv
                    && bytes(&self.x).is_some()
                    && bytes(&self.x) == bytes(&other.x)
            }
            _ => false,
        }
    }

    /// The public key of a certificate as a JWK (EC P-256/P-384, RSA, Ed25519).
    pub fn from_certificate(cert: &Certificate) -> Result<Self> {
        let spki = &cert.inner().tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid == OID_ED25519 {
            let x = spki
                .subject_public_key
                .as_bytes()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| Error::malformed("certificate", "Ed25519 public key is not 32 bytes"))?;
            return Ok(Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(b64::url_encode(x)),
                ..Jwk::default()
            });
        }
        let key = cert.public_key().map_err(|e| Error::key("certificate public key", e))?;
        Ok(match key {
            x509::PublicKey::P256(k) => ec_jwk("P-256", k.to_encoded_point(false).as_bytes()),
            x509::PublicKey::P384(k) => ec_jwk("P-384", k.to_encoded_point(false).as_bytes()),
            x509::PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                Jwk {
                    kty: "RSA".into(),
                    n: Some(b64::url_encode(k.n().to_bytes_be())),
                    e: Some(b64::url_encode(k.e().to_bytes_be())),
                    ..Jwk::default()
                }
            }
        })
    }
}

pub(crate) fn ec_jwk(crv: &str, sec1_uncompressed: &[u8]) -> Jwk {
    let coords = sec1_uncompressed.get(1..).unwrap_or_default();
    let (x, y) = coords.split_at(coords.len() / 2);
    Jwk {
        kty: "EC".into(),
        crv: Some(crv.into()),
        x: Some(b64::url_encode(x)),
        y: Some(b64::url_encode(y)),
        ..Jwk::default()
    }
}

impl From<&TeePubKey> for Jwk {
    fn from(key: &TeePubKey) -> Self {
        match key {
            TeePubKey::Rsa { alg, n, e } => Jwk {
                kty: "RSA".into(),
                alg: Some(alg.clone()),
                n: Some(n.clone()),
                e: Some(e.clone()),
                ..Jwk::default()
            },
            TeePubKey::Ec { crv, alg, x, y } => Jwk {
                kty: "EC".into(),
                alg: Some(alg.clone()),
                crv: Some(crv.clone()),
                x: Some(x.clone()),
                y: Some(y.clone()),
                ..Jwk::default()
            },
            TeePubKey::Akp { alg, .. } => Jwk { kty: "AKP".into(), alg: Some(alg.clone()), ..Jwk::default() },
        }
    }
}

impl TryFrom<&Jwk> for TeePubKey {
    type Error = Error;

    /// An `RSA` or `EC` JWK with `alg` set (as a TEE key needs) into a [`TeePubKey`].
    fn try_from(jwk: &Jwk) -> Result<Self> {
        let need = |v: &Option<String>, name: &str| {
            v.clone().ok_or_else(|| Error::malformed("TEE public key JWK", format!("no `{name}`")))
        };
        match jwk.kty.as_str() {
            "RSA" => Ok(TeePubKey::Rsa { alg: need(&jwk.alg, "alg")?, n: need(&jwk.n, "n")?, e: need(&jwk.e, "e")? }),
            "EC" => Ok(TeePubKey::Ec {
                crv: need(&jwk.crv, "crv")?,
                alg: need(&jwk.alg, "alg")?,
                x: need(&jwk.x, "x")?,
                y: need(&jwk.y, "y")?,
            }),
            other => Err(Error::Unsupported {
                what: "TEE public key kty",
                expected: "RSA or EC",
                found: other.chars().take(16).collect(),
            }),
        }
    }
}

/// Check that `jwk` is endorsed by one of `roots` through its `x5c` chain at time `at`.
///
/// The first `x5c` certificate (the leaf) must carry exactly the JWK's
/// public key; the remaining certificates are candidate intermediates in
/// any order (a root among them is ignored unless it is also in `roots`).
/// The chain is built and checked — signatures and validity windows — by
/// [`arca_verifier::x509::verify_chain`].
pub fn x5c_endorsed(jwk: &Jwk, roots: &[Certificate], at: OffsetDateTime) -> Result<()> {
    let chain = jwk.x5c.as_deref().unwrap_or_default();
    if chain.is_empty() {
        return Err(Error::NotEndorsed("the JWK has no x5c certificate chain".into()));
    }
    if chain.len() > MAX_X5C_LEN {
        return Err(Error::NotEndorsed(format!("x5c has {} certificates, at most {MAX_X5C_LEN} allowed", chain.len())));
    }
    let certs = chain
        .iter()
        .map(|c| {
            Error::check_size("x5c certificate", c.len(), x509::MAX_DER_SIZE)?;
            Certificate::from_der(&b64::std_decode("x5c certificate", c)?)
                .map_err(|e| Error::malformed("x5c certificate", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let (leaf, intermediates) = certs.split_first().ok_or_else(|| Error::NotEndorsed("empty x5c".into()))?;
    let leaf_key = Jwk::from_certificate(leaf)?;
    if !leaf_key.same_key(jwk) {
        return Err(Error::NotEndorsed(format!(
            "the x5c leaf certificate ({}) carries a different public key than the JWK",
            leaf.display_name()
        )));
    }
    x509::verify_chain(leaf, intermediates, roots, at).map_err(Error::ChainRejected)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.3.
        let jwk = Jwk::from_json(r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#).unwrap();
        assert_eq!(jwk.thumbprint_sha256().unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        // The private member is not kept.
        assert!(!serde_json::to_string(&jwk).unwrap().contains("nWGx"));
    }

    #[test]
    fn tee_pubkey_round_trip_and_same_key() {
        let t = TeePubKey::Ec { crv: "P-256".into(), alg: "ECDH-ES+A256KW".into(), x: "AAE".into(), y: "AQ".into() };
        let j = Jwk::from(&t);
        assert_eq!(TeePubKey::try_from(&j).unwrap(), t);
        let mut k = j.clone();
        assert!(j.same_key(&k));
        k.y = Some("Ag".into());
        assert!(!j.same_key(&k));
        let r1 = Jwk { kty: "RSA".into(), n: Some("AAEC".into()), e: Some("AQAB".into()), ..Jwk::default() };
        let r2 = Jwk { kty: "RSA".into(), n: Some("AQI".into()), e: Some("AQAB".into()), ..Jwk::default() };
        assert!(r1.same_key(&r2), "leading zero bytes do not change an RSA integer");
        assert!(!Jwk { kty: "RSA".into(), ..Jwk::default() }.same_key(&Jwk { kty: "RSA".into(), ..Jwk::default() }));
    }
}
