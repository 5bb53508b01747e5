//! The CBOR envelope of the CCA attestation token: the CMW collection that
//! carries the two tokens, and the COSE_Sign1 structure of each.
//!
//! Layouts:
//! - Collection: CBOR tag 399 around a map `{44234: platform, 44241: realm}`
//!   (Arm CCA attestation token draft, "CCA attestation token" CDDL; RMM
//!   specification, "Attestation token format").
//! - Each token: COSE_Sign1 (RFC 9052 §4.2), usually tag 18, itself usually
//!   wrapped in a byte string; a CMW record `[type, bytes]` is accepted too.
//! - Signature input: `Sig_structure = ["Signature1", protected, h'', payload]`
//!   (RFC 9052 §4.4); signature `r‖s` big-endian, each the curve's size
//!   (RFC 9053 §2.1).

use ciborium::Value;
use coset::{iana, AsCborValue, CoseSign1, RegisteredLabelWithPrivate};
use serde::Serialize;
use sha2::Digest;
use signature::hazmat::PrehashVerifier;

use crate::x509::PublicKey;
use crate::{Error, Result};

/// CBOR tag of the CCA token collection (a CMW collection).
pub(crate) const TAG_CCA_TOKEN: u64 = 399;
/// CBOR tag of COSE_Sign1.
const TAG_COSE_SIGN1: u64 = 18;
/// Collection key of the platform token.
pub(crate) const KEY_PLATFORM_TOKEN: u64 = 44234;
/// Collection key of the realm token.
pub(crate) const KEY_REALM_TOKEN: u64 = 44241;

/// Deepest CBOR nesting accepted; CCA claims nest four levels at most.
const MAX_CBOR_DEPTH: usize = 16;

/// Signature algorithm of one COSE_Sign1 (RFC 9053 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CoseAlgorithm {
    /// ECDSA P-256 with SHA-256 (COSE alg -7).
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA P-384 with SHA-384 (COSE alg -35), what CCA platforms use.
    #[serde(rename = "ES384")]
    Es384,
}

impl CoseAlgorithm {
    /// The COSE name.
    pub fn name(self) -> &'static str {
        match self {
            CoseAlgorithm::Es256 => "ES256",
            CoseAlgorithm::Es384 => "ES384",
        }
    }
}

/// A parsed COSE_Sign1: its algorithm, payload and what its signature covers.
#[derive(Debug, Clone)]
pub(crate) struct Sign1 {
    pub alg: CoseAlgorithm,
    pub payload: Vec<u8>,
    /// The encoded `Sig_structure` the signature is over.
    to_be_signed: Vec<u8>,
    signature: Vec<u8>,
}

/// Decode one complete CBOR item; trailing bytes are an error.
pub(crate) fn decode_cbor(what: &'static str, field: &str, bytes: &[u8]) -> Result<Value> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_CBOR_DEPTH)
        .map_err(|e| Error::field(what, field, format!("not valid CBOR: {}", cbor_error(&e))))?;
    if !rest.is_empty() {
        let offset = bytes.len().saturating_sub(rest.len());
        return Err(Error::malformed(what, offset, format!("{field}: {} bytes after the CBOR item", rest.len())));
    }
    Ok(value)
}

fn cbor_error<T: std::fmt::Debug>(e: &ciborium::de::Error<T>) -> String {
    match e {
        ciborium::de::Error::Io(io) => format!("truncated input ({io:?})"),
        ciborium::de::Error::Syntax(offset) => format!("syntax error at offset {offset}"),
        ciborium::de::Error::Semantic(Some(offset), msg) => format!("{msg} at offset {offset}"),
        ciborium::de::Error::Semantic(None, msg) => msg.clone(),
        ciborium::de::Error::RecursionLimitExceeded => format!("nested deeper than {MAX_CBOR_DEPTH} levels"),
    }
}

/// A short name of a CBOR value's type, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "integer",
        Value::Bytes(_) => "byte string",
        Value::Float(_) => "float",
        Value::Text(_) => "text string",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Tag(..) => "tagged item",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        _ => "unknown item",
    }
}

