//! Encrypted layers as containers/ocicrypt makes them (`skopeo copy
//! --encryption-key`) and as Confidential Containers' key provider wraps them.
//!
//! An encrypted layer has a media type ending in `+encrypted`; its blob is the
//! plain (usually compressed) layer encrypted with AES-256-CTR, and its
//! descriptor carries:
//!
//! * `org.opencontainers.image.enc.pubopts`: base64 of the public options JSON
//!   (`cipher` `AES_256_CTR_HMAC_SHA256`, `hmac`: HMAC-SHA256 of the
//!   ciphertext under the layer key, `cipheroptions`);
//! * one or more `org.opencontainers.image.enc.keys.<scheme>` annotations, each
//!   holding the private options JSON (`symkey`, `cipheroptions.nonce`,
//!   `digest` of the plain blob) wrapped for someone who may decrypt:
//!   * `…keys.jwe`: comma-separated base64 JWEs in JSON serialization, opened
//!     with a private key the caller supplies ([`PrivateKey`]);
//!   * `…keys.provider.attestation-agent`: base64 of CoCo's `AnnotationPacket`,
//!     whose key id (`kbs:///repo/type/tag`) names a key the caller's
//!     [`KeySource`] (the KBS in a pod) returns.
//!
//! [`layer_key`] turns the annotations into a [`LayerKey`];
//! [`decrypting_reader`] decrypts the blob as it streams, with memory
//! independent of the layer's size, and fails at the end of the stream when
//! the HMAC (or the plain blob's digest) does not match, so the caller must not
//! use what it read before that end (the pull unpacks into a staging
//! directory that only becomes the rootfs after every layer checked out).
//!
//! The PKCS#7 and OpenPGP key schemes of ocicrypt are not supported.

mod jwe;
mod keyprovider;
mod options;
mod reader;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::{Error, Result};

pub use options::LayerKey;
pub use reader::decrypting_reader;

/// Annotation with the JWE-wrapped private options (one base64 JWE per
/// comma-separated item).
pub const ANNOTATION_KEYS_JWE: &str = "org.opencontainers.image.enc.keys.jwe";
/// Annotation with the CoCo key provider's wrapped private options.
pub const ANNOTATION_KEYS_ATTESTATION_AGENT: &str = "org.opencontainers.image.enc.keys.provider.attestation-agent";
/// Annotation with the base64 public options (cipher, HMAC).
pub const ANNOTATION_PUBOPTS: &str = "org.opencontainers.image.enc.pubopts";
/// Prefix of every key-scheme annotation.
const ANNOTATION_KEYS_PREFIX: &str = "org.opencontainers.image.enc.keys.";

/// A future returned by a [`KeySource`].
pub type BoxFuture<'a, T> = futures_util::future::BoxFuture<'a, T>;

/// True for the `+encrypted` layer media types (`…tar+gzip+encrypted`,
/// `…tar+zstd+encrypted`, `…tar+encrypted`, Docker's too).
pub fn is_encrypted(media_type: &str) -> bool {
    media_type.ends_with("+encrypted")
}

/// The media type of the layer once decrypted: `media_type` without its
/// `+encrypted` suffix (unchanged when it has none).
pub fn decrypted_media_type(media_type: &str) -> &str {
    media_type.strip_suffix("+encrypted").unwrap_or(media_type)
}

/// Where the CoCo key-provider scheme gets its key-encryption keys: the KBS
/// in a pod, a map in tests.
pub trait KeySource: Send + Sync {
    /// The key named `kid` (a `kbs:///repository/type/tag` resource URI).
    /// For `A256GCM` wrapping it must be 32 bytes.
    fn get_key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>>;
}

/// A private key for the JWE scheme (PEM: RSA PKCS#1/PKCS#8 of 2048 to 4096
/// bits, EC SEC1/PKCS#8 on P-256, P-384 or P-521). Zeroized on drop; `Debug`
/// shows only its kind.
pub struct PrivateKey(arca_kbs_protocol::jwe::DecryptionKey);

