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
    /// A Kata virtual volume (`io.katacontainers.volume=`) is not base64 or
    /// not the expected option.
    #[error("kata volume: {0}")]
    VolumeEncoding(String),
    /// A Kata virtual volume's JSON does not parse into the documented shape.
    #[error("kata volume: malformed JSON: {0}")]
    VolumeJson(String),
    /// A Kata virtual volume names a `volume_type` Kata does not define.
    #[error("kata volume: unknown volume_type {0:?}")]
    UnknownVolumeType(String),
    /// A Kata virtual volume's fields are missing or inconsistent for its type.
    #[error("kata volume {volume_type}: field {field}: {reason}")]
    InvalidVolume {
        /// The volume type being validated.
        volume_type: String,
        /// The JSON field at fault (`dm_verity.offset`, `source`, ...).
        field: &'static str,
        /// What was expected and what was found.
        reason: String,
    },
    /// The guest-pull hand-off (volume + container annotations) cannot be
    /// turned into a pull.
    #[error("guest pull: {0}")]
    GuestPull(String),
    /// Building an EROFS image failed (mkfs.erofs, or what it wrote).
    #[error("EROFS image of {image}: {reason}")]
    Erofs {
        /// The layer (or, flattened, manifest) digest it was built for.
        image: String,
        /// What went wrong.
        reason: String,
    },
    /// Building the dm-verity tree of an EROFS image failed.
    #[error("verity tree of the EROFS image of {image}")]
    Verity {
        /// The layer (or, flattened, manifest) digest.
        image: String,
        /// What the verity crate said.
        #[source]
        source: arca_verity::Error,
    },
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
