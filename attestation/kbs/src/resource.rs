//! `/kbs/v0/resource/<repository>/<type>/<tag>`: GET for attested guests
//! (session cookie or Bearer token), POST and DELETE for admins.
//!
//! A GET finds the token (the attested session's first, then
//! `Authorization: Bearer`), verifies it against the configured trust,
//! evaluates the resource policy with the token claims as `input` and the
//! path and query as `data`, and only then reads the resource and encrypts
//! it (JWE, A256GCM) to the TEE public key the token carries.

use std::sync::Arc;

use arca_kbs_protocol::messages::{ErrorKind, TeePubKey};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use crate::admin::bearer;
use crate::api_error::ApiError;
use crate::attest::session_cookie;
use crate::server::{body_bytes, AppState};
use crate::session::{SessionLookup, SessionState};
use crate::storage::Namespace;

fn plugin_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::PluginInternalError, detail)
}

/// The storage key of a resource path. Each segment must be non-empty, not
/// `.`/`..`, and free of `/` (a percent-encoded slash would otherwise turn
/// three segments into a deeper path that policies never saw).
fn resource_key(repo: &str, kind: &str, tag: &str) -> Result<String, ApiError> {
    for (name, seg) in [("repository", repo), ("type", kind), ("tag", tag)] {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains(['/', '\\', '\0']) {
            return Err(ApiError::new(
                ErrorKind::InvalidRequestPath,
                format!("resource {name} segment {:?} is not a plain name", seg.chars().take(64).collect::<String>()),
            ));
        }
    }
    Ok(format!("{repo}/{kind}/{tag}"))
}

/// What a resource request presents to be authorized.
enum Presented {
    /// An attested session: the claims this server signed for it.
    Session(Arc<Value>),
    /// An `Authorization: Bearer` token, still to be verified.
    Bearer(String),
}

impl Presented {
    /// The token claims, once they are known to be trustworthy at `now`.
    fn claims(self, state: &AppState) -> Result<Arc<Value>, ApiError> {
        match self {
            Presented::Session(claims) => {
                state.verifier.check_times(&claims, state.now())?;
                Ok(claims)
            }
            Presented::Bearer(token) => Ok(Arc::new(state.verifier.verify(&token, state.now())?)),
        }
    }
}

/// The credential of a resource request: attested session first, then Bearer.
fn request_token(state: &AppState, headers: &HeaderMap) -> Result<Presented, ApiError> {
    if let Some(id) = session_cookie(headers) {
        match state.sessions.get(&id) {
            SessionLookup::Live(s) => {
                if let SessionState::Attested { claims, .. } = s.state {
                    return Ok(Presented::Session(claims));
                }
            }
            SessionLookup::Expired if bearer(headers).is_none() => {
                return Err(ApiError::new(ErrorKind::TokenNotFound, "session expired: attest again"));
            }
            _ => {}
        }
    }
    bearer(headers).map(|t| Presented::Bearer(t.to_string())).ok_or_else(|| {
        ApiError::new(ErrorKind::TokenNotFound, "no attested session cookie and no Authorization: Bearer token")
    })
}

/// `GET /kbs/v0/resource/<repository>/<type>/<tag>`.
pub(crate) async fn get_resource(
    State(state): State<Arc<AppState>>,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    Query(query): Query<Map<String, Value>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let result = match resource_key(&repo, &kind, &tag) {
        Ok(_) => get_resource_inner(state.clone(), [repo, kind, tag], query, headers).await,
        Err(e) => Err(e),
    };
    state.metrics.resource_read(match &result {
        Ok(_) => "released",
        Err(e) if e.kind == ErrorKind::PolicyDeny => "denied",
        Err(e) if e.detail.starts_with("resource not found") => "not_found",
        Err(e) if matches!(e.kind, ErrorKind::TokenNotFound | ErrorKind::TokenVerifierError) => "unauthenticated",
        Err(_) => "error",
    });
    result
}

async fn get_resource_inner(
    state: Arc<AppState>,
    path: [String; 3],
    query: Map<String, Value>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = request_token(&state, &headers)?;
    state
        .run_cpu_inline(move |worker| {
        let claims = token.claims(worker)?;
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let decision = worker.policy.authorize_resource(&claims, &segments, &query).map_err(ApiError::from)?;
        let key = path.join("/");
        if !decision.allow {
            tracing::warn!(resource = %key, rule = %decision.rule, reason = %decision.reason, "resource policy denied");
            return Err(ApiError::new(
                ErrorKind::PolicyDeny,
                format!("resource policy denied {key}: rule {}: {}", decision.rule, decision.reason),
            ));
        }
        let data = worker
            .store
            .get(Namespace::Resources, &key)
            .map_err(ApiError::from)?
            .ok_or_else(|| plugin_error(format!("resource not found: {key}")))?;
        let data = zeroize::Zeroizing::new(data);
        let tee_key = tee_pubkey_of(&claims)?;
        let jwe = arca_kbs_protocol::jwe::encrypt(&tee_key, &data)
            .map_err(|e| ApiError::new(ErrorKind::JweError, format!("cannot encrypt to the TEE key: {e}")))?;
        tracing::info!(resource = %key, alg = tee_key.alg(), "resource released");
        Ok(Json(jwe).into_response())
    })
    .await
    .map_err(|e| plugin_error(format!("resource task failed: {e}")))?
}

fn tee_pubkey_of(claims: &Value) -> Result<TeePubKey, ApiError> {
    arca_kbs_protocol::ear::tee_pubkey_of(claims).ok_or_else(|| {
        ApiError::new(
            ErrorKind::TokenVerifierError,
            format!("token carries no usable TEE public key at {}", arca_kbs_protocol::ear::TEE_PUBKEY_POINTER),
        )
    })
}

/// `POST /kbs/v0/resource/<repository>/<type>/<tag>` (admin): store the raw body.
pub(crate) async fn put_resource(
    State(state): State<Arc<AppState>>,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.admin.authorize(&headers, uri.path(), state.now())?;
    let body = body_bytes(&state, body)?;
    let key = resource_key(&repo, &kind, &tag)?;
    let k = key.clone();
    state.admin_task(move |s| s.store.put(Namespace::Resources, &k, &body).map_err(ApiError::from)).await?;
    tracing::info!(resource = %key, role = %who.role, "resource stored");
    Ok(axum::http::StatusCode::OK.into_response())
}

/// `DELETE /kbs/v0/resource/<repository>/<type>/<tag>` (admin).
pub(crate) async fn delete_resource(
    State(state): State<Arc<AppState>>,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = state.admin.authorize(&headers, uri.path(), state.now())?;
    let key = resource_key(&repo, &kind, &tag)?;
    let k = key.clone();
    let existed = state.admin_task(move |s| s.store.delete(Namespace::Resources, &k).map_err(ApiError::from)).await?;
    if !existed {
        return Err(plugin_error(format!("resource not found: {key}")));
    }
    tracing::info!(resource = %key, role = %who.role, "resource deleted");
    Ok(axum::http::StatusCode::OK.into_response())
}
