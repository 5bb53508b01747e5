//! The one error type of this crate.

use std::fmt;

/// Boxed error of an attester (hardware drivers, firmware interfaces).
pub type AttesterError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a KBS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The KBS URL cannot be used.
    #[error("invalid KBS URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource path is not of the form `<repository>/<type>/<tag>`.
    #[error("invalid resource path {path:?}: expected <repository>/<type>/<tag>, {reason}")]
    InvalidResourcePath {
        /// The path as given.
        path: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The extra root certificate could not be read as PEM.
    #[error("cannot use the KBS root certificate: {0}")]
    RootCertificate(#[source] reqwest::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The request did not get an answer (connection, TLS, timeout, reading the body).
    #[error("{what}: request to the KBS failed: {}", error_chain(source))]
    Transport {
        /// The step that failed (e.g. `POST /kbs/v0/auth`).
        what: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The KBS answered with an error document `{type, detail}`.
    #[error("{what}: KBS refused with {kind} (HTTP {status}): {detail}")]
    Kbs {
        /// The step that failed.
        what: String,
        /// HTTP status code.
        status: u16,
        /// The error type name: the last segment of the `type` URI (e.g. `PolicyDeny`).
        kind: String,
        /// The `detail` text, as sent.
        detail: String,
    },
    /// The KBS answered with an unexpected status and no error document.
    #[error("{what}: expected HTTP 200, found HTTP {status}: {body}")]
    UnexpectedStatus {
        /// The step that failed.
        what: String,
        /// HTTP status code.
        status: u16,
        /// The start of the body, lossily decoded.
        body: String,
    },
    /// A reply is larger than this client accepts.
    #[error("{what}: reply larger than {limit} bytes")]
    TooLarge {
        /// The step whose reply was too large.
        what: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A reply does not follow the protocol.
    #[error("{what}: {detail}")]
    Protocol {
        /// The step or message concerned.
        what: String,
        /// What was expected and what was found.
        detail: String,
    },
    /// The attester could not produce evidence.
    #[error("{tee} attester failed to produce evidence: {source}")]
    Evidence {
        /// The TEE name.
        tee: &'static str,
        /// The attester's error.
        #[source]
        source: AttesterError,
    },
    /// JOSE or message handling failed (JWE decryption, JWS signing, JWK conversion).
    #[error("{what}: {source}")]
    Jose {
        /// What was being done.
        what: &'static str,
        /// The protocol crate's error.
        #[source]
        source: arca_kbs_protocol::Error,
    },
    /// Runtime-data binding could not be computed.
    #[error("runtime data binding: {0}")]
    Binding(#[source] arca_verifier::Error),
    /// The KBS kept refusing a resource after re-attesting.
    #[error("resource {path}: still refused after {attempts} attestations: {last}")]
    RetriesExhausted {
        /// The resource path.
        path: String,
        /// How many attestations were made.
        attempts: u32,
        /// The last refusal.
        #[source]
        last: Box<Error>,
    },
    /// An argument or local input is not usable.
    #[error("{what}: {detail}")]
    Invalid {
        /// The input concerned.
        what: &'static str,
        /// What was expected and what was found.
        detail: String,
    },
}

/// An error and its causes on one line, `a: b: c` (reqwest's own message
/// leaves the cause out: "error sending request" says nothing of a refused
/// connection or a certificate the client does not trust).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Error {
    /// The KBS error type name (`PolicyDeny`, `TokenNotFound`, …) when the KBS refused.
    pub fn kbs_kind(&self) -> Option<&str> {
        match self {
            Error::Kbs { kind, .. } => Some(kind),
            Error::RetriesExhausted { last, .. } => last.kbs_kind(),
            _ => None,
        }
    }

    /// The HTTP status the KBS answered with, when it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Kbs { status, .. } | Error::UnexpectedStatus { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// True when the error comes from the KBS or the network rather than from
    /// local input (the CLI maps the two to different exit codes).
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            Error::Transport { .. }
                | Error::Kbs { .. }
                | Error::UnexpectedStatus { .. }
                | Error::TooLarge { .. }
                | Error::Protocol { .. }
                | Error::RetriesExhausted { .. }
        )
    }

    pub(crate) fn protocol(what: impl fmt::Display, detail: impl Into<String>) -> Self {
        Error::Protocol { what: what.to_string(), detail: detail.into() }
    }

    pub(crate) fn jose(what: &'static str) -> impl FnOnce(arca_kbs_protocol::Error) -> Self {
        move |source| Error::Jose { what, source }
    }
}
