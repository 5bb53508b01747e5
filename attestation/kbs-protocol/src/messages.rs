//! The JSON messages of the KBS protocol (version [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
//!
//! The shapes are those of the `kbs-types` crate (0.18) that trustee and
//! guest-components use; field names, `kebab-case` renames and the
//! `kty`-tagged [`TeePubKey`] are identical on the wire. The types are kept
//! here rather than taken from `kbs-types` for two reasons: its
//! [`Response`] re-serializes the parsed JWE `protected` header, so the
//! additional authenticated data of a JWE produced by any other JOSE library
//! (different member order or spacing) no longer matches, and without its
//! `std` feature it still pulls `strum` and `sm3` that nothing here needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// A TEE type name as it appears in [`Request::tee`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tee {
    /// Azure confidential VM on SEV-SNP with a vTPM.
    #[serde(rename = "az-snp-vtpm")]
    AzSnpVtpm,
    /// Azure confidential VM on TDX with a vTPM.
    #[serde(rename = "az-tdx-vtpm")]
    AzTdxVtpm,
    /// NVIDIA GPU.
    #[serde(rename = "nvidia")]
    Nvidia,
    /// Intel SGX.
    #[serde(rename = "sgx")]
    Sgx,
    /// AMD SEV-SNP.
    #[serde(rename = "snp")]
    Snp,
    /// Intel TDX.
    #[serde(rename = "tdx")]
    Tdx,
    /// Arm CCA realm.
    #[serde(rename = "cca")]
    Cca,
    /// China Secure Virtualization (Hygon).
    #[serde(rename = "csv")]
    Csv,
    /// IBM Secure Execution.
    #[serde(rename = "se")]
    Se,
    /// Hygon DCU.
    #[serde(rename = "hygondcu")]
    HygonDcu,
    /// NVIDIA DPU.
    #[serde(rename = "nvidia-dpu", alias = "nvidiadpu")]
    NvidiaDpu,
    /// TPM.
    #[serde(rename = "tpm")]
    Tpm,
    /// The software sample TEE (tests and development only).
    #[serde(rename = "sample")]
    Sample,
    /// The software sample device (tests and development only).
    #[serde(rename = "sampledevice")]
    SampleDevice,
}

impl Tee {
    /// Every TEE name, in wire spelling.
    pub const ALL: [Tee; 14] = [
        Tee::AzSnpVtpm,
        Tee::AzTdxVtpm,
        Tee::Nvidia,
        Tee::Sgx,
        Tee::Snp,
        Tee::Tdx,
        Tee::Cca,
        Tee::Csv,
        Tee::Se,
        Tee::HygonDcu,
        Tee::NvidiaDpu,
        Tee::Tpm,
        Tee::Sample,
        Tee::SampleDevice,
    ];

    /// The wire name (e.g. `"az-snp-vtpm"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tee::AzSnpVtpm => "az-snp-vtpm",
            Tee::AzTdxVtpm => "az-tdx-vtpm",
            Tee::Nvidia => "nvidia",
            Tee::Sgx => "sgx",
            Tee::Snp => "snp",
            Tee::Tdx => "tdx",
            Tee::Cca => "cca",
            Tee::Csv => "csv",
            Tee::Se => "se",
            Tee::HygonDcu => "hygondcu",
            Tee::NvidiaDpu => "nvidia-dpu",
            Tee::Tpm => "tpm",
            Tee::Sample => "sample",
            Tee::SampleDevice => "sampledevice",
        }
    }
}

impl fmt::Display for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tee {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "nvidiadpu" {
            return Ok(Tee::NvidiaDpu);
        }
        Tee::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| Error::Unsupported {
            what: "TEE",
            expected: "a TEE name such as snp, tdx, cca, se, sample",
            found: s.chars().take(64).collect(),
        })
    }
}

/// `POST /kbs/v0/auth` body: the client opens a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version; the server requires [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    pub version: String,
    /// The TEE the client runs in.
    pub tee: Tee,
    /// TEE-specific parameters (guest-components sends
    /// `{"supported-hash-algorithms": [...]}`).
    #[serde(rename = "extra-params", default)]
    pub extra_params: Value,
}

