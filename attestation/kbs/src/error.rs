//! The error type of `arca-kbs`.
//!
//! Each variant names the KBS protocol error it becomes on the wire
//! (`{"type": "https://github.com/confidential-containers/kbs/errors/<Variant>"}`,
//! HTTP 401 except where 404 is said), so the HTTP layer maps errors with
//! [`Error::kbs_error_variant`] and nothing else:
//!
//! | variant | KBS error type | HTTP |
//! | --- | --- | --- |
//! | [`Error::Config`] | none: start-up only, the server does not start | — |
//! | [`Error::StorageInit`] | `StorageBackendInitialization` | 401 |
//! | [`Error::Storage`] | `PluginInternalError` | 401 |
//! | [`Error::InvalidKey`] | `InvalidRequestPath` | 404 |
//! | [`Error::TooLarge`] | `PluginInternalError` (the HTTP layer may answer 413 for bodies) | 401 |
//! | [`Error::PolicyDeny`] | `PolicyDeny` | 401 |
//! | [`Error::ParsePolicy`] | `ParsePolicyError` | 401 |
//! | [`Error::PolicyEngine`] | `PolicyEngineError` | 401 |
//! | [`Error::Rvps`] | `RvpsError` | 401 |
//! | [`Error::Serde`] | `SerdeError` | 401 |

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in configuration, storage, reference values and policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file is unreadable or invalid.
    #[error("configuration {path}: {detail}")]
    Config {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// What is wrong: expected vs found.
        detail: String,
    },
    /// The storage backend cannot be opened.
    #[error("storage backend at {path}: cannot {op}")]
    StorageInit {
        /// Directory of the store.
        path: PathBuf,
        /// What was attempted.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A storage operation failed.
    #[error("storage: cannot {op} {path}")]
    Storage {
        /// What was attempted.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A storage key (resource path, policy id, reference-value name) is not acceptable.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key, truncated to 128 characters.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A value is larger than the configured limit.
    #[error("{what} is {found} bytes, limit {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// A policy denied the request; `rule` names the rule that failed.
    #[error("policy denied by rule {rule}: {detail}")]
    PolicyDeny {
        /// The failing rule (e.g. `affirming`, `sample-tee`, `allow`).
        rule: String,
        /// Why, without secrets.
        detail: String,
    },
    /// A policy does not parse or compile.
    #[error("policy {id} does not compile: {detail}")]
    ParsePolicy {
        /// Policy id (`resource` for the resource policy).
        id: String,
        /// The parser's message (with line and column).
        detail: String,
    },
    /// A policy could not be evaluated, or its output has the wrong shape.
    #[error("policy {id}: {detail}")]
    PolicyEngine {
        /// Policy id.
        id: String,
        /// What went wrong: expected vs found.
        detail: String,
    },
    /// A reference-value message or query is invalid.
    #[error("reference values: {detail}")]
    Rvps {
        /// What is wrong: expected vs found.
        detail: String,
    },
    /// Stored or received JSON does not have the expected shape.
    #[error("{what}: {detail}")]
    Serde {
        /// What was being read.
        what: String,
        /// The decoder's message.
        detail: String,
    },
}

impl Error {
    /// The trustee KBS error variant name this error is reported as
    /// (the last path segment of the error `type` URI), or `None` for
    /// start-up errors that never reach a client.
    pub fn kbs_error_variant(&self) -> Option<&'static str> {
        Some(match self {
            Error::Config { .. } => return None,
            Error::StorageInit { .. } => "StorageBackendInitialization",
            Error::Storage { .. } | Error::TooLarge { .. } => "PluginInternalError",
            Error::InvalidKey { .. } => "InvalidRequestPath",
            Error::PolicyDeny { .. } => "PolicyDeny",
            Error::ParsePolicy { .. } => "ParsePolicyError",
            Error::PolicyEngine { .. } => "PolicyEngineError",
            Error::Rvps { .. } => "RvpsError",
            Error::Serde { .. } => "SerdeError",
        })
    }

    /// The HTTP status trustee sends for this error: 404 for
    /// `InvalidRequestPath`, 401 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidKey { .. } => 404,
            _ => 401,
        }
    }

    pub(crate) fn invalid_key(key: &str, reason: impl Into<String>) -> Error {
        Error::InvalidKey { key: key.chars().take(128).collect(), reason: reason.into() }
    }
}
