//! The layer block-cipher options of ocicrypt (`blockcipher` package):
//! public options (in the `pubopts` annotation, base64 JSON)
//! `{"cipher": "AES_256_CTR_HMAC_SHA256", "hmac": <base64>, "cipheroptions": {}}`
//! and private options (what the key schemes wrap)
//! `{"symkey": <base64>, "cipheroptions": {"nonce": <base64>}, "digest": "sha256:…"}`.
//! Byte fields are standard base64 with padding (Go's `[]byte` in JSON). A
//! cipher option is looked up in the public options first, then the private
//! ones, as ocicrypt does.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

/// The only layer cipher ocicrypt defines.
pub const CIPHER_AES_256_CTR_HMAC_SHA256: &str = "AES_256_CTR_HMAC_SHA256";
/// Longest `pubopts` annotation accepted, in base64 characters.
pub const MAX_PUBOPTS_LEN: usize = 4096;
/// Longest private options JSON accepted, in bytes.
pub const MAX_PRIVATE_OPTIONS_LEN: usize = 4096;
/// Most entries in a `cipheroptions` map.
const MAX_CIPHER_OPTIONS: usize = 16;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 16;
const HMAC_LEN: usize = 32;

#[derive(Deserialize)]
struct RawPublic {
    #[serde(default)]
    cipher: String,
    #[serde(default)]
    hmac: String,
    #[serde(default)]
    cipheroptions: HashMap<String, String>,
}

/// Public options, checked (the HMAC is not secret).
#[derive(Debug)]
pub(super) struct PublicOptions {
    hmac: [u8; HMAC_LEN],
    cipher_options: HashMap<String, String>,
}

impl PublicOptions {
    /// From the `pubopts` annotation's value (`None`: annotation missing).
    pub(super) fn from_annotation(value: Option<&str>) -> Result<Self> {
        let value = value.ok_or_else(|| {
            Error::Decrypt(format!(
                "encrypted layer has no {} annotation: no HMAC to check the layer against",
                super::ANNOTATION_PUBOPTS
            ))
        })?;
        if value.len() > MAX_PUBOPTS_LEN {
            return Err(Error::TooLarge { what: super::ANNOTATION_PUBOPTS.into(), limit: MAX_PUBOPTS_LEN as u64 });
        }
        let json = STANDARD.decode(value.trim()).map_err(|e| Error::Decrypt(format!("pubopts: not base64: {e}")))?;
        let raw: RawPublic = serde_json::from_slice(&json)
            .map_err(|e| Error::Decrypt(format!("pubopts: not the expected JSON: {e}")))?;
        if raw.cipher != CIPHER_AES_256_CTR_HMAC_SHA256 {
            return Err(Error::Decrypt(format!(
                "pubopts: cipher {:?} is not supported, expected {CIPHER_AES_256_CTR_HMAC_SHA256}",
                raw.cipher.chars().take(64).collect::<String>()
            )));
        }
        let hmac = decode_exact::<HMAC_LEN>("pubopts hmac", &raw.hmac)?;
        check_options_count("pubopts", raw.cipheroptions.len())?;
        Ok(PublicOptions { hmac, cipher_options: raw.cipheroptions })
    }
}

#[derive(Deserialize)]
struct RawPrivate {
    #[serde(default)]
    symkey: String,
    #[serde(default)]
    cipheroptions: HashMap<String, String>,
    #[serde(default)]
    digest: String,
    /// Some writers repeat the cipher here; checked when present.
    #[serde(default)]
    cipher: Option<String>,
}

impl Drop for RawPrivate {
    fn drop(&mut self) {
        self.symkey.zeroize();
        for value in self.cipheroptions.values_mut() {
            value.zeroize();
        }
    }
}

/// The key and options of one encrypted layer, ready for
/// [`decrypting_reader`](super::decrypting_reader). The symmetric key is
/// zeroized on drop and never printed.
pub struct LayerKey {
    pub(super) symkey: Zeroizing<[u8; KEY_LEN]>,
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) hmac: [u8; HMAC_LEN],
    /// The `digest` of the private options (`sha256:…`/`sha512:…`).
    pub(super) digest: Option<String>,
}

