//! Error replies of the HTTP API, shaped as trustee's KBS sends them.
//!
//! Every failure becomes `{"type": "https://github.com/confidential-containers/kbs/errors/<Variant>",
//! "detail": "..."}` with status 401, except `InvalidRequestPath` and
//! `PluginNotFound` (404) and oversized bodies (413, as trustee's HTTP
//! server answers them, with type `HTTPFailed` in our body). The detail
//! names the check or policy rule that failed and never carries a secret;
//! the same text is logged, so the operator sees why a client was turned away.

use arca_kbs_protocol::messages::{ErrorInfo, ErrorKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The trustee error kind.
    pub kind: ErrorKind,
    /// Human-readable detail (which check or rule failed).
    pub detail: String,
    /// The HTTP status.
    pub status: StatusCode,
}

impl ApiError {
    /// An error of `kind` with its protocol status.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        ApiError { kind, detail: detail.into(), status }
    }

    /// A request body over the configured limit.
    pub fn body_too_large(limit: usize) -> Self {
        ApiError {
            kind: ErrorKind::HTTPFailed,
            detail: format!("request body larger than the limit of {limit} bytes (http_server.payload_request_size)"),
            status: StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// A body that does not parse as the expected JSON.
    pub fn serde(what: &str, e: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorKind::SerdeError, format!("{what}: {e}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        let kind = e
            .kbs_error_variant()
            .and_then(|name| ErrorKind::ALL.into_iter().find(|k| k.name() == name))
            .unwrap_or(ErrorKind::PluginInternalError);
        ApiError::new(kind, error_chain(&e))
    }
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::warn!(error_type = self.kind.name(), status = self.status.as_u16(), detail = %self.detail, "request refused");
        (self.status, Json(ErrorInfo::new(self.kind, self.detail))).into_response()
    }
}