/// Reply to [`Request`]: the nonce to bind into the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// Standard base64 (padded) of 32 random bytes.
    pub nonce: String,
    /// `""` for every TEE except IBM SE, where it carries
    /// `{"selected-hash-algorithm": "sha512"}`.
    #[serde(rename = "extra-params", default)]
    pub extra_params: Value,
}

/// Data the client binds into its evidence through the report-data digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeData {
    /// The nonce of the [`Challenge`].
    pub nonce: String,
    /// The public key resources are to be encrypted to.
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: TeePubKey,
}

/// Init-data the host gave the guest, bound into the evidence by digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitData {
    /// Format of `body`; the KBS accepts only `"toml"`.
    pub format: String,
    /// The init-data document, exactly as hashed.
    pub body: String,
}

/// Evidence of the TEE and of any further devices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeeEvidence {
    /// The primary TEE's evidence (TEE-specific JSON).
    pub primary_evidence: Value,
    /// A JSON document (as a string) mapping device TEE names to evidence;
    /// `""` when there is none.
    #[serde(default)]
    pub additional_evidence: String,
}

/// `POST /kbs/v0/attest` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Attestation {
    /// Init-data, when the guest has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_data: Option<InitData>,
    /// Nonce and TEE public key.
    pub runtime_data: RuntimeData,
    /// The evidence.
    pub tee_evidence: TeeEvidence,
}

/// Reply to [`Attestation`]: the attestation token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttestationToken {
    /// The EAR token, a compact JWS.
    pub token: String,
}

/// A TEE's public key as carried in [`RuntimeData`] (a JWK subset, tagged on `kty`).
///
/// Members are base64url without padding, as in RFC 7518.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum TeePubKey {
    /// RSA key; `alg` is `RSA-OAEP-256` or `RSA1_5`.
    #[serde(rename = "RSA")]
    Rsa {
        /// Key-management algorithm.
        alg: String,
        /// Modulus.
        n: String,
        /// Public exponent.
        e: String,
    },
    /// Elliptic-curve key; `crv` `P-256` or `P-521`, `alg` `ECDH-ES+A256KW`.
    #[serde(rename = "EC")]
    Ec {
        /// Curve.
        crv: String,
        /// Key-management algorithm.
        alg: String,
        /// X coordinate.
        x: String,
        /// Y coordinate.
        y: String,
    },
    /// Algorithm Key Pair (post-quantum KEM, draft-ietf-jose-pqc-kem);
    /// carried on the wire but not supported for encryption here.
    #[serde(rename = "AKP")]
    Akp {
        /// Key-management algorithm (e.g. `ML-KEM-768+A192KW`).
        alg: String,
        /// The public key.
        #[serde(rename = "pub")]
        public_key: String,
    },
}

impl TeePubKey {
    /// The key-management algorithm the key is for.
    pub fn alg(&self) -> &str {
        match self {
            TeePubKey::Rsa { alg, .. } | TeePubKey::Ec { alg, .. } | TeePubKey::Akp { alg, .. } => alg,
        }
    }
}

/// A resource response: a JWE in flattened JSON serialization (RFC 7516 §7.2.2).
///
/// Members are kept as their base64url text so that the additional
/// authenticated data — the ASCII of `protected` — is exactly what the
/// producer authenticated, whichever library produced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// base64url of the protected header JSON (`alg`, `enc`, `epk`…).
    pub protected: String,
    /// base64url of the encrypted content-encryption key.
    pub encrypted_key: String,
    /// base64url of extra additional authenticated data; not emitted by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
    /// Shared unprotected header; not emitted by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprotected: Option<serde_json::Map<String, Value>>,
    /// Per-recipient unprotected header (some JOSE libraries put `epk`
    /// here); not emitted by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<serde_json::Map<String, Value>>,
    /// base64url of the 12-byte initialization vector.
    pub iv: String,
    /// base64url of the ciphertext.
    pub ciphertext: String,
    /// base64url of the 16-byte authentication tag.
    pub tag: String,
}

