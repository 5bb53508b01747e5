//! RCAR: `POST /kbs/v0/auth` (challenge) and `POST /kbs/v0/attest` (evidence → EAR token).
//!
//! `/auth` checks the protocol version (exactly `0.4.0`; older clients get
//! trustee's "KBS Client Protocol Version Mismatch"), opens a session with a
//! fresh nonce and sets the `kbs-session-id` cookie. `/attest` requires that
//! cookie and a live session, requires the runtime-data nonce to be the
//! session's, recomputes the runtime-data digest (SHA-384; SHA-512 for SE)
//! from the JSON the guest sent, verifies the evidence with `arca-verifier`
//! against that digest and the init-data digest, appraises the claims with
//! the attestation policy and the reference values, and issues an EAR token
//! which the session keeps: a second `/attest` on an attested session
//! returns the same token without verifying again.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arca_kbs_protocol::ear;
use arca_kbs_protocol::messages::{Attestation, AttestationToken, Challenge, ErrorKind};
use arca_kbs_protocol::PROTOCOL_VERSION;
use arca_verifier::binding::{self, HashAlgorithm};
use arca_verifier::{Evidence, EvidenceFormat, Tee, VerifyOptions};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::server::{body_bytes, AppState};
use crate::session::{Session, SessionLookup, SessionState, SESSION_COOKIE};

/// Largest init-data document accepted, in bytes.
pub const MAX_INIT_DATA: usize = 256 * 1024;

/// `iss` of issued tokens.
pub const TOKEN_ISSUER: &str = "arca-kbs";

fn attestation_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::AttestationError, detail)
}

/// `POST /kbs/v0/auth`.
pub(crate) async fn auth(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&state, body)?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::serde("auth request", e))?;
    let version = value.get("version").and_then(Value::as_str).unwrap_or("");
    if version != PROTOCOL_VERSION {
        return Err(attestation_error(format!(
            "KBS Client Protocol Version Mismatch: expected {PROTOCOL_VERSION}, found {:?}",
            version.chars().take(32).collect::<String>()
        )));
    }
    let request: arca_kbs_protocol::messages::Request =
        serde_json::from_value(value).map_err(|e| ApiError::serde("auth request", e))?;
    let tee = request.tee.as_str();
    let session = state.sessions.create(tee);
    tracing::debug!(session = %session.id, tee, "challenge issued");
    let challenge = Challenge { nonce: session.nonce.clone(), extra_params: Value::String(String::new()) };
    let mut response = Json(challenge).into_response();
    set_cookie(&mut response, &session);
    Ok(response)
}

/// `POST /kbs/v0/attest`.
pub(crate) async fn attest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&state, body)?;
    let id = session_cookie(&headers)
        .ok_or_else(|| attestation_error(format!("no {SESSION_COOKIE} cookie: call /kbs/v0/auth first")))?;
    let session = match state.sessions.get(&id) {
        SessionLookup::Live(s) => s,
        SessionLookup::Expired => return Err(attestation_error("session expired: call /kbs/v0/auth again")),
        SessionLookup::Unknown => return Err(attestation_error("unknown session: call /kbs/v0/auth again")),
    };
    if let SessionState::Attested { token, .. } = &session.state {
        let mut response = Json(AttestationToken { token: token.clone() }).into_response();
        set_cookie(&mut response, &session);
        return Ok(response);
    }
    let tee_name = session.tee.clone();
    let result = state
        .run_cpu(move |state| verify_and_issue(state, &session, &body))
        .await
        .map_err(|e| attestation_error(format!("attestation task failed: {e}")))?;
    let (token, status, claims) = match result {
        Ok(ok) => ok,
        Err(e) => {
            state.metrics.attestation(&tee_name, "error");
            return Err(e);
        }
    };
    state.metrics.attestation(&tee_name, &status);
    if !state.sessions.mark_attested(&id, token.clone(), Arc::new(claims)) {
        return Err(attestation_error("session expired during attestation: call /kbs/v0/auth again"));
    }
    let mut response = Json(AttestationToken { token }).into_response();
    if let SessionLookup::Live(s) = state.sessions.get(&id) {
        set_cookie(&mut response, &s);
    }
    Ok(response)
}

