//! Public keys of the CCA token: the CPAK as a JWK in the trust-anchor
//! store, and the RAK as carried in the realm token.

use base64::Engine;
use coset::{iana, CborSerializable, CoseKey, KeyType, Label};
use serde::Deserialize;

use crate::x509::PublicKey;
use crate::{Error, Result};

/// An elliptic-curve public JWK (RFC 7518 §6.2.1); other members are ignored.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EcJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

impl EcJwk {
    /// The verifying key, or an error naming `field`.
    pub fn to_public_key(&self, what: &'static str, field: &str) -> Result<PublicKey> {
        if self.kty != "EC" {
            return Err(Error::field(what, format!("{field}.kty"), format!("expected \"EC\", found {:?}", self.kty)));
        }
        let size = match self.crv.as_str() {
            "P-256" => 32,
            "P-384" => 48,
            other => return Err(Error::Unsupported { what: "JWK curve", found: other.to_string() }),
        };
        let x = decode_coordinate(what, &format!("{field}.x"), &self.x, size)?;
        let y = decode_coordinate(what, &format!("{field}.y"), &self.y, size)?;
        point_to_key(what, field, &[&[0x04], x.as_slice(), y.as_slice()].concat())
    }
}

fn decode_coordinate(what: &'static str, field: &str, text: &str, size: usize) -> Result<Vec<u8>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| Error::field(what, field, format!("not base64url: {e}")))?;
    if bytes.len() != size {
        return Err(Error::field(what, field, format!("expected {size} bytes, found {}", bytes.len())));
    }
    Ok(bytes)
}

/// A key from an uncompressed SEC1 point: 65 bytes (P-256) or 97 bytes (P-384).
fn point_to_key(what: &'static str, field: &str, point: &[u8]) -> Result<PublicKey> {
    let key = match point.len() {
        65 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map(PublicKey::P256),
        97 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map(PublicKey::P384),
        n => {
            return Err(Error::field(
                what,
                field,
                format!("expected an uncompressed P-256 or P-384 point (65 or 97 bytes), found {n} bytes"),
            ))
        }
    };
    key.map_err(|_| Error::field(what, field, "not a point on the curve"))
}

/// The realm attestation key from realm claim 44237.
///
/// Two encodings exist: the raw uncompressed SEC1 point (RMM 1.0 beta
/// tokens, and the example token: `04 ‖ x ‖ y`, 97 bytes for P-384) and a
/// COSE_Key (RFC 9052 §7) with `kty` EC2 (RMM 1.0 release).
pub(crate) fn realm_public_key(encoded: &[u8]) -> Result<PublicKey> {
    const WHAT: &str = "CCA realm token";
    const FIELD: &str = "public key (44237)";
    if encoded.first() == Some(&0x04) && matches!(encoded.len(), 65 | 97) {
        return point_to_key(WHAT, FIELD, encoded);
    }
    let key = CoseKey::from_slice(encoded)
        .map_err(|e| Error::field(WHAT, FIELD, format!("neither an EC point nor a COSE_Key: {e}")))?;
    if key.kty != KeyType::Assigned(iana::KeyType::EC2) {
        return Err(Error::Unsupported { what: "RAK COSE_Key type", found: format!("{:?}", key.kty) });
    }
    let param = |label: i64| key.params.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v);
    let size = match param(iana::Ec2KeyParameter::Crv as i64).and_then(|v| v.as_integer()).map(i128::from) {
        Some(c) if c == iana::EllipticCurve::P_256 as i128 => 32,
        Some(c) if c == iana::EllipticCurve::P_384 as i128 => 48,
        other => return Err(Error::Unsupported { what: "RAK COSE_Key curve", found: format!("{other:?}") }),
    };
    let coordinate = |label: iana::Ec2KeyParameter, name: &str| -> Result<Vec<u8>> {
        match param(label as i64).and_then(|v| v.as_bytes()) {
            Some(b) if b.len() == size => Ok(b.clone()),
            _ => Err(Error::field(WHAT, FIELD, format!("COSE_Key {name} is not {size} bytes"))),
        }
    };
    let x = coordinate(iana::Ec2KeyParameter::X, "x")?;
    let y = coordinate(iana::Ec2KeyParameter::Y, "y")?;
    point_to_key(WHAT, FIELD, &[&[0x04], x.as_slice(), y.as_slice()].concat())
}
