//! The JWE key scheme of ocicrypt (`keywrap/jwe`): the
//! `org.opencontainers.image.enc.keys.jwe` annotation is a comma-separated
//! list of base64 (standard, padded) JWEs in JSON serialization; ocicrypt
//! writes one go-jose multi-recipient JWE (`A256GCM` content, `RSA-OAEP` for
//! RSA keys, `ECDH-ES+A256KW` for EC keys) whose payload is the private
//! options JSON. The JOSE work is `arca_kbs_protocol::jwe`, the project's one
//! JOSE implementation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use super::PrivateKey;
use crate::{Error, Result};

/// Longest `keys.jwe` annotation accepted, in characters.
pub const MAX_ANNOTATION_LEN: usize = 256 * 1024;
/// Most comma-separated JWEs in the annotation.
pub const MAX_JWES: usize = 16;

/// The private options JSON from the annotation's value, opened with the
/// first key that fits one of its JWEs' recipients.
pub(super) fn unwrap(value: &str, keys: &[PrivateKey]) -> Result<Zeroizing<Vec<u8>>> {
    if value.len() > MAX_ANNOTATION_LEN {
        return Err(Error::TooLarge { what: super::ANNOTATION_KEYS_JWE.into(), limit: MAX_ANNOTATION_LEN as u64 });
    }
    let items: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if items.is_empty() || items.len() > MAX_JWES {
        return Err(Error::Decrypt(format!("{} JWEs in the annotation, expected 1 to {MAX_JWES}", items.len())));
    }
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let json = match STANDARD.decode(item) {
            Ok(json) => json,
            Err(e) => {
                errors.push(format!("JWE {}: not base64: {e}", i + 1));
                continue;
            }
        };
        match arca_kbs_protocol::jwe::decrypt_json(keys.iter().map(|k| &k.0), &json) {
            Ok(plain) => return Ok(plain),
            Err(e) => errors.push(if items.len() == 1 { e.to_string() } else { format!("JWE {}: {e}", i + 1) }),
        }
    }
    Err(Error::Decrypt(errors.join("; ")))
}