/// Parsed init-data: the digest with its declared algorithm and the `[data]` claims.
#[derive(Debug, Clone, PartialEq)]
pub struct InitDataBinding {
    /// Digest of the exact TOML text.
    pub digest: Vec<u8>,
    /// `[data]` entries as JSON (`aa.toml`/`cdh.toml` entries parsed into objects).
    pub claims: Value,
}

/// Hash an init-data TOML document with its declared `algorithm` and
/// extract its `[data]` table.
pub fn init_data_binding(format: &str, body: &str) -> Result<InitDataBinding, String> {
    if format != "toml" {
        return Err(format!(
            "init-data format: expected \"toml\", found {:?}",
            format.chars().take(32).collect::<String>()
        ));
    }
    if body.len() > MAX_INIT_DATA {
        return Err(format!("init-data is {} bytes, limit {MAX_INIT_DATA}", body.len()));
    }
    let doc: toml::Table = toml::from_str(body).map_err(|e| format!("init-data is not TOML: {e}"))?;
    match doc.get("version").and_then(toml::Value::as_str) {
        Some("0.1.0") => {}
        other => return Err(format!("init-data version: expected \"0.1.0\", found {other:?}")),
    }
    let alg_name = doc
        .get("algorithm")
        .and_then(toml::Value::as_str)
        .ok_or("init-data: expected a string \"algorithm\" (sha256, sha384, sha512), found none")?;
    let alg = HashAlgorithm::from_name(alg_name)
        .ok_or_else(|| format!("init-data algorithm: expected sha256, sha384 or sha512, found {alg_name:?}"))?;
    let mut claims = Map::new();
    if let Some(data) = doc.get("data") {
        let table = data.as_table().ok_or("init-data: expected [data] to be a table")?;
        for (k, v) in table {
            let text = v.as_str().ok_or_else(|| format!("init-data [data] {k}: expected a string"))?;
            let value = if k.ends_with(".toml") {
                toml::from_str::<toml::Table>(text)
                    .ok()
                    .and_then(|t| serde_json::to_value(t).ok())
                    .unwrap_or_else(|| Value::String(text.to_string()))
            } else {
                Value::String(text.to_string())
            };
            claims.insert(k.clone(), value);
        }
    }
    Ok(InitDataBinding { digest: alg.digest(body.as_bytes()), claims: Value::Object(claims) })
}

