//! EAR attestation tokens: issuing (ES256, public key in the header `jwk`)
//! and verifying tokens presented as `Authorization: Bearer` (passport mode).
//!
//! Verification trusts only what the operator configured: the server's own
//! token key, the keys of `[attestation_token] trusted_jwk_sets`, header
//! keys whose `x5c` chain ends at one of `trusted_certs_paths`, and — only
//! when `insecure_header_jwk = true` — a bare header `jwk`. Expired tokens
//! (`exp` passed) and not-yet-valid ones (`nbf`) are refused.

use std::path::Path;

use arca_kbs_protocol::jwk::Jwk;
use arca_kbs_protocol::jws::{self, SigningKey, VerifyingKey};
use arca_kbs_protocol::messages::ErrorKind;
use arca_verifier::x509::Certificate;
use serde_json::Value;
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::config::AttestationTokenConfig;
use crate::{Error, Result};

/// Largest JWKS or certificate file read.
const MAX_TRUST_FILE: u64 = 1 << 20;

/// Clock skew tolerated on `exp`/`nbf`, in seconds.
const LEEWAY_S: u64 = 0;

/// Signs EAR tokens.
pub struct TokenIssuer {
    key: SigningKey,
    duration_s: i64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer").field("duration_s", &self.duration_s).finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `key` for tokens valid `duration_min` minutes.
    pub fn new(key: SigningKey, duration_min: u64) -> Self {
        TokenIssuer { key, duration_s: i64::try_from(duration_min.saturating_mul(60)).unwrap_or(i64::MAX) }
    }

    /// The same issuer with tokens valid for `seconds`.
    pub fn with_lifetime_s(self, seconds: i64) -> Self {
        TokenIssuer { duration_s: seconds, ..self }
    }

    /// Token lifetime in seconds.
    pub fn duration_s(&self) -> i64 {
        self.duration_s
    }

    /// The key tokens are verified with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Sign `claims`; the header carries the public key as `jwk`.
    pub fn issue(&self, claims: &Value) -> std::result::Result<String, ApiError> {
        let mut header = serde_json::Map::new();
        let jwk = serde_json::to_value(self.key.public_jwk())
            .map_err(|e| ApiError::new(ErrorKind::AttestationError, format!("cannot encode token key: {e}")))?;
        header.insert("jwk".into(), jwk);
        jws::sign(&self.key, claims, header)
            .map_err(|e| ApiError::new(ErrorKind::AttestationError, format!("cannot sign token: {e}")))
    }
}

/// Verifies tokens against the configured trust.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    roots: Vec<Certificate>,
    insecure_header_jwk: bool,
}

fn trust_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Config { path: path.to_path_buf(), detail: detail.into() }
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| trust_error(path, format!("cannot read: {e}")))?;
    if meta.len() > MAX_TRUST_FILE {
        return Err(trust_error(path, format!("file is {} bytes, limit {MAX_TRUST_FILE}", meta.len())));
    }
    std::fs::read(path).map_err(|e| trust_error(path, format!("cannot read: {e}")))
}

impl TokenVerifier {
    /// Trust `own` (the server's token key) plus what `config` names.
    pub fn from_config(own: VerifyingKey, config: &AttestationTokenConfig) -> Result<Self> {
        let mut keys = vec![own];
        for path in &config.trusted_jwk_sets {
            let bytes = read_limited(path)?;
            let set: Value = serde_json::from_slice(&bytes)
                .map_err(|e| trust_error(path, format!("expected a JWK set (JSON), found: {e}")))?;
            let list = set
                .get("keys")
                .and_then(Value::as_array)
                .ok_or_else(|| trust_error(path, "expected a JWK set with a \"keys\" array"))?;
            for (i, k) in list.iter().enumerate() {
                let jwk: Jwk = serde_json::from_value(k.clone())
                    .map_err(|e| trust_error(path, format!("keys[{i}] is not a JWK: {e}")))?;
                keys.push(
                    VerifyingKey::from_jwk(&jwk)
                        .map_err(|e| trust_error(path, format!("keys[{i}] is not a usable key: {e}")))?,
                );
            }
        }
        let mut roots = Vec::new();
        for path in &config.trusted_certs_paths {
            let bytes = read_limited(path)?;
            let certs = Certificate::all_from_pem(&bytes)
                .map_err(|e| trust_error(path, format!("expected PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(trust_error(path, "expected at least one PEM certificate, found none"));
            }
            roots.extend(certs);
        }
        Ok(TokenVerifier { keys, roots, insecure_header_jwk: config.insecure_header_jwk })
    }

    /// Verify `token` at `now`: signature by a trusted key, then times.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> std::result::Result<Value, ApiError> {
        let fail = |detail: String| ApiError::new(ErrorKind::TokenVerifierError, detail);
        // The header is decoded only when the trusted keys refuse the token
        // (to find a header `jwk`): on the usual path the token's JSON is
        // parsed once, by `verify`. A token that is not a JWS fails either way
        // with the same error.
        let claims = match jws::verify(token, &self.keys) {
            Ok(claims) => claims,
            Err(own_err) => {
                let (header, _) =
                    jws::decode_unverified(token).map_err(|e| fail(format!("token is not a JWS: {e}")))?;
                let header_jwk = header.get("jwk").cloned();
                let Some(jwk) = header_jwk else {
                    return Err(fail(format!("token not signed by a trusted key: {own_err}")));
                };
                let jwk: Jwk =
                    serde_json::from_value(jwk).map_err(|e| fail(format!("token header jwk is not a JWK: {e}")))?;
                let endorsed = jwk.x5c.as_ref().is_some_and(|c| !c.is_empty()) && !self.roots.is_empty();
                if endorsed {
                    arca_kbs_protocol::jwk::x5c_endorsed(&jwk, &self.roots, now)
                        .map_err(|e| fail(format!("token header jwk is not endorsed by a trusted certificate: {e}")))?;
                } else if !self.insecure_header_jwk {
                    return Err(fail(format!(
                        "token not signed by a trusted key ({own_err}); its header jwk has no x5c chain to a \
                         trusted certificate and insecure_header_jwk is off"
                    )));
                }
                let key = VerifyingKey::from_jwk(&jwk).map_err(|e| fail(format!("token header jwk unusable: {e}")))?;
                jws::verify(token, &[key]).map_err(|e| fail(format!("token signature: {e}")))?
            }
        };
        self.check_times(&claims, now)?;
        Ok(claims)
    }

    /// Check the `exp`/`nbf` of already trusted token `claims` at `now`.
    pub fn check_times(&self, claims: &Value, now: OffsetDateTime) -> std::result::Result<(), ApiError> {
        jws::check_times(claims, now.unix_timestamp(), LEEWAY_S)
            .map_err(|e| ApiError::new(ErrorKind::TokenVerifierError, format!("token times: {e}")))
    }
}