impl LayerKey {
    /// The digest the private options record for the layer as it was before
    /// encryption (ocicrypt's `digest`). Informational: when the encrypting
    /// tool also compressed the layer (skopeo does for uncompressed ones) it
    /// is the digest of the uncompressed original, not of what decrypts.
    pub fn original_digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl fmt::Debug for LayerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerKey").field("digest", &self.digest).finish_non_exhaustive()
    }
}

impl LayerKey {
    /// Combines the public options with the unwrapped private options JSON.
    pub(super) fn new(public: &PublicOptions, private_json: &[u8]) -> Result<Self> {
        if private_json.len() > MAX_PRIVATE_OPTIONS_LEN {
            return Err(Error::TooLarge {
                what: "private layer options".into(),
                limit: MAX_PRIVATE_OPTIONS_LEN as u64,
            });
        }
        // The error of serde_json could quote the input (the key): say only where.
        let raw: RawPrivate = serde_json::from_slice(private_json).map_err(|e| {
            Error::Decrypt(format!(
                "private layer options are not the expected JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(cipher) = raw.cipher.as_deref().filter(|c| !c.is_empty()) {
            if cipher != CIPHER_AES_256_CTR_HMAC_SHA256 {
                return Err(Error::Decrypt(format!(
                    "private options: cipher {:?} is not supported, expected {CIPHER_AES_256_CTR_HMAC_SHA256}",
                    cipher.chars().take(64).collect::<String>()
                )));
            }
        }
        check_options_count("private options", raw.cipheroptions.len())?;
        let symkey = decode_secret::<KEY_LEN>("symkey", &raw.symkey)?;
        let nonce = public
            .cipher_options
            .get("nonce")
            .or_else(|| raw.cipheroptions.get("nonce"))
            .ok_or_else(|| Error::Decrypt("layer options have no cipheroptions.nonce".into()))?;
        let nonce = decode_exact::<NONCE_LEN>("nonce", nonce)?;
        let digest = match raw.digest.as_str() {
            "" => None,
            d => Some(check_digest(d)?),
        };
        Ok(LayerKey { symkey, nonce, hmac: public.hmac, digest })
    }
}

fn check_options_count(what: &str, n: usize) -> Result<()> {
    if n > MAX_CIPHER_OPTIONS {
        return Err(Error::Decrypt(format!("{what}: {n} cipher options, at most {MAX_CIPHER_OPTIONS} expected")));
    }
    Ok(())
}

fn check_digest(d: &str) -> Result<String> {
    let ok = match d.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    };
    let ok = ok && d.split_once(':').is_some_and(|(_, h)| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    if !ok {
        return Err(Error::Decrypt(format!(
            "private options: digest {:?} is not sha256:<64 hex> or sha512:<128 hex>",
            d.chars().take(140).collect::<String>()
        )));
    }
    Ok(d.to_string())
}

fn decode_exact<const N: usize>(what: &str, b64: &str) -> Result<[u8; N]> {
    let bytes = STANDARD.decode(b64).map_err(|e| Error::Decrypt(format!("{what}: not base64: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| Error::Decrypt(format!("{what}: expected {N} bytes, found {}", bytes.len())))
}

fn decode_secret<const N: usize>(what: &str, b64: &str) -> Result<Zeroizing<[u8; N]>> {
    // Never quote the input: the base64 error names only a position.
    let bytes = Zeroizing::new(STANDARD.decode(b64).map_err(|_| Error::Decrypt(format!("{what}: not valid base64")))?);
    let mut out = Zeroizing::new([0u8; N]);
    if bytes.len() != N {
        return Err(Error::Decrypt(format!("{what}: expected {N} bytes, found {}", bytes.len())));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(json: &str) -> Result<PublicOptions> {
        PublicOptions::from_annotation(Some(&STANDARD.encode(json)))
    }

    fn good_public() -> PublicOptions {
        public(&format!(
            r#"{{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"{}","cipheroptions":{{}}}}"#,
            STANDARD.encode([7u8; 32])
        ))
        .unwrap()
    }

    fn private(symkey: &[u8], nonce: &[u8], digest: &str) -> String {
        format!(
            r#"{{"symkey":"{}","cipheroptions":{{"nonce":"{}"}},"digest":"{digest}","cipher":"AES_256_CTR_HMAC_SHA256"}}"#,
            STANDARD.encode(symkey),
            STANDARD.encode(nonce)
        )
    }

    #[test]
    fn parses_ocicrypt_options() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let key = LayerKey::new(&good_public(), private(&[1; 32], &[2; 16], &d).as_bytes()).unwrap();
        assert_eq!(*key.symkey, [1; 32]);
        assert_eq!(key.nonce, [2; 16]);
        assert_eq!(key.hmac, [7; 32]);
        assert_eq!(key.digest.as_deref(), Some(d.as_str()));
        let no_digest = LayerKey::new(&good_public(), private(&[1; 32], &[2; 16], "").as_bytes()).unwrap();
        assert!(no_digest.digest.is_none());
        assert!(!format!("{key:?}").contains("symkey"), "Debug shows no key");
    }

    #[test]
    fn public_nonce_takes_precedence() {
        let p = public(&format!(
            r#"{{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"{}","cipheroptions":{{"nonce":"{}"}}}}"#,
            STANDARD.encode([7u8; 32]),
            STANDARD.encode([9u8; 16])
        ))
        .unwrap();
        let key = LayerKey::new(&p, private(&[1; 32], &[2; 16], "").as_bytes()).unwrap();
        assert_eq!(key.nonce, [9; 16]);
    }

    #[test]
    fn rejects_bad_public_options() {
        assert!(PublicOptions::from_annotation(None).unwrap_err().to_string().contains("no HMAC"));
        let hmac = STANDARD.encode([7u8; 32]);
        let e = public(&format!(r#"{{"cipher":"AES_256_GCM","hmac":"{hmac}"}}"#)).err().unwrap();
        assert!(e.to_string().contains("AES_256_GCM"), "{e}");
        let e = public(r#"{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"AAAA"}"#).err().unwrap();
        assert!(e.to_string().contains("expected 32 bytes, found 3"), "{e}");
        assert!(PublicOptions::from_annotation(Some("%%%")).is_err());
        assert!(public("[1,2]").is_err());
        let long = "A".repeat(MAX_PUBOPTS_LEN + 1);
        assert!(matches!(PublicOptions::from_annotation(Some(&long)), Err(Error::TooLarge { .. })));
        let many: String = (0..20).map(|i| format!(r#""o{i}":"""#)).collect::<Vec<_>>().join(",");
        let e =
            public(&format!(r#"{{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"{hmac}","cipheroptions":{{{many}}}}}"#));
        assert!(e.is_err());
    }

    #[test]
    fn rejects_bad_private_options_without_quoting_them() {
        let p = good_public();
        let secret = STANDARD.encode([0x5a; 31]);
        let e = LayerKey::new(&p, private(&[0x5a; 31], &[2; 16], "").as_bytes()).unwrap_err().to_string();
        assert!(e.contains("symkey: expected 32 bytes, found 31") && !e.contains(&secret), "{e}");
        let e = LayerKey::new(&p, private(&[1; 32], &[2; 12], "").as_bytes()).unwrap_err().to_string();
        assert!(e.contains("nonce: expected 16 bytes"), "{e}");
        let e = LayerKey::new(&p, private(&[1; 32], &[2; 16], "md5:00").as_bytes()).unwrap_err().to_string();
        assert!(e.contains("digest"), "{e}");
        let no_nonce = format!(r#"{{"symkey":"{}"}}"#, STANDARD.encode([1u8; 32]));
        assert!(LayerKey::new(&p, no_nonce.as_bytes()).unwrap_err().to_string().contains("nonce"));
        let broken = format!(r#"{{"symkey":"{}""#, STANDARD.encode([0x5au8; 32]));
        let e = LayerKey::new(&p, broken.as_bytes()).unwrap_err().to_string();
        assert!(!e.contains(&STANDARD.encode([0x5au8; 32])), "{e}");
        let big = vec![b' '; MAX_PRIVATE_OPTIONS_LEN + 1];
        assert!(matches!(LayerKey::new(&p, &big), Err(Error::TooLarge { .. })));
        let wrong_cipher = private(&[1; 32], &[2; 16], "").replace("AES_256_CTR_HMAC_SHA256", "X");
        assert!(LayerKey::new(&p, wrong_cipher.as_bytes()).is_err());
    }
}
