//! The one error type of `arca-verifier`.

use time::OffsetDateTime;

/// Why evidence was not accepted.
///
/// Variants fall in two classes (see [`Error::is_malformed`]): the input could
/// not be parsed at all (exit code 2 in the CLI), or it parsed and failed a
/// check (exit code 1). Messages name what was expected and what was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes do not have the layout the specification gives.
    #[error("malformed {what} at offset {offset}: {reason}")]
    Malformed {
        /// The structure being parsed (e.g. "SNP attestation report").
        what: &'static str,
        /// Byte offset into that structure where parsing failed.
        offset: usize,
        /// What was wrong there.
        reason: String,
    },
    /// A structured document (JSON, CBOR, DER, PEM) has a missing or wrong field.
    #[error("malformed {what}: {field}: {reason}")]
    MalformedField {
        /// The document being parsed.
        what: &'static str,
        /// The field (or JSON path) that was wrong.
        field: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Input is larger than this verifier accepts.
    #[error("{what} is {found} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The input.
        what: &'static str,
        /// Its size.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// A version, algorithm or type this verifier does not handle.
    #[error("unsupported {what}: {found}")]
    Unsupported {
        /// What kind of value.
        what: &'static str,
        /// The value found.
        found: String,
    },
    /// An endorsement the TEE needs was not given and cannot be derived.
    #[error("missing endorsement: {0}")]
    MissingEndorsement(String),
    /// A signature does not verify with the key that should have made it.
    #[error("signature of {what} does not verify with {key}")]
    BadSignature {
        /// What was signed.
        what: String,
        /// The key (or certificate) it was checked with.
        key: String,
    },
    /// A certificate is not signed by the one that should have issued it.
    #[error("certificate chain broken: {subject} is not issued by {issuer}")]
    ChainBroken {
        /// Subject of the certificate checked.
        subject: String,
        /// Subject of the expected issuer.
        issuer: String,
    },
    /// No trusted root issues this chain.
    #[error("certificate {subject} does not chain to a trusted root ({detail})")]
    UntrustedRoot {
        /// Subject of the topmost certificate of the chain.
        subject: String,
        /// Which roots were tried.
        detail: String,
    },
    /// A certificate is outside its validity window at the verification time.
    #[error("certificate {subject} is not valid at {} (valid {} .. {})", rfc3339(.at), rfc3339(.not_before), rfc3339(.not_after))]
    CertificateExpired {
        /// Subject of the certificate.
        subject: String,
        /// The verification time.
        at: OffsetDateTime,
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// A certificate is listed in its issuer's revocation list.
    #[error("certificate {subject} (serial {serial}) is revoked")]
    Revoked {
        /// Subject of the revoked certificate.
        subject: String,
        /// Its serial number, hex.
        serial: String,
    },
    /// Collateral (CRL, TCB info, QE identity, …) is outside its validity window.
    #[error("{what} is not valid at {} (issued {}, next update {})", rfc3339(.at), rfc3339(.issued), rfc3339(.next_update))]
    CollateralExpired {
        /// Which collateral.
        what: String,
        /// The verification time.
        at: OffsetDateTime,
        /// When it was issued.
        issued: OffsetDateTime,
        /// When it stops being valid.
        next_update: OffsetDateTime,
    },
    /// Two values that must be equal are not.
    #[error("{what} mismatch: expected {expected}, found {found}")]
    Mismatch {
        /// What was compared (e.g. "report data", "VCEK TCB bootloader SPL").
        what: String,
        /// The value required.
        expected: String,
        /// The value in the evidence.
        found: String,
    },
    /// The platform's TCB matches no level in the TCB information.
    #[error("no matching TCB level found for {0}")]
    NoMatchingTcbLevel(String),
    /// The platform's TCB is known to be revoked.
    #[error("TCB of {0} is revoked")]
    TcbRevoked(String),
    /// Evidence from the software `sample` TEE was offered but not allowed.
    #[error("sample TEE evidence is not hardware evidence; it is accepted only when explicitly allowed")]
    SampleNotAllowed,
}

impl Error {
    /// True when the input could not be parsed (as opposed to parsed and rejected).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Error::Malformed { .. } | Error::MalformedField { .. } | Error::TooLarge { .. } | Error::Unsupported { .. }
        )
    }

    /// Shorthand for [`Error::Malformed`].
    pub(crate) fn malformed(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        Error::Malformed { what, offset, reason: reason.into() }
    }

    /// Shorthand for [`Error::MalformedField`].
    pub(crate) fn field(what: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::MalformedField { what, field: field.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::Mismatch`] over byte strings, shown in hex.
    pub(crate) fn mismatch_bytes(what: impl Into<String>, expected: &[u8], found: &[u8]) -> Self {
        Error::Mismatch { what: what.into(), expected: hex::encode(expected), found: hex::encode(found) }
    }
}

/// A time as RFC 3339 (`2025-12-10T22:14:21Z`), for messages.
fn rfc3339(t: &OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(*t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
