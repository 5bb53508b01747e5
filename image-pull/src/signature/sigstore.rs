//! Cosign-compatible signatures (`sigstoreSigned` with a public key).
//!
//! They live in the image's own repository under the tag
//! `<algorithm>-<hex>.sig`: an OCI manifest whose layers of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json` each hold a payload
//! (the simple-signing JSON), with the base64 ASN.1 ECDSA signature over
//! that blob in the annotation `dev.cosignproject.cosign/signature`.
//!
//! Verified by hand with the RustCrypto curve crates rather than with the
//! `sigstore` crate: for key-based verification that crate would bring in
//! its fulcio, rekor, OAuth and TUF clients and a second TLS/crypto stack
//! (aws-lc), all unused here, into the guest's trusted code. The check is
//! small: an ECDSA signature (P-256 or P-384; SHA-256 as containers/image
//! and cosign use for both) over the payload bytes.

use std::collections::BTreeMap;

use ecdsa::signature::hazmat::PrehashVerifier as _;
use ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::payload::MAX_PAYLOAD_BYTES;
use super::SignatureSource;

/// Media type of a cosign simple-signing layer.
pub(crate) const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation holding the base64 signature of a layer.
pub(crate) const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Largest signature manifest accepted.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// At most this many signature layers are looked at.
const MAX_LAYERS: usize = 64;
/// Largest public key file accepted.
pub(crate) const MAX_KEY_BYTES: u64 = 64 * 1024;

#[derive(Deserialize)]
struct SignatureManifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// One signature as found in the registry, not yet verified.
pub(crate) struct Untrusted {
    /// The layer's digest (names the signature in errors).
    pub digest: String,
    /// The payload blob.
    pub payload: Vec<u8>,
    /// The decoded `dev.cosignproject.cosign/signature` annotation, or why
    /// it is unusable.
    pub signature: Result<Vec<u8>, String>,
}

/// The signature tag of a manifest digest (`sha256:ab…` → `sha256-ab….sig`).
pub(crate) fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Fetches the cosign signatures of `digest` in `registry/repository`.
pub(crate) async fn fetch(
    source: &dyn SignatureSource,
    registry: &str,
    repository: &str,
    digest: &str,
) -> crate::Result<Vec<Untrusted>> {
    let tag = signature_tag(digest);
    let Some((manifest, _media_type)) = source.fetch_manifest(registry, repository, &tag).await? else {
        return Ok(Vec::new());
    };
    if manifest.len() > MAX_MANIFEST_BYTES {
        return Err(crate::Error::TooLarge {
            what: format!("signature manifest {registry}/{repository}:{tag}"),
            limit: MAX_MANIFEST_BYTES as u64,
        });
    }
    let manifest: SignatureManifest = serde_json::from_slice(&manifest).map_err(|e| crate::Error::Registry {
        registry: registry.to_string(),
        message: format!("signature manifest {repository}:{tag} is not an image manifest: {e}"),
    })?;
    let mut out = Vec::new();
    for layer in manifest.layers.iter().filter(|l| l.media_type == SIMPLESIGNING_MEDIA_TYPE).take(MAX_LAYERS) {
        let payload = source.fetch_blob(registry, repository, &layer.digest, MAX_PAYLOAD_BYTES as u64).await?;
        let signature = match layer.annotations.get(SIGNATURE_ANNOTATION) {
            Some(b64) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("annotation {SIGNATURE_ANNOTATION} is not base64: {e}"))
            }
            None => Err(format!("no {SIGNATURE_ANNOTATION} annotation")),
        };
        out.push(Untrusted { digest: layer.digest.clone(), payload, signature });
    }
    Ok(out)
}

/// A public key a `sigstoreSigned` requirement trusts.
#[derive(Debug)]
pub(crate) enum PublicKey {
    /// ECDSA P-256
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub(crate) fn from_pem(pem: &[u8], what: &str) -> Result<PublicKey, String> {
        let text = std::str::from_utf8(pem).map_err(|_| format!("{what}: not a PEM public key"))?;
        if let Ok(key) = p256::PublicKey::from_public_key_pem(text.trim()) {
            return Ok(PublicKey::P256(key.into()));
        }
        if let Ok(key) = p384::PublicKey::from_public_key_pem(text.trim()) {
            return Ok(PublicKey::P384(key.into()));
        }
        Err(format!("{what}: not a PEM ECDSA P-256 or P-384 public key (other key types are not supported)"))
    }

    /// Checks an ASN.1 DER ECDSA signature over `payload`.
    pub(crate) fn verify(&self, payload: &[u8], der: &[u8]) -> Result<(), String> {
        let bad = |e: ecdsa::Error| format!("ECDSA signature does not verify: {e}");
        match self {
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_der(der).map_err(bad)?;
                // Go's signer does not normalize s; both forms are valid.
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(payload, &sig).map_err(bad)
            }
            PublicKey::P384(key) => {
                let sig = p384::ecdsa::Signature::from_der(der).map_err(bad)?;
                let sig = sig.normalize_s().unwrap_or(sig);
                // containers/image verifies every key type with SHA-256.
                key.verify_prehash(&Sha256::digest(payload), &sig).map_err(bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tag_of_a_digest() {
        assert_eq!(signature_tag("sha256:abcd"), "sha256-abcd.sig");
    }

    #[test]
    fn keys_other_than_ec_pem_are_refused() {
        assert!(PublicKey::from_pem(b"not a key", "k").is_err());
        assert!(PublicKey::from_pem(&[0xff, 0xfe], "k").is_err());
        let ed25519 = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert!(PublicKey::from_pem(ed25519, "k").unwrap_err().contains("not supported"));
    }
}
