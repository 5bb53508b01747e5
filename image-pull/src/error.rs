//! The one error type of `arca-image`.

/// Everything a pull can fail with. Messages name the image, layer or path
/// concerned and never contain key material or credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    Reference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry refused a request or answered something unusable.
    #[error("registry {registry}: {message}")]
    Registry {
        /// Registry host.
        registry: String,
        /// What went wrong.
        message: String,
    },
    /// Content did not match the digest it was fetched by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which blob or manifest.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Input larger than the configured limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A media type this crate does not handle.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// A layer entry that cannot or must not be unpacked.
    #[error("layer {layer}: entry {path:?}: {reason}")]
    Unpack {
        /// Layer digest.
        layer: String,
        /// Path of the entry in the tar.
        path: String,
        /// Why it was refused or failed.
        reason: String,
    },
    /// The signature policy refused the image.
    #[error("signature policy rejected {image}: {reason}")]
    PolicyRejected {
        /// The image reference.
        image: String,
        /// Which requirement failed.
        reason: String,
    },
    /// The signature policy document is invalid.
    #[error("invalid signature policy: {0}")]
    Policy(String),
    /// An encrypted layer could not be decrypted or failed its integrity check.
    #[error("layer decryption: {0}")]
    Decrypt(String),
    /// The image config is unusable.
    #[error("image config: {0}")]
    Config(String),
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Registry credentials are unusable (never includes the secret).
    #[error("registry credentials: {0}")]
    Auth(String),
    /// A nydus RAFS bootstrap is malformed, hostile or uses something not
    /// supported: `what` names the structure and field (superblock field,
    /// inode nid, directory block, chunk index), `reason` says what was
    /// expected and what was found.
    #[error("RAFS bootstrap: {what}: {reason}")]
    Rafs {
        /// Where in the bootstrap.
        what: String,
        /// Expected versus found.
        reason: String,
    },
    /// A nydus data chunk could not be read, failed to decompress or does
    /// not match its digest.
    #[error("RAFS blob {blob}: chunk {chunk} (compressed offset {offset}): {reason}")]
    RafsChunk {
        /// Blob id (hex sha256).
        blob: String,
        /// Chunk index in the blob.
        chunk: u32,
        /// Offset of the compressed chunk in the blob.
        offset: u64,
        /// Expected versus found.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}
