//! Admin routes for policies and reference values.
//!
//! - `POST /kbs/v0/resource-policy` `{"policy": "<base64url-no-pad Rego>"}`; `GET` returns the same shape.
//! - `POST /kbs/v0/attestation-policy` `{"type": "rego", "policy_id": "...", "policy": "<base64url-no-pad Rego>"}`;
//!   `GET` lists the stored policy ids.
//! - `POST /kbs/v0/reference-value` with an RVPS message `{"version": "0.1.0", "type": "sample"|"arca", "payload": "..."}`;
//!   `GET /kbs/v0/reference-value/<name>` returns the values of one name.
//!
//! Every route requires admin authorization; policies are compiled before
//! they are stored, so a bad policy is refused with the parser's message.

use std::sync::Arc;

use arca_kbs_protocol::messages::ErrorKind;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::rvps::RvpsMessage;
use crate::server::{body_bytes, AppState};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcePolicyBody {
    policy: String,
}

#[derive(Deserialize)]
struct AttestationPolicyBody {
    #[serde(rename = "type")]
    kind: String,
    policy_id: String,
    policy: String,
}

fn decode_policy(text: &str) -> Result<String, ApiError> {
    let bytes = B64URL.decode(text.trim_end_matches('=').trim()).map_err(|e| {
        ApiError::new(ErrorKind::ParsePolicyError, format!("policy: expected base64url (no padding): {e}"))
    })?;
    String::from_utf8(bytes).map_err(|_| ApiError::new(ErrorKind::ParsePolicyError, "policy: expected UTF-8 Rego text"))
}

/// `POST /kbs/v0/resource-policy`.
pub(crate) async fn set_resource_policy(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.admin.authorize(&headers, uri.path(), state.now())?;
    let body = body_bytes(&state, body)?;
    let req: ResourcePolicyBody = serde_json::from_slice(&body).map_err(|e| ApiError::serde("resource policy", e))?;
    let rego = decode_policy(&req.policy)?;
    state.admin_task(move |s| s.policy.set_resource_policy(&rego).map_err(ApiError::from)).await?;
    tracing::info!(role = %who.role, "resource policy set");
    Ok(StatusCode::OK.into_response())
}

/// `GET /kbs/v0/resource-policy`.
pub(crate) async fn get_resource_policy(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.admin.authorize(&headers, uri.path(), state.now())?;
    let rego = state.admin_task(move |s| s.policy.resource_policy().map_err(ApiError::from)).await?;
    Ok(Json(json!({"policy": B64URL.encode(rego.as_bytes())})).into_response())
}

/// `POST /kbs/v0/attestation-policy`.
pub(crate) async fn set_attestation_policy(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.admin.authorize(&headers, uri.path(), state.now())?;
    let body = body_bytes(&state, body)?;
    let req: AttestationPolicyBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::serde("attestation policy", e))?;
    if req.kind != "rego" {
        return Err(ApiError::new(
            ErrorKind::ParsePolicyError,
            format!(
                "attestation policy type: expected \"rego\", found {:?}",
                req.kind.chars().take(32).collect::<String>()
            ),
        ));
    }
    let rego = decode_policy(&req.policy)?;
    let id = req.policy_id.clone();
    state.admin_task(move |s| s.policy.set_attestation_policy(&id, &rego).map_err(ApiError::from)).await?;
    tracing::info!(role = %who.role, policy_id = %req.policy_id, "attestation policy set");
    Ok(StatusCode::OK.into_response())
}

/// `GET /kbs/v0/attestation-policy`: the stored policy ids.
pub(crate) async fn list_attestation_policies(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.admin.authorize(&headers, uri.path(), state.now())?;
    let ids = state.admin_task(move |s| s.policy.list_attestation_policies().map_err(ApiError::from)).await?;
    Ok(Json(ids).into_response())
}

/// `POST /kbs/v0/reference-value`.
pub(crate) async fn set_reference_values(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.admin.authorize(&headers, uri.path(), state.now())?;
    let body = body_bytes(&state, body)?;
    let msg: RvpsMessage = serde_json::from_slice(&body).map_err(|e| ApiError::serde("reference-value message", e))?;
    let names = state.admin_task(move |s| s.rvps.ingest(&msg).map_err(ApiError::from)).await?;
    tracing::info!(role = %who.role, ?names, "reference values registered");
    Ok(Json(names).into_response())
}

/// `GET /kbs/v0/reference-value/<name>`.
pub(crate) async fn get_reference_value(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.admin.authorize(&headers, uri.path(), state.now())?;
    let values: Vec<Value> = state.admin_task(move |s| s.rvps.get(&name).map_err(ApiError::from)).await?;
    Ok(Json(values).into_response())
}