/// Verify the evidence of `body` for `session`, appraise it and sign a
/// token: (token, EAR status name, the token's claims).
fn verify_and_issue(state: &AppState, session: &Session, body: &[u8]) -> Result<(String, String, Value), ApiError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| ApiError::serde("attestation", e))?;
    let attestation: Attestation =
        serde_json::from_value(raw.clone()).map_err(|e| ApiError::serde("attestation", e))?;
    if attestation.runtime_data.nonce != session.nonce {
        return Err(attestation_error(
            "runtime-data nonce is not the challenge of this session (replayed or foreign nonce)",
        ));
    }
    let tee = Tee::from_str(&session.tee)
        .map_err(|_| attestation_error(format!("TEE {:?} is not supported by this KBS", session.tee)))?;
    // The digest is over the key exactly as the guest sent it, extra JWK
    // members included, as the guest hashed it.
    let pubkey_json = raw.pointer("/runtime-data/tee-pubkey").cloned().unwrap_or(Value::Null);
    let additional = &attestation.tee_evidence.additional_evidence;
    let digest = binding::runtime_data_digest(
        HashAlgorithm::for_runtime_data(tee),
        &attestation.runtime_data.nonce,
        &pubkey_json,
        additional,
    )
    .map_err(|e| attestation_error(format!("runtime data: {e}")))?;
    let init = attestation
        .init_data
        .as_ref()
        .map(|i| init_data_binding(&i.format, &i.body))
        .transpose()
        .map_err(attestation_error)?;

    let now = state.now();
    let mut options = VerifyOptions::at(now);
    options.report_data = Some(state.expected_report_data(digest.clone()));
    options.init_data_digest = init.as_ref().map(|i| i.digest.clone());
    // The sample TEE is verified (report data, init data) and then appraised
    // by policy, which refuses it unless allow_sample_tee: the denial then
    // names the policy rule instead of a bare verifier refusal.
    options.allow_sample = true;
    let evidence_bytes = serde_json::to_vec(&attestation.tee_evidence.primary_evidence)
        .map_err(|e| ApiError::serde("primary_evidence", e))?;
    let evidence = Evidence { bytes: &evidence_bytes, format: EvidenceFormat::Json };
    let endorsements = state.endorsements.get(&tee).cloned().unwrap_or_default();
    let claims = arca_verifier::verify(tee, &evidence, &endorsements, &options).map_err(|e| {
        tracing::warn!(tee = tee.name(), error = %crate::api_error::error_chain(&e), "evidence verification failed");
        attestation_error(format!("{} evidence verification failed: {}", tee.name(), crate::api_error::error_chain(&e)))
    })?;
    let claims_json = claims.to_json();

    let reference = state.rvps.all_at(now).map_err(ApiError::from)?;
    let appraisal = state.policy.appraise(tee.name(), &claims_json, &reference).map_err(ApiError::from)?;
    tracing::info!(
        session = %session.id,
        tee = tee.name(),
        status = appraisal.status.as_str(),
        policy = %appraisal.policy_id,
        reasons = ?appraisal.reasons,
        "attestation appraised"
    );

    let iat = now.unix_timestamp();
    let trust_vector: ear::TrustVector = serde_json::to_value(appraisal.trust_vector)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::new(ErrorKind::PolicyEngineError, format!("trust vector: {e}")))?;
    let evidence = ear::AnnotatedEvidence {
        tee: tee.name().to_string(),
        claims: claims_json,
        init_data: Some(init.as_ref().map(|i| hex::encode(&i.digest)).unwrap_or_default()),
        report_data: Some(hex::encode(&digest)),
        init_data_claims: init.map(|i| i.claims).unwrap_or_else(|| json!({})),
        runtime_data_claims: json!({"nonce": attestation.runtime_data.nonce, "tee-pubkey": pubkey_json}),
    };
    let submod = ear::Submod::new(trust_vector, Some(appraisal.policy_id.clone()), &evidence);
    let status_name = submod.status.as_str().to_string();
    let mut submods = BTreeMap::new();
    submods.insert(ear::CPU_SUBMOD.to_string(), submod);
    let token_claims = ear::EarToken {
        eat_profile: ear::EAT_PROFILE.to_string(),
        iat,
        exp: iat.saturating_add(state.issuer.duration_s()),
        iss: TOKEN_ISSUER.to_string(),
        verifier_id: ear::VerifierId {
            developer: "arca".to_string(),
            build: concat!("arca-kbs ", env!("CARGO_PKG_VERSION")).to_string(),
        },
        submods,
        extra: Map::new(),
    };
    let claims = token_claims.to_value();
    let token = state.issuer.issue(&claims)?;
    Ok((token, status_name, claims))
}

/// The `kbs-session-id` cookie of a request.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name.trim() == SESSION_COOKIE).then(|| value.trim().to_string())
    })
}

fn set_cookie(response: &mut Response, session: &Session) {
    let expires = OffsetDateTime::from(session.expires_at);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let max_age = session.expires_at.duration_since(std::time::SystemTime::now()).map(|d| d.as_secs()).unwrap_or(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Expires={}; Max-Age={max_age}; Path=/kbs/v0; HttpOnly",
        session.id,
        expires.format(&format).unwrap_or_default()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_data_digest_uses_declared_algorithm() {
        let body =
            "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = '''\n[token_configs]\n'''\nx = \"y\"\n";
        let b = init_data_binding("toml", body).unwrap();
        assert_eq!(b.digest, HashAlgorithm::Sha256.digest(body.as_bytes()));
        assert_eq!(b.claims["x"], "y");
        assert!(b.claims["aa.toml"].is_object());
        let b384 = init_data_binding("toml", &body.replace("sha256", "sha384")).unwrap();
        assert_eq!(b384.digest.len(), 48);
    }

    #[test]
    fn init_data_refuses_other_formats_versions_and_algorithms() {
        assert!(init_data_binding("json", "{}").unwrap_err().contains("toml"));
        assert!(init_data_binding("toml", "version = \"0.2.0\"\nalgorithm = \"sha256\"")
            .unwrap_err()
            .contains("0.1.0"));
        assert!(init_data_binding("toml", "version = \"0.1.0\"\nalgorithm = \"md5\"").unwrap_err().contains("md5"));
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; kbs-session-id=abc123; c=d"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc123"));
    }
}
