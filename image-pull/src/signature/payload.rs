//! The signed payload both signature kinds carry: the containers/image
//! "simple signing" JSON,
//! `{"critical":{"type":…,"image":{"docker-manifest-digest":…},"identity":{"docker-reference":…}},"optional":{…}}`.
//! GPG simple signatures use the type `atomic container signature`,
//! cosign/sigstore ones `cosign container image signature`. The `critical`
//! part is parsed strictly (an unknown field there must not be ignored);
//! `optional` is free-form and not used for any decision.

use serde::Deserialize;

/// `critical.type` of a GPG simple signature.
pub(crate) const SIMPLE_SIGNING_TYPE: &str = "atomic container signature";
/// `critical.type` of a cosign/sigstore signature.
pub(crate) const SIGSTORE_TYPE: &str = "cosign container image signature";
/// Largest payload accepted (real ones are a few hundred bytes).
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Untrusted {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

/// What a verified payload claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    /// `critical.image.docker-manifest-digest`
    pub manifest_digest: String,
    /// `critical.identity.docker-reference`
    pub docker_reference: String,
}

/// Parses a payload of `expected_type`. Only call this on bytes whose
/// signature has been verified.
pub(crate) fn parse(bytes: &[u8], expected_type: &str) -> Result<Claims, String> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(format!("signed payload of {} bytes exceeds {MAX_PAYLOAD_BYTES}", bytes.len()));
    }
    let untrusted: Untrusted =
        serde_json::from_slice(bytes).map_err(|e| format!("signed payload is not a simple-signing document: {e}"))?;
    let _ = untrusted.optional;
    if untrusted.critical.kind != expected_type {
        return Err(format!("signed payload has type {:?}, expected {expected_type:?}", untrusted.critical.kind));
    }
    Ok(Claims {
        manifest_digest: untrusted.critical.image.docker_manifest_digest,
        docker_reference: untrusted.critical.identity.docker_reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_critical_section() {
        let good = br#"{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:aa"},"identity":{"docker-reference":"h.io/a:1"}},"optional":{"creator":"x","timestamp":1}}"#;
        let claims = parse(good, SIMPLE_SIGNING_TYPE).unwrap();
        assert_eq!(claims.manifest_digest, "sha256:aa");
        assert_eq!(claims.docker_reference, "h.io/a:1");
        assert!(parse(good, SIGSTORE_TYPE).unwrap_err().contains("expected"));
        let extra = br#"{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:aa"},"identity":{"docker-reference":"h.io/a:1"},"x":1}}"#;
        assert!(parse(extra, SIMPLE_SIGNING_TYPE).is_err());
        let dup = br#"{"critical":{"type":"atomic container signature","type":"atomic container signature","image":{"docker-manifest-digest":"sha256:aa"},"identity":{"docker-reference":"h.io/a:1"}}}"#;
        assert!(parse(dup, SIMPLE_SIGNING_TYPE).is_err());
        assert!(parse(b"[]", SIMPLE_SIGNING_TYPE).is_err());
        assert!(parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1], SIMPLE_SIGNING_TYPE).is_err());
    }
}