impl PrivateKey {
    /// Reads a PEM private key (at most 32 KiB of text).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(pem).map_err(|_| Error::Decrypt("private key PEM is not UTF-8 text".into()))?;
        arca_kbs_protocol::jwe::DecryptionKey::from_pem(text)
            .map(PrivateKey)
            .map_err(|e| Error::Decrypt(format!("private key: {e}")))
    }

    /// Reads a PEM private key file (at most 32 KiB).
    pub fn from_file(path: &Path) -> Result<Self> {
        use std::io::Read;
        let context = || format!("reading key {}", path.display());
        let limit = arca_kbs_protocol::jwe::MAX_KEY_PEM_LEN as u64;
        let file = std::fs::File::open(path).map_err(|e| Error::io(context(), e))?;
        let mut pem = Zeroizing::new(Vec::new());
        file.take(limit + 1).read_to_end(&mut pem).map_err(|e| Error::io(context(), e))?;
        if pem.len() as u64 > limit {
            return Err(Error::TooLarge { what: format!("private key file {}", path.display()), limit });
        }
        Self::from_pem(&pem).map_err(|e| match e {
            Error::Decrypt(m) => Error::Decrypt(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// The key's kind (`RSA-2048`, `EC P-384`, …), for messages.
    pub fn kind(&self) -> String {
        self.0.kind()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PrivateKey").field(&self.kind()).finish()
    }
}

/// The keys a pull may decrypt layers with.
#[derive(Default)]
pub struct DecryptConfig {
    /// Private keys for the JWE scheme; each is tried on each recipient.
    pub private_keys: Vec<PrivateKey>,
    /// Key source for the CoCo key-provider scheme.
    pub key_source: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for DecryptConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptConfig")
            .field("private_keys", &self.private_keys)
            .field("key_source", &self.key_source.as_ref().map(|_| "…"))
            .finish()
    }
}

impl DecryptConfig {
    /// Adds a key given as on the command line (`--decryption-key`):
    /// `jwe:PATH` or a bare `PATH` of a PEM private key. Key passwords
    /// (`PATH:password`) are not supported.
    pub fn add_key_arg(&mut self, arg: &str) -> Result<()> {
        let path = arg.strip_prefix("jwe:").unwrap_or(arg);
        if let Some((scheme, _)) = arg.split_once(':').filter(|(s, _)| ["pkcs7", "pgp", "provider"].contains(s)) {
            return Err(Error::Decrypt(format!(
                "decryption key scheme {scheme:?} is not supported; expected jwe:PATH"
            )));
        }
        self.private_keys.push(PrivateKey::from_file(Path::new(path))?);
        Ok(())
    }

    /// True when the config has nothing to decrypt with.
    pub fn is_empty(&self) -> bool {
        self.private_keys.is_empty() && self.key_source.is_none()
    }
}

/// The layer's key and options from its descriptor's `annotations`: the JWE
/// scheme is tried with the config's private keys, then the key-provider
/// scheme with its key source. Errors say which schemes the layer offers and
/// why each failed, never anything of the keys.
pub async fn layer_key(annotations: &HashMap<String, String>, config: &DecryptConfig) -> Result<LayerKey> {
    let public = options::PublicOptions::from_annotation(annotations.get(ANNOTATION_PUBOPTS).map(String::as_str))?;
    let mut failures = Vec::new();
    if let Some(value) = annotations.get(ANNOTATION_KEYS_JWE) {
        if config.private_keys.is_empty() {
            failures.push("jwe: no private key supplied".to_string());
        } else {
            match jwe::unwrap(value, &config.private_keys) {
                Ok(private) => return LayerKey::new(&public, &private),
                Err(e) => failures.push(format!("jwe: {e}")),
            }
        }
    }
    if let Some(value) = annotations.get(ANNOTATION_KEYS_ATTESTATION_AGENT) {
        match &config.key_source {
            None => failures.push("provider.attestation-agent: no key source configured".to_string()),
            Some(source) => match keyprovider::unwrap(value, source.as_ref()).await {
                Ok(private) => return LayerKey::new(&public, &private),
                Err(e) => failures.push(format!("provider.attestation-agent: {e}")),
            },
        }
    }
    for name in annotations.keys() {
        if let Some(scheme) = name.strip_prefix(ANNOTATION_KEYS_PREFIX) {
            if name != ANNOTATION_KEYS_JWE && name != ANNOTATION_KEYS_ATTESTATION_AGENT {
                failures.push(format!("{}: key scheme not supported", scheme.chars().take(64).collect::<String>()));
            }
        }
    }
    if failures.is_empty() {
        return Err(Error::Decrypt(format!(
            "encrypted layer has no key annotation ({ANNOTATION_KEYS_PREFIX}…): nothing to unwrap its key from"
        )));
    }
    failures.sort();
    Err(Error::Decrypt(format!("cannot unwrap the layer key: {}", failures.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        for (encrypted, plain) in [
            ("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "application/vnd.oci.image.layer.v1.tar+gzip"),
            ("application/vnd.oci.image.layer.v1.tar+zstd+encrypted", "application/vnd.oci.image.layer.v1.tar+zstd"),
            ("application/vnd.oci.image.layer.v1.tar+encrypted", "application/vnd.oci.image.layer.v1.tar"),
        ] {
            assert!(is_encrypted(encrypted));
            assert!(!is_encrypted(plain));
            assert_eq!(decrypted_media_type(encrypted), plain);
            assert_eq!(decrypted_media_type(plain), plain);
        }
    }

    fn pubopts() -> String {
        let json =
            format!(r#"{{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"{}","cipheroptions":{{}}}}"#, "A".repeat(43) + "=");
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, json)
    }

    async fn error_of(annotations: &[(&str, String)], config: &DecryptConfig) -> String {
        let map: HashMap<String, String> = annotations.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        layer_key(&map, config).await.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[tokio::test]
    async fn layer_key_says_what_is_missing() {
        let none = DecryptConfig::default();
        assert!(error_of(&[], &none).await.contains("no HMAC"));
        assert!(error_of(&[(ANNOTATION_PUBOPTS, pubopts())], &none).await.contains("no key annotation"));
        let e = error_of(&[(ANNOTATION_PUBOPTS, pubopts()), (ANNOTATION_KEYS_JWE, "e30=".into())], &none).await;
        assert!(e.contains("jwe: no private key supplied"), "{e}");
        let e = error_of(&[(ANNOTATION_PUBOPTS, pubopts()), (ANNOTATION_KEYS_ATTESTATION_AGENT, "e30=".into())], &none)
            .await;
        assert!(e.contains("no key source configured"), "{e}");
        let e = error_of(
            &[(ANNOTATION_PUBOPTS, pubopts()), ("org.opencontainers.image.enc.keys.pkcs7", "e30=".into())],
            &none,
        )
        .await;
        assert!(e.contains("pkcs7: key scheme not supported"), "{e}");
    }

    #[test]
    fn jwe_annotation_limits() {
        use arca_kbs_protocol::tee_key::{TeeKeyAlgorithm, TeeKeyPair};
        let pem = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256).unwrap().to_pem().unwrap();
        let key = PrivateKey::from_pem(pem.as_bytes());
        let Ok(key) = key else { panic!("test key: {key:?}") };
        assert_eq!(key.kind(), "EC P-256");
        let keys = [key];
        let huge = "A".repeat(jwe::MAX_ANNOTATION_LEN + 1);
        assert!(matches!(jwe::unwrap(&huge, &keys), Err(Error::TooLarge { .. })));
        let many = vec!["e30="; jwe::MAX_JWES + 1].join(",");
        assert!(jwe::unwrap(&many, &keys).unwrap_err().to_string().contains("17 JWEs"));
        assert!(jwe::unwrap(",,", &keys).unwrap_err().to_string().contains("0 JWEs"));
        assert!(jwe::unwrap("%%", &keys).unwrap_err().to_string().contains("not base64"));
        assert!(jwe::unwrap("e30=", &keys).unwrap_err().to_string().contains("malformed"));
    }

    #[test]
    fn layer_key_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let config = DecryptConfig::default();
        let annotations = HashMap::new();
        assert_send(&layer_key(&annotations, &config));
    }

    #[test]
    fn key_args() {
        let mut config = DecryptConfig::default();
        assert!(config.is_empty());
        let e = config.add_key_arg("pgp:key.asc").unwrap_err().to_string();
        assert!(e.contains("\"pgp\" is not supported"), "{e}");
        let e = config.add_key_arg("jwe:/nonexistent/key.pem").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; arca_kbs_protocol::jwe::MAX_KEY_PEM_LEN + 1]).unwrap();
        assert!(matches!(config.add_key_arg(big.to_str().unwrap()), Err(Error::TooLarge { .. })));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").unwrap();
        let e = config.add_key_arg(&format!("jwe:{}", junk.display())).unwrap_err().to_string();
        assert!(e.contains("junk.pem") && e.contains("no PRIVATE KEY"), "{e}");
        assert!(config.is_empty());
    }
}
