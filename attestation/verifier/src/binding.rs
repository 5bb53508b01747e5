//! Binding of the KBS challenge, the guest's TEE key and the init-data
//! document into the evidence fields that carry them.
//!
//! The KBS protocol (RCAR) hashes the RFC 8785 canonical JSON of
//! `{"additional-evidence", "nonce", "tee-pubkey"}` with SHA-384 (SHA-512 for
//! IBM Secure Execution) and places the digest, zero-padded or truncated, in
//! the TEE's report-data field. Init-data digests go to a TEE field of fixed
//! size (SNP HOST_DATA 32 bytes, TDX MRCONFIGID 48, CCA personalization value
//! 64) in the same padded-or-truncated way.

use serde::Serialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::{Error, Result, Tee};

/// Hash algorithm of a runtime-data or init-data digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384 (the RCAR default).
    Sha384,
    /// SHA-512 (Secure Execution).
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm the KBS protocol uses for a TEE's runtime data.
    pub fn for_runtime_data(tee: Tee) -> Self {
        match tee {
            Tee::Se => HashAlgorithm::Sha512,
            _ => HashAlgorithm::Sha384,
        }
    }

    /// Digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Parse the names used in init-data documents and KBS parameters.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(HashAlgorithm::Sha256),
            "sha384" | "sha-384" => Some(HashAlgorithm::Sha384),
            "sha512" | "sha-512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// RFC 8785 (JCS) canonical form of a JSON value: sorted keys, no whitespace.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| Error::field("runtime data", "$", format!("cannot canonicalise: {e}")))
}

/// The digest the KBS protocol binds into evidence for one attestation:
/// `hash(JCS({"additional-evidence", "nonce", "tee-pubkey"}))`, unpadded.
///
/// `tee_pubkey` is the JWK the guest sends in `runtime-data.tee-pubkey`;
/// `additional_evidence` is the string sent as
/// `tee-evidence.additional_evidence` (empty when there is none).
pub fn runtime_data_digest(
    alg: HashAlgorithm,
    nonce: &str,
    tee_pubkey: &serde_json::Value,
    additional_evidence: &str,
) -> Result<Vec<u8>> {
    let object = serde_json::json!({
        "additional-evidence": additional_evidence,
        "nonce": nonce,
        "tee-pubkey": tee_pubkey,
    });
    Ok(alg.digest(&canonical_json(&object)?))
}

/// Fit a digest into a field of `size` bytes: zero-pad when shorter,
/// truncate when longer.
pub fn fit_to_field(digest: &[u8], size: usize) -> Vec<u8> {
    let mut out = digest[..digest.len().min(size)].to_vec();
    out.resize(size, 0);
    out
}

/// The report-data bytes a TEE carries for a runtime-data digest.
pub fn report_data_for(tee: Tee, digest: &[u8]) -> Vec<u8> {
    match tee {
        // The sample TEE carries the digest as is.
        Tee::Sample => digest.to_vec(),
        _ => fit_to_field(digest, 64),
    }
}

/// Check that `field` carries `expected` the way the KBS binds it: equal
/// after zero-padding (or truncating) `expected` to the field's size.
pub fn check_padded(what: &str, field: &[u8], expected: &[u8]) -> Result<()> {
    let want = fit_to_field(expected, field.len());
    if want == field {
        Ok(())
    } else {
        Err(Error::mismatch_bytes(what, &want, field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// trustee's attestation-service test vector (see the vectors README).
    #[test]
    fn canonical_json_digest_matches_trustee() {
        let value: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": "test", "c": {"d": "e"}}"#).unwrap();
        let canon = canonical_json(&value).unwrap();
        assert_eq!(canon, br#"{"a":"test","b":1,"c":{"d":"e"}}"#);
        assert_eq!(
            hex::encode(HashAlgorithm::Sha384.digest(&canon)),
            "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3"
        );
    }

    #[test]
    fn runtime_data_digest_hashes_sorted_object() {
        let key = serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AA", "y": "BB"});
        let d = runtime_data_digest(HashAlgorithm::Sha384, "n0nce", &key, "").unwrap();
        let text = br#"{"additional-evidence":"","nonce":"n0nce","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"AA","y":"BB"}}"#;
        assert_eq!(d, Sha384::digest(text).to_vec());
        let rd = report_data_for(Tee::Snp, &d);
        assert_eq!(rd.len(), 64);
        assert_eq!(&rd[..48], &d[..]);
        assert!(rd[48..].iter().all(|b| *b == 0));
        check_padded("report data", &rd, &d).unwrap();
    }

    #[test]
    fn padded_check_rejects_trailing_garbage_and_truncates_long_digests() {
        let mut field = vec![0u8; 64];
        field[0] = 1;
        field[63] = 9;
        assert!(check_padded("report data", &field, &[1]).is_err());
        let long = [7u8; 64];
        check_padded("host data", &[7u8; 32], &long).unwrap();
    }
}