/// The error kinds of the KBS, named like trustee's so clients can match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The admin authenticator could not be set up.
    AdminAuthInitialization,
    /// An admin request was not authorized.
    AdminAuthAccess,
    /// Attestation failed (also: protocol version mismatch, bad session).
    AttestationError,
    /// The HTTP server failed to start.
    HTTPFailed,
    /// The HTTPS server failed to start.
    HTTPSFailed,
    /// The request path names no endpoint (HTTP 404).
    InvalidRequestPath,
    /// The resource could not be encrypted to the TEE key.
    JweError,
    /// The plugin manager could not be set up.
    PluginManagerInitialization,
    /// The path names no plugin (HTTP 404).
    PluginNotFound,
    /// A plugin failed (e.g. resource not found).
    PluginInternalError,
    /// The resource policy denied the request.
    PolicyDeny,
    /// A policy could not be parsed.
    ParsePolicyError,
    /// The policy engine failed.
    PolicyEngineError,
    /// The reference value store failed.
    RvpsError,
    /// A body could not be (de)serialized.
    SerdeError,
    /// The storage backend could not be set up.
    StorageBackendInitialization,
    /// No attestation token was presented.
    TokenNotFound,
    /// The attestation token did not verify.
    TokenVerifierError,
    /// Metrics could not be gathered.
    PrometheusError,
}

/// Prefix of every error `type` URI.
pub const ERROR_TYPE_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 19] = [
        ErrorKind::AdminAuthInitialization,
        ErrorKind::AdminAuthAccess,
        ErrorKind::AttestationError,
        ErrorKind::HTTPFailed,
        ErrorKind::HTTPSFailed,
        ErrorKind::InvalidRequestPath,
        ErrorKind::JweError,
        ErrorKind::PluginManagerInitialization,
        ErrorKind::PluginNotFound,
        ErrorKind::PluginInternalError,
        ErrorKind::PolicyDeny,
        ErrorKind::ParsePolicyError,
        ErrorKind::PolicyEngineError,
        ErrorKind::RvpsError,
        ErrorKind::SerdeError,
        ErrorKind::StorageBackendInitialization,
        ErrorKind::TokenNotFound,
        ErrorKind::TokenVerifierError,
        ErrorKind::PrometheusError,
    ];

    /// The variant name (e.g. `"PolicyDeny"`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::AdminAuthInitialization => "AdminAuthInitialization",
            ErrorKind::AdminAuthAccess => "AdminAuthAccess",
            ErrorKind::AttestationError => "AttestationError",
            ErrorKind::HTTPFailed => "HTTPFailed",
            ErrorKind::HTTPSFailed => "HTTPSFailed",
            ErrorKind::InvalidRequestPath => "InvalidRequestPath",
            ErrorKind::JweError => "JweError",
            ErrorKind::PluginManagerInitialization => "PluginManagerInitialization",
            ErrorKind::PluginNotFound => "PluginNotFound",
            ErrorKind::PluginInternalError => "PluginInternalError",
            ErrorKind::PolicyDeny => "PolicyDeny",
            ErrorKind::ParsePolicyError => "ParsePolicyError",
            ErrorKind::PolicyEngineError => "PolicyEngineError",
            ErrorKind::RvpsError => "RvpsError",
            ErrorKind::SerdeError => "SerdeError",
            ErrorKind::StorageBackendInitialization => "StorageBackendInitialization",
            ErrorKind::TokenNotFound => "TokenNotFound",
            ErrorKind::TokenVerifierError => "TokenVerifierError",
            ErrorKind::PrometheusError => "PrometheusError",
        }
    }

    /// The `type` URI: [`ERROR_TYPE_PREFIX`] followed by the variant name.
    pub fn type_uri(self) -> String {
        format!("{ERROR_TYPE_PREFIX}{}", self.name())
    }

    /// The kind whose `type` URI is `uri`, if any.
    pub fn from_type_uri(uri: &str) -> Option<Self> {
        let name = uri.strip_prefix(ERROR_TYPE_PREFIX)?;
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The HTTP status the KBS answers with: 404 for `InvalidRequestPath`
    /// and `PluginNotFound`, 401 for everything else (as trustee does).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequestPath | ErrorKind::PluginNotFound => 404,
            _ => 401,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The JSON body of every KBS error reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error type URI (see [`ErrorKind::type_uri`]).
    pub r#type: String,
    /// Human-readable detail.
    pub detail: String,
}

