//! The one error type of `arca-kbs-protocol`.

/// Why a protocol message, key or token was not accepted or could not be made.
///
/// Messages name what was expected and what was found. Decryption failures
/// deliberately say little: which step failed is not revealed, so a peer
/// cannot use the error as an oracle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message, header, key or token does not have the expected shape.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed (e.g. "JWS header").
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// Input is larger than this crate accepts.
    #[error("{what} is {found} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The input.
        what: &'static str,
        /// Its size.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// An algorithm, curve or key type this crate does not handle.
    #[error("unsupported {what}: expected {expected}, found {found}")]
    Unsupported {
        /// What kind of value.
        what: &'static str,
        /// The values that are handled.
        expected: &'static str,
        /// The value found.
        found: String,
    },
    /// A key does not fit the algorithm it is asked to serve.
    #[error("key mismatch: expected {expected}, found {found}")]
    KeyMismatch {
        /// What the operation needs.
        expected: String,
        /// What the key or header says.
        found: String,
    },
    /// A JWS signature verifies with none of the given keys.
    #[error("JWS signature ({alg}) does not verify with any of the {candidates} key(s) for that algorithm")]
    BadSignature {
        /// The token's `alg`.
        alg: String,
        /// How many given keys had that algorithm.
        candidates: usize,
    },
    /// A token's `exp` is in the past.
    #[error("token expired: exp {exp} is before now {now} (leeway {leeway_s} s)")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time it was checked at.
        now: i64,
        /// Allowed clock skew.
        leeway_s: u64,
    },
    /// A token's `nbf` is in the future.
    #[error("token not yet valid: nbf {nbf} is after now {now} (leeway {leeway_s} s)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The time it was checked at.
        now: i64,
        /// Allowed clock skew.
        leeway_s: u64,
    },
    /// A JWE could not be decrypted with the given key.
    #[error("JWE decryption failed ({0})")]
    Decrypt(&'static str),
    /// A key could not be generated, encoded or decoded.
    #[error("{what}: {reason}")]
    Key {
        /// The operation.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A JWK's `x5c` is missing or does not match the JWK's key.
    #[error("JWK not endorsed: {0}")]
    NotEndorsed(String),
    /// A JWK's `x5c` chain does not lead to a trusted root.
    #[error("JWK not endorsed: x5c chain rejected")]
    ChainRejected(#[source] arca_verifier::Error),
    /// A cryptographic operation failed where no input could cause it.
    #[error("{0} failed")]
    Crypto(&'static str),
    /// None of the given keys opens any recipient of a JWE.
    #[error(
        "no supplied key matches: none of the {keys} key(s) opens any of the JWE's {recipients} recipient(s) ({algs})"
    )]
    NoMatchingKey {
        /// How many keys were tried.
        keys: usize,
        /// How many recipients the JWE has.
        recipients: usize,
        /// The recipients' `alg`s (and curves), comma-separated.
        algs: String,
    },
}

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Malformed { what, reason: reason.into() }
    }

    pub(crate) fn key(what: &'static str, reason: impl ToString) -> Self {
        Error::Key { what, reason: reason.to_string() }
    }

    pub(crate) fn check_size(what: &'static str, found: usize, limit: usize) -> Result<()> {
        if found > limit {
            Err(Error::TooLarge { what, found, limit })
        } else {
            Ok(())
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
