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
    use crate::decrypt::BoxFuture;

    struct OneKey(&'static str, Vec<u8>);

    impl KeySource for OneKey {
        fn get_key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>> {
            Box::pin(async move {
                if kid == self.0 {
                    Ok(Zeroizing::new(self.1.clone()))
                } else {
                    Err(Error::Decrypt(format!("no key {kid}")))
                }
            })
        }
    }

    fn packet(kid: &str, key: &[u8; 32], iv: &[u8], wrap_type: &str, plain: &[u8]) -> String {
        let wrapped = Aes256Gcm::new_from_slice(key).unwrap().encrypt(&Nonce::from([1u8; 12]), plain).unwrap();
        let json = serde_json::json!({
            "kid": kid, "wrapped_data": STANDARD.encode(wrapped), "iv": STANDARD.encode(iv), "wrap_type": wrap_type,
        });
        STANDARD.encode(json.to_string())
    }

    #[tokio::test]
    async fn unwraps_and_rejects() {
        let kid = "kbs:///default/key/1";
        let source = OneKey(kid, vec![8; 32]);
        let good = packet(kid, &[8; 32], &[1; 12], "A256GCM", b"options");
        assert_eq!(unwrap(&good, &source).await.unwrap().as_slice(), b"options");

        let msg = |r: Result<Zeroizing<Vec<u8>>>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg(unwrap(&packet(kid, &[9; 32], &[1; 12], "A256GCM", b"o"), &source).await).contains("does not unwrap")
        );
        assert!(msg(unwrap(&packet(kid, &[8; 32], &[1; 12], "A256CTR", b"o"), &source).await).contains("A256CTR"));
        assert!(msg(unwrap(&packet(kid, &[8; 32], &[1; 16], "A256GCM", b"o"), &source).await).contains("12 bytes"));
        let other = "kbs:///default/key/2";
        assert!(msg(unwrap(&packet(other, &[8; 32], &[1; 12], "A256GCM", b"o"), &source).await).contains("no key"));
        assert!(msg(unwrap(&packet("file:///k", &[8; 32], &[1; 12], "A256GCM", b"o"), &source).await).contains("kid"));
        let short = OneKey(kid, vec![8; 16]);
        assert!(msg(unwrap(&good, &short).await).contains("16 bytes"));
        assert!(msg(unwrap("%%", &source).await).contains("base64"));
        assert!(msg(unwrap(&STANDARD.encode("{}"), &source).await).contains("AnnotationPacket"));
        let huge = "A".repeat(MAX_ANNOTATION_LEN + 1);
        assert!(matches!(unwrap(&huge, &source).await, Err(Error::TooLarge { .. })));
    }

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