/// Split the token collection into its platform and realm entries.
pub(crate) fn split_collection(bytes: &[u8]) -> Result<(Value, Value)> {
    const WHAT: &str = "CCA token";
    let top = decode_cbor(WHAT, "collection", bytes)?;
    let Value::Tag(tag, inner) = top else {
        return Err(Error::field(
            WHAT,
            "collection",
            format!("expected CBOR tag {TAG_CCA_TOKEN}, found {}", type_name(&top)),
        ));
    };
    if tag != TAG_CCA_TOKEN {
        return Err(Error::field(WHAT, "collection", format!("expected CBOR tag {TAG_CCA_TOKEN}, found tag {tag}")));
    }
    let Value::Map(entries) = *inner else {
        return Err(Error::field(WHAT, "collection", format!("expected a map, found {}", type_name(&inner))));
    };
    let (mut platform, mut realm) = (None, None);
    for (key, value) in entries {
        let key = key.as_integer().and_then(|k| u64::try_from(k).ok());
        let slot = match key {
            Some(KEY_PLATFORM_TOKEN) => &mut platform,
            Some(KEY_REALM_TOKEN) => &mut realm,
            // Other collection members are not part of the CCA token; ignore them.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Error::field(WHAT, format!("collection key {}", key.unwrap_or_default()), "appears twice"));
        }
    }
    let platform = platform
        .ok_or_else(|| Error::field(WHAT, format!("collection key {KEY_PLATFORM_TOKEN}"), "platform token missing"))?;
    let realm =
        realm.ok_or_else(|| Error::field(WHAT, format!("collection key {KEY_REALM_TOKEN}"), "realm token missing"))?;
    Ok((platform, realm))
}

/// Parse a collection entry as a COSE_Sign1 with an attached payload.
pub(crate) fn parse_sign1(what: &'static str, entry: Value) -> Result<Sign1> {
    // Unwrap the byte string (or CMW record `[type, bytes]`) that carries the encoded token.
    let value = match entry {
        Value::Bytes(bytes) => decode_cbor(what, "COSE_Sign1", &bytes)?,
        Value::Array(mut items) if items.len() == 2 && matches!(items.get(1), Some(Value::Bytes(_))) => {
            match items.pop() {
                Some(Value::Bytes(bytes)) => decode_cbor(what, "COSE_Sign1", &bytes)?,
                _ => return Err(Error::field(what, "CMW record", "expected [type, bytes]")),
            }
        }
        other => other,
    };
    let value = match value {
        Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
        Value::Tag(tag, _) => {
            return Err(Error::field(
                what,
                "COSE_Sign1",
                format!("expected CBOR tag {TAG_COSE_SIGN1}, found tag {tag}"),
            ))
        }
        other => other,
    };
    let sign1 = CoseSign1::from_cbor_value(value).map_err(|e| Error::field(what, "COSE_Sign1", e.to_string()))?;
    let header = &sign1.protected.header;
    if !header.crit.is_empty() {
        return Err(Error::Unsupported { what: "COSE critical header", found: format!("{:?}", header.crit) });
    }
    let alg = match &header.alg {
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => CoseAlgorithm::Es384,
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => CoseAlgorithm::Es256,
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES512)) => {
            // ES512 needs P-521 keys; the CPAK and RAK parsers take P-256 and P-384 only.
            return Err(Error::Unsupported { what: "COSE signature algorithm", found: "ES512 (P-521 keys)".into() });
        }
        Some(other) => {
            return Err(Error::Unsupported { what: "COSE signature algorithm", found: format!("{other:?}") })
        }
        None => return Err(Error::field(what, "protected header alg (1)", "missing")),
    };
    let Some(payload) = sign1.payload.clone() else {
        return Err(Error::field(what, "payload", "detached payloads are not used by CCA tokens"));
    };
    let to_be_signed = sign1.tbs_data(&[]);
    Ok(Sign1 { alg, payload, to_be_signed, signature: sign1.signature })
}

impl Sign1 {
    /// Check the signature with `key`; `what` and `key_name` go into the error.
    pub fn verify(&self, key: &PublicKey, what: &str, key_name: &str) -> Result<()> {
        let bad = || Error::BadSignature { what: what.to_string(), key: key_name.to_string() };
        let ok = match (self.alg, key) {
            (CoseAlgorithm::Es384, PublicKey::P384(k)) => {
                let digest = sha2::Sha384::digest(&self.to_be_signed);
                let sig = p384::ecdsa::Signature::from_slice(&self.signature).map_err(|_| bad())?;
                k.verify_prehash(&digest, &sig).is_ok()
            }
            (CoseAlgorithm::Es256, PublicKey::P256(k)) => {
                let digest = sha2::Sha256::digest(&self.to_be_signed);
                let sig = p256::ecdsa::Signature::from_slice(&self.signature).map_err(|_| bad())?;
                k.verify_prehash(&digest, &sig).is_ok()
            }
            (alg, _) => {
                return Err(Error::Mismatch {
                    what: format!("{what} key type"),
                    expected: format!("a key for {}", alg.name()),
                    found: format!("{key_name} on another curve"),
                })
            }
        };
        if ok {
            Ok(())
        } else {
            Err(bad())
        }
    }
}
