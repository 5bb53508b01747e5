//! The key-provider scheme of Confidential Containers (ocicrypt's
//! `keywrap/keyprovider` with the provider named `attestation-agent`).
//!
//! The `org.opencontainers.image.enc.keys.provider.attestation-agent`
//! annotation is base64 (standard) of the key provider's output, which for
//! CoCo's `coco_keyprovider` is the JSON `AnnotationPacket` specified in
//! guest-components (`attestation-agent/coco_keyprovider/src/enc_mods/mod.rs`,
//! format discussed in confidential-containers/attestation-agent issue 113):
//!
//! ```json
//! {"kid": "kbs:///default/key/1", "wrapped_data": "<base64>", "iv": "<base64>", "wrap_type": "A256GCM"}
//! ```
//!
//! `wrapped_data` is the private options JSON encrypted with AES-256-GCM
//! under the 32-byte key `kid` names (ciphertext followed by the 16-byte
//! tag, no additional data), `iv` the 12-byte nonce. Only `A256GCM` is
//! accepted: the provider's `A256CTR` wrapping is unauthenticated.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::KeySource;
use crate::{Error, Result};

/// Longest annotation accepted, in characters.
pub const MAX_ANNOTATION_LEN: usize = 16 * 1024;
/// Longest key id accepted.
pub const MAX_KID_LEN: usize = 512;

#[derive(Deserialize)]
struct AnnotationPacket {
    kid: String,
    wrapped_data: String,
    #[serde(default)]
    iv: String,
    #[serde(default)]
    wrap_type: String,
}

/// The private options JSON from the annotation's value, unwrapped with the
/// key `source` returns for the packet's key id.
pub(super) async fn unwrap(value: &str, source: &dyn KeySource) -> Result<Zeroizing<Vec<u8>>> {
    if value.len() > MAX_ANNOTATION_LEN {
        return Err(Error::TooLarge {
            what: super::ANNOTATION_KEYS_ATTESTATION_AGENT.into(),
            limit: MAX_ANNOTATION_LEN as u64,
        });
    }
    let json = STANDARD.decode(value.trim()).map_err(|e| Error::Decrypt(format!("not base64: {e}")))?;
    let packet: AnnotationPacket = serde_json::from_slice(&json)
        .map_err(|e| Error::Decrypt(format!("not an AnnotationPacket (kid, wrapped_data, iv, wrap_type): {e}")))?;
    let kid = check_kid(&packet.kid)?;
    if packet.wrap_type != "A256GCM" {
        return Err(Error::Decrypt(format!(
            "wrap_type {:?} is not supported, expected A256GCM",
            packet.wrap_type.chars().take(32).collect::<String>()
        )));
    }
    let iv = STANDARD.decode(&packet.iv).map_err(|e| Error::Decrypt(format!("iv: not base64: {e}")))?;
    let iv: [u8; 12] =
        iv.as_slice().try_into().map_err(|_| Error::Decrypt(format!("iv: expected 12 bytes, found {}", iv.len())))?;
    let wrapped =
        STANDARD.decode(&packet.wrapped_data).map_err(|e| Error::Decrypt(format!("wrapped_data: not base64: {e}")))?;
    let key = source.get_key(kid).await.map_err(|e| Error::Decrypt(format!("key {kid}: {e}")))?;
    if key.len() != 32 {
        return Err(Error::Decrypt(format!("key {kid} is {} bytes, A256GCM needs a 32-byte key", key.len())));
    }
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| Error::Decrypt("AES-256-GCM key setup".into()))?;
    cipher
        .decrypt(&Nonce::from(iv), wrapped.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt(format!("key {kid} does not unwrap the layer options (A256GCM tag mismatch)")))
}

/// A `kbs:///repository/type/tag` (or `kbs://host/…`) resource URI of printable ASCII.
fn check_kid(kid: &str) -> Result<&str> {
    let shown = || kid.chars().take(64).collect::<String>();
    if kid.len() > MAX_KID_LEN || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Decrypt(format!(
            "kid {:?} is not a printable resource URI of at most {MAX_KID_LEN} bytes",
            shown()
        )));
    }
    let path = kid
        .strip_prefix("kbs://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_host, path)| path)
        .ok_or_else(|| Error::Decrypt(format!("kid {:?} is not a kbs:///repository/type/tag URI", shown())))?;
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err(Error::Decrypt(format!("kid {:?} is not a kbs:///repository/type/tag URI", shown())));
    }
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_forms() {
        assert!(check_kid("kbs:///default/key/1").is_ok());
        assert!(check_kid("kbs://kbs.example:8080/default/key/1").is_ok());
        for bad in ["", "kbs:///default/key", "kbs:///a/../b", "kbs:///a/b/c/d", "http:///a/b/c", "kbs:///a/b/c d"] {
            assert!(check_kid(bad).is_err(), "{bad}");
        }
        assert!(check_kid(&format!("kbs:///a/b/{}", "c".repeat(MAX_KID_LEN))).is_err());
    }
}