impl ErrorInfo {
    /// An error body of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        ErrorInfo { r#type: kind.type_uri(), detail: detail.into() }
    }

    /// The kind named by `type`, if it is one of ours.
    pub fn kind(&self) -> Option<ErrorKind> {
        ErrorKind::from_type_uri(&self.r#type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_and_challenge_shapes() {
        let r: Request = serde_json::from_value(json!({"version": "0.4.0", "tee": "az-snp-vtpm",
            "extra-params": {"supported-hash-algorithms": ["sha384"]}}))
        .unwrap();
        assert_eq!(r.tee, Tee::AzSnpVtpm);
        assert_eq!(serde_json::to_value(&r).unwrap()["extra-params"]["supported-hash-algorithms"][0], "sha384");
        let c = Challenge { nonce: "bm9uY2U=".into(), extra_params: json!("") };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"nonce":"bm9uY2U=","extra-params":""}"#);
        assert!(serde_json::from_value::<Request>(json!({"version": "0.4.0", "tee": "bogus"})).is_err());
    }

    #[test]
    fn tee_names_round_trip() {
        for t in Tee::ALL {
            assert_eq!(t.as_str().parse::<Tee>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        assert_eq!("nvidiadpu".parse::<Tee>().unwrap(), Tee::NvidiaDpu);
        assert!("SNP".parse::<Tee>().is_err());
    }

    #[test]
    fn attestation_shape() {
        let a: Attestation = serde_json::from_value(json!({
            "init-data": {"format": "toml", "body": "version = \"0.1.0\""},
            "runtime-data": {"nonce": "n", "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AA", "y": "AQ"}},
            "tee-evidence": {"primary_evidence": {"a": 1}, "additional_evidence": ""}
        }))
        .unwrap();
        assert_eq!(a.runtime_data.tee_pubkey.alg(), "ECDH-ES+A256KW");
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["runtime-data"]["tee-pubkey"]["kty"], "EC");
        assert_eq!(v["init-data"]["format"], "toml");
        let rsa = TeePubKey::Rsa { alg: "RSA-OAEP-256".into(), n: "AQ".into(), e: "AQAB".into() };
        assert_eq!(
            serde_json::to_value(&rsa).unwrap(),
            json!({"kty": "RSA", "alg": "RSA-OAEP-256", "n": "AQ", "e": "AQAB"})
        );
        let akp: TeePubKey =
            serde_json::from_value(json!({"kty": "AKP", "alg": "ML-KEM-768+A192KW", "pub": "AA"})).unwrap();
        assert_eq!(akp, TeePubKey::Akp { alg: "ML-KEM-768+A192KW".into(), public_key: "AA".into() });
    }

    #[test]
    fn error_kinds() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_type_uri(&k.type_uri()), Some(k));
        }
        let e = ErrorInfo::new(ErrorKind::PolicyDeny, "denied");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type": "https://github.com/confidential-containers/kbs/errors/PolicyDeny", "detail": "denied"})
        );
        assert_eq!(ErrorKind::PluginNotFound.http_status(), 404);
        assert_eq!(ErrorKind::InvalidRequestPath.http_status(), 404);
        assert_eq!(ErrorKind::PolicyDeny.http_status(), 401);
        assert_eq!(ErrorKind::from_type_uri("https://example/errors/PolicyDeny"), None);
    }
}
